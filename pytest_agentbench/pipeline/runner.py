"""The phases of one pipeline attempt, in turn on one worktree.

Each phase is a fresh :class:`~pytest_agentbench.agent.loop.AgentLoop` — a scoped sub-agent, as
in the field — built by the attempt's own ``AttemptEnvironment.agent_loop`` (same client, worktree,
sandbox, transcript and hooks) with the phase's tools, budget and system prompt. The phases' loop
records are merged into one :class:`LoopResult`, so the attempt's record and verdict are assembled
by ``attempt/verdict.py`` exactly as for a one-prompt canary: a phase that never produced valid output
ends the pipeline with stop reason ``invalid_output``, which ``outcome.classify`` maps to the
outcome of that name unless the checks pass anyway.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_agentbench.agent.loop import SYSTEM_PROMPT, LoopResult
from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.pipeline import checks
from pytest_agentbench.pipeline.harness_fixes import (
    check_plan,
    check_reprompt,
    first_value,
    output_problems,
    skip_reason,
)
from pytest_agentbench.pipeline.output import ParsedOutput, parse_output, reprompt
from pytest_agentbench.schemas.budget import apply_budget
from pytest_agentbench.schemas.canary import Canary, ResolvedBudget
from pytest_agentbench.schemas.factors import budget_factors
from pytest_agentbench.schemas.pipeline import PLACEHOLDER, Phase, lookup, split_ref
from pytest_agentbench.schemas.pipeline_records import (
    OK,
    SKIPPED,
    IterationRecord,
    PhaseRecord,
    Regression,
)
from pytest_agentbench.trees import safe_fs

if TYPE_CHECKING:
    from pytest_agentbench.attempt.identity import Attempt
    from pytest_agentbench.attempt.runner import AttemptEnvironment
    from pytest_agentbench.run.session import AgentbenchSession
    from pytest_agentbench.schemas.models import ModelSpec
    from pytest_agentbench.schemas.results import AttemptResult

NO_OUTPUT = "(no valid output: phase {name} failed)"
FIRST_ITERATION = "(none: this is the first iteration)"


def phase_budget(attempt: ResolvedBudget, phase: Phase, overrides: tuple[Any, Any, Any],
                 factors: Mapping[str, Any] | None = None) -> ResolvedBudget:
    """As for an attempt: the command line wins; then the model's or variant's budget factor
    applied to the phase's own budget (``"x2"`` doubles it, a number replaces it: a sweep, OFAT
    cell or ceiling run changes a pipeline as it changes any canary); then the phase's own
    budget; a key the phase leaves out takes the attempt's (tier default, canary ``[budget]``,
    already under the factor)."""
    factors = factors or {}

    def pick(key: str, override: Any) -> Any:
        own = getattr(phase.budget, key)
        if override:
            return override
        if own is None:
            return getattr(attempt, key)
        return apply_budget(key, own, factors.get(key))

    turns, tokens, seconds = overrides
    return ResolvedBudget(turns=pick("turns", turns), tokens=pick("tokens", tokens),
                          seconds=pick("seconds", seconds))


def fill(template: str, values: dict[str, str]) -> str:
    """The phase's prompt with its placeholders filled (an unknown one stays as written;
    loading refuses those)."""
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1), match.group(0)), template)


def as_json_text(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class _IterationRun:
    """One pass through the phases: what stopped it (stop reason, detail), whether that may not be
    retried (a server fault, tampered git), each phase's output, the distinct value."""

    stop: tuple[str, str] | None = None
    fatal: bool = False
    outputs: dict[str, Any] = field(default_factory=dict)
    distinct: Any = None
    repeated: bool = False


class PipelineRunner:
    """Runs the phases (``run``) and records them on the attempt's result (``record``): the
    pipelines' driver (attempt/drivers.py). A pipeline has no second try (``resume``)."""

    takes_feedback = False

    def __init__(self, session: AgentbenchSession, workspace: AttemptEnvironment, canary: Canary,
                 model: ModelSpec, budget: ResolvedBudget, info: Attempt) -> None:
        self.session, self.workspace, self.canary = session, workspace, canary
        self.model, self.budget, self.info = model, budget, info
        settings = session.settings
        self.overrides = (settings.turns, settings.tokens, settings.seconds)
        self.records: list[PhaseRecord] = []
        self.iterations: list[IterationRecord] = []
        self.runs: list[LoopResult] = []
        self.texts: dict[str, str] = {}  # each phase's output text, the last run of each

    # -- the pipeline ------------------------------------------------------------------------------

    def run(self, prompt: str) -> LoopResult:
        canary = self.canary
        spec = canary.iteration
        iterating = canary.iterations > 1
        carried: str = FIRST_ITERATION
        history: list[Any] = []  # iteration.distinct's values, in order
        retries_left = spec.retry_aborted if spec is not None else 0
        iteration, retry = 1, 0
        while iteration <= canary.iterations:
            tokens_before = sum(r.tokens for r in self.records)
            ran = self._iteration(prompt, iteration if iterating else None, retry, carried, history)
            if ran.distinct is not None:
                history.append(ran.distinct)
            if iterating:
                self.iterations.append(IterationRecord(
                    iteration=iteration, completed=ran.stop is None,
                    score=_score(ran.outputs, spec.score if spec else None), distinct=ran.distinct,
                    repeated=ran.repeated, tokens=sum(r.tokens for r in self.records) - tokens_before,
                    retry=retry))
            if ran.stop is not None:
                if ran.fatal or retries_left <= 0:
                    return self._merged(ran.stop)
                # An aborted iteration ("no hypotheses") was run again, on the
                # tree as it was left, and completed.
                retries_left -= 1
                retry += 1
                self.workspace.transcript.write({"event": "iteration_retry", "iteration": iteration,
                                                 "retry": retry, "why": ran.stop[1]})
                continue
            if spec is not None and spec.carry:
                name, path = split_ref(spec.carry)
                if ran.outputs.get(name) is not None:
                    carried = as_json_text(_value_at(ran.outputs[name], path))
            iteration, retry = iteration + 1, 0
        return self._merged(None)

    def _iteration(self, prompt: str, iteration: int | None, retry: int, carried: str,
                   history: list[Any]) -> _IterationRun:
        """Every phase once, in order, on the tree: what stopped them, and what they produced."""
        canary, spec = self.canary, self.canary.iteration
        ran = _IterationRun()
        values = {"previous": carried, "prompt": prompt}
        if spec is not None and spec.distinct:
            values["recent"] = as_json_text(history[-spec.window:])
        skip: tuple[str, str] | None = None  # (the phase to skip to, why): the skip_to
        for phase in canary.phases:
            if skip is not None and phase.name == skip[0]:
                skip = None
            if ran.stop is not None or skip is not None:
                detail = f"skipped: {skip[1]}" if ran.stop is None and skip is not None else ""
                self.records.append(PhaseRecord(name=phase.name, outcome=SKIPPED, writes=phase.writes,
                                                detail=detail, iteration=iteration, retry=retry))
                values[phase.name] = f"({detail or 'skipped'})"
                continue
            distinct_path = (split_ref(spec.distinct)[1] if spec is not None and spec.distinct
                             and split_ref(spec.distinct)[0] == phase.name else None)
            recent = history[-spec.window:] if spec is not None else []
            record, text, value = self._phase(phase, iteration, values,
                                              (distinct_path, recent) if distinct_path else None)
            record.retry = retry
            check_plan(record, phase, ran.outputs)
            self.records.append(record)
            values[phase.name] = text if record.outcome == OK else NO_OUTPUT.format(name=phase.name)
            self.texts[phase.name] = text if record.outcome == OK else ""
            ran.outputs[phase.name] = value
            if distinct_path is not None:
                ran.distinct = first_value(value, distinct_path)
                if ran.distinct is not None and ran.distinct in recent:
                    record.repeated, ran.repeated = ran.distinct, True
            why = skip_reason(phase, record)
            if why:
                skip = (str(phase.skip_to), why)
                record.skipped_to = phase.skip_to
                self.workspace.transcript.write({"event": "skip", "phase": phase.name,
                                                 "to": phase.skip_to, "why": why})
            if record.outcome != OK or self.workspace.tampered:
                # a tampered git state: attempt/runner.py records the attempt as tampered
                ran.fatal = record.outcome == Outcome.INFRA_ERROR.value or bool(self.workspace.tampered)
                if ran.fatal or phase.on_failure == "stop":
                    where = f"phase {phase.name}" + (f" (iteration {iteration})" if iteration else "")
                    ran.stop = (record.stop_reason if record.outcome != Outcome.INVALID_OUTPUT.value
                                else record.outcome, f"{where}: {record.detail}")
        return ran

    def run_phase(self, phase: Phase, values: dict[str, str]) -> tuple[PhaseRecord, str]:
        """One phase on its own, for a Python canary's ``agent.phase(...)``: its record (kept for
        the attempt's ``phases``) and the output text a later ``{{name}}`` pins."""
        record, text, _ = self._phase(phase, None, values)
        self.records.append(record)
        return record, text

    def merged_at_first_failure(self) -> LoopResult:
        """The attempt's loop record for phases a test body ran: the first phase that did not end
        well is what went wrong (a test that goes on after it and fails fails because of it)."""
        failed = next((r for r in self.records if r.outcome not in (OK, SKIPPED)), None)
        if failed is None:
            return self._merged(None)
        reason = failed.outcome if failed.outcome == Outcome.INVALID_OUTPUT.value else failed.stop_reason
        return self._merged((reason, f"phase {failed.name}: {failed.detail}"))

    def resume(self, feedback: str) -> LoopResult:  # pragma: no cover - attempt/runner.py never asks
        raise RuntimeError("a pipeline canary has no second try (retries_with_feedback)")

    def record(self, result: AttemptResult) -> None:
        """The phases (and iterations) on the attempt's record: ``attempts[].phases``."""
        result.phases = self.records
        result.iterations = self.iterations

    # -- one phase ----------------------------------------------------------------------------------

    def _phase(self, phase: Phase, iteration: int | None, values: dict[str, str],
               distinct: tuple[list[str], list[Any]] | None = None) -> tuple[PhaseRecord, str, Any]:
        """``distinct``: this phase holds ``iteration.distinct``; its path in the output and the
        recent values it may not repeat."""
        ws, canary = self.workspace, self.canary
        root = ws.worktree
        started = time.monotonic()
        before = self._snapshot()
        gate_before = self._gate(phase) if phase.regression_gate else None
        budget = phase_budget(self.budget, phase, self.overrides, budget_factors(self.model))
        loop = ws.agent_loop(self.session, canary, self.model, budget, self.info,
                             scope=phase.tool_names, system_prompt=self._system_prompt(phase))
        ws.transcript.write({"event": "phase", "phase": phase.name, "iteration": iteration,
                             "tools": loop.tool_names, "writes": phase.writes})
        run = loop.run(fill(phase.prompt, values))
        schema = phase.resolved_schema
        errors: list[str] = []
        reprompts = check_reprompts = 0
        problems: list[str] = []  # what the reprompt_on checks found in rejected outputs
        parsed: ParsedOutput | None = None
        while run.stop_reason == "final" and schema is not None:
            parsed = parse_output(run.final_message, schema)
            if parsed.error:
                errors.append(parsed.error)
                if reprompts >= phase.max_json_retries:
                    break
                reprompts += 1
                message = reprompt(parsed.error, schema)
                event = {"event": "json_reprompt", "phase": phase.name, "error": parsed.error}
            else:
                if check_reprompts >= phase.max_check_retries:
                    break  # the record's own checks below say what is still wrong
                found = output_problems(phase, parsed.value, loop.messages, ws.worktree,
                                        self.canary.language, distinct)
                if not found:
                    break
                problems += found
                check_reprompts += 1
                message = check_reprompt(found)
                event = {"event": "check_reprompt", "phase": phase.name, "problems": found}
            # A re-prompt runs on what is left of the phase's budget (at least one turn).
            loop.budget = ResolvedBudget(turns=max(1, budget.turns - run.turns),
                                         tokens=max(1, budget.tokens - run.total_tokens),
                                         seconds=budget.seconds)
            ws.transcript.write(event)
            run = loop.resume(message)
        self.runs.append(run)
        valid = parsed is not None and not parsed.error
        if run.stop_reason != "final":
            outcome, detail = run.stop_reason, run.detail
        elif schema is not None and not valid:
            outcome = Outcome.INVALID_OUTPUT.value
            detail = (f"no valid JSON output after {reprompts} re-prompt"
                      f"{'s' * (reprompts != 1)}: {errors[-1]}")
        else:
            outcome, detail = OK, run.detail
        record = PhaseRecord(
            name=phase.name, outcome=outcome, stop_reason=run.stop_reason, detail=detail,
            # A phase a ceiling cut off never got to write its output: that is a budget, not a
            # JSON failure (json_ok None: not checked).
            json_ok=None if schema is None or run.stop_reason != "final" else valid,
            seconds=round(time.monotonic() - started, 3),
            json_retries=reprompts,
            schema_errors=errors, turns=run.turns, tokens=run.total_tokens, tool_calls=run.tool_calls,
            writes=phase.writes, iteration=iteration,
            output=parsed.value if valid and parsed is not None else None,
            check_retries=check_reprompts, check_problems=problems)
        text = parsed.raw if valid and parsed is not None else (run.final_message or "")
        if outcome == Outcome.INFRA_ERROR.value or ws.check_integrity():
            return record, text or "", record.output
        after = self._snapshot()
        if before is not None and after is not None:
            record.files_changed = checks.changed_paths(before, after)
        if phase.writes:
            record.phantom = outcome == OK and before is not None and not record.files_changed
        elif before is not None and (after is None or record.files_changed):
            # Read-only means read-only: what the phase wrote (through the shell: its file tools
            # are read-only) is recorded and undone, so no later phase or the verdict builds on
            # it. A tree that cannot be read any more (a directory nested past the walk's bound)
            # hides what changed: the whole tree goes back.
            record.violation = record.files_changed or ["(the tree could not be read after the "
                                                        "phase: restored whole)"]
            if after is None:
                checks.restore_all(ws.worktree, before)
            else:
                checks.revert(ws.worktree, before, record.files_changed)
            record.violation_reverted = True
        if record.output is not None and phase.claims:
            verdict = checks.check_claims(record.output, phase.claims, checks.activity(loop.messages), root)
            record.hallucinated, record.invalid_paths = verdict.hallucinated, verdict.invalid_paths
            record.hallucinated_reasons = verdict.reasons
            record.claims_checked = True
        if phase.check_language:
            self._language(record, phase, run.final_message)
        if record.output is not None and phase.tally:
            record.tally = {field_path: [as_json_text(v) if not isinstance(v, str) else v
                                         for v in lookup(record.output, field_path.split("."))]
                            for field_path in phase.tally}
        if gate_before is not None and before is not None:
            record.regression = self._regression(phase, gate_before, before, record.files_changed)
        ws.transcript.write({"event": "phase_result", **record.model_dump(mode="json")})
        return record, text, record.output

    def _language(self, record: PhaseRecord, phase: Phase, final_message: str | None) -> None:
        from pytest_agentbench.pipeline.language import free_text, judge

        if record.output is not None:
            skip = frozenset(key.split(".")[-1] for key in phase.claims)  # paths, commands
            texts = free_text(record.output, skip)
        else:
            texts = [final_message] if final_message else []
        if texts:
            verdict = judge(texts, self.canary.language)
            record.language, record.language_drift = verdict.language, verdict.drift
            record.language_evidence = verdict.evidence

    def phase_outputs(self) -> dict[str, str]:
        """Each phase's output as the model wrote it (its JSON text, or its final message), the
        last run of each: what a judge check's ``phase:NAME`` artifact shows."""
        return dict(self.texts)

    def _system_prompt(self, phase: Phase) -> str | None:
        """The phase's own system prompt with what the model adds to the default one (its
        registry system_prompt, a variant's directive): a directive sweep or OFAT cell must reach
        every phase, or it measures nothing. None: the model's prompt as for any attempt."""
        if phase.system_prompt is None:
            return None
        own = (self.model.system_prompt or "").strip()
        added = own[len(SYSTEM_PROMPT.strip()):].strip() if own.startswith(SYSTEM_PROMPT.strip()) else own
        if not phase.model_prompt or not added:
            return phase.system_prompt
        return f"{phase.system_prompt.rstrip()}\n\n{added}"

    def _snapshot(self) -> checks.Snapshot | None:
        try:
            return checks.snapshot(self.workspace.worktree)
        except (safe_fs.TreeError, OSError):
            return None  # verification will say why the tree cannot be read

    def _gate(self, phase: Phase) -> dict[str, bool] | None:
        """Which gate checks pass on the tree as it is now, in a fresh verification tree (never the
        agent's own) *without* ``hidden/``: the gate compares the repository's own checks before
        and after the phase. A pytest check also counts test by test (``command :: test id``,
        from its report), so a phase that breaks a passing test is caught even when the check
        already failed on another one. None when the tree cannot be checked (tampered git,
        unreadable)."""
        from pytest_agentbench.attempt.verify import examine, run_checks

        ws, canary = self.workspace, self.canary
        if ws.check_integrity():
            return None
        change, error = examine(canary, ws.worktree, ws.baseline)
        if error:
            return None
        # The gate looks for what a phase broke anywhere in the project, not only in the files the
        # task is about: every unprotected regular file of the change is applied.
        results = run_checks(phase.gate_checks or canary.verify.run, canary.verify.timeout,
                             change.beyond_writable_set(),
                             {}, ws.check_setup(self.session), f"{ws.worktree.name}.gate",
                             stop_early=False, plugins=canary.verify.pytest_plugins)
        passing: dict[str, bool] = {}
        for check in results:
            passing[check.command] = check.ok
            for test_id, status in check.tests.cases if check.tests is not None else ():
                passing[f"{check.command} :: {test_id}"] = status == "passed"
        return passing

    def _regression(self, phase: Phase, gate_before: dict[str, bool], before: checks.Snapshot,
                    changed: list[str]) -> Regression:
        gate_after = self._gate(phase) if changed else gate_before
        if gate_after is None:
            return Regression()
        # Passed before, and failing or gone after (a deleted test is no way around the gate).
        broken = [key for key, ok in gate_before.items() if ok and not gate_after.get(key)]
        # A check named with its broken tests needs no line of its own.
        broken = [key for key in broken if not any(other.startswith(f"{key} :: ") for other in broken)]
        if not broken:
            return Regression()
        checks.revert(self.workspace.worktree, before, changed)
        self.workspace.transcript.write({"event": "regression_revert", "phase": phase.name,
                                         "broken": broken, "reverted": changed})
        return Regression(broken=broken, reverted=True, reverted_files=changed)

    # -- the attempt's loop record ------------------------------------------------------------------

    def _merged(self, stop: tuple[str, str] | None) -> LoopResult:
        """One LoopResult for the attempt: the phases' counters added up; the stop reason is what
        stopped the pipeline, else how its last phase ended."""
        runs = self.runs
        last = runs[-1]
        if stop is not None:
            reason, detail = stop
        else:
            done = [r for r in self.records if r.outcome != SKIPPED]
            final = done[-1]
            reason = "final" if final.outcome == OK else (
                final.outcome if final.outcome == Outcome.INVALID_OUTPUT.value else final.stop_reason)
            detail = (f"pipeline completed: {len(done)} phases"
                      + (f" in {self.canary.iterations} iterations" if self.canary.iterations > 1 else "")
                      + f"; last phase: {final.detail}")
        merged = LoopResult(stop_reason=reason, detail=detail, infra_kind=last.infra_kind,
                            final_message=last.final_message, claimed=last.claimed,
                            limit_hit=last.limit_hit, time_budget=dict(runs[0].time_budget),
                            seed=runs[0].seed, last_reply=last.last_reply)
        digest = hashlib.sha256()
        for run in runs:
            for name in ("turns", "tool_calls", "malformed_tool_calls", "prompt_tokens",
                         "completion_tokens", "model_seconds", "tool_seconds", "wall_seconds",
                         "server_predicted_tokens", "server_predicted_ms", "cached_prompt_tokens"):
                setattr(merged, name, getattr(merged, name) + getattr(run, name))
            merged.tokens_estimated |= run.tokens_estimated
            merged.finish_reasons.update(run.finish_reasons)
            merged.quirks.update(run.quirks)
            merged.nudges.update(run.nudges)
            _add_stats(merged, run)
            digest.update((run.conversation_digest or "-").encode())
        merged.conversation_digest = digest.hexdigest()[:16] if any(r.conversation_digest for r in runs) else None
        return merged


def _add_stats(total: LoopResult, run: LoopResult) -> None:
    mine, theirs = total.stats, run.stats
    mine.calls.update(theirs.calls)
    mine.errors.update(theirs.errors)
    mine.batch_sizes.update(theirs.batch_sizes)
    for name in ("turns_with_tool_calls", "completion_tokens_without_tool_calls", "reasoning_tokens",
                 "refused_tool_calls"):
        setattr(mine, name, getattr(mine, name) + getattr(theirs, name))
    mine.reasoning_tokens_estimated |= theirs.reasoning_tokens_estimated


def _value_at(value: Any, path: list[str]) -> Any:
    """The value at ``path`` as it is (a list stays a list); through lists, every match."""
    for index, key in enumerate(path):
        if isinstance(value, dict):
            value = value.get(key)
        else:
            return lookup(value, path[index:])
    return value


def _score(outputs: dict[str, Any], reference: str | None) -> float | None:
    if not reference:
        return None
    name, path = split_ref(reference)
    value = first_value(outputs.get(name), path)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
