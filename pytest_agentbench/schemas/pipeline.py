"""The ``[[phases]]`` shape of a canary (a contract) and its validation.

Pydantic checks each phase on its own (:class:`Phase`); :func:`pipeline_problems` checks what
spans phases (unique names, placeholders that name an earlier phase, schema files, iterations)
and returns problems that name the file, the line where it can be found, and the field.
Imported by ``schemas/canary.py``: keep it light (no import of the runner, the client or the library).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
)

if TYPE_CHECKING:
    from pytest_agentbench.schemas.canary import Canary

# ``{{explore}}``: an earlier phase's output, verbatim. Reserved names: ``previous`` (the carried
# value of the previous iteration), ``recent`` (the distinct field's recent values), ``prompt``
# (the canary's top-level prompt, when it has one).
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")
RESERVED = ("previous", "recent", "prompt")
WRITE_TOOLS = ("write_file", "edit_file", "apply_patch")
READ_ONLY_TOOLS = ["read_file", "list_dir", "glob", "grep", "shell"]  # a read-only phase's default
ClaimKind = Literal["files", "commands"]
CheckKind = Literal["invalid_paths", "hallucinated", "language_drift", "repeated"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("prompt must not be empty")
    return value


Prompt = Annotated[str, AfterValidator(_not_blank)]  # a canary's prompt, or a phase's


class PhaseBudget(BaseModel):
    """A phase's ceilings; a key left out takes the attempt's (tier default, canary ``[budget]``,
    command line)."""

    model_config = ConfigDict(extra="forbid")

    turns: int | None = Field(default=None, gt=0)
    tokens: int | None = Field(default=None, gt=0)
    seconds: float | None = Field(default=None, gt=0)


class Phase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    prompt: Prompt
    system_prompt: str | None = None
    # The model's own prompt text (a registry system_prompt, a directive from a sweep or OFAT
    # cell) is appended to the phase's system_prompt; false keeps the phase's text alone.
    model_prompt: bool = True
    writes: bool = False  # before tools, claims and regression_gate: their validators read it
    tools: list[str] | None = None  # None: every tool when writes, else READ_ONLY_TOOLS
    budget: PhaseBudget = Field(default_factory=PhaseBudget)
    output_schema: str | dict[str, Any] | None = None  # a file in the canary directory, or inline
    max_json_retries: int = Field(default=1, ge=0, le=5)
    claims: dict[str, ClaimKind] = Field(default_factory=dict)
    check_language: bool = True
    regression_gate: bool = False
    gate_checks: list[str] | None = None  # default: the canary's verify.run
    on_failure: Literal["stop", "continue"] = "stop"
    # "if no files changed, mark the iteration phantom and skip to REFLECT"; "if tests
    # fail that passed before, revert and skip to REFLECT". A later phase of the same iteration.
    skip_to: str | None = None
    # "validate explore output ... reject and re-prompt", "validate output language and
    # re-prompt on drift", "enforce axis diversity structurally": which checks of a valid output
    # send it back with what was wrong, up to max_check_retries times.
    reprompt_on: list[CheckKind] = Field(default_factory=list)
    # Output fields whose values the report counts per model (the red-team verdicts:
    # "verdict" → holds 5, partial 2, broken 1; a break rate). Dotted paths walk lists.
    tally: list[str] = Field(default_factory=list)
    # Hypothesis-implementation drift, checked on the tree: "hypothesize.chosen.files"
    # names the files an earlier phase's output planned to change; this writing phase's changes
    # outside them are recorded (`off_plan`), as are planned files it left alone.
    plan_files: str | None = None
    max_check_retries: int = Field(default=1, ge=0, le=5)
    _schema: dict[str, Any] | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be a simple name (letters, digits, '_' and '-'): it is the "
                             "phase's placeholder, {{name}}")
        if value in RESERVED:
            raise ValueError(f"{value!r} is reserved (placeholders {', '.join(RESERVED)})")
        return value

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return value
        from pytest_agentbench.agent.tools import tool_list

        value = tool_list(value)  # aliases become the tools they stand for
        if not value:
            raise ValueError("a phase needs at least one tool")
        writing = [name for name in value if name in WRITE_TOOLS]
        if writing and not info.data.get("writes"):
            raise ValueError(f"{writing} in a phase with writes = false (a read-only phase is "
                             "offered no tool that writes)")
        return value

    @field_validator("regression_gate")
    @classmethod
    def _gate_on_writes(cls, value: bool, info: ValidationInfo) -> bool:
        if value and not info.data.get("writes"):
            raise ValueError("needs writes = true (only a writing phase can regress)")
        return value

    @field_validator("claims")
    @classmethod
    def _claims_need_schema(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        if value and info.data.get("output_schema") is None:
            raise ValueError("claims need an output_schema (they are fields of the JSON output)")
        return value

    @field_validator("plan_files")
    @classmethod
    def _plan_for_a_writing_phase(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not info.data.get("writes"):
            raise ValueError("needs writes = true (it compares the phase's own changes with a plan)")
        return value

    @field_validator("skip_to")
    @classmethod
    def _skip_from_a_writing_phase(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not info.data.get("writes"):
            raise ValueError("needs writes = true (a phase is skipped after a phantom or a "
                             "reverted regression, which only a writing phase can have)")
        return value

    @field_validator("reprompt_on", "tally")
    @classmethod
    def _reprompt_needs_schema(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("output_schema") is None:
            raise ValueError("needs an output_schema (it reads the phase's JSON output)")
        return value

    @property
    def tool_names(self) -> list[str]:
        if self.tools is not None:
            return list(self.tools)
        if self.writes:
            from pytest_agentbench.agent.tools import IMPLEMENTATIONS

            return list(IMPLEMENTATIONS)
        return list(READ_ONLY_TOOLS)

    @property
    def resolved_schema(self) -> dict[str, Any] | None:
        """The JSON Schema the output must match (a file's content once loaded), or None."""
        if self._schema is None and isinstance(self.output_schema, dict):
            return self.output_schema
        return self._schema

    def placeholders(self) -> list[str]:
        return PLACEHOLDER.findall(self.prompt)


class IterationSpec(BaseModel):
    """``[iteration]``: how ``iterations = N`` runs connect."""

    model_config = ConfigDict(extra="forbid")

    # "reflect.seeds": that value of the previous iteration's output is {{previous}} in this one's
    carry: str | None = None
    # "hypothesize.axis": its value may not repeat one of the last `window` iterations' values;
    # the phase's prompt lists them ({{recent}}), a repeat is recorded.
    distinct: str | None = None
    window: int = Field(default=2, ge=1, le=50)
    score: str | None = None  # "audit.score": the number that makes the trend line
    # An iteration a failed phase aborted runs again (on the tree as it was
    # left), at most this many times in the whole pipeline; 0: the pipeline stops there.
    retry_aborted: int = Field(default=0, ge=0, le=10)


def split_ref(reference: str) -> tuple[str, list[str]]:
    """``"reflect.seeds"`` → ``("reflect", ["seeds"])``."""
    phase, *path = reference.split(".")
    return phase, path


def lookup(value: Any, path: list[str]) -> list[Any]:
    """The values at ``path`` in a JSON value; a list on the way is walked element by element
    (``attacks.command`` collects the command of every attack)."""
    found = [value]
    for key in path:
        step: list[Any] = []
        for item in found:
            for element in item if isinstance(item, list) else [item]:
                if isinstance(element, dict) and key in element:
                    step.append(element[key])
        found = step
    flat: list[Any] = []
    for item in found:
        flat.extend(item if isinstance(item, list) else [item])
    return flat


# -- cross-phase validation ---------------------------------------------------------------------

def phase_label(index: int, phases: list[Any]) -> str:
    """``phases[explore]``, or ``phases[#2]`` when the entry has no usable name (1-based)."""
    entry = phases[index] if index < len(phases) else None
    name = entry.get("name") if isinstance(entry, dict) else getattr(entry, "name", None)
    return f"phases[{name}]" if isinstance(name, str) and name else f"phases[#{index + 1}]"


def phase_line(text: str, index: int, key: str | None = None) -> int | None:
    """Line of ``key`` inside the ``index``-th ``[[phases]]`` entry (its header line when the key
    is not written there), for error messages. Inline arrays of phases get no line."""
    lines = text.splitlines()
    headers = [n for n, line in enumerate(lines) if re.match(r"^\s*\[\[\s*phases\s*\]\]", line)]
    if index >= len(headers):
        return None
    start = headers[index]
    end = headers[index + 1] if index + 1 < len(headers) else len(lines)
    for n in range(start + 1, end):
        stripped = lines[n].strip()
        if stripped.startswith("[") and not stripped.startswith("[phases."):
            end = n  # another table: the phase's block ended
            break
    if key:
        parts = key.split(".")
        if len(parts) > 1:  # [phases.budget] then turns = ...
            for n in range(start + 1, end):
                if re.match(rf"^\s*\[\s*phases\.{re.escape(parts[0])}\s*\]", lines[n]):
                    for m in range(n + 1, end):
                        if re.match(rf"^\s*{re.escape(parts[-1])}\s*=", lines[m]):
                            return m + 1
                    return n + 1
        for n in range(start + 1, end):
            if re.match(rf"^\s*{re.escape(parts[0])}\s*=", lines[n]):
                return n + 1
    return start + 1


def phase_error_field(loc: tuple, phases: Any) -> tuple[str, int | None]:
    """A pydantic error location under ``phases`` as ``phases[name].field`` and the index."""
    if len(loc) >= 2 and isinstance(loc[1], int) and isinstance(phases, list):
        rest = ".".join(str(part) for part in loc[2:])
        return phase_label(loc[1], phases) + (f".{rest}" if rest else ""), loc[1]
    return ".".join(str(part) for part in loc), None


def _where(path: Path, text: str, index: int | None, key: str | None = None) -> str:
    line = phase_line(text, index, key) if index is not None else _top_line(text, key)
    return f"{path}:{line}" if line else str(path)


def _top_line(text: str, key: str | None) -> int | None:
    if not key:
        return None
    table, _, leaf = key.rpartition(".")
    lines = text.splitlines()
    start = 0
    if table:
        start = next((n for n, line in enumerate(lines)
                      if re.match(rf"^\s*\[\s*{re.escape(table)}\s*\]", line)), 0)
    for n in range(start, len(lines)):
        if re.match(rf"^\s*{re.escape(leaf)}\s*=", lines[n]):
            return n + 1
    return None


def load_schema(canary_dir: Path, value: str | dict[str, Any]) -> dict[str, Any]:
    """The schema of ``output_schema``: a JSON file inside the canary directory, or the inline
    table itself. Raises ValueError saying what is wrong."""
    import jsonschema

    if isinstance(value, str):
        relative = Path(value)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"{value!r} must be a path inside the canary directory")
        file = canary_dir / relative
        if not file.is_file():
            raise ValueError(f"schema file {value!r} not found in {canary_dir}")
        try:
            schema = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"schema file {value!r} is not valid JSON: {exc}") from None
    else:
        schema = value
    if not isinstance(schema, dict):
        raise ValueError("a JSON Schema must be an object")  # noqa: TRY004 - a load error
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    if schema.get("type") not in ("object", None):
        raise ValueError("the output must be a JSON object: the schema's type must be \"object\"")
    return schema


def pipeline_problems(canary: Canary, text: str, prompt_given: bool) -> list[str]:
    """What is wrong with ``canary``'s pipeline (empty when it has none or it is fine); loads
    each phase's schema file as a side effect."""
    path, phases = canary.path, canary.phases
    problems: list[str] = []

    def problem(message: str, index: int | None = None, key: str | None = None, field: str = "") -> None:
        label = field or (phase_label(index, phases) + (f".{key}" if key else "") if index is not None else key or "")
        problems.append(f"{_where(path, text, index, key)}: field '{label}': {message}")

    if not _LANGUAGE.match(canary.language):
        problem("an ISO 639-1 code such as \"en\" (the expected language of free text)", key="language")
    if not phases:
        if canary.iterations != 1 or canary.iteration is not None:
            problem("only for a canary with [[phases]]",
                    key="iterations" if canary.iterations != 1 else "iteration")
        return problems
    if canary.tools is not None:
        problem("a pipeline's tools are per phase: set phases.tools", key="tools")
    if canary.retries_with_feedback:
        problem("not supported for a pipeline (its phases are separate conversations)",
                key="retries_with_feedback")
    names = [phase.name for phase in phases]
    for index, phase in enumerate(phases):
        if names.index(phase.name) != index:
            problem(f"duplicate phase name {phase.name!r}", index, "name")
        earlier = set(names[:index])
        for name in phase.placeholders():
            if name == "prompt" and not prompt_given:
                problem("{{prompt}} but the canary has no top-level prompt", index, "prompt")
            elif name == "previous" and not (canary.iteration and canary.iteration.carry):
                problem("{{previous}} needs iteration.carry", index, "prompt")
            elif name == "recent" and not (canary.iteration and canary.iteration.distinct):
                problem("{{recent}} needs iteration.distinct", index, "prompt")
            elif name not in RESERVED and name not in earlier:
                why = "a later phase" if name in names else "no phase of that name"
                problem(f"{{{{{name}}}}} names {why}: a placeholder pins an earlier phase's output",
                        index, "prompt")
        if phase.output_schema is not None:
            try:
                phase._schema = load_schema(canary.directory, phase.output_schema)
            except ValueError as exc:
                problem(str(exc), index, "output_schema")
        if phase.regression_gate and not (phase.gate_checks or canary.verify.run):
            problem("regression_gate needs checks: gate_checks or the canary's verify.run",
                    index, "regression_gate")
        if phase.plan_files is not None:
            planner, plan_path = split_ref(phase.plan_files)
            if planner not in names[:index]:
                problem(f"{phase.plan_files!r}: {planner!r} is not an earlier phase", index, "plan_files")
            elif not plan_path or phases[names.index(planner)].output_schema is None:
                problem(f"{phase.plan_files!r}: name a field of {planner!r}'s JSON output (phase.field)",
                        index, "plan_files")
        if phase.skip_to is not None and phase.skip_to not in names[index + 1:]:
            why = "an earlier phase or itself" if phase.skip_to in names else "no phase of that name"
            problem(f"{phase.skip_to!r} names {why}: skip_to jumps forward to a later phase", index, "skip_to")
        for kind in phase.reprompt_on:
            if kind in ("invalid_paths", "hallucinated") and not phase.claims:
                problem(f"{kind!r} needs claims (it checks the claimed files and commands)",
                        index, "reprompt_on")
            distinct = canary.iteration.distinct if canary.iteration else None
            if kind == "repeated" and not (distinct and split_ref(distinct)[0] == phase.name):
                problem("'repeated' needs iteration.distinct naming a field of this phase",
                        index, "reprompt_on")
    spec = canary.iteration
    if spec is not None:
        for key in ("carry", "distinct", "score"):
            reference = getattr(spec, key)
            if reference is None:
                continue
            phase_name, field_path = split_ref(reference)
            field = f"iteration.{key}"
            if phase_name not in names:
                problem(f"{reference!r}: no phase named {phase_name!r}", key=field)
                continue
            phase = phases[names.index(phase_name)]
            if field_path and phase.output_schema is None:
                problem(f"{reference!r}: phase {phase_name!r} has no output_schema", key=field)
            if key in ("distinct", "score") and not field_path:
                problem(f"{reference!r}: name a field of the phase's output (phase.field)", key=field)
            if key == "distinct" and "recent" not in phase.placeholders():
                problem(f"phase {phase_name!r} must list the recent values: put {{{{recent}}}} "
                        "in its prompt", key=field)
    return problems


def pipeline_summary(phases: list[dict[str, Any]]) -> str:
    """The record's ``prompt`` of a pipeline without a top-level prompt: its phases in order."""
    names = [str(p.get("name", "?")) for p in phases if isinstance(p, dict)]
    return "pipeline: " + " → ".join(names) if names else "pipeline"
