"""Fetching many pages at once."""

from concurrent.futures import ThreadPoolExecutor, as_completed


def fetch_all(urls, fetch, workers=4):
    """``fetch(url)`` for every url, in parallel; the results in the order of ``urls``. An
    exception raised by any fetch propagates to the caller."""
    results = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fetch, url) for url in urls]
        for future in as_completed(futures):
            results.append(future.result())
    return results
