import json

import pytest

from todo import store
from todo.cli import main


def run(path, capsys, *argv):
    code = main(["--file", str(path), *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def todo_file(tmp_path):
    path = tmp_path / "tasks.json"
    store.save_tasks(path, [
        {"id": 1, "title": "buy milk", "done": False},
        {"id": 2, "title": "write report", "done": True},
        {"id": 5, "title": "call mom", "done": False},
    ])
    return path


def test_mark_done_in_place():
    tasks = [{"id": 1, "title": "a", "done": False}, {"id": 3, "title": "b", "done": False}]
    task = store.mark_done(tasks, 3)
    assert task is tasks[1]
    assert tasks == [{"id": 1, "title": "a", "done": False}, {"id": 3, "title": "b", "done": True}]


def test_mark_done_twice_is_allowed():
    tasks = [{"id": 1, "title": "a", "done": True}]
    assert store.mark_done(tasks, 1) == {"id": 1, "title": "a", "done": True}


def test_mark_done_unknown_id():
    with pytest.raises(KeyError):
        store.mark_done([{"id": 1, "title": "a", "done": False}], 2)
    with pytest.raises(KeyError):
        store.mark_done([], 1)


def test_done_marks_and_saves(todo_file, capsys):
    assert run(todo_file, capsys, "done", "5") == (0, "done: call mom\n", "")
    stored = json.loads(todo_file.read_text())
    assert stored[2] == {"id": 5, "title": "call mom", "done": True}
    assert stored[0]["done"] is False


def test_done_unknown_id(todo_file, capsys):
    before = todo_file.read_text()
    assert run(todo_file, capsys, "done", "4") == (1, "", "error: no task with id 4\n")
    assert todo_file.read_text() == before


def test_done_unknown_id_without_file(tmp_path, capsys):
    path = tmp_path / "missing.json"
    assert run(path, capsys, "done", "1") == (1, "", "error: no task with id 1\n")
    assert not path.exists()


def test_done_already_done(todo_file, capsys):
    assert run(todo_file, capsys, "done", "2") == (0, "task 2 is already done\n", "")
    assert json.loads(todo_file.read_text())[1]["done"] is True


def test_done_needs_an_integer(todo_file, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--file", str(todo_file), "done", "two"])
    assert info.value.code == 2


def test_list_pending(todo_file, capsys):
    assert run(todo_file, capsys, "list", "--pending") == (0, "1. [ ] buy milk\n5. [ ] call mom\n", "")
    assert run(todo_file, capsys, "list") == (
        0, "1. [ ] buy milk\n2. [x] write report\n5. [ ] call mom\n", "")


def test_list_pending_when_all_done(todo_file, capsys):
    run(todo_file, capsys, "done", "1")
    run(todo_file, capsys, "done", "5")
    assert run(todo_file, capsys, "list", "--pending") == (0, "no tasks\n", "")
    assert run(todo_file, capsys, "list") == (
        0, "1. [x] buy milk\n2. [x] write report\n5. [x] call mom\n", "")


def test_add_after_done_keeps_ids(todo_file, capsys):
    run(todo_file, capsys, "done", "1")
    assert run(todo_file, capsys, "add", "new")[1] == "added 6: new\n"
