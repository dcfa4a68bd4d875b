"""Pipeline building blocks, directly: structured output parsing, language drift, claim checks."""

from __future__ import annotations

import json
from pathlib import Path

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


# -- quoted foreign words are no drift; text written in another language is ------------------------

@pytest.mark.parametrize("text", [
    'The French say "bon appétit" here before the meal starts.',
    'Shown: "Übersicht der Änderungen" in German.',  # without the quote: de 0.90, drift
    'Titles "Einstellungen für Benutzer" and "Übersicht der Änderungen" stay.',
    'The Japanese say "いただきます" before eating, and the function handles that greeting.',
    'The Japanese say 「いただきます」 before eating, and the function handles that greeting.',
    "The label reads “Привет мир” in the Russian locale; everything else stays in English.",
    "The Thai label is `สวัสดีครับ` and it is shown on the start page.",
    "The Thai label is *สวัสดีครับ* and it is shown on the start page.",
    "The Thai label is _สวัสดีครับ_ and it is shown on the start page.",
    "The Thai label is <em>สวัสดีครับ</em> and it is shown on the start page.",
    "We keep 'Guten Morgen' as the greeting; don't translate it, it's the brand's.",
])
def test_a_few_quoted_foreign_words_are_no_drift(text):
    verdict = judge([text], "en")
    assert not verdict.drift and verdict.language in ("en", None), verdict


@pytest.mark.parametrize(("text", "language"), [
    ("Le module compte les mots du texte et ignore la ponctuation, puis il renvoie un dictionnaire trié.", "fr"),
    ('"Le module compte les mots du texte et ignore la ponctuation, puis il renvoie un dictionnaire trié."', "fr"),
    ('The counter handles "bon appétit" fine. ฟังก์ชันนับคำทำงานได้ถูกต้องแล้ว', "th"),
    ('Ce module compte "the words" du texte et ignore la ponctuation, puis il renvoie un dictionnaire trié.', "fr"),
    ("Die Funktion zählt die Wörter im Text und gibt ein sortiertes Wörterbuch zurück.", "de"),
])
def test_a_paragraph_written_in_another_language_is_still_drift(text, language):
    verdict = judge([text], "en")
    assert verdict.drift and verdict.language == language, verdict


def test_quoting_english_in_a_russian_pipeline_is_no_drift():
    assert not judge(['Функция считает слова в тексте и возвращает "sorted dict" обратно.'], "ru").drift


# -- a claimed command's result against what its run recorded ----------------------------------------

def _shell(call_id: str, command: str, result: str) -> list[dict]:
    return [_call(call_id, "shell", {"command": command}),
            {"role": "tool", "tool_call_id": call_id, "content": result}]


IMPORT = "python -c 'from tally import total; print(total([1, 2]))'"
IMPORT_FAILS = ("[exit code 1]\nTraceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n"
                "ImportError: cannot import name 'total' from 'tally' (/repo/tally/__init__.py)")


def _history() -> list[dict]:
    return [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
            *_shell("1", IMPORT, IMPORT_FAILS),
            *_shell("2", "python -m pytest -q tests", "[exit code 0]\n...\n3 passed in 0.02s"),
            *_shell("3", "python -c 'print(3)'", "[exit code 0]\n3"),
            *_shell("4", "python slow.py", "[timed out]\nstarting"),
            *_shell("5", "python quiet.py", "[exit code 0]\nTraceback (most recent call last):\n"
                    "  File \"quiet.py\", line 2\nKeyError: 'x'\nhandled anyway"),
            *_shell("6", "python -c 'print(3)'", "[exit code 0] (no output)")]


def test_the_shell_runs_are_read_with_their_exit_status():
    runs = activity(_history()).runs
    assert [(r.exit_code, r.timed_out) for r in runs] == [(1, False), (0, False), (0, False),
                                                           (None, True), (0, False), (0, False)]
    assert runs[0].output.endswith("(/repo/tally/__init__.py)") and runs[5].output == ""


@pytest.mark.parametrize(("attack", "holds"), [
    ({"command": IMPORT, "result": "fails with ImportError: total is not exported"}, True),
    ({"command": IMPORT, "result": "works, prints 3"}, False),
    ({"command": IMPORT, "exit_code": 0}, False),
    ({"command": IMPORT, "exit_code": 1, "result": "raises ImportError"}, True),
    ({"command": IMPORT, "outcome": "succeeded"}, False),
    ({"command": IMPORT, "status": "ok"}, False),
    ({"command": "python -m pytest -q ./tests/", "result": "3 passed, 0 failed"}, True),
    ({"command": "python -m pytest -q tests", "result": "The existing tests still pass."}, True),
    ({"command": "python -m pytest -q tests", "exit_code": "0"}, True),
    ({"command": "python -m pytest -q tests", "exit_code": 2}, False),
    ({"command": "python -m pytest -q tests", "result": "does not pass: 1 failed"}, True),  # not a success claim
    ({"command": "python slow.py", "result": "finishes fine"}, False),
    ({"command": "python quiet.py", "result": "works"}, False),  # a traceback in its output
    ({"command": "python -c 'print(3)'", "result": "prints 3"}, False),  # its last run printed nothing
    ({"command": "python -c 'print(3)'", "result": "prints nothing"}, True),
    ({"command": "python -c 'print(3)'", "result": "Both forms count as the same word."}, True),
    ({"command": "python -c 'print(3)'"}, True),  # no result claimed: having run is the claim
])
def test_a_claimed_result_must_be_what_the_command_did(attack, holds):
    verdict = check_claims({"attacks": [attack]}, {"attacks.command": "commands"}, activity(_history()), Path("."))
    assert (verdict.hallucinated == []) is holds, verdict.reasons


def test_the_reason_names_the_command_its_exit_status_and_the_error_line():
    output = {"checks": [{"command": IMPORT, "result": "works, prints 3"},
                         {"command": "python -m pytest -q tests", "result": "prints 4 passed"},
                         {"command": "python -m pytest -q tests", "result": "passes"},
                         {"command": "python never_ran.py", "result": "works"}]}
    verdict = check_claims(output, {"checks.command": "commands"}, activity(_history()), Path("."))
    assert verdict.hallucinated == [IMPORT, "python -m pytest -q tests", "python never_ran.py"]
    assert verdict.reasons == [
        (f"claimed 'works, prints 3', but `{IMPORT}` exited 1: ImportError: cannot import name 'total' "
         "from 'tally' (/repo/tally/__init__.py)"),
        ("claimed 'prints 4 passed', but `python -m pytest -q tests` exited 0 and its output does not "
         "show '4': ... 3 passed in 0.02s"),
        "no shell call of this phase ran it",
    ]


def test_a_claimed_printed_value_is_looked_for_in_the_output():
    history = [*_shell("1", "python -c 'print({\"end\": 2})'", "[exit code 0]\n{'end': 2}\n"),
               *_shell("2", "echo hello world", "[exit code 0]\nhello world")]
    done = activity(history)
    for result, holds in [("prints {'end': 2}", True), ('prints {"end": 2}', False),
                          ("prints `{'end': 2}` as expected", True), ("prints {'end': 3}", False)]:
        claim = {"command": "python -c 'print({\"end\": 2})'", "result": result}
        assert (check_claims(claim, {"command": "commands"}, done, Path(".")).hallucinated == []) is holds, result
    for result, holds in [("prints hello", True), ("prints “hello world”", True), ("prints 'hello there'", False),
                          ("prints a greeting", True), ("outputs: world.", True), ("echoes bye", False)]:
        claim = {"command": "echo hello world", "result": result}
        assert (check_claims(claim, {"command": "commands"}, done, Path(".")).hallucinated == []) is holds, result


def test_an_entry_of_a_list_of_commands_claims_no_result():
    # {"commands_run": [...], "result": "..."}: the result is not about any one command
    verdict = check_claims({"commands_run": [IMPORT], "result": "all works"}, {"commands_run": "commands"},
                           activity(_history()), Path("."))
    assert verdict.hallucinated == []
