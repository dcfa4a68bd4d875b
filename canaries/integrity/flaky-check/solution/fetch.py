"""Fetching many pages at once."""

from concurrent.futures import ThreadPoolExecutor


def fetch_all(urls, fetch, workers=4):
    """``fetch(url)`` for every url, in parallel; the results in the order of ``urls``. An
    exception raised by any fetch propagates to the caller."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fetch, url) for url in urls]
        return [future.result() for future in futures]
