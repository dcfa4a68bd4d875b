"""``tools`` lists — a canary's, a pipeline phase's, a registry model's — accept exactly the names
the loop accepts when a model calls a tool (the tools' own names and their aliases), map an alias
to the tool it stands for, and turn any other name into a load error that names where it is."""

from __future__ import annotations

import textwrap

import pytest

from pytest_agentbench.agent.tools import TOOL_ALIASES, TOOL_NAMES, canonical_tool_name, tool_list
from pytest_agentbench.schemas.canary import CanaryError, load_canary
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_CHECK, agent_requests, canary_toml


def test_a_tools_list_maps_every_name_the_dispatcher_accepts():
    for name in [*TOOL_NAMES, *TOOL_ALIASES]:
        assert tool_list([name]) == [canonical_tool_name(name)], name
    assert tool_list(["replace_in_file", "find_files", "patch_files", "search_text", "Bash"]) == [
        "edit_file", "glob", "apply_patch", "grep", "shell"]
    # One tool named twice (by its name and an alias) is offered once, where first named.
    assert tool_list(["edit", "read_file", "edit_file", "cat"]) == ["edit_file", "read_file"]


def test_an_unknown_tool_names_what_is_accepted():
    with pytest.raises(ValueError) as raised:
        tool_list(["read_file", "raed_file"])
    message = str(raised.value)
    assert message.startswith("unknown tool(s) ['raed_file'] (did you mean 'read_file'?); known: ")
    for name in TOOL_NAMES:
        assert name in message
    assert "edit_file (edit, replace_in_file, " in message and "search_text" in message


def test_pipeline_phases_take_aliases_and_still_refuse_writing_in_a_read_only_phase(tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.py").write_text("A = 1\n")
    path = tmp_path / "canary.toml"
    body = textwrap.dedent("""\
        tier = "heavy"
        [[phases]]
        name = "explore"
        prompt = "Map it."
        tools = {tools}
        [[phases]]
        name = "implement"
        prompt = "Do it."
        writes = true
        tools = ["cat", "replace_in_file"]
        [verify]
        run = ["true"]
        """)
    path.write_text(body.replace("{tools}", '["cat", "search_text", "find_files"]'))
    explore, implement = load_canary(path).phases
    assert explore.tool_names == ["read_file", "grep", "glob"]
    assert implement.tool_names == ["read_file", "edit_file"]
    path.write_text(body.replace("{tools}", '["cat", "create_file"]'))
    with pytest.raises(CanaryError, match=r"\['write_file'\] in a phase with writes = false"):
        load_canary(path)


@pytest.mark.parametrize(("file", "table"), [("pyproject.toml", "tool.agentbench.models.fast"),
                                              ("agentbench.toml", "models.fast")])
def test_a_registry_tools_typo_is_a_usage_error(bench, file, table):
    bench.canary()
    (bench.pytester.path / file).write_text(
        f'[{table}]\nbase_url = "http://127.0.0.1:9/v1"\ntools = ["read_file", "raed_file"]\n')
    result = bench.pytester.runpytest("canaries", "--models", "fast", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = result.stderr.str()
    assert (f"{bench.pytester.path / file}: [{table}]: key 'tools': unknown tool(s) ['raed_file'] "
            "(did you mean 'read_file'?); known: apply_patch (patch, patch_files), edit_file (") in error
    assert "Traceback" not in error + result.stdout.str()


def test_aliases_in_the_registry_and_the_canary_run_end_to_end(bench):
    bench.canary(repo={"hello.py": "def hello():\n    return 'bye'\n"},
                 toml=canary_toml(run=[HELLO_CHECK],
                                  extra='tools = ["find_files", "replace_in_file", "cat", "shell"]'))
    script = [call("find_files", pattern="*.py"),
              call("replace_in_file", path="hello.py", old="'bye'", new="'hi'"),
              say("Done.")]
    with ScriptedServer(script) as server:
        # The model's subset names the same tools by other aliases; shell is not in it.
        (bench.pytester.path / "agentbench.toml").write_text(
            '[models.m]\ntools = ["str_replace", "find", "read", "search_text"]\n')
        result = bench.run(server)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    attempt = bench.report()["attempts"][0]
    assert attempt["outcome"] == "passed", attempt["detail"]
    offered = [[t["function"]["name"] for t in r["tools"]] for r in agent_requests(server)]
    assert offered[0] == ["glob", "edit_file", "read_file"]  # the canary's order, the real names
