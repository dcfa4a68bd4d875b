"""Structured output of a phase: one JSON object matching the phase's schema.

Accepted forms, tried in this order:

1. the whole final message is a JSON object (surrounding whitespace ignored);
2. a fenced code block tagged ``json`` (```` ```json ... ``` ````), the *last* one when there are
   several (a model that drafts and then corrects itself ends with its answer);
3. an untagged fenced block (```` ``` ... ``` ````) holding a JSON object, the last one.

Nothing else: JSON loose in prose is not fished out (a failure mode seen with GLM models: a parser that
guesses is a parser that reports wrong success rates). What is accepted is kept *verbatim* — the
text the model wrote — so a later phase's ``{{placeholder}}`` pins exactly that.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\n(.*?)\n?[ \t]*```", re.DOTALL)
MAX_ERROR_CHARS = 400


@dataclass
class ParsedOutput:
    raw: str | None  # the JSON text as the model wrote it (None: nothing parsed)
    value: dict[str, Any] | None  # the parsed object, when it also matches the schema
    error: str  # '' when valid


def candidates(message: str) -> list[str]:
    """The texts that may hold the answer, best first (see the module docstring)."""
    found = []
    stripped = message.strip()
    if stripped.startswith("{"):
        found.append(stripped)
    blocks = _FENCE.findall(message)
    tagged = [body for tag, body in blocks if tag.lower() == "json"]
    untagged = [body for tag, body in blocks if not tag]
    found += [block.strip() for block in reversed(tagged)]
    found += [block.strip() for block in reversed(untagged) if block.strip().startswith("{")]
    return found


def parse_output(message: str | None, schema: dict[str, Any] | None) -> ParsedOutput:
    """The phase's output from its final message, checked against ``schema``."""
    if not (message or "").strip():
        return ParsedOutput(None, None, "the reply was empty")
    texts = candidates(message or "")
    if not texts:
        return ParsedOutput(None, None, "no JSON object found (send the whole reply as one JSON "
                                        "object, or one ```json fenced block)")
    first_error = ""
    for text in texts:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            first_error = first_error or f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            continue
        if not isinstance(value, dict):
            first_error = first_error or f"the JSON is a {type(value).__name__}, not an object"
            continue
        problem = schema_error(value, schema)
        if problem:
            return ParsedOutput(text, None, problem)
        return ParsedOutput(text, value, "")
    return ParsedOutput(None, None, first_error)


def schema_error(value: Any, schema: dict[str, Any] | None) -> str:
    """'' when ``value`` matches ``schema``, else the most relevant error, located."""
    if schema is None:
        return ""
    import jsonschema

    validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    error = jsonschema.exceptions.best_match(validator_class(schema).iter_errors(value))
    if error is None:
        return ""
    where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
    text = f"schema violation at {where}: {error.message}"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


def reprompt(error: str, schema: dict[str, Any] | None) -> str:
    """Recommendation: say what was wrong and ask for the JSON block only."""
    parts = [f"Your response did not contain valid JSON output: {error}.",
             "Please output ONLY the JSON object, in one ```json fenced block, and no tool call."]
    if schema is not None:
        parts.append("It must match this JSON Schema:\n```json\n"
                     + json.dumps(schema, indent=1, ensure_ascii=False) + "\n```")
    return "\n".join(parts)
