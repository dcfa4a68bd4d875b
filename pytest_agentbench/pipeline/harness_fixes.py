"""Harness fixes, each opt-in per phase (docs: "Pipelines"): what ``reprompt_on`` sends
back about a valid output, why ``skip_to`` jumps, and ``plan_files``' comparison of a phase's
changes with an earlier phase's plan. Recording measures the model; these let the harness react,
as practice recommends, so that one bad phase does not poison the rest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_agentbench.pipeline import checks
from pytest_agentbench.schemas.pipeline import Phase, lookup, split_ref
from pytest_agentbench.schemas.pipeline_records import OK, PhaseRecord


def output_problems(phase: Phase, output: Any, messages: list[dict[str, Any]], root: Path,
                    language: str, distinct: tuple[list[str], list[Any]] | None) -> list[str]:
    """What the phase's ``reprompt_on`` checks find wrong with a valid output, as the model
    will be told it; empty when nothing is (or nothing is asked)."""
    kinds = set(phase.reprompt_on)
    found: list[str] = []
    if kinds & {"invalid_paths", "hallucinated"} and phase.claims:
        verdict = checks.check_claims(output, phase.claims, checks.activity(messages), root)
        if "invalid_paths" in kinds and verdict.invalid_paths:
            found.append(f"these entries are not files of the repository: {verdict.invalid_paths} "
                         "(no globs, tool names, directories or paths outside it)")
        if "hallucinated" in kinds and verdict.hallucinated:
            never = [item.entry for item in verdict.found if not item.result]
            if never:
                found.append(f"these entries were never read or run in this phase: {never} "
                             "(list only what you actually did, or do it first)")
            found += [f"{item.entry}: {item.why} (report what the command really did)"
                      for item in verdict.found if item.result]
    if "language_drift" in kinds:
        from pytest_agentbench.pipeline.language import free_text, judge

        skip = frozenset(key.split(".")[-1] for key in phase.claims)
        texts = free_text(output, skip)
        verdict_language = judge(texts, language) if texts else None
        if verdict_language is not None and verdict_language.drift:
            found.append(f"the text is not in the expected language ({language!r}, "
                         f"found {verdict_language.language!r}): write every text field in it")
    if "repeated" in kinds and distinct is not None:
        value = first_value(output, distinct[0])
        if value is not None and value in distinct[1]:
            found.append(f"{'.'.join(distinct[0])} {value!r} was used in a recent iteration "
                         f"({distinct[1]}): choose a different one")
    return found



def check_plan(record: PhaseRecord, phase: Phase, outputs: Mapping[str, Any]) -> None:
    """``phase.plan_files``: compare the phase's own changes with the files an earlier phase's
    output planned (the hypothesis-implementation drift: a performance hypothesis, a logging
    utility built). Nothing is recorded when the planner produced no output."""
    if phase.plan_files is None or record.outcome != OK:
        return
    planner, path = split_ref(phase.plan_files)
    if outputs.get(planner) is None:
        return
    planned = {str(entry).strip().removeprefix("./") for entry in lookup(outputs[planner], path)
               if isinstance(entry, str) and entry.strip()}
    changed = set(record.files_changed)
    record.plan_checked = True
    record.off_plan = sorted(changed - planned)
    record.plan_untouched = sorted(planned - changed)


def check_reprompt(problems: list[str]) -> str:
    """A valid output that the phase's checks reject: what is wrong, and the JSON again."""
    return ("Your JSON output has problems:\n" + "\n".join(f"- {p}" for p in problems)
            + "\nFix them and output the whole JSON object again, in one ```json fenced block.")


def skip_reason(phase: Phase, record: PhaseRecord) -> str:
    """Why the pipeline jumps to ``phase.skip_to`` after this phase ('' when it does not)."""
    if phase.skip_to is None:
        return ""
    if record.phantom:
        return f"phase {phase.name} changed nothing (phantom)"
    if record.regression is not None and record.regression.reverted:
        return (f"phase {phase.name} broke {record.regression.broken} and its change was reverted")
    return ""


def first_value(value: Any, path: list[str]) -> Any:
    """The first value at ``path`` in an output, as ``iteration.distinct`` compares it: a plain
    value as it is, anything else as its JSON text; None when there is none."""
    if value is None:
        return None
    found = lookup(value, path)
    first = found[0] if found else None
    if first is None or isinstance(first, (str, int, float, bool)):
        return first
    return json.dumps(first, ensure_ascii=False)
