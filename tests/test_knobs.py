"""Fair limits at the loop, against a real loopback server: slow is not broken, reasoning tokens and
the starved-by-the-cap detail, scaled time budgets, the knobs (each one's effect on the
request and on the loop) and the tool-call statistics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from pytest_agentbench.agent.knobs import AgentKnobs, tree_fingerprint
from pytest_agentbench.agent.loop import AgentLoop
from pytest_agentbench.agent.time_budget import MAX_SCALE, SpeedMeter, TimeBudget, scale_for
from pytest_agentbench.agent.tools import ToolContext
from pytest_agentbench.report.fairness import fairness_warnings
from pytest_agentbench.sandbox.commands import command_env
from pytest_agentbench.schemas.canary import ResolvedBudget
from pytest_agentbench.schemas.results import AttemptResult
from pytest_agentbench.servers.client import ChatClient, ClientSettings, InfraError, RequestTimedOut
from pytest_agentbench.servers.thinking import ThinkingUnsupported, merge_body, thinking_fields
from pytest_agentbench.testing import ScriptedServer, call, calls, say, tool_call

WRITE = call("write_file", path="hello.py", content="def hello():\n    return 'hi'\n")


@pytest.fixture
def loop_for(tmp_path: Path):
    """``loop_for(server, knobs=..., seconds=..., request_timeout=...)`` → an AgentLoop in a fresh
    directory (holding README.md), talking to ``server``."""
    clients: list[ChatClient] = []

    def make(server: ScriptedServer, knobs: AgentKnobs | None = None, seconds: float = 30,
             request_timeout: float = 30, max_tokens: int = 2048) -> AgentLoop:
        root = tmp_path / "wt"
        root.mkdir(exist_ok=True)
        (root / "README.md").write_text("# demo\n")
        client = ChatClient(ClientSettings(base_url=server.url, model="m", retries=2, backoff=0.01,
                                           request_timeout=request_timeout, max_tokens=max_tokens,
                                           knobs=knobs or AgentKnobs()))
        clients.append(client)
        context = ToolContext(root, command_env(tmp_path), lambda: seconds)
        return AgentLoop(client, context, ResolvedBudget(turns=20, tokens=10**9, seconds=seconds))

    yield make
    for client in clients:
        client.close()


def run(loop_for, script, **options):
    with ScriptedServer(script) as server:
        loop = loop_for(server, **options)
        return loop, loop.run("do the task"), server.requests


# --- 1: slow is not broken -----------------------------------------------------------------------

def test_a_request_slower_than_the_timeout_is_budget_time_and_not_retried(loop_for):
    slow = {**call("list_dir"), "delay": 0.8}
    _, result, requests = run(loop_for, [slow], request_timeout=0.3)
    assert result.stop_reason == "budget_time" and result.limit_hit == "request_timeout"
    assert result.detail.startswith("the request took longer than 0.3 s (the per-request timeout")
    assert len(requests) == 1  # the retry would have repeated the same slow generation
    assert result.model_seconds >= 0.3  # the wait was on the model


def test_the_client_raises_request_timed_out_once(tmp_path):
    with ScriptedServer(lambda body: {**say("late"), "delay": 0.6}) as server:
        client = ChatClient(ClientSettings(base_url=server.url, model="m", retries=3, backoff=0.01,
                                           request_timeout=0.2))
        body = client.build_request([{"role": "user", "content": "hi"}], tools=[])
        with pytest.raises(RequestTimedOut, match="longer than 0.2 s"):
            client.chat(body, time.monotonic() + 30)
        client.close()
    assert len(server.requests) == 1


def test_a_dropped_connection_is_still_retried_then_infra_error(tmp_path):
    with ScriptedServer(lambda body: {"close": True}) as server:
        client = ChatClient(ClientSettings(base_url=server.url, model="m", retries=2, backoff=0.01))
        body = client.build_request([{"role": "user", "content": "hi"}], tools=[])
        with pytest.raises(InfraError, match="after 2 retries"):
            client.chat(body, time.monotonic() + 30)
        client.close()
    assert len(server.requests) == 3


# --- 3: reasoning tokens, and the cap that reasoning ate ----------------------------------------

def test_a_reasoning_only_reply_cut_by_the_cap_says_reasoning_ate_it(loop_for):
    starved = {"content": "", "reasoning_content": "Let me think step by step. " * 30,
               "finish_reason": "length",
               "usage": {"prompt_tokens": 50, "completion_tokens": 64,
                         "completion_tokens_details": {"reasoning_tokens": 64}}}
    _, result, _ = run(loop_for, [starved], max_tokens=64)
    assert result.stop_reason == "budget_tokens" and result.limit_hit == "output_cap"
    assert result.detail == ("output cap: reasoning consumed the 64-token output cap (max_tokens=64; "
                             "64 reasoning tokens) with no answer or tool call; raise max_tokens or "
                             "lower think_level")
    fields = result.extra_fields()
    assert fields["reasoning_tokens"] == 64 and fields["reasoning_tokens_estimated"] is False


def test_reasoning_tokens_are_estimated_when_the_server_does_not_count_them(loop_for):
    thinking = {**WRITE, "reasoning_content": "x" * 400}
    _, result, _ = run(loop_for, [thinking, say("Done.")])
    fields = result.extra_fields()
    assert fields["reasoning_tokens"] == 100 and fields["reasoning_tokens_estimated"] is True


def test_a_cut_reply_with_an_answer_keeps_the_plain_cap_detail(loop_for):
    cut = {"content": "Here is my plan: first I", "finish_reason": "length"}
    _, result, _ = run(loop_for, [cut], max_tokens=32)
    assert result.detail == "output cap: reply cut off at max_tokens=32 with no usable tool call"


# --- 2: scaled time budgets ----------------------------------------------------------------------

def test_scale_is_reference_over_speed_never_below_one_and_bounded():
    assert scale_for(10) == 2.0 and scale_for(5) == 4.0
    assert scale_for(200) == 1.0 and scale_for(0.01) == MAX_SCALE


def test_an_unmeasured_scaled_budget_is_generous_then_fixed_by_the_speed():
    meter = SpeedMeter()
    budget = TimeBudget(100, "scaled", meter, request_timeout=30)
    assert budget.seconds == 100 * MAX_SCALE  # the first turn of a slow model is not cut short
    meter.record_response(40, 4.0, {}, "first turn")
    meter.record_response(400, 1.0, {}, "first turn")  # the first turn's measurement stands
    assert (budget.seconds, budget.request_timeout) == (200, 60)
    assert budget.record()["decode_speed_source"] == "first turn: completion tokens / request time"
    assert TimeBudget(100, "fixed", meter, 30).seconds == 100


def test_the_first_turn_lowers_the_probes_speed_and_never_raises_it():
    slower, faster = SpeedMeter(), SpeedMeter()
    for meter in (slower, faster):
        meter.record_response(64, 1.0, {"predicted_n": 64, "predicted_ms": 1600}, "preflight probe")
        assert meter.tokens_per_second == 40.0  # the server's own decode timings, not wall time
    slower.record_response(100, 20.0, {}, "first turn")
    faster.record_response(100, 1.0, {}, "first turn")
    assert (slower.tokens_per_second, slower.source) == (5.0, "first turn: completion tokens / request time")
    assert (faster.tokens_per_second, faster.source) == (40.0, "preflight probe: server timings")
    slower.record_response(100, 100.0, {}, "first turn")  # fixed after the first turn
    assert slower.tokens_per_second == 5.0


@pytest.mark.parametrize(("mode", "stop"), [("fixed", "budget_time"), ("scaled", "final")])
def test_a_slow_model_gets_the_time_its_speed_earns(loop_for, mode, stop):
    # 10 decoded tokens/s by the server's own timings: half the reference speed, twice the time.
    turn = {"delay": 0.5, "timings": {"predicted_n": 40, "predicted_ms": 4000}}
    script = [{**call("list_dir"), **turn}, {**WRITE, **turn}, {**say("Done."), **turn}]
    _, result, _ = run(loop_for, script, seconds=1.2, knobs=AgentKnobs(time_budget=mode))
    assert result.stop_reason == stop
    record = result.time_budget
    assert record["time_budget_mode"] == mode
    assert record["time_budget_seconds"] == (2.4 if mode == "scaled" else 1.2)
    assert record["decode_tokens_per_second"] == 10.0


# --- 4: the knobs' effects on the request and on the loop ----------------------------------------

@pytest.mark.parametrize(("kind", "think", "level", "fields"), [
    ("llama.cpp", True, "high", {"chat_template_kwargs": {"enable_thinking": True, "reasoning_effort": "high"}}),
    ("llama.cpp", False, None, {"chat_template_kwargs": {"enable_thinking": False}}),
    ("vllm", None, "low", {"chat_template_kwargs": {"enable_thinking": True}, "reasoning_effort": "low"}),
    ("vllm", False, None, {"chat_template_kwargs": {"enable_thinking": False}}),
    ("ollama", True, None, {"reasoning_effort": "medium"}),
    ("ollama", False, None, {"reasoning_effort": "none"}),
    ("lmstudio", None, "high", {"reasoning_effort": "high"}),
    ("mlx", False, None, {"chat_template_kwargs": {"enable_thinking": False}}),
    ("openai-compatible", True, "low", {"reasoning_effort": "low"}),
    ("ollama", None, None, {}),
])
def test_think_is_translated_per_server(kind, think, level, fields):
    assert thinking_fields(kind, think, level) == fields


@pytest.mark.parametrize(("kind", "level", "says"), [
    ("mlx", "high", "mlx_lm.server has no reasoning-effort field"),
    ("llama-cpp-python", None, "llama-cpp-python's server has no request field for reasoning"),
])
def test_a_server_without_the_control_is_a_clear_error(kind, level, says):
    with pytest.raises(ThinkingUnsupported, match=says):
        thinking_fields(kind, True, level)


def test_the_registrys_extra_body_wins_key_by_key():
    merged = merge_body({"chat_template_kwargs": {"enable_thinking": True}},
                        {"chat_template_kwargs": {"foo": 1}, "top_k": 20})
    assert merged == {"chat_template_kwargs": {"enable_thinking": True, "foo": 1}, "top_k": 20}


@pytest.mark.parametrize("native", [True, False])
def test_native_thinking_sends_the_reasoning_back_in_the_servers_field(loop_for, native):
    script = [{**WRITE, "reasoning": "I will write hello.py"}, say("Done.")]
    _, _, requests = run(loop_for, script, knobs=AgentKnobs(native_thinking=native))
    assistant = next(m for m in requests[1]["messages"] if m["role"] == "assistant")
    assert assistant.get("reasoning") == ("I will write hello.py" if native else None)
    assert "reasoning_content" not in assistant


def test_require_code_change_nudges_once_and_counts_it(loop_for, tmp_path):
    _loop, result, requests = run(loop_for, [say("Done."), WRITE, say("Done.")],
                                 knobs=AgentKnobs(require_code_change=True))
    assert result.stop_reason == "final" and (tmp_path / "wt" / "hello.py").exists()
    assert "without having changed any file" in requests[1]["messages"][-1]["content"]
    assert result.extra_fields()["nudges"] == {"require_code_change": 1}


def test_require_code_change_nudges_only_once(loop_for):
    _, result, requests = run(loop_for, [say("Done."), say("Really done.")],
                              knobs=AgentKnobs(require_code_change=True))
    assert result.stop_reason == "final" and len(requests) == 2
    assert result.final_message == "Really done." and result.nudges == {"require_code_change": 1}


def test_a_change_made_through_the_shell_counts_as_a_change(loop_for):
    shell = call("shell", command="echo 'x = 1' > made.py")
    _, result, requests = run(loop_for, [shell, say("Done.")],
                              knobs=AgentKnobs(require_code_change=True))
    assert len(requests) == 2 and not result.nudges


def test_min_tool_calls_nudges_a_model_that_stops_early(loop_for):
    _, result, requests = run(loop_for, [say("Done."), call("list_dir"), WRITE, say("Done.")],
                              knobs=AgentKnobs(min_tool_calls=2))
    assert "You have made 0 tool calls; finish only after at least 2" in requests[1]["messages"][-1]["content"]
    assert result.tool_calls == 2 and result.nudges == {"min_tool_calls": 1}


def test_calls_past_max_batch_are_refused_with_a_tool_error(loop_for, tmp_path):
    writes = [tool_call("write_file", {"path": f"{n}.txt", "content": n}) for n in "abc"]
    loop, result, _ = run(loop_for, [calls(*writes), say("Done.")],
                          knobs=AgentKnobs(max_batch_tool_calls=2))
    assert sorted(p.name for p in (tmp_path / "wt").glob("*.txt")) == ["a.txt", "b.txt"]
    answers = [m["content"] for m in loop.messages if m["role"] == "tool"]
    assert answers[2].startswith("Error: refused: at most 2 tool calls per reply")
    fields = result.extra_fields()
    assert fields["refused_tool_calls"] == 1 and result.tool_calls == 3
    assert fields["batch_sizes"] == {"3": 1}
    assert fields["tool_stats"] == {"write_file": {"calls": 3, "errors": 1}}


CONFUSED = say('{"name": "write_file", "arguments": {"path": "hello.py", "content": "x"}}')


def test_confusion_retries_re_prompt_a_tool_call_written_as_text(loop_for):
    _, result, requests = run(loop_for, [CONFUSED, WRITE, say("Done.")],
                              knobs=AgentKnobs(confusion_retries=1))
    assert result.stop_reason == "final" and result.nudges == {"tool_confusion": 1}
    assert requests[1]["messages"][-1]["content"].startswith("Your reply wrote a tool call as text")


def test_confusion_that_persists_is_tool_confusion(loop_for):
    _, result, _ = run(loop_for, [CONFUSED, CONFUSED], knobs=AgentKnobs(confusion_retries=1))
    assert result.stop_reason == "tool_confusion"
    assert result.detail.endswith("(again, after 1 re-prompt)")


def test_without_confusion_retries_confusion_ends_at_once(loop_for):
    _, result, requests = run(loop_for, [CONFUSED, WRITE])
    assert result.stop_reason == "tool_confusion" and len(requests) == 1 and not result.nudges


def test_the_fingerprint_ignores_git_and_bytecode(tmp_path):
    (tmp_path / "a.py").write_text("x")
    before = tree_fingerprint(tmp_path)
    (tmp_path / ".git").mkdir()
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    assert tree_fingerprint(tmp_path) == before
    (tmp_path / "b.py").write_text("y")
    assert tree_fingerprint(tmp_path) != before


# --- 5: tool-call statistics ---------------------------------------------------------------------

def test_tool_statistics_per_attempt(loop_for):
    usage = {"prompt_tokens": 10, "completion_tokens": 7}
    script = [{**call("read_file", path="missing.py"), "usage": usage},
              {**calls(tool_call("list_dir", {}), tool_call("write_file", {"path": "a.py", "content": "x"})),
               "usage": usage},
              {**say("Thinking out loud before doing anything."), "usage": usage}]
    _, result, _ = run(loop_for, script, knobs=AgentKnobs(min_tool_calls=5))
    fields = result.extra_fields()
    assert fields["tool_stats"] == {"list_dir": {"calls": 1, "errors": 0},
                                    "read_file": {"calls": 1, "errors": 1},
                                    "write_file": {"calls": 1, "errors": 0}}
    assert fields["batch_sizes"] == {"1": 1, "2": 1}
    # the nudged turn and the end of the script both called nothing
    assert fields["turns_with_tool_calls"] == 2 and result.turns == 4
    assert fields["completion_tokens_without_tool_calls"] == 7 + json.dumps(
        {"role": "assistant", "content": "(end of script) I am done."}).__len__() // 4


# --- 3: the fairness warning ---------------------------------------------------------------------

def attempt(model: str, outcome: str, limit: str | None = None, repeat: int = 0, **extra) -> AttemptResult:
    return AttemptResult(canary="c", tier="lite", model=model, repeat=repeat, outcome=outcome,
                         limit_hit=limit, **extra)


def test_fairness_names_the_model_a_limit_starved_and_not_the_others():
    results = [attempt("thinker", "budget_tokens", "output_cap", r,
                       detail="output cap: reasoning consumed the 64-token output cap") for r in range(3)]
    results += [attempt("doer", "passed", None, r) for r in range(3)]
    [warning] = fairness_warnings(results)
    assert (warning["model"], warning["limit"], warning["count"], warning["n"]) == ("thinker", "output_cap", 3, 3)
    assert warning["message"].startswith("fairness: thinker was cut by the per-response output cap "
                                         "(max_tokens) in 3 of 3 attempts (100%), the other models "
                                         "of the run in at most 0%; reasoning ate the whole cap in 3")


def test_no_fairness_warning_when_every_model_hits_the_limit_or_one_model_ran():
    both = [attempt(m, "budget_time", "time_budget", r) for m in ("a", "b") for r in range(3)]
    assert fairness_warnings(both) == []
    assert fairness_warnings([attempt("a", "budget_time", "time_budget")]) == []
    # a model that passed despite the limit was not harmed by it
    passed = [attempt("a", "passed", "time_budget"), attempt("b", "passed")]
    assert fairness_warnings(passed) == []


def test_a_time_warning_names_the_measured_speeds():
    results = [attempt("slow", "budget_time", "request_timeout", r, decode_tokens_per_second=4.0)
               for r in range(2)]
    results += [attempt("fast", "passed", None, r, decode_tokens_per_second=40.0) for r in range(2)]
    [warning] = fairness_warnings(results)
    assert "(decode tokens/s: fast 40, slow 4)" in warning["message"]
    assert warning["message"].endswith("use --agentbench-time-budget scaled")
