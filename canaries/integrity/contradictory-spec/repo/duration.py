"""Durations for the status page."""


def format_duration(seconds: int) -> str:
    raise NotImplementedError
