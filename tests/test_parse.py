"""Validating tool calls and spotting tool calls written as text."""

from __future__ import annotations

import pytest

from pytest_agentbench.agent.parse import find_tool_confusion, prepare_calls
from pytest_agentbench.agent.tools import TOOL_NAMES
from pytest_agentbench.servers.client import ChatResponse, RawToolCall

ALL = frozenset(TOOL_NAMES)


def response(*raw: RawToolCall) -> ChatResponse:
    return ChatResponse(content="", tool_calls=list(raw), reasoning=None, finish_reason="tool_calls",
                        prompt_tokens=1, completion_tokens=1, seconds=0.0)


def test_valid_call():
    [call] = prepare_calls(response(RawToolCall("c1", "read_file", '{"path": "a.py"}')), 1, ALL)
    assert not call.malformed and call.tool == "read_file" and call.arguments == {"path": "a.py"}
    assert call.quirks == ()


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (RawToolCall("c", "read_file", '{"path": '), "not valid JSON"),
        (RawToolCall("c", "fly", "{}"), "unknown tool 'fly'"),
        (RawToolCall("c", None, "{}"), "no function name"),
        (RawToolCall("c", "read_file", "[1, 2]"), "must be a JSON object"),
        (RawToolCall("c", "read_file", "{}"), "'path' is a required property"),
        (RawToolCall("c", "read_file", '{"path": 3}'), "3 is not of type 'string'"),
        (RawToolCall("c", "read_file", '{"path": "a", "mode": "r"}'), "Additional properties"),
        (RawToolCall("c", "shell", '{"command": "ls", "timeout": -1}'), "timeout"),
    ],
)
def test_malformed_calls_get_a_message_for_the_model(raw, error):
    [call] = prepare_calls(response(raw), 1, ALL)
    assert call.malformed and error in call.error


def test_tool_not_enabled_for_the_canary_is_unknown():
    [call] = prepare_calls(response(RawToolCall("c", "shell", '{"command": "ls"}')), 1,
                           frozenset({"read_file"}))
    assert call.malformed and "available tools: read_file" in call.error


def test_quirks_are_tolerated_and_counted():
    calls = prepare_calls(response(
        RawToolCall(None, "bash", {"cmd": "ls"}),
        RawToolCall("same", "cat", '{"file_path": "a.py"}'),
        RawToolCall("same", "read_file", '{"path": "b.py"}'),
    ), 4, ALL)
    assert [c.malformed for c in calls] == [False, False, False]
    assert calls[0].tool == "shell" and calls[0].arguments == {"command": "ls"}
    assert set(calls[0].quirks) == {"arguments_as_object", "tool_alias", "argument_alias", "missing_id"}
    assert calls[0].id == "call_4_0" and calls[0].raw_arguments == '{"cmd": "ls"}'
    assert calls[2].id != calls[1].id and "duplicate_id" in calls[2].quirks


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "write_file", "arguments": {"path": "a.py", "content": "x"}}',
        'Sure! ```json\n{"name": "read_file", "parameters": {"path": "a.py"}}\n```',
        '<tool_call>\n{"name": "shell", "arguments": {"command": "ls"}}\n</tool_call>',
        '{"function": {"name": "shell", "arguments": "{}"}}',
        '{"tool": "bash", "args": {"cmd": "pytest"}}',
        '{"tool_calls": [{"type": "function", "function": {"name": "glob", "arguments": "{}"}}]}',
        '<function=write_file>\n<parameter=path>a.py</parameter>\n</function>',
        '<tool_call>\nread the file a.py\n</tool_call>',  # the call format, no readable name
    ],
)
def test_tool_confusion_is_detected(text):
    assert find_tool_confusion(text)


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "I added slugify() to text_utils.py and all tests pass.",
        'The config is {"name": "my-app", "version": "1.0"}.',
        "Use a dict like {\"a\": 1} to configure it.",
        # JSON naming something that is no tool of ours is just a final message
        'Calling {"name": "anything", "arguments": {}} now',
        '{"name": "teleport", "arguments": {"to": "mars"}}',
        '<tool_call>{"name": "web_search", "arguments": {"q": "x"}}</tool_call>',
        '<function=browse>\n<parameter=url>x</parameter>\n</function>',
    ],
)
def test_ordinary_final_messages_are_not_confusion(text):
    assert find_tool_confusion(text) is None


@pytest.mark.parametrize(
    ("text", "allowed", "confused"),
    [
        # only a tool the model was offered counts...
        ('{"name": "shell", "arguments": {"command": "ls"}}', {"read_file"}, False),
        ('{"name": "shell", "arguments": {"command": "ls"}}', {"shell"}, True),
        ('<tool_call>{"name": "shell", "arguments": {}}</tool_call>', {"read_file"}, False),
        ('<function=shell>ls</function>', {"read_file"}, False),
        # ...resolved through the same aliases as a real call
        ('{"tool": "bash", "args": {"cmd": "ls"}}', {"shell"}, True),
        ('{"name": "cat", "arguments": {"file_path": "a.py"}}', {"read_file"}, True),
        ('{"name": "cat", "arguments": {"file_path": "a.py"}}', {"shell"}, False),
        # one offered call among unknown ones is enough
        ('{"name": "teleport"} then {"name": "read_file", "arguments": {"path": "a"}}',
         {"read_file"}, True),
    ],
)
def test_confusion_counts_only_tools_the_model_was_offered(text, allowed, confused):
    assert bool(find_tool_confusion(text, frozenset(allowed))) is confused


def test_generated_ids_never_collide_with_the_models_own():
    calls = prepare_calls(response(
        RawToolCall("x_1", "read_file", '{"path": "a"}'), RawToolCall("x", "read_file", '{"path": "a"}'),
        RawToolCall("x", "read_file", '{"path": "a"}'), RawToolCall(None, "read_file", '{"path": "a"}'),
        RawToolCall("call_1_3", "read_file", '{"path": "a"}'),
    ), 1, ALL)
    ids = [call.id for call in calls]
    assert len(set(ids)) == len(ids) and ids[:2] == ["x_1", "x"]


def test_the_plain_schema_check_agrees_with_jsonschema():
    """The shortcut for simple schemas says "valid" only where jsonschema does; every other
    answer (and its message) is jsonschema's."""
    import itertools
    import json

    import jsonschema

    from pytest_agentbench.agent.parse import _schema_problem
    from pytest_agentbench.agent.tools import ALL_SCHEMAS

    values = ["a.py", "", 1, 0, -3, 2.0, 2.5, 0.0, True, False, None, [], {}, float("nan")]
    custom = {"type": "object", "properties": {"n": {"type": "number", "minimum": 1}, "b": {"type": "boolean"}},
              "required": ["n"]}  # extra properties allowed
    for schema in [parameters for _, parameters in ALL_SCHEMAS.values()] + [custom]:
        # As parse.py builds it: from the schema's JSON with sorted keys (best_match breaks ties by order).
        validator = jsonschema.Draft202012Validator(json.loads(json.dumps(schema, sort_keys=True)))
        names = [*schema.get("properties", {}), "other"]
        candidates = [{}, "not an object", None]
        for first, second in itertools.product(names, names):
            candidates += [{first: value} for value in values]
            candidates += [{first: "x", second: value} for value in values]
        for arguments in candidates:
            error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
            problem = _schema_problem(schema, arguments)
            assert (problem is None) == (error is None), (schema, arguments)
            if error is not None:
                assert problem.endswith(error.message)
