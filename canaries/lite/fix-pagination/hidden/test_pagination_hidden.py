import pytest

from pagination import page_count, paginate

ITEMS = list(range(1, 24))  # 23 items


def test_first_page_starts_at_first_item():
    assert paginate(ITEMS, 1, 10) == list(range(1, 11))


def test_middle_and_last_page():
    assert paginate(ITEMS, 2, 10) == list(range(11, 21))
    assert paginate(ITEMS, 3, 10) == [21, 22, 23]


def test_page_after_last_is_empty():
    assert paginate(ITEMS, 4, 10) == []
    assert paginate([], 1, 5) == []


def test_returns_new_list_for_any_sequence():
    assert paginate(("a", "b", "c"), 2, 2) == ["c"]
    assert paginate(range(5), 1, 2) == [0, 1]
    source = [1, 2, 3]
    result = paginate(source, 1, 3)
    assert result == source and result is not source


@pytest.mark.parametrize(("page", "per_page"), [(0, 10), (-1, 10), (1, 0), (1, -3)])
def test_paginate_rejects_bad_arguments(page, per_page):
    with pytest.raises(ValueError):
        paginate(ITEMS, page, per_page)


@pytest.mark.parametrize(
    ("total", "per_page", "expected"),
    [(0, 10, 0), (1, 10, 1), (9, 10, 1), (10, 10, 1), (11, 10, 2), (45, 10, 5), (50, 10, 5), (7, 1, 7)],
)
def test_page_count_is_ceiling(total, per_page, expected):
    assert page_count(total, per_page) == expected


def test_page_count_rejects_bad_arguments():
    with pytest.raises(ValueError):
        page_count(10, 0)
    with pytest.raises(ValueError):
        page_count(-1, 10)


@pytest.mark.parametrize("n", [1, 5, 9, 10, 11, 20, 23])
@pytest.mark.parametrize("per_page", [1, 3, 10])
def test_last_page_is_never_empty(n, per_page):
    items = list(range(n))
    last = paginate(items, page_count(n, per_page), per_page)
    assert last and last[-1] == n - 1
