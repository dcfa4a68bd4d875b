"""The daily sensor report."""


def summarize(path: str) -> str:
    raise NotImplementedError
