"""Pipeline building blocks, directly: structured output parsing, language drift, claim checks."""

from __future__ import annotations

import json

import pytest

from pytest_agentbench.pipeline.checks import Activity, activity, check_claims, invalid_path
from pytest_agentbench.pipeline.language import judge
from pytest_agentbench.pipeline.output import parse_output, reprompt

SCHEMA = {"type": "object", "required": ["axis"], "properties": {"axis": {"enum": ["perf", "ux"]}}}


@pytest.mark.parametrize(("message", "raw"), [
    ('{"axis": "perf"}', '{"axis": "perf"}'),
    ('  \n{"axis": "perf"}\n', '{"axis": "perf"}'),
    ('Here it is:\n```json\n{"axis": "perf"}\n```\n', '{"axis": "perf"}'),
    ('Draft:\n```json\n{"axis": "nope"}\n```\nFixed:\n```JSON\n{"axis": "ux"}\n```', '{"axis": "ux"}'),
    ('Answer:\n```\n{"axis": "ux"}\n```', '{"axis": "ux"}'),
])
def test_accepted_forms_keep_the_text_verbatim(message, raw):
    parsed = parse_output(message, SCHEMA)
    assert parsed.error == "" and parsed.raw == raw and parsed.value == json.loads(raw)


@pytest.mark.parametrize(("message", "error"), [
    ("I think the axis should be performance.", "no JSON object found"),
    ("", "the reply was empty"),
    ('The answer is {"axis": "perf"} as you can see.', "no JSON object found"),  # loose JSON: no
    ('```json\n{"axis": "perf",}\n```', "invalid JSON"),
    ('```json\n["perf"]\n```', "not an object"),
    ('{"axis": "security"}', "schema violation at axis: 'security' is not one of ['perf', 'ux']"),
    ('{"name": "shell", "parameters": {"command": "ls"}}', "'axis' is a required property"),
])
def test_rejected_output_says_why(message, error):
    parsed = parse_output(message, SCHEMA)
    assert parsed.value is None and error in parsed.error


def test_the_reprompt_carries_the_error_and_the_schema():
    text = reprompt("no JSON object found", SCHEMA)
    assert "no JSON object found" in text and "ONLY the JSON object" in text and '"enum"' in text


@pytest.mark.parametrize(("texts", "drift", "language"), [
    (["Add a retry with exponential backoff to fetch_json in client.py so 503 errors do not abort."], False, "en"),
    (["Looks good.", "ux_cli", "Add caching"], False, "en"),
    (["The `parse_config()` loader re-reads config.toml on every call; cache it with functools.lru_cache."], False, "en"),
    (["Next: improve logging.", "ควรปรับปรุงการจัดการข้อผิดพลาดในโมดูลนี้เพื่อให้ระบบมีความเสถียรมากขึ้น"], True, "th"),
    (["下一次迭代应该改进错误处理，因为当前的实现没有覆盖边界情况。"], True, "zh"),
    (["Следующая итерация должна улучшить обработку ошибок в модуле конфигурации."], True, "ru"),
    (["Die nächste Iteration sollte die Fehlerbehandlung im Konfigurationsmodul verbessern."], True, "de"),
])
def test_language_drift_in_an_english_pipeline(texts, drift, language):
    verdict = judge(texts, "en")
    assert (verdict.drift, verdict.language) == (drift, language), verdict


def test_a_russian_pipeline_drifting_into_english():
    assert not judge(["Следующая итерация должна улучшить обработку ошибок."], "ru").drift
    assert judge(["The next iteration should improve error handling in the configuration module."], "ru").drift


def test_invalid_paths(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n")
    (tmp_path / "link.py").symlink_to("/etc/passwd")
    assert invalid_path(tmp_path, "src/app.py") == "" and invalid_path(tmp_path, "./src/app.py") == ""
    assert invalid_path(tmp_path, "**/*.js") == "a glob pattern"
    assert invalid_path(tmp_path, "list_directory") == "a tool name"
    assert invalid_path(tmp_path, "read_file") == "a tool name"
    assert invalid_path(tmp_path, "/runs/x.json") == "an absolute path"
    assert invalid_path(tmp_path, "../outside.py") == "outside the repository"
    assert invalid_path(tmp_path, ".git/config") == "git metadata"
    assert invalid_path(tmp_path, "src") == "not a file of the repository"
    assert invalid_path(tmp_path, "missing.py") == "not a file of the repository"
    assert invalid_path(tmp_path, "link.py") == "not a file of the repository"


def _call(call_id: str, name: str, arguments: dict) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


def test_activity_and_claims_from_the_phases_own_history(tmp_path):
    for name in ("a.py", "b.py", "c.py", "d.py", "e.py"):
        (tmp_path / name).write_text("")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "f.py").write_text("")
    messages = [
        {"role": "system", "content": "s"}, {"role": "user", "content": "u"},
        _call("1", "read_file", {"file_path": "./a.py"}), {"role": "tool", "tool_call_id": "1", "content": "x"},
        _call("2", "ls", {"path": "pkg"}), {"role": "tool", "tool_call_id": "2", "content": "f.py"},
        _call("3", "bash", {"command": "cat b.py &&  pytest -q"}),
        {"role": "tool", "tool_call_id": "3", "content": "[exit code 0]\nok"},
        _call("4", "read_file", {"path": "c.py"}),
        {"role": "tool", "tool_call_id": "4", "content": "Error: no such file"},  # did not read
    ]
    done = activity(messages)
    assert done.read == {"a.py"} and "pkg/f.py" in done.listed
    assert done.commands == ["cat b.py &&  pytest -q"]
    output = {"files": ["a.py", "pkg/f.py", "b.py", "c.py", "*.py"],
              "runs": ["pytest -q", "python attack.py"]}
    verdict = check_claims(output, {"files": "files", "runs": "commands"}, done, tmp_path)
    assert verdict.invalid_paths == ["*.py"]
    assert verdict.hallucinated == ["c.py", "python attack.py"]
    assert check_claims({"files": "d.py"}, {"files": "files"}, Activity(), tmp_path).hallucinated == ["d.py"]


def test_a_claimed_command_matches_what_ran_whatever_its_spelling(tmp_path):
    messages = [
        {"role": "system", "content": "s"}, {"role": "user", "content": "u"},
        _call("1", "bash", {"command": "python -m pytest -q tests"}),
        {"role": "tool", "tool_call_id": "1", "content": "[exit code 0]\nok"},
    ]
    done = activity(messages)
    claims = {"runs": ["python -m pytest -q tests/", "python  -m pytest -q ./tests", "pytest -q"],
              "others": ["python -m pytest -q tests/unit", "-m pytest -q tes"]}
    verdict = check_claims(claims, {"runs": "commands", "others": "commands"}, done, tmp_path)
    assert verdict.hallucinated == ["python -m pytest -q tests/unit", "-m pytest -q tes"]
