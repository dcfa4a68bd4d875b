"""Independent repeats end to end through ScriptedServer: each repeat sends its own seed,
identical repeats are detected and counted once, temperature 0 is called out, a reply looping
until the output cap says "degenerate repetition", and the CLI and options say what they do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_agentbench.agent.fingerprint import ConversationDigest
from pytest_agentbench.agent.repetition import degenerate_repetition
from pytest_agentbench.cli import main
from pytest_agentbench.records.stats import effective_wilson_interval, wilson_interval
from pytest_agentbench.schemas.models import EMBEDDED_MAX_TOKENS, embedded_model
from pytest_agentbench.testing import ScriptedServer, call, say, tool_call
from tests.conftest import HELLO_SOURCE, agent_requests, seeded

ROOT = Path(__file__).resolve().parent.parent
WRITE_HELLO = call("write_file", path="hello.py", content=HELLO_SOURCE)
GOOD = [WRITE_HELLO, say("Done.")]


def registry(bench, server, entry: str, name: str = "r") -> None:
    bench.pytester.makepyprojecttoml(f'[tool.agentbench.models.{name}]\nbase_url = "{server.url}"\n{entry}')


def run_registry(bench, *args: str, repeats: int = 3, name: str = "r"):
    return bench.pytester.runpytest("canaries", "--models", name, "--repeats", str(repeats),
                                    "--agentbench-json", "report.json", "-p", "no:cacheprovider",
                                    "-v", *args)


def seeds_by_repeat(bench, server) -> dict[int, set]:
    """The seeds each repeat's requests sent, read from the JSON report's attempts and the server."""
    sent = {r.get("seed") for r in agent_requests(server)}
    by_repeat = {a["repeat"]: a["seed"] for a in bench.report()["attempts"]}
    assert set(by_repeat.values()) <= sent | {None}
    return by_repeat


# --- item 1: a seed per repeat ------------------------------------------------------------------

def test_each_repeat_sends_the_models_seed_plus_the_repeat(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        registry(bench, server, "seed = 7\ntemperature = 0.7\n")
        run_registry(bench).assert_outcomes(passed=3)
        by_repeat = seeds_by_repeat(bench, server)
    assert by_repeat == {0: 7, 1: 8, 2: 9}
    # every request of an attempt sends its repeat's seed, not only the first
    assert sorted(r["seed"] for r in agent_requests(server)) == [7, 7, 8, 8, 9, 9]
    assert bench.report()["models"]["r"]["seed_rule"] == "seed = 7 + repeat"


def test_without_a_seed_the_repeats_send_0_1_2(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        bench.run(server, repeats=3).assert_outcomes(passed=3)
    assert {a["repeat"]: a["seed"] for a in bench.report()["attempts"]} == {0: 0, 1: 1, 2: 2}


@pytest.mark.parametrize("entry, expected", [
    ("seed = 5\nseed_per_repeat = false\n", {5}),
    ("seed_per_repeat = false\n", {None}),  # no seed at all: the server's own choice
    ("extra_body = { seed = 11 }\n", {11}),  # the registry's extra_body has the last word
])
def test_the_registry_can_pin_one_seed_on_purpose(bench, entry, expected):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        registry(bench, server, entry)
        run_registry(bench).assert_outcomes(passed=3)
    assert {r.get("seed") for r in agent_requests(server)} == expected


def test_a_conftest_request_hook_still_has_the_last_word_on_the_seed(bench):
    bench.canary()
    bench.pytester.makeconftest(
        "def pytest_agentbench_request(body, attempt):\n"
        "    body['seed'] = 1000 + attempt['repeat']\n")
    with ScriptedServer(GOOD) as server:
        bench.run(server, repeats=2).assert_outcomes(passed=2)
    assert sorted({r["seed"] for r in agent_requests(server)}) == [1000, 1001]


def test_python_canaries_get_a_seed_per_repeat_too(bench):
    root = bench.pytester.path / "canaries"
    (root / "repo").mkdir(parents=True)
    (root / "repo" / "README.md").write_text("# demo\n")
    (root / "test_seeded.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.canary(tier='lite', repo='repo')\n"
        "def test_hello(agent):\n"
        "    run = agent.run('Create hello.py.')\n"
        "    assert run.files_changed == ['hello.py']\n")
    with ScriptedServer(GOOD) as server:
        bench.run(server, repeats=2).assert_outcomes(passed=2)
    assert sorted({r["seed"] for r in agent_requests(server)}) == [0, 1]


# --- item 1: identical repeats are one sample --------------------------------------------------

def test_identical_repeats_count_once_and_the_summary_says_so(bench):
    bench.canary("alpha")
    bench.canary("beta")
    with ScriptedServer(GOOD) as server:  # a list script: every repeat says the same
        result = bench.run(server, repeats=3)
    result.assert_outcomes(passed=6)
    report = bench.report()
    assert {row["canary"]: row["distinct_repeats"] for row in report["summary"]} == {"alpha": 1, "beta": 1}
    digests = {a["conversation_digest"] for a in report["attempts"]}
    assert len(digests) == 1 and re.fullmatch(r"[0-9a-f]{16}", digests.pop())
    [row] = [r for r in report["aggregates"] if r["tier"] == "lite"]
    assert (row["n"], row["distinct_samples"], row["pass_rate"]) == (6, 2, 1.0)
    # the interval is Wilson's on the 2 distinct samples, not on the 6 attempts
    assert (row["ci_low"], row["ci_high"]) == tuple(round(v, 4) for v in wilson_interval(2, 2))
    assert report["identical_repeats"] == [{
        "model": "m", "variant": "base", "canaries": 2, "with_identical_repeats": 2,
        "all_identical": 2, "repeats": [3], "n": 6, "distinct": 2}]
    result.stdout.fnmatch_lines([
        "*agentbench summary*",
        "m*lite*6*1.00*?0.34, 1.00?[*]*",
        "IDENTICAL REPEATS m: 3 repeats identical in 2/2 canaries: the interval counts 2 samples, not 6",
        "[*] interval on the distinct samples*",
    ])


def test_repeats_that_differ_are_distinct_samples(bench):
    bench.canary()
    with ScriptedServer(seeded(GOOD)) as server:  # the final message names the seed
        result = bench.run(server, repeats=3)
    report = bench.report()
    assert report["summary"][0]["distinct_repeats"] == 3
    assert report["identical_repeats"] == []
    assert len({a["conversation_digest"] for a in report["attempts"]}) == 3
    assert "IDENTICAL REPEATS" not in result.stdout.str()
    result.stdout.fnmatch_lines(["m*lite*3*1.00*?0.44, 1.00? *"])


def test_partly_identical_repeats_and_call_ids_that_differ(bench):
    bench.canary()

    def script(body):
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if turn == 0:  # a fresh call id in every reply: ids are not part of the conversation
            return {"content": "", "tool_calls": [tool_call("write_file", {"content": HELLO_SOURCE,
                                                                          "path": "hello.py"})]}
        return say("Done." if body["seed"] else "Done, and checked.")  # repeat 0 differs

    with ScriptedServer(script) as server:
        result = bench.run(server, repeats=3)
    report = bench.report()
    ids = {r["messages"][2]["tool_calls"][0]["id"] for r in agent_requests(server) if len(r["messages"]) > 2}
    assert len(ids) == 3  # three different call ids went back to the server
    assert report["summary"][0]["distinct_repeats"] == 2
    result.stdout.fnmatch_lines([("IDENTICAL REPEATS m: repeats partly identical in 1/1 canaries: "
                                  "the interval counts 2 samples, not 3")])


def test_same_conversation_with_another_outcome_is_another_sample(bench, tmp_path):
    """A flaky check (it fails the first time, passes after): the conversations are the same,
    the verdicts are not - two samples."""
    marker = tmp_path / "seen"
    check = (f"python -c \"import os, sys; seen = os.path.exists('{marker}'); "
             f"open('{marker}', 'w').close(); sys.exit(0 if seen else 1)\"")
    bench.canary(run=[check])
    with ScriptedServer(GOOD) as server:
        bench.run(server, "--agentbench-sandbox", "none", repeats=2)
    report = bench.report()
    assert [a["outcome"] for a in report["attempts"]] == ["failed", "passed"]
    assert len({a["conversation_digest"] for a in report["attempts"]}) == 1
    assert report["summary"][0]["distinct_repeats"] == 2


def test_the_lower_gate_counts_identical_repeats_once(bench):
    bench.canary()
    gate = ["--agentbench-fail-under", "0.3", "--agentbench-gate", "lower"]
    with ScriptedServer(GOOD) as server:  # 3/3 passed, one conversation: Wilson(1, 1) >= 0.21
        same = bench.run(server, *gate, repeats=3)
    assert same.ret == 1
    same.stdout.fnmatch_lines(["FAILED pass rate >= 0.3: lower 95% bound 0.207 on 1 distinct sample (3/3)*"])
    with ScriptedServer(seeded(GOOD)) as server:  # 3 different conversations: Wilson(3, 3) >= 0.44
        different = bench.run(server, *gate, repeats=3)
    assert different.ret == 0
    different.stdout.fnmatch_lines(["passed pass rate >= 0.3: lower 95% bound 0.439 (3/3)*"])


# --- item 1: temperature 0 is called out ---------------------------------------------------------

def test_temperature_zero_warns_in_the_header_and_the_summary(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, repeats=2)
    out = result.stdout.str()
    header, summary = out.split("agentbench summary")
    assert "agentbench: m: temperature 0, seed = 0 + repeat" in header
    for part in (header, summary):
        assert "WARNING: temperature 0 (m): greedy decoding ignores the seed" in part
        assert "differ only by server nondeterminism" in part


def test_a_temperature_above_zero_has_no_warning(bench):
    bench.canary()
    with ScriptedServer(seeded(GOOD)) as server:
        registry(bench, server, "temperature = 0.7\n")
        result = run_registry(bench, repeats=2)
    out = result.stdout.str()
    assert "agentbench: r: temperature 0.7, seed = 0 + repeat" in out
    assert "WARNING: temperature 0" not in out


def test_a_sweep_warns_only_about_its_greedy_variant(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--agentbench-sweep", "temperature=0,0.5", repeats=2)
    result.stdout.fnmatch_lines(["*WARNING: temperature 0 (m/temperature=0): greedy*"])


# --- item 1: the fingerprint and the interval, directly ---------------------------------------

def test_the_digest_ignores_json_key_order_but_not_the_text():
    def digest(*turns):
        d = ConversationDigest()
        for content, calls in turns:
            d.add(content, calls)
        return d.hexdigest
    a = digest(("", [("write_file", '{"path": "a", "content": "x"}')]), ("Done.", []))
    assert a == digest(("", [("write_file", '{"content":"x","path":"a"}')]), ("Done.", []))
    assert a != digest(("", [("write_file", '{"content":"y","path":"a"}')]), ("Done.", []))
    assert a != digest(("", [("write_file", '{"path": "a", "content": "x"}')]), ("Done!", []))
    assert digest() is None


def test_effective_interval_keeps_the_rate_and_widens_with_fewer_samples():
    assert effective_wilson_interval(3, 3, 3) == wilson_interval(3, 3)
    assert effective_wilson_interval(15, 15, 5) == wilson_interval(5, 5)
    low, high = effective_wilson_interval(10, 15, 5)
    full_low, full_high = wilson_interval(10, 15)
    assert low < full_low < 10 / 15 < full_high < high


# --- item 4: degenerate repetition --------------------------------------------------------------

LOOP = "Sure. " + "It is a bit of code that is a magic bullet. " * 40 + "It is a bit"


def test_a_reply_looping_until_the_cap_says_degenerate_repetition(bench):
    bench.canary()
    with ScriptedServer([{"content": LOOP, "finish_reason": "length"}]) as server:
        bench.run(server)
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "budget_tokens" and attempt["limit_hit"] == "output_cap"
    assert attempt["detail"].startswith(
        "output cap: reply cut off at max_tokens=2048 with no usable tool call: degenerate "
        'repetition, "It is a bit of code that is a magic bullet." x 40')


def test_a_cut_reply_that_does_not_loop_does_not_say_so(bench):
    bench.canary()
    prose = ("To add the function I would first read the module, then write a small helper "
             "that lower-cases the text and replaces every run of other characters with a dash, "
             "and finally")
    with ScriptedServer([{"content": prose, "finish_reason": "length"}]) as server:
        bench.run(server)
    detail = bench.report()["attempts"][0]["detail"]
    assert "output cap" in detail and "degenerate" not in detail


@pytest.mark.parametrize("text, found", [
    (LOOP, '"It is a bit of code that is a magic bullet." x 40'),
    ("the " * 100, '"the" x 100'),
    ("=" * 80, '"=" x 80'),
    ("Here:\n" + "print('hello world')\n" * 12, '"print(\'hello world\')" x 12'),
    # measured on the embedded model: a long preamble, then a loop cut mid-word by the cap
    ("The function is not a magic bullet, but it does what it needs to. " * 3 + "It converts the "
     "text to a slug. " * 2 + "It is a bit of code that is a magic bullet. " * 9 + "It is a bit of "
     "code that is a magic bul", '"It is a bit of code that is a magic bullet." x 9'),
    ('    """Returns the seconds in "1h30m" """\n    return int(text) * 3600 + int(text) * 60'
     + " + int(text) * 1.5" * 30 + " + int", '"+ int(text) * 1.5" x 30'),
])
def test_degenerate_repetition_names_what_repeats(text, found):
    assert degenerate_repetition(text) == found


@pytest.mark.parametrize("text", [
    "",
    "I changed text_utils.py: slugify lower-cases the text and joins words with dashes.",
    "def f():\n    pass\n\n\ndef g():\n    pass\n\n\ndef h():\n    return 1\n",
    "\n".join(f"- step {i}: edit module_{i}.py and run its tests" for i in range(12)),
    "```python\n" + "\n".join(f"assert slugify('a{i}') == 'a{i}'" for i in range(20)) + "\n```",
])
def test_ordinary_replies_are_not_degenerate(text):
    assert degenerate_repetition(text) is None


# --- item 5: a discoverable CLI ------------------------------------------------------------------

def test_pytest_help_groups_the_options_under_agentbench_with_the_default_model(pytester):
    result = pytester.runpytest("--help")
    out = result.stdout.str()
    title = next(line for line in out.splitlines() if line.startswith("agentbench:"))
    assert "default model: embedded" in title
    lines = [line for line in out.splitlines() if "agentbench" in line]
    for option in ("--models", "--tier", "--repeats"):
        assert any(line.lstrip().startswith(option) for line in lines), option
    models_help = out[out.index("--models=NAME[@URL]"):out.index("--tier=")]
    assert "default:" in models_help and "embedded" in models_help
    cap_help = " ".join(out[out.index("--agentbench-max-output-tokens"):].split()[:60])
    assert "2048" in cap_help and f"embedded model {EMBEDDED_MAX_TOKENS}" in cap_help


def test_bare_agentbench_prints_its_help_and_exits_0(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: agentbench")
    for command in ("runs", "report", "compare", "validate", "import", "mine"):
        assert re.search(rf"^\s+{command}\s", out, re.MULTILINE), command


def test_embedded_cap_matches_the_constant():
    assert embedded_model().max_tokens == EMBEDDED_MAX_TOKENS


# --- item 5: README statements that must stay true ---------------------------------------------

# The README and the pages it links to (docs/): statements there must stay true.
README = "\n".join(path.read_text(encoding="utf-8")
                   for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_readme_counts_the_builtin_canaries_right():
    canaries = sorted(p.parent.name for p in (ROOT / "canaries").glob("*/*/canary.toml"))
    count = re.search(r"`canaries/` holds (\d+) canaries", README)
    assert count and int(count.group(1)) == len(canaries)
    section = README[README.index("## The built-in suite"):README.index("**Discriminators**")]
    for tier in ("lite", "medium", "heavy", "integrity"):
        row = next(line for line in section.splitlines() if line.startswith(f"| `{tier}`"))
        listed = re.findall(r"`([a-z0-9-]+)`", row.split("|")[3])
        assert sorted(listed) == sorted(p.name for p in (ROOT / "canaries" / tier).iterdir()
                                        if (p / "canary.toml").is_file()), tier
    total = re.search(r"^(\d+) canaries: (\d+) ok", README, re.MULTILINE)
    assert total and int(total.group(1)) == int(total.group(2)) == len(canaries)


def test_readme_names_the_sandbox_tiers_as_they_are_called():
    assert "--sandbox auto|bubblewrap|process" not in README
    assert "--sandbox auto|bubblewrap|none" in README


def test_readme_states_the_embedded_cap_the_seed_rule_and_claimed_done():
    text = " ".join(README.split())
    assert f"`max_tokens` {EMBEDDED_MAX_TOKENS}, not the 2048 of every other model" in text
    assert "`seed_per_repeat = false`" in text and "`seed = S + r`" in text
    assert "`distinct_repeats`" in text and "The interval is computed on the distinct count" in text
    assert "**The `claimed_done` rule**: true only when the model ended the loop itself with a non-empty final message" in text
    assert "9.5 minutes for the whole command" in text and "up to 29 minutes" in text
