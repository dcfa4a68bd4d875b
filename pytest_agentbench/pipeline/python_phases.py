"""``agent.phase(...)``: the pipeline for Python canaries.

A test body runs phases one by one and asserts on each, where a ``canary.toml`` declares
``[[phases]]``. Each call is checked like a ``[[phases]]`` entry (the same :class:`Phase` model:
a wrong field is a usage error naming the test and the field), runs as a fresh scoped
conversation on the attempt's worktree through the same :class:`PipelineRunner`, and is recorded
in ``attempts[].phases`` with the same phase checks (phantom, claims, language, regression gate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from pytest_agentbench.pipeline.runner import NO_OUTPUT, OK, check_plan
from pytest_agentbench.schemas.pipeline import RESERVED, Phase, load_schema
from pytest_agentbench.schemas.pipeline_records import PhaseRecord

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_agentbench.agent.loop import LoopResult
    from pytest_agentbench.pipeline.runner import PipelineRunner

# Reserved placeholders that only a canary.toml pipeline fills ({{prompt}}, iterations'
# {{previous}}/{{recent}}): a test body builds its prompts itself.
_UNFILLED = frozenset(RESERVED)


@dataclass
class AgentPhase:
    """What one ``agent.phase()`` did: its record (every field of ``attempts[].phases``, also as
    attributes: ``phase.json_ok``, ``phase.output``, ``phase.phantom``...) and ``text``, the output
    as the model wrote it, which a later phase's ``{{name}}`` pins verbatim."""

    record: PhaseRecord
    text: str

    @property
    def ok(self) -> bool:
        """The phase ended with a final answer (valid JSON when it has a schema)."""
        return self.record.outcome == OK

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the dataclass lacks: the record's fields.
        record = self.__dict__.get("record")
        if record is not None and name in PhaseRecord.model_fields:
            return getattr(record, name)
        raise AttributeError(name)


def build_phase(where: str, name: str, prompt: str, fields: dict[str, Any], earlier: list[str],
                test_dir: Path, has_gate_checks_default: bool) -> Phase:
    """A :class:`Phase` from ``agent.phase()``'s arguments, or a usage error (``pytest.fail``)
    naming the test and the field."""
    def usage(field: str, message: str) -> None:
        pytest.fail(f"{where}: agent.phase({name!r}): field {field!r}: {message}", pytrace=False)

    try:
        phase = Phase.model_validate({"name": name, "prompt": prompt, **fields})
    except ValidationError as exc:
        error = exc.errors()[0]
        usage(".".join(map(str, error["loc"])) or "?", error["msg"])
    if name in earlier:
        usage("name", f"a phase named {name!r} already ran in this attempt (names are placeholders)")
    for placeholder in phase.placeholders():
        if placeholder in _UNFILLED:
            usage("prompt", f"{{{{{placeholder}}}}} is filled only in a canary.toml pipeline")
        if placeholder not in earlier:
            usage("prompt", f"{{{{{placeholder}}}}} names no earlier phase of this attempt "
                            f"(ran: {earlier or 'none'})")
    if phase.output_schema is not None:
        try:
            phase._schema = load_schema(test_dir, phase.output_schema)
        except ValueError as exc:
            usage("output_schema", f"{exc} (a path is relative to the test file's directory)")
    if phase.regression_gate and not (phase.gate_checks or has_gate_checks_default):
        usage("regression_gate", "needs gate_checks=[...] (the commands that must keep passing)")
    if phase.on_failure != "stop":
        usage("on_failure", "a test body decides itself whether to go on after a phase")
    if phase.skip_to is not None:
        usage("skip_to", "a test body decides itself which phase comes next")
    if phase.plan_files is not None and phase.plan_files.split(".")[0] not in earlier:
        usage("plan_files", f"{phase.plan_files!r} names no earlier phase of this attempt")
    if "repeated" in phase.reprompt_on:
        usage("reprompt_on", "'repeated' is for a canary.toml pipeline's iteration.distinct")
    for kind in phase.reprompt_on:
        if kind in ("invalid_paths", "hallucinated") and not phase.claims:
            usage("reprompt_on", f"{kind!r} needs claims (it checks the claimed files and commands)")
    return phase


class PythonPipeline:
    """The phases one test body ran, in order, on one attempt's worktree."""

    def __init__(self, runner: PipelineRunner) -> None:
        self.runner = runner
        self.texts: dict[str, str] = {}  # phase name -> its output text ({{name}})
        self.outputs: dict[str, Any] = {}  # phase name -> its parsed output (plan_files)

    def run(self, phase: Phase) -> AgentPhase:
        record, text = self.runner.run_phase(phase, dict(self.texts))
        check_plan(record, phase, self.outputs)
        self.texts[phase.name] = text if record.outcome == OK else NO_OUTPUT.format(name=phase.name)
        self.outputs[phase.name] = record.output
        return AgentPhase(record, text)

    def record(self, result: Any) -> None:
        """The phases into the attempt's record (``attempts[].phases``)."""
        self.runner.record(result)

    def loop_result(self) -> LoopResult | None:
        """The attempt's loop record; None while no phase has run."""
        return self.runner.merged_at_first_failure() if self.runner.runs else None
