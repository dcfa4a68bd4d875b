"""What the terminal says about one attempt that did not pass: by default one line —
outcome, the recorded reason, the model's last reply shortened — and the failing check's output
only when the tree changed (for an unchanged tree the hidden tests fail as they did before the
model started: their output says nothing). With ``-v`` (or ``--tb=long``) the full record.

Used for the item's failure report (run/attempt_hooks.py: pytest's FAILURES section) and for the
plugin's BUDGET CEILINGS section (report/terminal.py), so both say the same.
"""

from __future__ import annotations

import re
from typing import Any

REPLY_CHARS = 100  # the last reply in the one-line form; the record keeps up to 300
COMPACT_OUTPUT_LINES = 15  # the check output's tail, when the tree changed
FULL_OUTPUT_LINES = 25


def full_detail(config: Any) -> bool:
    """Whether a failure is told in full: with ``-v`` or ``--tb=long``."""
    return config.get_verbosity() > 0 or config.getoption("tbstyle", "auto") == "long"


def shorten(text: str, limit: int) -> str:
    """``text`` on one line (whitespace runs collapsed) and at most ``limit`` characters."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def reason(result: dict[str, Any]) -> str:
    """The recorded detail, less what an unchanged tree makes noise of: its failing-check clause
    (attempt/verify.py's ``check `...` exited N``, always the last) — the checks fail as they did before
    the model started."""
    detail = result.get("detail") or ""
    if result.get("files_changed"):
        return detail
    head, found, _ = detail.rpartition("; check `")
    return head if found else detail


def one_line(result: dict[str, Any]) -> str:
    """``outcome: reason · last reply "…"``: the attempt in one line."""
    detail = reason(result)
    line = f"{result['outcome']}: {detail}".rstrip()
    reply = shorten(result.get("last_reply") or "", REPLY_CHARS)
    if not reply:
        return line + " · no reply"
    if reply[:40] in detail:
        return line  # the reason quotes it already (degenerate repetition)
    return line + f' · last reply "{reply}"'


def _tail(text: str, lines: int | None) -> list[str]:
    """The last ``lines`` lines of ``text``, indented (None: all of them)."""
    kept = text.strip().splitlines()
    cut = 0 if lines is None else len(kept) - lines
    shown = kept[cut:] if cut > 0 else kept
    return ([f"    ... ({cut} lines above: the HTML report has them)"] if cut > 0 else []) + \
        ["    " + line for line in shown]


def failure_text(result: dict[str, Any], verbose: bool, test_output: str = "") -> str:
    """The failure report of a non-passing attempt. ``test_output``: a Python canary's own
    failure (its test body's traceback), which stands in for a canary.toml's check output."""
    output = result.get("check_output_tail") or test_output
    title = "failing check output (tail)" if result.get("check_output_tail") else "test failure"
    changed = bool(result.get("files_changed"))
    if not verbose:
        lines = [one_line(result)]
        if output and changed:
            lines += [f"{title}:", *_tail(output, COMPACT_OUTPUT_LINES)]
        return "\n".join(lines)
    tokens = result.get("prompt_tokens", 0) + result.get("completion_tokens", 0)
    lines = [
        f"{result['outcome']}: {result.get('detail') or ''}",
        (f"turns {result.get('turns', 0)} · tool calls {result.get('tool_calls', 0)} (malformed "
         f"{result.get('malformed_tool_calls', 0)}) · tokens {tokens} · "
         f"{result.get('wall_seconds', 0.0):.1f}s"),
        f"files changed: {', '.join(result.get('files_changed') or []) or '(none)'}",
    ]
    if result.get("last_reply"):
        lines.append(f"last reply: {result['last_reply']}")
    if output:
        if not changed:
            title += " (the tree is unchanged: the checks fail as they did before the model started)"
        # A check's captured tail is bounded already; a test's own traceback is shown whole.
        lines += [f"{title}:", *_tail(output, FULL_OUTPUT_LINES if result.get("check_output_tail") else None)]
    if result.get("transcript"):
        lines.append(f"transcript: {result['transcript']}")
    return "\n".join(lines)


def cell_label(result: dict[str, Any]) -> str:
    """``canary model`` (``model/variant`` when a sweep ran): the cell an attempt is a repeat of."""
    model = result["model"] if result.get("variant", "base") == "base" else f"{result['model']}/{result['variant']}"
    agent = result.get("agent", "builtin")  # absent from the built-in loop's records
    return f"{result['canary']} {model}" + ("" if agent == "builtin" else f" via {agent}")
