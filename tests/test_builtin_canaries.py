"""The built-in suite through the real plugin: a model that writes each canary's reference
solution passes every canary (reference control), and a model that only claims success is a
phantom on every canary (null control). A canary that cannot fail or cannot pass is a defect.
A pipeline canary (tag ``pipeline``) is played through its phases by its reference pass
(pipeline/reference.py); the talker's prose is ``invalid_output`` there."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from pytest_agentbench.judging.page import find_browser
from pytest_agentbench.pipeline.reference import reference_script
from pytest_agentbench.schemas.canary import load_canary
from pytest_agentbench.testing import ScriptedServer, call, say

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parent.parent
SUITES = [ROOT / "canaries", ROOT / "examples"]


def answers() -> dict[str, str]:
    """Prompt → the reference answer of an answer canary (verify.answer)."""
    return {tomllib.loads(toml.read_text())["prompt"].strip(): (toml.parent / "reference" / "answer.md").read_text()
            for suite in SUITES for toml in sorted(suite.rglob("canary.toml"))
            if tomllib.loads(toml.read_text()).get("verify", {}).get("answer")}


def solutions() -> dict[str, list[tuple[str, str]]]:
    """Prompt → the reference solution's files, in a stable order."""
    found = {}
    for suite in SUITES:
        for toml in sorted(suite.rglob("canary.toml")):
            solution = toml.parent / "solution"
            files = sorted(p for p in solution.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
            data = tomllib.loads(toml.read_text())
            if "phases" in data:
                continue  # pipelines: see pipelines()
            prompt = data["prompt"].strip()
            found[prompt] = [(p.relative_to(solution).as_posix(), p.read_text()) for p in files]
    return found


def pipelines() -> list:
    return [load_canary(toml) for suite in SUITES for toml in sorted(suite.rglob("canary.toml"))
            if "phases" in tomllib.loads(toml.read_text())]


def test_every_builtin_canary_can_pass_and_can_fail(pytester):
    for suite in SUITES:
        shutil.copytree(suite, pytester.path / suite.name, ignore=shutil.ignore_patterns("__pycache__"))
    references = solutions()
    assert len(references) >= 16
    piped = pipelines()
    assert [c.id for c in piped] == ["self-improve"]
    phased = reference_script(piped)
    spoken = answers()
    assert len(spoken) >= 1
    answered = {load_canary(toml).id for suite in SUITES for toml in sorted(suite.rglob("canary.toml"))
                if load_canary(toml).verify.answer}
    pushed = {load_canary(toml).prompt.strip() for suite in SUITES
              for toml in sorted(suite.rglob("canary.toml")) if load_canary(toml).verify.push}
    assert len(pushed) >= 1

    def oracle(request: dict) -> dict:
        step = phased(request)
        if step is not None:
            return step
        turn = sum(1 for m in request["messages"] if m["role"] == "assistant")
        prompt = next(m["content"] for m in request["messages"] if m["role"] == "user").strip()
        files = references.get(prompt, [])
        if turn < len(files):
            path, content = files[turn]
            return call("write_file", path=path, content=content)
        if turn == len(files) and prompt in pushed:  # verify.push: only what is pushed counts
            return call("shell", command="git add -A && git commit -qm fix && git push -q origin main")
        return say(spoken.get(prompt, "Done."))  # an answer canary's result is its answer

    # The web canary's judge check names the registry models "vision" and "judge".
    judges = {"vision": [say("Three cards, each with its button, fully visible; no errors.")],
              "judge": [say('{"verdict": "pass", "reason": "all three cards are visible"}')]}
    with ScriptedServer({"oracle": oracle, "talker": [say("Done: every change is made.")],
                         **judges}) as server:
        (pytester.path / "agentbench.toml").write_text(
            f'[models.vision]\nbase_url = "{server.url}"\n[models.judge]\nbase_url = "{server.url}"\n')
        result = pytester.runpytest_subprocess(
            "canaries", "examples", "--models", f"oracle@{server.url},talker@{server.url}",
            "--repeats", "1", "-n", "2", "--agentbench-json", "r.json",
            # Python canaries verify in their test body; test_python_canary_e2e.py covers the example.
            "-k", "not test_inventory_remove", timeout=900)
    attempts = json.loads((pytester.path / "r.json").read_text())["attempts"]
    by_model: dict[str, dict[str, str]] = {}
    for attempt in attempts:
        by_model.setdefault(attempt["model"], {})[attempt["canary"]] = attempt["outcome"]
    assert len(by_model["oracle"]) == len(references) + len(piped)
    if find_browser() is None:
        # No Chromium here (CI installs it): the web canary's page judge cannot look, which is an
        # infrastructure error, never a verdict on the model.
        assert by_model["oracle"].pop("web-pricing-page") == "infra_error"
    assert set(by_model["oracle"].values()) == {"passed"}, by_model["oracle"]
    talker = {canary: outcome for canary, outcome in by_model["talker"].items()
              if canary not in {c.id for c in piped} | answered}
    assert set(talker.values()) == {"phantom"}, by_model["talker"]
    # "Done: every change is made." is an answer, and a wrong one: failed, not phantom
    assert {by_model["talker"][c] for c in answered} == {"failed"}
    assert {by_model["talker"][c.id] for c in piped} == {"invalid_output"}
    web = next(a for a in attempts if a["model"] == "oracle" and a["canary"] == "web-pricing-page")
    assert [j["verdict"] for j in web["judges"]] == (["pass"] if find_browser() else ["error"])
    # the reference pass is clean in every phase check
    pipeline = next(a for a in attempts if a["model"] == "oracle" and a["canary"] == "self-improve")
    assert [p["name"] for p in pipeline["phases"]] == [
        "explore", "hypothesize", "implement", "red_team", "audit", "reflect"]
    for phase in pipeline["phases"]:
        assert phase["outcome"] == "ok" and phase["json_ok"] and phase["json_retries"] == 0, phase
        assert not (phase["hallucinated"] or phase["invalid_paths"] or phase["language_drift"]
                    or phase["violation"] or phase["phantom"]), phase
    assert pipeline["phases"][2]["regression"] == {"broken": [], "reverted": False, "reverted_files": []}
    implement = pipeline["phases"][2]  # it changed exactly the files its hypothesis planned
    assert implement["plan_checked"] and implement["off_plan"] == [] and implement["plan_untouched"] == []
    assert pipeline["phases"][3]["tally"] == {"verdict": ["holds"]}
    result.stdout.fnmatch_lines(["*agentbench summary*"])
