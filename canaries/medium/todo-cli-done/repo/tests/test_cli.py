import json

from todo.cli import main


def run(tmp_path, capsys, *argv):
    code = main(["--file", str(tmp_path / "todo.json"), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_and_list(tmp_path, capsys):
    assert run(tmp_path, capsys, "add", "buy milk") == (0, "added 1: buy milk\n", "")
    assert run(tmp_path, capsys, "add", "write report")[0] == 0
    code, out, _ = run(tmp_path, capsys, "list")
    assert code == 0
    assert out == "1. [ ] buy milk\n2. [ ] write report\n"
    stored = json.loads((tmp_path / "todo.json").read_text())
    assert stored[1] == {"id": 2, "title": "write report", "done": False}


def test_list_empty(tmp_path, capsys):
    assert run(tmp_path, capsys, "list") == (0, "no tasks\n", "")


def test_add_empty_title(tmp_path, capsys):
    code, out, err = run(tmp_path, capsys, "add", "   ")
    assert code == 1
    assert err == "error: title must not be empty\n"
