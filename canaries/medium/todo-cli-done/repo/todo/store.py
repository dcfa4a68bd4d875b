"""Persistence and pure operations on the task list.

A task is a dict: {"id": int, "title": str, "done": bool}. Ids start at 1 and are never reused.
"""

from __future__ import annotations

import json
from pathlib import Path


def load_tasks(path: str | Path) -> list[dict]:
    """The tasks stored at ``path``; an empty list when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def save_tasks(path: str | Path, tasks: list[dict]) -> None:
    Path(path).write_text(json.dumps(tasks, indent=2) + "\n", encoding="utf-8")


def add_task(tasks: list[dict], title: str) -> dict:
    """Append a new, not-done task with the next free id and return it."""
    title = title.strip()
    if not title:
        raise ValueError("title must not be empty")
    task = {"id": max((t["id"] for t in tasks), default=0) + 1, "title": title, "done": False}
    tasks.append(task)
    return task
