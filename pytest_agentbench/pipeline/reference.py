"""A pipeline canary's reference pass: ``reference/<phase>.json`` (the output a right answer
gives each phase) next to ``solution/`` (the tree a right answer leaves).

``agentbench validate`` runs the *scripted pass* without a model (:func:`reference_problems`):
each phase's reference goes through the same parser, schema, claim and language checks as a
model's reply would, in pipeline order, with its placeholders filled from the earlier references;
claimed files must be files of ``repo/`` or ``solution/``. The final tree is proved as for any
canary (null control, ``solution/`` as the reference, the cheaters). :func:`reference_script`
plays the same pass through the real plugin as a ScriptedServer script (the built-in suite's test
does): each phase reads the files it claims, runs the commands it claims, a writing phase writes
``solution/``, then it answers with its reference JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_agentbench.pipeline.checks import claim_entries, invalid_path
from pytest_agentbench.pipeline.output import parse_output
from pytest_agentbench.schemas.canary import Canary
from pytest_agentbench.schemas.pipeline import PLACEHOLDER, Phase

REFERENCE_DIR = "reference"


def reference_file(canary: Canary, phase: Phase) -> Path:
    return canary.directory / REFERENCE_DIR / f"{phase.name}.json"


def has_reference(canary: Canary) -> bool:
    return (canary.directory / REFERENCE_DIR).is_dir()


def validate_reference(canary: Canary) -> tuple[list[str], str | None] | None:
    """``agentbench validate``'s scripted pass (features.reference_checks): None for a canary
    without phases, else (problems, why there is no reference to check or None)."""
    if not canary.phases:
        return None
    if not has_reference(canary):
        return [], "no reference/: nothing proves each phase's output can be valid"
    return reference_problems(canary), None


def reference_problems(canary: Canary) -> list[str]:
    """The scripted pass of ``validate`` (see the module docstring); [] when it holds."""
    from pytest_agentbench.pipeline.language import free_text, judge

    problems: list[str] = []
    for phase in canary.phases:
        schema = phase.resolved_schema
        file = reference_file(canary, phase)
        where = f"pipeline reference: {REFERENCE_DIR}/{file.name}"
        if not file.is_file():
            if schema is not None:
                problems.append(f"{where}: missing (phase {phase.name!r} has an output_schema)")
            continue
        parsed = parse_output(file.read_text(encoding="utf-8"), schema)
        if parsed.error:
            problems.append(f"{where}: {parsed.error}")
            continue
        for field_path, kind in phase.claims.items():
            if kind != "files":
                continue
            for entry in claim_entries(parsed.value, field_path):
                why = invalid_path(canary.repo_dir, entry)
                if why and invalid_path(canary.solution_dir, entry):
                    problems.append(f"{where}: claimed file {entry!r} in {field_path!r}: {why}")
        if phase.check_language:
            skip = frozenset(key.split(".")[-1] for key in phase.claims)
            verdict = judge(free_text(parsed.value, skip), canary.language)
            if verdict.drift:
                problems.append(f"{where}: not in the canary's language {canary.language!r}: "
                                f"{verdict.evidence}")
    return problems


def _prompt_head(phase: Phase) -> str:
    """The phase prompt's fixed text before its first placeholder: how a request is matched to
    its phase (the phase's first user message starts with it)."""
    match = PLACEHOLDER.search(phase.prompt)
    return (phase.prompt[:match.start()] if match else phase.prompt).strip()


def _solution_files(canary: Canary) -> list[tuple[str, str]]:
    directory = canary.solution_dir
    if not directory.is_dir():
        return []
    return [(p.relative_to(directory).as_posix(), p.read_text(encoding="utf-8"))
            for p in sorted(directory.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]


def phase_steps(canary: Canary, phase: Phase) -> list[dict[str, Any]]:
    """The replies of one phase in the reference pass (ScriptedServer replies)."""
    from pytest_agentbench.testing import call, say

    file = reference_file(canary, phase)
    value = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}
    steps: list[dict[str, Any]] = []
    tools = set(phase.tool_names)
    for field_path, kind in phase.claims.items():
        for entry in claim_entries(value, field_path):
            if kind == "files" and "read_file" in tools:
                steps.append(call("read_file", path=entry))
            elif kind == "commands" and "shell" in tools:
                steps.append(call("shell", command=entry))
    if phase.writes:
        steps += [call("write_file", path=path, content=content)
                  for path, content in _solution_files(canary)]
    answer = "```json\n" + json.dumps(value, indent=1, ensure_ascii=False) + "\n```" if value else "Done."
    steps.append(say(answer))
    return steps


def reference_script(canaries: list[Canary]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """A ScriptedServer script function playing the reference pass of ``canaries``' pipelines;
    None for a request that is no phase of theirs (so it can be combined with another oracle)."""
    heads = [(_prompt_head(phase), phase_steps(canary, phase))
             for canary in canaries for phase in canary.phases]
    heads.sort(key=lambda item: -len(item[0]))  # the most specific head first

    def reply(body: dict[str, Any]) -> dict[str, Any] | None:
        messages = body.get("messages", [])
        task = next((str(m.get("content") or "") for m in messages if m.get("role") == "user"), "")
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        for head, steps in heads:
            if task.strip().startswith(head):
                return steps[min(turn, len(steps) - 1)]
        return None
    return reply
