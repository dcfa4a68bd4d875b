"""Fair limits end to end (pytester runs against a ScriptedServer): a slow model is budget_time, not
infra_error; a model starved by the output cap gets a fairness warning in the terminal, the JSON
and the HTML report; scaled time budgets from the preflight's speed probe; think/think_level as
each server spells them (and a clear error where it cannot); the knobs swept and recorded; the
tool-call statistics per attempt and per model."""

from __future__ import annotations

import textwrap

from pytest_agentbench.servers.speed_probe import is_probe
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE, agent_requests

WRITE = call("write_file", path="hello.py", content=HELLO_SOURCE)
GOOD = [WRITE, say("Done.")]
LLAMA_PROPS = {"build_info": "b6000-test", "default_generation_settings": {"n_ctx": 8192}}
MLX_ROUTES = {"/v1/models": {"object": "list", "data": [{"id": "m", "object": "model", "created": 1}]},
              "/props": {"status": 404, "body": "Not Found", "content_type": "text/plain"}}


def registry(bench, **fields: object) -> None:
    lines = [f"{key} = {value!r}".replace("True", "true").replace("False", "false")
             for key, value in fields.items()]
    (bench.pytester.path / "pyproject.toml").write_text(
        "[tool.agentbench.models.m]\n" + textwrap.dedent("\n".join(lines)) + "\n")


def only_attempt(bench) -> dict:
    [attempt] = bench.report()["attempts"]
    return attempt


# --- 1: slow is not broken -----------------------------------------------------------------------

def test_a_model_slower_than_the_request_timeout_is_budget_time_not_infra_error(bench):
    bench.canary()
    with ScriptedServer([{**WRITE, "delay": 1.0}]) as server:
        result = bench.run(server, "--agentbench-request-timeout", "0.4")
    assert result.parseoutcomes()["budget"] == 1
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "budget_time" and attempt["limit_hit"] == "request_timeout"
    assert "the request took longer than 0.4 s" in attempt["detail"]
    assert len(agent_requests(server)) == 1  # not retried: the retry repeats the same generation
    assert "infra_error" not in bench.report()["aggregates"][0]["outcomes"]


# --- 3: starvation is named ----------------------------------------------------------------------

STARVED = {"content": "", "reasoning_content": "Let me think about this carefully. " * 20,
           "finish_reason": "length",
           "usage": {"prompt_tokens": 40, "completion_tokens": 64,
                     "completion_tokens_details": {"reasoning_tokens": 64}}}


def test_a_model_starved_by_the_cap_gets_a_fairness_warning(bench):
    bench.canary()
    with ScriptedServer({"thinker": [STARVED], "doer": GOOD}) as server:
        result = bench.run(server, "--agentbench-max-output-tokens", "64", "--agentbench-html",
                           "report.html", models="thinker,doer", repeats=2)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([("fairness: thinker was cut by the per-response output cap "
                                 "(max_tokens) in 2 of 2 attempts (100%), the other models of the run "
                                 "in at most 0%; reasoning ate the whole cap in 2: this measures the "
                                 "limit, not the model - raise its max_tokens*")])
    report = bench.report()
    [warning] = report["fairness"]
    assert (warning["model"], warning["limit"], warning["share"]) == ("thinker", "output_cap", 1.0)
    thinker = [a for a in report["attempts"] if a["model"] == "thinker"]
    assert all(a["reasoning_tokens"] == 64 and a["limit_hit"] == "output_cap" for a in thinker)
    assert all("reasoning consumed the 64-token output cap" in a["detail"] for a in thinker)
    html = (bench.pytester.path / "report.html").read_text()
    assert "fairness: thinker was cut by the per-response output cap" in html


# --- 2: scaled time budgets ----------------------------------------------------------------------

def probed(script: list[dict], tokens_per_second: float):
    """A server whose decode speed, by its own timings, is ``tokens_per_second``."""
    def answer(body: dict) -> dict:
        if is_probe(body):
            return {**say("one, two, three"), "timings": {
                "predicted_n": 64, "predicted_ms": 64_000 / tokens_per_second}}
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return script[turn] if turn < len(script) else say("Done.")
    return answer


def test_a_scaled_budget_gives_a_model_half_as_fast_twice_the_time(bench):
    bench.canary()
    with ScriptedServer(probed(GOOD, tokens_per_second=10)) as server:
        result = bench.run(server, "--agentbench-time-budget", "scaled", "--agentbench-max-seconds", "40")
    result.assert_outcomes(passed=1)
    attempt = only_attempt(bench)
    assert attempt["time_budget_mode"] == "scaled"
    assert (attempt["time_budget_seconds"], attempt["time_budget_scale"]) == (80, 2.0)
    assert attempt["decode_tokens_per_second"] == 10.0
    assert attempt["decode_speed_source"] == "preflight probe: server timings"
    report = bench.report()
    assert report["models"]["m"]["server"]["probe_tokens_per_second"] == 10.0
    assert report["settings"]["time_budget"] == {"default": "scaled", "reference_tokens_per_second": 20.0,
                                                 "max_scale": 10.0}
    assert sum(1 for r in server.requests if is_probe(r)) == 1


def test_a_fixed_budget_is_the_canarys_and_sends_no_probe(bench):
    bench.canary()
    with ScriptedServer(probed(GOOD, tokens_per_second=10)) as server:
        bench.run(server, "--agentbench-max-seconds", "40")
    attempt = only_attempt(bench)
    assert (attempt["time_budget_mode"], attempt["time_budget_seconds"], attempt["time_budget_scale"]) == (
        "fixed", 40, 1.0)
    assert not any(is_probe(r) for r in server.requests)


def test_a_registry_entry_chooses_its_own_time_budget(bench):
    bench.canary()
    registry(bench, time_budget="scaled")
    with ScriptedServer(probed(GOOD, tokens_per_second=5)) as server:
        bench.run(server, "--agentbench-max-seconds", "40")
    attempt = only_attempt(bench)
    assert (attempt["time_budget_seconds"], attempt["time_budget_scale"]) == (160, 4.0)
    assert bench.report()["settings"]["agent"]["m"]["time_budget"] == "scaled"


# --- 4: think / think_level per server, and the knobs in the settings ----------------------------

def test_think_level_reaches_llama_cpp_as_chat_template_kwargs(bench):
    bench.canary()
    registry(bench, think_level="high", min_tool_calls=1)
    with ScriptedServer(GOOD, routes={"/props": LLAMA_PROPS}) as server:
        result = bench.run(server)
    result.assert_outcomes(passed=1)
    requests = agent_requests(server)
    assert requests and all(r["chat_template_kwargs"] == {"enable_thinking": True, "reasoning_effort": "high"}
                            for r in requests)
    agent = bench.report()["settings"]["agent"]["m"]
    assert (agent["think"], agent["think_level"], agent["min_tool_calls"]) == (None, "high", 1)


def test_think_level_on_mlx_is_a_setup_error_that_says_why(bench):
    bench.canary()
    registry(bench, think_level="low")
    with ScriptedServer(GOOD, routes=MLX_ROUTES) as server:
        result = bench.run(server)
    assert result.parseoutcomes()["errors"] == 1
    attempt = only_attempt(bench)
    assert attempt["outcome"] == "infra_error"
    assert "think_level=low: mlx_lm.server has no reasoning-effort field" in attempt["detail"]
    assert agent_requests(server) == []


def test_think_is_sweepable_and_sent_as_each_variant_says(bench):
    bench.canary()
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--agentbench-sweep", "think=true,false")
    result.assert_outcomes(passed=2)
    assert sorted(r["reasoning_effort"] for r in agent_requests(server)) == ["medium"] * 2 + ["none"] * 2
    assert bench.report()["settings"]["variants"] == {"think=true": {"think": "true"},
                                                      "think=false": {"think": "false"}}


CONFUSED = say('{"name": "write_file", "arguments": {"path": "hello.py", "content": "x"}}')


def test_confusion_retries_swept_show_the_help_a_model_needed(bench):
    bench.canary()
    with ScriptedServer([CONFUSED, *GOOD]) as server:
        result = bench.run(server, "--agentbench-sweep", "confusion_retries=0,1")
    result.assert_outcomes(passed=1, failed=1)
    by_variant = {a["variant"]: a for a in bench.report()["attempts"]}
    assert by_variant["confusion_retries=0"]["outcome"] == "tool_confusion"
    assert by_variant["confusion_retries=1"]["outcome"] == "passed"
    assert by_variant["confusion_retries=1"]["nudges"] == {"tool_confusion": 1}
    rows = {r["variant"]: r for r in bench.report()["aggregates"] if r["tier"] == "all"}
    assert rows["confusion_retries=1"]["nudges_per_attempt"] == 1.0
    result.stdout.fnmatch_lines(["*nudges 1.00/attempt (tool_confusion 1)*"])


def test_bad_knob_values_are_usage_errors(bench):
    bench.canary()
    registry(bench, think=False, think_level="high")
    with ScriptedServer(GOOD) as server:
        result = bench.run(server)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*tool.agentbench.models.m?: think_level needs thinking on*"])
    registry(bench, think=False)
    with ScriptedServer(GOOD) as server:
        result = bench.run(server, "--agentbench-sweep", "think_level=low,high")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--agentbench-sweep think_level=low for model 'm': think_level needs*"])


# --- 5: tool-call statistics -----------------------------------------------------------------------

def test_tool_statistics_per_attempt_and_per_model(bench):
    bench.canary()
    usage = {"prompt_tokens": 20, "completion_tokens": 10}
    script = [{**call("read_file", path="missing.py"), "usage": usage}, {**WRITE, "usage": usage},
              {**say("Done."), "usage": usage}]
    with ScriptedServer(script) as server:
        result = bench.run(server, repeats=2)
    result.assert_outcomes(passed=2)
    attempt = bench.report()["attempts"][0]
    assert attempt["tool_stats"] == {"read_file": {"calls": 1, "errors": 1},
                                     "write_file": {"calls": 1, "errors": 0}}
    assert attempt["batch_sizes"] == {"1": 2} and attempt["turns_with_tool_calls"] == 2
    assert attempt["completion_tokens_without_tool_calls"] == 10
    [row] = [r for r in bench.report()["aggregates"] if r["tier"] == "all"]
    assert row["tool_stats"] == {"read_file": {"calls": 2, "errors": 2},
                                 "write_file": {"calls": 2, "errors": 0}}
    assert (row["tool_call_turn_share"], row["max_batch_size"]) == (0.6667, 1)
    assert row["completion_tokens_without_tool_calls_share"] == 0.3333
    result.stdout.fnmatch_lines([("*tools read_file 2 (2 err), write_file 2 · calls in 67% of turns · "
                                 "20 completion tokens without a call (33%)*")])


def test_the_time_budget_has_an_ini_twin_and_refuses_other_modes(bench):
    bench.canary()
    (bench.pytester.path / "pytest.ini").write_text("[pytest]\nagentbench_time_budget = scaled\n")
    with ScriptedServer(probed(GOOD, tokens_per_second=40)) as server:
        bench.run(server, "--agentbench-max-seconds", "40")
        assert only_attempt(bench)["time_budget_mode"] == "scaled"
        assert only_attempt(bench)["time_budget_seconds"] == 40  # faster than the reference: x1
        result = bench.run(server, "--agentbench-time-budget", "sometimes")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--agentbench-time-budget: 'sometimes': choose fixed or scaled*"])
