import pytest

from sorter.cli import main
from sorter.core import sort_lines


def test_numeric_keeps_original_strings_and_puts_text_last():
    lines = ["b", "10", "-2", "a", "3.50", "1e1"]
    assert sort_lines(lines, numeric=True) == ["-2", "3.50", "10", "1e1", "a", "b"]


def test_unique_text():
    assert sort_lines(["b", "a", "b", "a", "c"], unique=True) == ["a", "b", "c"]


def test_unique_numeric_compares_strings():
    assert sort_lines(["1.0", "1", "x", "1", "x"], numeric=True, unique=True) == ["1.0", "1", "x"]


def test_numeric_ties_keep_input_order():
    assert sort_lines(["1.0", "b", "1", "01"], numeric=True) == ["1.0", "1", "01", "b"]


def test_reverse_applies_last():
    assert sort_lines(["2", "10", "a", "2"], numeric=True, unique=True, reverse=True) == ["a", "10", "2"]


def test_input_not_modified():
    lines = ["b", "a", "a"]
    sort_lines(lines, numeric=True, unique=True, reverse=True)
    assert lines == ["b", "a", "a"]


def test_keyword_only():
    with pytest.raises(TypeError):
        sort_lines(["a"], True)


def test_cli_flags(tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("10\n9\nx\n9\n")
    assert main([str(path), "--numeric", "--unique"]) == 0
    assert capsys.readouterr().out == "9\n10\nx\n"
    assert main([str(path), "--unique", "--reverse"]) == 0
    assert capsys.readouterr().out == "x\n9\n10\n"
    assert main([str(path)]) == 0
    assert capsys.readouterr().out == "10\n9\n9\nx\n"
