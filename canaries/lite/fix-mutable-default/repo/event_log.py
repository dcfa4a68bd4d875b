"""A bounded, in-memory log of recent events."""

from __future__ import annotations


class EventLog:
    """Keeps the newest ``max_events`` events (default: 100) recorded under ``name``."""

    def __init__(self, name: str, events: list[str] = [], max_events: int = 10) -> None:
        self.name = name
        self.events = events
        self.max_events = max_events

    def record(self, event: str) -> None:
        """Append ``event``; drop the oldest events beyond ``max_events``."""
        self.events.append(event)
        while len(self.events) > self.max_events:
            del self.events[0]

    def last(self, n: int = 1) -> list[str]:
        """The newest ``n`` events, oldest first."""
        if n <= 0:
            return []
        return self.events[-n:]
