"""Roles and promotion end to end: roles of a registry run over ScriptedServer models with families and cost
tiers; ``agentbench promote`` applies the policy — one promotion, and better challengers
rejected by the family guard, the cost tier, review pain (review checks) and hard failures —
and ``--write`` updates a commented registry in place."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from pytest_agentbench.cli import main
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_CHECK, HELLO_SOURCE, canary_toml

DOCUMENTED = '"""Greets."""\n' + HELLO_SOURCE
# Review check: the module has a docstring (severity 2). It never decides acceptance.
REVIEW = textwrap.dedent('''
    [[verify.review]]
    run = "python -c \\"import hello, sys; sys.exit(0 if hello.__doc__ else 1)\\""
    severity = 2
''')

# model -> what it writes on the canaries "hello" and "other" (None: claims done, no change).
# Every "-alt" challenger is worse than its incumbent (a tie would be eligible: >= and <=).
BEHAVIOUR = {
    # promo: the incumbent fails, a challenger of another family passes; a third family stays.
    "p-inc": ("wrong", "wrong"), "p-win": ("documented", "documented"), "p-alt": (None, None),
    # family: the better challenger would leave only the "llama" family.
    "f-inc": ("wrong", "wrong"), "f-win": ("documented", "documented"), "f-alt": (None, None),
    # cost: the better challenger is paid, the incumbent free.
    "c-inc": ("wrong", "wrong"), "c-win": ("documented", "documented"), "c-alt": (None, None),
    # review: both pass, the challenger leaves no docstring (review check fails, severity 2).
    "r-inc": ("documented", "documented"), "r-win": ("good", "good"), "r-alt": (None, None),
    # hard: equal acceptance (1/2); the challenger's other failure is a phantom, not a reviewable one.
    "h-inc": ("good", "wrong"), "h-win": ("good", None), "h-alt": ("wrong", "wrong"),
}
SOURCES = {"good": HELLO_SOURCE, "documented": DOCUMENTED, "wrong": "def hello():\n    return 'no'\n"}


def scripted(body: dict) -> dict:
    if body["messages"][-1]["role"] == "tool":
        return say(f"Done (seed {body.get('seed')}).")
    task = next(m["content"] for m in body["messages"] if m["role"] == "user")
    canary = 1 if "OTHER" in task else 0
    wrote = BEHAVIOUR[body["model"]][canary]
    if wrote is None:
        return say(f"I created hello.py. Done (seed {body.get('seed')}).")
    return call("write_file", path="hello.py", content=SOURCES[wrote])


FAMILIES = {"p": ("qwen", "llama", "gemma"), "f": ("qwen", "llama", "llama"),
            "c": ("qwen", "llama", "gemma"), "r": ("qwen", "llama", "gemma"),
            "h": ("qwen", "llama", "gemma")}


def registry(url: str) -> str:
    lines = []
    for prefix, families in FAMILIES.items():
        for suffix, family in zip(("inc", "win", "alt"), families):
            tier = "paid" if (prefix, suffix) == ("c", "win") else "free"
            lines += [f"[tool.agentbench.models.{prefix}-{suffix}]", f'base_url = "{url}"',
                      f'family = "{family}"', f'cost_tier = "{tier}"', ""]
    roles = {"p": "promo", "f": "family", "c": "cost", "r": "review", "h": "hard"}
    for prefix, role in roles.items():
        canaries = '["hello", "other"]' if prefix == "h" else '["hello"]'
        lines += [f"[tool.agentbench.roles.{role}]", f"canaries = {canaries}",
                  f'incumbent = "{prefix}-inc"', f'challengers = ["{prefix}-win", "{prefix}-alt"]', ""]
    return "\n".join(lines)


def make_canaries(bench) -> None:
    bench.canary("hello", toml=canary_toml(extra="") + REVIEW)
    # An acceptance check of severity 3: the severity-weighted pass count counts it three times.
    other = canary_toml(prompt="OTHER: create hello.py with a function hello() that returns 'hi'.")
    weighted = other.replace(f"run = {json.dumps([HELLO_CHECK])}",
                             f"run = [{{run = {json.dumps(HELLO_CHECK)}, severity = 3}}]")
    assert weighted != other
    bench.canary("other", toml=weighted)


def run_roles(bench, server, *roles: str, repeats: int = 2):
    args = [a for role in roles for a in ("--agentbench-role", role)]
    return bench.pytester.runpytest("canaries", *args, "--repeats", str(repeats),
                                    "--agentbench-json", "report.json", "-p", "no:cacheprovider")


def test_promote_applies_each_rule_of_the_policy(bench, capsys):
    make_canaries(bench)
    path = bench.pytester.path
    with ScriptedServer(scripted) as server:
        (path / "pyproject.toml").write_text(registry(server.url))
        result = run_roles(bench, server, "promo", "family", "cost", "review", "hard")
    result.stdout.fnmatch_lines(["*= agentbench roles and promotion =*",
                                 "role promo: incumbent p-inc", "  decision: promote p-win (replaces p-inc)"])
    live = {d["role"]: d for d in bench.report()["promotion"]}
    attempts = bench.report()["attempts"]
    # each role ran its own canaries over its own models only
    assert {(a["model"], a["canary"]) for a in attempts if a["model"].startswith("p-")} == {
        ("p-inc", "hello"), ("p-win", "hello"), ("p-alt", "hello")}
    assert {a["canary"] for a in attempts if a["model"].startswith("h-")} == {"hello", "other"}
    assert bench.report()["models"]["c-win"]["cost_tier"] == "paid"
    assert bench.report()["models"]["f-alt"]["family"] == "llama"

    capsys.readouterr()
    assert main(["promote", "last", "--json", "promotion.json", "--out", "out"]) == 0
    printed = capsys.readouterr().out
    decided = {d["role"]: d for d in json.loads((path / "promotion.json").read_text())["promotion"]}
    assert decided == live  # the live run's report and the database agree
    assert set(decided["promo"]) == {"role", "incumbent", "decision", "promoted", "candidates"}
    candidate = decided["promo"]["candidates"][1]
    assert set(candidate) == {"model", "family", "acceptance_rate", "review_pain",
                              "hard_failure_rate", "cheat_rate", "cost_tier", "eligible", "reasons"}

    def verdict(role):
        d = decided[role]
        return d["decision"], d["promoted"], {c["model"]: c["eligible"] for c in d["candidates"]}

    def rejected(role, model):
        reasons = next(c["reasons"] for c in decided[role]["candidates"] if c["model"] == model)
        return [r for r in reasons if r.startswith("REJECTED")]

    assert verdict("promo") == ("promote", "p-win", {"p-inc": None, "p-win": True, "p-alt": False})
    assert candidate == {"model": "p-win", "family": "llama", "acceptance_rate": 1.0, "review_pain": 0.0,
                         "hard_failure_rate": 0.0, "cheat_rate": None, "cost_tier": "free", "eligible": True,
                         "reasons": candidate["reasons"]}
    assert verdict("family") == ("keep", None, {"f-inc": None, "f-win": False, "f-alt": False})
    assert rejected("family", "f-win") == [("REJECTED: family guard: after the change the role is "
                                            "served by 1 family (llama; at least 2 needed)")]
    assert verdict("cost") == ("keep", None, {"c-inc": None, "c-win": False, "c-alt": False})
    assert rejected("cost", "c-win") == ["REJECTED: cost_tier paid is worse than incumbent's free"]
    assert verdict("review") == ("keep", None, {"r-inc": None, "r-win": False, "r-alt": False})
    assert rejected("review", "r-win") == ["REJECTED: review_pain 2.00 > incumbent's 0.00"]
    assert verdict("hard") == ("keep", None, {"h-inc": None, "h-win": False, "h-alt": False})
    assert [r.split(",")[0] for r in rejected("hard", "h-win")] == [
        "REJECTED: hard_failure_rate 0.50 > incumbent's 0.00"]
    # 2/2 vs 0/2 is thin: the reasons say whether each difference is beyond noise
    win_reasons = " ".join(candidate["reasons"])
    assert "acceptance_rate 1.00 (2/2) >= incumbent's 0.00 (0/2)" in win_reasons
    assert re.search(r"(beyond noise|within noise at this N) \(Newcombe 95% \[", win_reasons)

    assert "decision: promote p-win (replaces p-inc)" in printed
    assert "REJECTED: cost_tier paid is worse than incumbent's free" in printed
    reports = list((path / "out").glob("local-model-benchmark-*.md"))
    assert len(reports) == 1 and re.fullmatch(r"local-model-benchmark-\d{4}-\d{2}-\d{2}-[0-9a-f-]+\.md", reports[0].name)
    markdown = reports[0].read_text()
    run_id = json.loads((path / "report.json").read_text())["run_id"]
    assert re.search(r"- \*\*promo\*\* \(\d+ cases?\): incumbent `p-inc`", markdown), markdown
    for expected in (f"Run `{run_id}`", "## promo", "| p-win | llama | 2/2 | 1.00 |",
                     "**Decision: promote p-win (replaces p-inc)**", "**Decision: keep f-inc**",
                     "## Promotion policy", "at least two families",
                     # hello (severity 1) passed twice, other (severity 3) never: 2 of 2 + 6
                     "| h-inc | qwen | 2/4 | 0.50 | [", "| 0.00 | 2/8 | free | incumbent |"):
        assert expected in markdown


COMMENTED = '''\
# Routing for the team's agents.
[tool.agentbench.models.p-inc]
base_url = "{url}"
family = "qwen"   # alibaba

[tool.agentbench.models.p-win]
base_url = "{url}"
family = "llama"

[tool.agentbench.models.p-alt]
base_url = "{url}"
family = "gemma"

[tool.agentbench.roles.promo]
canaries = ["hello"]        # the one case
incumbent = "p-inc"         # since March
challengers = ["p-win", "p-alt"]
# end of roles
'''


def test_write_updates_a_commented_registry_in_place(bench, capsys):
    make_canaries(bench)
    path = bench.pytester.path
    with ScriptedServer(scripted) as server:
        (path / "pyproject.toml").write_text(COMMENTED.format(url=server.url))
        run_roles(bench, server, "promo", repeats=1)
    before = (path / "pyproject.toml").read_text()
    capsys.readouterr()
    assert main(["promote", "last", "--write", "--out", "out"]) == 0
    after = (path / "pyproject.toml").read_text()
    assert after == before.replace('incumbent = "p-inc"         # since March',
                                   'incumbent = "p-win"         # since March').replace(
        'challengers = ["p-win", "p-alt"]', 'challengers = ["p-alt"]')
    printed = capsys.readouterr().out
    diff = [line for line in printed.splitlines() if line[:1] in "+-"]
    assert diff == ["--- a/pyproject.toml", "+++ b/pyproject.toml",
                    '-incumbent = "p-inc"         # since March', '-challengers = ["p-win", "p-alt"]',
                    '+incumbent = "p-win"         # since March', '+challengers = ["p-alt"]']
    # a second promote over the same run: the registry's roles changed, the decision is a keep
    assert main(["promote", "last", "--write", "--out", "out"]) == 0
    assert "registry unchanged: no role promotes" in capsys.readouterr().out
    assert (path / "pyproject.toml").read_text() == after


def test_role_with_models_is_a_usage_error(bench):
    make_canaries(bench)
    (bench.pytester.path / "pyproject.toml").write_text(COMMENTED.format(url="http://127.0.0.1:9/v1"))
    result = bench.pytester.runpytest("canaries", "--agentbench-role", "promo", "--models", "p-inc")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--agentbench-role and --models cannot be combined*"])
    unknown = bench.pytester.runpytest("canaries", "--agentbench-role", "nope")
    unknown.stderr.fnmatch_lines(["*--agentbench-role: 'nope': no such role (known: promo)*"])
    # the ini twin is the same option
    (bench.pytester.path / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nagentbench_role = ["promo"]\n'
        + COMMENTED.format(url="http://127.0.0.1:9/v1"))
    ini = bench.pytester.runpytest("canaries", "--models", "p-inc")
    ini.stderr.fnmatch_lines(["*--agentbench-role and --models cannot be combined*"])


def test_role_runs_write_their_report_and_no_decision_is_lost(bench, capsys):
    """A role run writes the dated report itself; two promotions of one day keep two files; a
    role the run did not measure is left out, not reported as '0 cases ... keep'."""
    make_canaries(bench)
    path = bench.pytester.path
    with ScriptedServer(scripted) as server:
        (path / "pyproject.toml").write_text(registry(server.url))
        first = run_roles(bench, server, "promo")
        second = run_roles(bench, server, "promo")
    first.stdout.fnmatch_lines(["promotion report: *reports/local-model-benchmark-*.md"])
    second.stdout.fnmatch_lines(["promotion report: *reports/local-model-benchmark-*.md"])
    written = sorted((path / "reports").glob("local-model-benchmark-*.md"))
    assert len(written) == 2  # the second run's report did not replace the first one's
    capsys.readouterr()
    assert main(["promote", "last", "--out", "out"]) == 0
    printed = capsys.readouterr().out
    assert "role family: no attempt of its models on its canaries in this run: left out" in printed
    markdown = next((path / "out").glob("*.md")).read_text()
    assert "## promo" in markdown and "## family" not in markdown
