import pytest

from csvstats.core import mean, median, read_column


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_median_odd_and_even():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_empty():
    with pytest.raises(ValueError):
        mean([])
    with pytest.raises(ValueError):
        median([])


def test_read_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("name,price\na,1.5\nb,\nc,3\n")
    assert read_column(str(path), "price") == [1.5, 3.0]
    with pytest.raises(KeyError):
        read_column(str(path), "nope")
