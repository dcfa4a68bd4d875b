import re
from pathlib import Path

import pytest

from csvstats.cli import main
from csvstats.core import percentile

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([1, 2, 3, 4], 25, 1.75),
        ([4, 3, 2, 1], 50, 2.5),
        ([15, 20, 35, 40, 50], 40, 29.0),
        ([7], 90, 7.0),
        ([7], 0, 7.0),
        ([3, 1, 2], 0, 1.0),
        ([3, 1, 2], 100, 3.0),
        ([10, 20], 90, 19.0),
        ([1, 2, 3, 4, 5], 50, 3.0),
        ([0.5, 1.5], 50, 1.0),
    ],
)
def test_percentile_values(values, p, expected):
    result = percentile(values, p)
    assert result == pytest.approx(expected)
    assert isinstance(result, float)


def test_percentile_does_not_modify_input():
    values = [3, 1, 2]
    percentile(values, 50)
    assert values == [3, 1, 2]


def test_percentile_accepts_tuples():
    assert percentile((1, 2, 3, 4), 75) == pytest.approx(3.25)


@pytest.mark.parametrize("p", [-0.1, -1, 100.1, 101])
def test_percentile_out_of_range(p):
    with pytest.raises(ValueError):
        percentile([1, 2, 3], p)


def test_percentile_empty():
    with pytest.raises(ValueError):
        percentile([], 50)


def write(tmp_path, text="price\n1\n2\n3\n4\n"):
    path = tmp_path / "data.csv"
    path.write_text(text)
    return str(path)


def test_cli_one_percentile(tmp_path, capsys):
    assert main([write(tmp_path), "--column", "price", "--percentile", "90"]) == 0
    assert capsys.readouterr().out == "count: 4\nmean: 2.50\nmedian: 2.50\np90: 3.70\n"


def test_cli_several_percentiles_in_order(tmp_path, capsys):
    argv = [write(tmp_path), "--column", "price", "--percentile", "99.5", "--percentile", "0",
            "--percentile", "25"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["count: 4", "mean: 2.50", "median: 2.50"]
    assert len(lines) == 6
    # p99.5 is 3.985: either rounding of that float is fine
    assert lines[3] in ("p99.5: 3.98", "p99.5: 3.99")
    assert lines[4:] == ["p0: 1.00", "p25: 1.75"]


def test_cli_without_percentile_unchanged(tmp_path, capsys):
    assert main([write(tmp_path), "--column", "price"]) == 0
    assert capsys.readouterr().out == "count: 4\nmean: 2.50\nmedian: 2.50\n"


@pytest.mark.parametrize("bad", ["101", "-5"])
def test_cli_bad_percentile(tmp_path, capsys, bad):
    assert main([write(tmp_path), "--column", "price", "--percentile", "50", "--percentile", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: percentile must be between 0 and 100\n"


def test_cli_bad_percentile_checked_before_reading(tmp_path, capsys):
    missing = str(tmp_path / "does-not-exist.csv")
    assert main([missing, "--column", "price", "--percentile", "150"]) == 2
    assert capsys.readouterr().err == "error: percentile must be between 0 and 100\n"


def test_cli_percentile_not_a_number(tmp_path):
    with pytest.raises(SystemExit) as info:
        main([write(tmp_path), "--column", "price", "--percentile", "high"])
    assert info.value.code == 2


def test_readme_documents_percentile():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^#+\s*Usage\s*$", text, re.MULTILINE)
    assert match, "README.md lost its Usage section"
    usage = text[match.end():]
    assert "--percentile 90" in usage
    assert "p90: " in usage
