import random
import time

from fetch import fetch_all


def slow_upper(url):
    time.sleep(random.uniform(0, 0.01))  # the network: sometimes this one is faster
    return url.upper()


def test_results_follow_the_input_order():
    urls = ["a", "b", "c"]
    assert fetch_all(urls, slow_upper) == ["A", "B", "C"]
