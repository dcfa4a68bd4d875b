"""Turbo escalation in roles: a role's ``escalation`` models retry each failed attempt of the
incumbent, in order, until one passes. A role run against scripted models reports the recovery
rate with its interval and the cost in the summary, the JSON report's ``promotion`` entries, the
promotion report and ``agentbench promote``."""

from __future__ import annotations

import json

import pytest

from pytest_agentbench.cli import main
from pytest_agentbench.routing.escalation import escalation_summary
from pytest_agentbench.routing.roles import RoleError, RoleSpec, load_roles
from pytest_agentbench.schemas.models import load_registry
from pytest_agentbench.schemas.results import AttemptResult
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, canary_toml
from tests.test_tier_up_e2e import repeat_of

WRONG = "def hello():\n    return 'no'\n"
# model -> canary -> the repeats on which it passes
PASSES = {"inc": {"hello": {0}, "other": set()},
          "chal": {"hello": {0, 1}, "other": {0, 1}},
          "big": {"hello": {0, 1}, "other": set()},
          "bigger": {"hello": {0, 1}, "other": {0}}}


def scripted(body: dict) -> dict:
    if body["messages"][-1]["role"] == "tool":
        return say(f"Done (repeat {repeat_of(body)}).")
    task = next(m["content"] for m in body["messages"] if m["role"] == "user")
    canary = "other" if "OTHER" in task else "hello"
    passes = repeat_of(body) in PASSES[body["model"]][canary]
    return call("write_file", path="hello.py", content=HELLO_SOURCE if passes else WRONG)


def registry(url: str, escalation: str = '["big", "bigger"]') -> str:
    models = "".join(f'[tool.agentbench.models.{name}]\nbase_url = "{url}"\nfamily = "{family}"\n\n'
                     for name, family in (("inc", "qwen"), ("chal", "llama"), ("big", "gemma"),
                                          ("bigger", "mistral")))
    return models + ("[tool.agentbench.roles.coder]\ncanaries = [\"hello\", \"other\"]\n"
                     f"incumbent = \"inc\"\nchallengers = [\"chal\"]\nescalation = {escalation}\n")


def test_failed_attempts_of_the_incumbent_are_retried_on_the_escalation_models(bench, capsys):
    bench.canary("hello")
    bench.canary("other", toml=canary_toml(prompt="OTHER: create hello.py with a function hello() "
                                                  "that returns 'hi'."))
    path = bench.pytester.path
    with ScriptedServer(scripted) as server:
        (path / "pyproject.toml").write_text(registry(server.url))
        result = bench.pytester.runpytest("canaries", "--agentbench-role", "coder", "--repeats", "2",
                                          "--agentbench-json", "report.json", "-p", "no:cacheprovider")
    report = json.loads((path / "report.json").read_text())
    # the escalation models ran on every canary x repeat of the role, beside its incumbent and challenger
    assert sorted({(a["model"], a["canary"], a["repeat"]) for a in report["attempts"]}) == sorted(
        (m, c, r) for m in ("inc", "chal", "big", "bigger") for c in ("hello", "other") for r in (0, 1))
    result.stdout.fnmatch_lines([
        "*= agentbench roles and promotion =*",
        "role coder: incumbent inc",
        ("  escalation big -> bigger: recovered 2/3 failed attempts of inc = 0.67 [[]0.*, 0.*] "
         "(by big 1, bigger 1); cost 10 turns, * tokens, * s in 5 escalation attempts"),
        "  decision: keep inc"])  # the family guard: chal alone would leave one family
    [entry] = report["promotion"]
    escalation = entry["escalation"]
    # the escalation models are not candidates: the policy's table and decision are the role's own
    assert [c["model"] for c in entry["candidates"]] == ["inc", "chal"]
    assert escalation["models"] == ["big", "bigger"]
    assert (escalation["failed"], escalation["recovered"], escalation["recovery_rate"]) == (3, 2, 0.6667)
    assert 0 < escalation["ci_low"] < 0.6667 < escalation["ci_high"] <= 1
    assert escalation["recovered_by"] == {"big": 1, "bigger": 1}
    assert escalation["cost"]["attempts"] == 5 and escalation["cost"]["turns"] == 10
    assert escalation["cost"]["tokens"] == (escalation["cost"]["prompt_tokens"]
                                            + escalation["cost"]["completion_tokens"]) > 0
    assert escalation["cost"]["seconds"] > 0
    # 8 escalation attempts ran; 5 were taken in order, 3 were never reached
    assert escalation["not_needed"] == 3 and escalation["unavailable"] == 0
    assert [(c["canary"], c["repeat"], c["recovered_by"], [t["model"] for t in c["tried"]])
            for c in escalation["cells"]] == [("hello", 1, "big", ["big"]),
                                              ("other", 0, "bigger", ["big", "bigger"]),
                                              ("other", 1, None, ["big", "bigger"])]
    # the role run's promotion report has it
    [written] = (path / "reports").glob("local-model-benchmark-*.md")
    markdown = written.read_text()
    assert "Escalation: big -> bigger: recovered 2/3 failed attempts of inc = 0.67" in markdown
    assert "- other r1 (failed): `big` failed -> `bigger` failed, not recovered" in markdown
    assert "Escalation: each failed attempt of the incumbent is retried" in markdown
    assert "incumbent `inc`; challengers `chal`; escalation `big` -> `bigger`" in markdown

    # agentbench promote reads the same from the database
    capsys.readouterr()
    assert main(["promote", "last", "--json", "promotion.json", "--out", "out"]) == 0
    assert "escalation big -> bigger: recovered 2/3" in capsys.readouterr().out
    stored = json.loads((path / "promotion.json").read_text())["promotion"][0]["escalation"]
    assert stored == escalation


def test_a_role_without_escalation_reports_none():
    role = RoleSpec(incumbent="inc", challengers=["chal"])
    assert escalation_summary(role, []) is None


def attempt(model: str, repeat: int, outcome: str, canary: str = "hello") -> AttemptResult:
    return AttemptResult.model_validate({
        "canary": canary, "model": model, "repeat": repeat, "outcome": outcome, "tier": "lite",
        "tags": [], "turns": 2, "prompt_tokens": 100, "completion_tokens": 10, "wall_seconds": 0.5})


def test_a_missing_or_infra_escalation_attempt_is_passed_over():
    role = RoleSpec(incumbent="inc", escalation=["big", "bigger"])
    results = [attempt("inc", 0, "failed"), attempt("big", 0, "infra_error"), attempt("bigger", 0, "passed"),
               attempt("inc", 1, "failed"), attempt("inc", 2, "infra_error")]
    summary = escalation_summary(role, results)
    assert (summary["failed"], summary["recovered"], summary["unavailable"]) == (2, 1, 3)
    assert summary["recovered_by"] == {"big": 0, "bigger": 1}
    assert summary["cost"] == {"attempts": 1, "turns": 2, "prompt_tokens": 100, "completion_tokens": 10,
                               "tokens": 110, "seconds": 0.5}


@pytest.mark.parametrize("escalation, message", [
    ('["inc"]', "escalation: 'inc' is the incumbent"),
    ('["big", "big"]', "escalation: 'big' is named twice"),
    ('["huge"]', "key 'escalation': 'huge' is not a registry model"),
])
def test_bad_escalation_entries_are_refused_naming_the_key(tmp_path, escalation, message):
    (tmp_path / "pyproject.toml").write_text(registry("http://127.0.0.1:1/v1", escalation))
    with pytest.raises(RoleError, match=message):
        load_roles(tmp_path, load_registry(tmp_path))


def test_a_promoted_escalation_model_leaves_the_escalation_list(tmp_path):
    from pytest_agentbench.routing.registry_edit import write_roles

    (tmp_path / "pyproject.toml").write_text(registry("http://127.0.0.1:1/v1", '["chal", "big"]  # order'))
    role = load_roles(tmp_path, load_registry(tmp_path))["coder"]
    assert role.run_models == ["inc", "chal", "big"]  # chal's attempts serve both
    write_roles([(role, "chal", [])])
    again = load_roles(tmp_path, load_registry(tmp_path))["coder"]
    assert (again.incumbent, again.challengers, again.escalation) == ("chal", [], ["big"])
    assert 'escalation = ["big"]  # order' in (tmp_path / "pyproject.toml").read_text()
