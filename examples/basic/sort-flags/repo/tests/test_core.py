from sorter.core import sort_lines


def test_text_sort():
    assert sort_lines(["b", "a", "c"]) == ["a", "b", "c"]


def test_reverse():
    assert sort_lines(["b", "a", "c"], reverse=True) == ["c", "b", "a"]


def test_numeric():
    assert sort_lines(["10", "9", "x", "1.5"], numeric=True) == ["1.5", "9", "10", "x"]
