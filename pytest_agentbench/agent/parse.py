"""Turning a model reply into validated tool calls, and spotting tool calls written as text.

Quirks seen in the field are tolerated and counted: ``arguments`` as an object
instead of a JSON string, missing or duplicate call ids, argument-name aliases. A call that
cannot be run — bad JSON, unknown tool, schema violation — is *malformed*: it is answered with a
tool error and counted, never raised.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema

from pytest_agentbench.agent.tools import (
    ALL_SCHEMAS,
    SCHEMAS,
    TOOL_NAMES,
    canonical_tool_name,
    normalize_arguments,
)
from pytest_agentbench.servers.client import ChatResponse, RawToolCall


@dataclass
class ToolCall:
    id: str
    name: str  # as the model sent it
    tool: str | None  # canonical tool name, None if unknown
    arguments: dict[str, Any] | None
    raw_arguments: str  # what the model sent (for the transcript)
    error: str | None = None  # set when the call is malformed
    quirks: tuple[str, ...] = ()

    @property
    def malformed(self) -> bool:
        return self.error is not None

    @property
    def history_arguments(self) -> str:
        """The arguments as they go back into the history. A server re-parses earlier calls:
        llama.cpp answers HTTP 500 to a history holding unparsable arguments (e.g. a call cut off
        by the output cap), which would turn the model's mistake into a server fault. Such
        arguments are replaced by ``{}``; the tool error shows the model what it sent."""
        try:
            if isinstance(json.loads(self.raw_arguments), dict):
                return self.raw_arguments  # byte-identical: the server's prefix cache reuses it
        except (TypeError, ValueError):
            pass
        # e.g. "" (tolerated as no arguments) or an object sent instead of a string
        return json.dumps(self.arguments) if self.arguments is not None else "{}"


@cache
def _validator(schema_json: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(schema_json))


# Per schema object: (the schema, a copy to notice a change in place, its validator, its plain
# check). Keyed by id, which the kept reference stops from being reused.
_SCHEMAS: dict[int, tuple[dict, dict, jsonschema.Draft202012Validator, Callable[[Any], bool] | None]] = {}
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: type(value) is str,
    # Only what is plainly of the type: 2.0 is an integer to JSON Schema, and jsonschema decides it.
    "integer": lambda value: type(value) is int,
    "number": lambda value: type(value) in (int, float),
    "boolean": lambda value: type(value) is bool,
}
_PROPERTY_KEYS = {"type", "description", "minimum", "exclusiveMinimum"}


def _plain_check(schema: dict) -> Callable[[Any], bool] | None:
    """For an object of typed properties (the built-in tools' schemas), a check that says True
    only for arguments the schema accepts (anything else goes to jsonschema, which also says
    why): ~1 µs against jsonschema's ~14 µs a call. None for a schema using anything more."""
    if schema.get("type") != "object" or not set(schema) <= {"type", "properties", "required",
                                                               "additionalProperties", "description"}:
        return None
    properties, required = schema.get("properties", {}), schema.get("required", [])
    extra_allowed = schema.get("additionalProperties", True)
    if not isinstance(properties, dict) or not isinstance(required, list) or type(extra_allowed) is not bool:
        return None
    checks: dict[str, tuple[Callable[[Any], bool], Any, Any]] = {}
    for name, rule in properties.items():
        if (not isinstance(rule, dict) or not set(rule) <= _PROPERTY_KEYS or rule.get("type") not in _TYPES
                or any(type(rule.get(key, 0)) not in (int, float) for key in ("minimum", "exclusiveMinimum"))):
            return None
        checks[name] = (_TYPES[rule["type"]], rule.get("minimum"), rule.get("exclusiveMinimum"))

    def check(arguments: Any) -> bool:
        if type(arguments) is not dict or any(name not in arguments for name in required):
            return False
        for name, value in arguments.items():
            rule = checks.get(name)
            if rule is None:
                if extra_allowed:
                    continue
                return False
            is_type, minimum, above = rule
            if (not is_type(value) or (minimum is not None and not value >= minimum)
                    or (above is not None and not value > above)):
                return False
        return True

    return check


def _schema_problem(schema: dict, arguments: dict[str, Any]) -> str | None:
    entry = _SCHEMAS.get(id(schema))
    if entry is None or entry[0] is not schema or entry[1] != schema:
        if len(_SCHEMAS) >= 256:  # custom tools may bring new schema objects with every loop
            _SCHEMAS.clear()
        validator = _validator(json.dumps(schema, sort_keys=True))  # cached per distinct schema
        entry = _SCHEMAS[id(schema)] = (schema, copy.deepcopy(schema), validator, _plain_check(schema))
    plain = entry[3]
    if plain is not None and plain(arguments):
        return None
    error = jsonschema.exceptions.best_match(entry[2].iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"


def prepare_call(raw: RawToolCall, call_id: str, allowed: frozenset[str],
                 schemas: dict[str, dict] | None = None) -> ToolCall:
    """Validate one call against the offered tools (``schemas``: name → JSON schema of the
    arguments; default the built-ins)."""
    quirks: list[str] = []
    name = raw.name or ""
    arguments: Any = raw.arguments
    if isinstance(arguments, dict):
        quirks.append("arguments_as_object")
        raw_arguments = json.dumps(arguments, ensure_ascii=False)
    else:
        raw_arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)

    def bad(message: str) -> ToolCall:
        return ToolCall(call_id, name, None, None, raw_arguments, message, tuple(quirks))

    if not name:
        return bad("tool call has no function name")
    tool = name if name in allowed else canonical_tool_name(name)
    if tool is None or tool not in allowed:
        return bad(f"unknown tool {name!r}; available tools: {', '.join(sorted(allowed))}")
    if tool != name:
        quirks.append("tool_alias")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError as exc:
            return bad(f"arguments are not valid JSON ({exc.msg} at position {exc.pos}): "
                       f"{arguments[:200]!r}")
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return bad("arguments must be a JSON object")
    schema = schemas[tool] if schemas and tool in schemas else ALL_SCHEMAS[tool][1]
    if tool in SCHEMAS and schema is SCHEMAS[tool][1]:
        # Argument aliases (file_path → path) are the built-in tools'; a custom tool's names stand.
        arguments, aliased = normalize_arguments(arguments)
        if aliased:
            quirks.append("argument_alias")
    problem = _schema_problem(schema, arguments)
    if problem:
        return bad(f"invalid arguments for {tool}: {problem}")
    return ToolCall(call_id, name, tool, arguments, raw_arguments, None, tuple(quirks))


def prepare_calls(response: ChatResponse, turn: int, allowed: frozenset[str],
                  schemas: dict[str, dict] | None = None) -> list[ToolCall]:
    """Validate every call of one reply; give each a unique id (models omit or repeat them)."""
    calls: list[ToolCall] = []
    seen: set[str] = set()
    for index, raw in enumerate(response.tool_calls):
        call_id = raw.id
        quirk = None
        if not call_id:
            quirk, call_id = "missing_id", f"call_{turn}_{index}"
        elif call_id in seen:
            quirk = "duplicate_id"
        base, suffix = call_id, index
        while call_id in seen:  # a suffix may itself collide with an id the model chose
            call_id, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(call_id)
        call = prepare_call(raw, call_id, allowed, schemas)
        if quirk:
            call.quirks = (*call.quirks, quirk)
        calls.append(call)
    return calls


def assistant_message(response: ChatResponse, calls: list[ToolCall],
                      native_thinking: bool = False) -> dict[str, Any]:
    """The assistant turn as it goes back into the history (append-only, for prefix caching).
    With ``native_thinking`` its reasoning goes back too, in the field the server sent
    it in (``reasoning_content``: llama.cpp, vLLM; ``reasoning``: Ollama, LM Studio, MLX), which is
    the field each reads on assistant messages; without it, reasoning is dropped, as most chat
    templates do."""
    message: dict[str, Any] = {"role": "assistant", "content": response.content or ""}
    if native_thinking and response.reasoning:
        message[response.reasoning_key or "reasoning_content"] = response.reasoning
    if calls:
        message["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.history_arguments}}
            for call in calls
        ]
    return message


# --- tool-call confusion ----------------------------------------------------------------------

_TAGGED = re.compile(r"<\s*(tool_call|function_call|tool_use|function)[\s>=]", re.IGNORECASE)
# A name inside the tag itself: <function=write_file> (Qwen3-Coder XML), <tool_call name="shell">.
_TAG_NAME = re.compile(r"""<\s*(?:tool_call|function_call|tool_use|function)\s*(?:=|\s+name\s*=)\s*["']?([\w.-]+)""",
                       re.IGNORECASE)
_NAME_KEYS = ("name", "tool", "tool_name", "function")
_WRAPPER_KEYS = ("tool_calls", "tool_call", "function_call")  # OpenAI-shaped wrappers


def _json_objects(text: str) -> Iterator[dict[str, Any]]:
    """Every JSON object embedded in ``text`` (models wrap them in prose and code fences)."""
    decoder = json.JSONDecoder()
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            yield value
        index = text.find("{", end)


def _call_names(obj: dict[str, Any]) -> Iterator[str]:
    """The names a call-shaped object could be calling (none for an ordinary JSON object)."""
    function = obj.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        yield function["name"]
    for key in _NAME_KEYS:
        if isinstance(obj.get(key), str):
            yield obj[key]
    for key in _WRAPPER_KEYS:  # {"tool_calls": [{"function": {...}}]}
        inner = obj.get(key)
        for item in inner if isinstance(inner, list) else [inner]:
            if isinstance(item, dict):
                yield from _call_names(item)


def _offered(name: str, allowed: frozenset[str]) -> bool:
    """Resolved as a real call is (aliases included): only a tool the model was given counts."""
    tool = name if name in allowed else canonical_tool_name(name)
    return tool is not None and tool in allowed


def find_tool_confusion(text: str | None, allowed: frozenset[str] = TOOL_NAMES) -> str | None:
    """If ``text`` holds a tool call written as text, return a short description of it.

    Only a call to a tool in ``allowed`` (the tools the model was offered) counts: JSON naming
    anything else — a package manifest, a tool the model was never given — is an ordinary
    final message, not a failure to use the tool-calling protocol."""
    if not text:
        return None
    tagged = _TAGGED.search(text)
    if tagged:
        rest = text[tagged.start():]
        named = _TAG_NAME.match(rest)
        names = [named.group(1)] if named else [n for obj in _json_objects(rest) for n in _call_names(obj)]
        # A call tag with no readable name is still the call format written as text.
        if not names or any(_offered(name, allowed) for name in names):
            return f"tool call written as text ({tagged.group(0).strip()}...)"
    for obj in _json_objects(text):
        for name in _call_names(obj):
            if _offered(name, allowed):
                return f"tool call to {name!r} written as text instead of a tool call"
    return None
