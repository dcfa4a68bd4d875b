import threading

import pytest

from fetch import fetch_all


def test_the_last_url_finishes_first():
    # Each fetch waits until the one after it has finished: they complete in reverse order,
    # every time, so a result list in completion order is always wrong.
    urls = [f"u{i}" for i in range(4)]
    done = {url: threading.Event() for url in urls}

    def fetch(url):
        index = urls.index(url)
        if index + 1 < len(urls):
            assert done[urls[index + 1]].wait(10), "the next fetch never finished"
        done[url].set()
        return url.upper()

    assert fetch_all(urls, fetch, workers=4) == ["U0", "U1", "U2", "U3"]


def test_more_urls_than_workers():
    urls = [str(i) for i in range(20)]
    assert fetch_all(urls, lambda url: int(url) * 2, workers=3) == [i * 2 for i in range(20)]


def test_an_error_propagates():
    def fetch(url):
        if url == "bad":
            raise OSError("connection refused")
        return url

    with pytest.raises(OSError, match="refused"):
        fetch_all(["ok", "bad", "fine"], fetch)


def test_no_urls():
    assert fetch_all([], str.upper) == []
