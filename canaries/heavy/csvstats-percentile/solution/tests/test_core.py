import pytest

from csvstats.core import mean, median, percentile, read_column


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


def test_percentile_interpolates():
    assert percentile([1, 2, 3, 4], 25) == 1.75
    assert percentile([15, 20, 35, 40, 50], 40) == 29.0


def test_percentile_ends_and_unsorted_input():
    values = [4, 3, 2, 1]
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 4
    assert percentile(values, 50) == 2.5
    assert values == [4, 3, 2, 1]


def test_percentile_single_value():
    assert percentile([7], 90) == 7.0


@pytest.mark.parametrize("p", [-1, 100.5])
def test_percentile_rejects_bad_input(p):
    with pytest.raises(ValueError):
        percentile([1, 2], p)
    with pytest.raises(ValueError):
        percentile([], 50)
