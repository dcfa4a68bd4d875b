"""``agentbench validate`` on a pipeline canary: the final tree is proved as for any
canary, and each phase's ``reference/<phase>.json`` goes through the checks a model's reply gets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_agentbench.library.validate import validate_canary

BUILTIN = Path(__file__).parent.parent / "canaries" / "heavy" / "self-improve"


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    target = tmp_path / "self-improve"
    shutil.copytree(BUILTIN, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_builtin_pipeline_is_valid(pipeline):
    result = validate_canary(pipeline / "canary.toml", sandbox="none", require_solution=True)
    assert result.ok, result.problems
    assert (result.null_control, result.reference, result.cheaters) == ("fails", "passes", "fail")
    assert result.warnings == []


def _edit(pipeline: Path, phase: str, change) -> None:
    file = pipeline / "reference" / f"{phase}.json"
    value = json.loads(file.read_text())
    change(value)
    file.write_text(json.dumps(value, ensure_ascii=False))


def test_a_reference_that_breaks_the_phase_checks_is_a_problem(pipeline):
    _edit(pipeline, "explore", lambda v: v["files_examined"].extend(["**/*.py", "list_files"]))
    _edit(pipeline, "reflect", lambda v: v.update(summary="การทำซ้ำนี้แก้ไขกฎการนับคำได้สำเร็จแล้ว"))
    _edit(pipeline, "audit", lambda v: v.pop("overall"))
    result = validate_canary(pipeline / "canary.toml", sandbox="none", require_solution=True)
    assert not result.ok
    assert "pipeline reference: reference/explore.json: claimed file '**/*.py' in 'files_examined': a glob pattern" in result.problems
    assert "pipeline reference: reference/explore.json: claimed file 'list_files' in 'files_examined': a tool name" in result.problems
    assert any(p.startswith("pipeline reference: reference/reflect.json: not in the canary's language 'en': Thai")
               for p in result.problems), result.problems
    assert ("pipeline reference: reference/audit.json: schema violation at (top level): "
            "'overall' is a required property") in result.problems
    assert result.reference == "passes"  # the final tree is still proved by solution/


def test_no_reference_is_a_warning_or_with_require_solution_a_problem(pipeline):
    shutil.rmtree(pipeline / "reference")
    assert "no reference/" in " ".join(validate_canary(pipeline / "canary.toml", sandbox="none").warnings)
    strict = validate_canary(pipeline / "canary.toml", sandbox="none", require_solution=True)
    assert any("no reference/" in p for p in strict.problems)
