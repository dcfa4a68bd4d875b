"""The tools a model is offered only when a ``tools`` list names them (docs: "The tools the model
sees"): reading several files at once, thinking and planning out loud, batched questions to
itself, handing the task back (``escalate``) and delegating a sub-task (``ask_agent``).

They stay out of the default set so that adding them changes no existing measurement: a canary or
a registry model opts in by naming them. ``escalate`` and ``ask_agent`` act on the conversation
itself, so the agent loop runs them (agent/loop.py, agent/sub_agent.py); the others are plain
functions like the built-ins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_BATCH_FILES = 20
MAX_QUESTIONS = 20


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


def _text(description: str) -> dict:
    # minLength: an empty thought, plan or reason is a malformed call the model can correct.
    return {"type": "string", "minLength": 1, "description": description}


EXTRA_SCHEMAS: dict[str, tuple[str, dict]] = {
    "batch_read": (
        ("Read several text files of the repository in one call; each comes under a '==> path <==' "
        "header. Optional 1-based inclusive line range, applied to every file."),
        _object({
            "paths": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH_FILES,
                      "items": {"type": "string"},
                      "description": "File paths relative to the repository root."},
            "start_line": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
            "end_line": {"type": "integer", "minimum": 1, "description": "Last line (inclusive)."},
        }, ["paths"]),
    ),
    "think": (
        "Write down a thought. Nothing in the repository changes; use it to reason before acting.",
        _object({"thought": _text("The thought.")}, ["thought"]),
    ),
    "plan_solution": (
        "Record your plan for solving the task before you carry it out.",
        _object({"plan": _text("The plan, step by step.")}, ["plan"]),
    ),
    "ask_questions": (
        ("List questions you need to settle before acting; you then answer them yourself in your "
        "next message."),
        _object({"questions": {"type": "array", "minItems": 1, "maxItems": MAX_QUESTIONS,
                               "items": {"type": "string", "minLength": 1},
                               "description": "The questions."}}, ["questions"]),
    ),
    "escalate": (
        ("Hand the task back to a human instead of finishing it, saying why (for example: the task "
        "is unclear, impossible, or needs access you do not have). The attempt ends at once."),
        _object({"reason": _text("Why you are handing the task back.")}, ["reason"]),
    ),
    "ask_agent": (
        ("Delegate a sub-task to a helper agent that starts with a fresh conversation and can read "
        "the repository; its final answer is this call's result."),
        _object({"task": _text("What the helper should do and report back.")}, ["task"]),
    ),
}

EXTRA_ALIASES: dict[str, str] = {
    "read_files": "batch_read", "read_multiple": "batch_read",
    "reasoning": "think",
    "get_plan": "plan_solution",
    "defer": "escalate", "hand_back": "escalate",
}

# Run by the agent loop, which owns the conversation they end or extend.
LOOP_TOOLS = frozenset({"escalate", "ask_agent"})


def think(ctx: Any, thought: str) -> str:
    """The thought stays in the conversation and the transcript; nothing else happens."""
    return "ok"


def plan_solution(ctx: Any, plan: str) -> str:
    steps = sum(1 for line in plan.splitlines() if line.strip())
    return f"Plan recorded ({steps} line{'s' * (steps != 1)}). Carry it out now."


def ask_questions(ctx: Any, questions: list[str]) -> str:
    """Nobody else answers: the questions come back for the model to answer in its next message,
    which makes it reason about each one explicitly before it acts."""
    listed = "\n".join(f"{number}. {question.strip()}" for number, question in enumerate(questions, 1))
    return ("Recorded. No one else will answer these: answer each one yourself in your next "
            f"message, then continue with the task.\n{listed}")


def _loop_only(ctx: Any, **arguments: Any) -> str:
    raise NotImplementedError("escalate and ask_agent are run by the agent loop (AgentLoop.loop_tools)")


# batch_read is a variant of read_file and lives beside it (tools.py); these need no worktree.
EXTRA_IMPLEMENTATIONS: dict[str, Callable[..., str]] = {
    "think": think,
    "plan_solution": plan_solution,
    "ask_questions": ask_questions,
    "escalate": _loop_only,
    "ask_agent": _loop_only,
}
assert set(EXTRA_IMPLEMENTATIONS) | {"batch_read"} == set(EXTRA_SCHEMAS)
