from tally.counter import count_words, top_words


def test_counts_repeated_words():
    assert count_words("a b a") == {"a": 2, "b": 1}


def test_top_words_orders_by_count_then_word():
    assert top_words({"b": 2, "a": 2, "c": 5}, 2) == [("c", 5), ("a", 2)]


def test_empty_text():
    assert count_words("") == {}
