"""Answers as results (``verify.answer``; the text roles — draft, reason, review): the
attempt's result is its final message, which the checks read at ``$AGENTBENCH_ANSWER`` (a file
outside the tree) and a judge check can take as ``artifact = "answer"``. The cheaters plant the
answer in the tree, answer with the task itself, or say nothing; both sandbox tiers."""

from __future__ import annotations

import json
import re
import textwrap

import pytest

from pytest_agentbench.library.validate import validate_canary
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import agent_requests

tiers = pytest.mark.parametrize("tier", ["auto", "none"])
DATA = "city\nOslo\nBergen\nOslo\nTromso\nOslo\n"
PROMPT = "Which city appears most often in data.csv? Reply with the city's name only."
CHECK = ("python -c \"import os, sys; answer = open(os.environ['AGENTBENCH_ANSWER']).read(); "
         "sys.exit(0 if answer.strip().lower() == 'oslo' else 1)\"")


def answer_toml(extra: str = "", verify_extra: str = "") -> str:
    return textwrap.dedent(f"""\
        tier = "lite"
        prompt = {json.dumps(PROMPT)}
        {extra}
        [verify]
        answer = true
        run = [{json.dumps(CHECK)}]
        {verify_extra}
        """)


READ = call("read_file", path="data.csv")
MODELS = {
    "good": [READ, say("Oslo")],
    "wrong": [READ, say("Bergen")],
    # Writes the right answer where a careless check might look, and answers wrong.
    "planter": [call("write_file", path="answer.md", content="Oslo\n"),
                call("shell", command="echo Oslo > ANSWER; echo Oslo > $HOME/answer.md"), say("Bergen")],
    "echo": [say(PROMPT)],  # says something, and nothing
    "looper": [READ] * 20,  # never answers
}


def attempts(bench) -> dict[str, dict]:
    return {a["model"]: a for a in bench.report()["attempts"]}


@tiers
def test_the_final_answer_is_the_result(bench, tier):
    bench.canary(toml=answer_toml(), repo={"data.csv": DATA})
    with ScriptedServer(MODELS) as server:
        bench.run(server, "--agentbench-sandbox", tier, "--agentbench-max-turns", "4",
                  models="good,wrong,planter,echo,looper")
    by_model = attempts(bench)
    assert {m: a["outcome"] for m, a in by_model.items()} == {
        "good": "passed", "wrong": "failed", "planter": "failed", "echo": "failed", "looper": "budget_turns"}
    assert by_model["good"]["answer"] == "Oslo" and by_model["good"]["files_changed"] == []
    assert by_model["wrong"]["answer"] == "Bergen"
    assert by_model["planter"]["files_changed"] == ["ANSWER", "answer.md"]  # recorded, and no help
    assert by_model["looper"]["answer"] == ""  # a loop a ceiling ended gave no answer


def test_an_empty_answer_is_phantom(bench):
    bench.canary(toml=answer_toml(), repo={"data.csv": DATA})
    with ScriptedServer({"mute": [READ, say("   ")]}) as server:
        bench.run(server, models="mute")
    attempt = attempts(bench)["mute"]
    assert attempt["outcome"] == "phantom" and "the final answer is empty" in attempt["detail"]


def test_a_second_try_asks_for_the_answer_again(bench):
    bench.canary(toml=answer_toml(extra="retries_with_feedback = 1"), repo={"data.csv": DATA})

    def reply(body: dict) -> dict:
        users = [m for m in body["messages"] if m["role"] == "user"]
        return say("Oslo") if len(users) > 1 else say("Bergen")

    with ScriptedServer({"m": reply}) as server:
        bench.run(server)
    attempt = attempts(bench)["m"]
    assert attempt["outcome"] == "passed" and [t["outcome"] for t in attempt["tries"]] == ["failed", "passed"]
    feedback = agent_requests(server)[-1]["messages"][-1]["content"]
    assert "Give your whole answer again" in feedback and "Fix the code" not in feedback


def test_a_judge_check_reads_the_answer(bench):
    judge = textwrap.dedent("""\
        [[verify.judge]]
        artifact = "answer"
        criteria = "The answer names Oslo and nothing else."
        judge = "big"
        mode = "direct"
        """)
    bench.canary(toml=answer_toml(verify_extra=judge).replace(f"run = [{json.dumps(CHECK)}]", "run = []"),
                 repo={"data.csv": DATA})

    def big(body: dict) -> dict:
        text = json.dumps(body["messages"])
        verdict = "pass" if "Oslo" in text.split("final answer")[-1] else "fail"
        return say(json.dumps({"verdict": verdict, "reason": f"judged {verdict}"}))

    with ScriptedServer({"good": MODELS["good"], "wrong": MODELS["wrong"], "big": big}) as server:
        (bench.pytester.path / "agentbench.toml").write_text(f'[models.big]\nbase_url = "{server.url}"\n')
        bench.run(server, models="good,wrong")
    by_model = attempts(bench)
    assert by_model["good"]["outcome"] == "passed" and by_model["wrong"]["outcome"] == "failed"
    assert by_model["good"]["judges"][0]["artifact"] == "answer"
    judged = [r for r in server.requests if r.get("model") == "big"]
    # the answer, fenced as the untrusted output it is
    fenced = [r["messages"][-1]["content"] for r in judged]
    texts = [part["text"] for content in fenced for part in content if part.get("type") == "text"]
    assert any(re.search(r"Artifact: the agent's final answer .*\n(UNTRUSTED-[0-9A-F]{8})\nBergen\n\1", text)
               for text in texts), texts


def test_an_answer_artifact_without_answer_true_is_a_load_error(bench):
    toml = answer_toml().replace("answer = true\n", "") + textwrap.dedent("""\
        [[verify.judge]]
        artifact = "answer"
        criteria = "c"
        judge = "big"
        mode = "direct"
        """)
    bench.canary(toml=toml, repo={"data.csv": DATA})
    with ScriptedServer(MODELS) as server:
        result = bench.run(server, models="good")
    result.stdout.fnmatch_lines(["*field 'verify': *artifact 'answer' needs answer = true*"])


PYTHON_CANARY = '''
import pytest

@pytest.mark.canary(tier="lite", repo="repo", answer=True)
def test_city(agent):
    run = agent.run("Which city appears most often in data.csv? Reply with its name only.")
    assert run.final_message.strip() == "Oslo", run.final_message
'''


def test_a_python_canary_with_answer_true_is_failed_not_phantom(bench):
    root = bench.pytester.path / "canaries"
    (root / "repo").mkdir(parents=True)
    (root / "repo" / "data.csv").write_text(DATA)
    (root / "test_city_canary.py").write_text(PYTHON_CANARY)
    with ScriptedServer(MODELS) as server:
        bench.run(server, models="good,wrong")
    by_model = attempts(bench)
    assert by_model["good"]["outcome"] == "passed" and by_model["good"]["answer"] == "Oslo"
    assert by_model["wrong"]["outcome"] == "failed"  # it answered: a wrong answer, not a phantom


def write_canary(root, run: list[str], answer: str | None = "Oslo\n"):
    directory = root / "city"
    (directory / "repo").mkdir(parents=True)
    (directory / "repo" / "data.csv").write_text(DATA)
    if answer is not None:
        (directory / "reference").mkdir()
        (directory / "reference" / "answer.md").write_text(answer)
    (directory / "canary.toml").write_text(
        f'tier = "lite"\nprompt = {json.dumps(PROMPT)}\n[verify]\nanswer = true\nrun = {json.dumps(run)}\n')
    return directory / "canary.toml"


def test_validate_proves_an_answer_canary(tmp_path):
    result = validate_canary(write_canary(tmp_path, [CHECK]), sandbox="none")
    assert (result.null_control, result.reference, result.cheaters) == ("fails", "passes", "fail"), result.problems
    assert not result.problems


def test_validate_catches_a_check_that_any_answer_passes(tmp_path):
    result = validate_canary(write_canary(tmp_path, ['test -s "$AGENTBENCH_ANSWER"']), sandbox="none")
    assert result.cheaters == "PASS"
    assert "cheater control: the exploit 'an answer that repeats the prompt' passes the checks" in result.problems


def test_validate_wants_a_reference_answer(tmp_path):
    result = validate_canary(write_canary(tmp_path, [CHECK], answer=None), sandbox="none",
                             require_solution=True)
    assert result.reference == "missing"
    assert any("no reference/answer.md" in p for p in result.problems)
