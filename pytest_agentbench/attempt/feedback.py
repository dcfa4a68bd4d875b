"""What the model hears after a failed try, and what it never hears in it: the hidden tests.

The feedback names the failing check, then, where the check's runner wrote a report, its failing
tests with their messages (bounded), and the end of the check's output. The code under test runs
with the hidden tests beside it: it can read them and print them, return them for an assertion
to quote, or raise an error that carries them. So every text the check produced passes a
:class:`Redactor` first, which replaces the hidden files' text by ``[hidden test text removed]``:

* any run of at least ``MIN_RUN`` characters that appears in a hidden file, verbatim or written
  as Python's ``repr``/``ascii`` or JSON writes a string, or as base64 or hex of the file's bytes;
* any occurrence of a whole hidden line of ``MIN_LINE`` characters or more (a file printed line
  by line, each behind a prefix of its own, as pytest's ``E   `` lines are).

A run of whitespace counts as one space and ``\\'``/``\\"`` as the bare quote, on both sides, so
re-indenting or re-quoting does not hide a run. This stops what a runner prints by itself and the
plain ways for code to print a file; code that encodes the files in a way of its own (reversed,
rot13) is not stopped, nor is text beyond the first ``MAX_FILE_BYTES`` of a file.

Names stay readable: a run that is nothing but a (dotted) name the hidden code uses — not one
inside a string literal — or a hidden file's module name is kept. A failing test's name and
``AttributeError: module 'text_utils' has no attribute 'slugify_all'`` are what the model needs to
know, and what any runner tells.
"""

from __future__ import annotations

import base64
import io
import json
import re
import tokenize
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_agentbench.attempt.junit import CaseFailure
from pytest_agentbench.errors import AgentbenchError

if TYPE_CHECKING:
    from pytest_agentbench.attempt.verify import CheckResult, Verification
    from pytest_agentbench.schemas.canary import Canary

REDACTED = "[hidden test text removed]"
MIN_RUN = 20  # a shared run this long is hidden text, whatever it says
MIN_LINE = 8  # a whole hidden line this long (stripped) is hidden text wherever it appears
MERGE_GAP = 5  # hidden runs closer than this are one: no crumbs between two markers
MAX_FILE_BYTES = 1 << 20
MAX_TOTAL_BYTES = 4 << 20

# Runs are found from seeds: SEED characters of a hidden text at every STEP-th position, looked up
# among the feedback's own SEED-character windows. A shared run of SEED + STEP - 1 characters
# always holds one, so no run of MIN_RUN is missed.
SEED = 10
STEP = 10
assert SEED + STEP - 1 <= MIN_RUN
# Feedback and hidden text built to make the search quadratic (the same window everywhere) stop it
# here: the whole text is then withheld rather than searched.
MAX_WORK = 3_000_000

# What the feedback shows of a failing check.
MAX_CASES = 10
CASE_MESSAGE_CHARS = 600
CASE_DETAIL_LINES = 8
CASE_DETAIL_CHARS = 600
OUTPUT_TAIL_CHARS = 3000  # when no report tells the failing tests
REPORTED_TAIL_CHARS = 1200  # the output's end below a report's failing tests
_MARGIN = 400  # redacted beyond what is shown, so that a cut never leaves half a run unredacted

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# Left as escapes: control characters (a NUL cannot go into an agent's command line) and lone
# surrogates (not text in any encoding; a report in JSON can carry them).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")
_WHITESPACE = re.compile(r"\s+")
_ESCAPED_QUOTE = re.compile(r"\\(['\"])")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_NAME_EDGES = " .,:;()[]{}'\"`"
# String literals of most languages, roughly: their words are data, not names.
_LITERAL = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|`(?:\\.|[^`\\])*`')


def feedback_message(verification: Verification, canary: Canary) -> str:
    """What the model hears before its next try (Aider's wording: the tests are right)."""
    redact = Redactor.from_files(canary.files.hidden)  # as the run read them, not as on disk now
    parts = ["Your changes do not pass the checks yet."]
    problems = [p for p in verification.problems(canary.verify.expect_changed)
                if not p.startswith("check `")]
    parts += [f"- {redact(problem)}" for problem in problems]
    failing = verification.failing_check
    if failing is not None:
        parts.append(check_feedback(failing, redact))
    if verification.answer is not None:  # verify.answer: the result is the final message itself
        parts.append("The checks are correct. Give your whole answer again, corrected, as your "
                     "final message (no tool call).")
    else:
        parts.append("The checks are correct: don't change them. Fix the code so that they pass, "
                     "then reply with a short summary and no tool call.")
    return "\n\n".join(parts)


def check_feedback(check: CheckResult, redact: Redactor) -> str:
    """A failing check: its command and status, its report's failing tests when it has a report
    that names some, and the end of its output."""
    status = "timed out" if check.timed_out else f"exit code {check.exit_code}"
    lines = [f"$ {check.command}", f"[{status}]"]
    failures = check.tests.failures if check.tests is not None else ()
    if check.evidence_problem and not failures:
        lines.append(f"({check.evidence_problem})")
    if failures:
        counts = check.tests
        assert counts is not None
        lines.append(f"Failing tests, from the test report ({counts.failed} failed, {counts.errors} "
                     f"errors, {counts.passed} passed):")
        lines += [case_feedback(case, redact) for case in failures[:MAX_CASES]]
        shown = min(len(failures), MAX_CASES)
        more = counts.failed + counts.errors - shown
        if more > 0:
            lines.append(f"- ... and {more} more")
        tail = tail_of(check.output, REPORTED_TAIL_CHARS, redact)
        if tail:
            lines.append(f"The output ends:\n{tail}")
    else:
        lines.append(tail_of(check.output, OUTPUT_TAIL_CHARS, redact))
    return "\n".join(line for line in lines if line)


def case_feedback(case: CaseFailure, redact: Redactor) -> str:
    """One failing test: its id, the runner's message, and the error lines of its traceback that
    the message does not already hold (pytest's ``E`` lines; else the traceback's last lines)."""
    message = clean(case.message).strip()
    detail = clean(case.detail).rstrip().splitlines()
    explained = [line for line in detail if line.startswith("E ")]
    extra = [line for line in (explained or detail)
             if _bare(line) and _bare(line) not in message][-CASE_DETAIL_LINES:]
    body = "\n".join(part for part in (
        shorten(redact(message[:CASE_MESSAGE_CHARS + _MARGIN]), CASE_MESSAGE_CHARS),
        shorten(redact("\n".join(extra)[-(CASE_DETAIL_CHARS + _MARGIN):]), CASE_DETAIL_CHARS)) if part)
    head = f"- {redact(clean(case.test))} ({case.status})"
    return f"{head}\n{indent(body)}" if body else head


def _bare(line: str) -> str:
    return line.removeprefix("E ").strip()


def tail_of(output: str, chars: int, redact: Redactor) -> str:
    """The end of ``output``, redacted, cut at a line start where one is near."""
    text = redact(clean(output[-(chars + _MARGIN):]))
    if len(text) <= chars:
        return text.strip()
    text = text[-chars:]
    newline = text.find("\n")
    if 0 <= newline < chars // 4:
        text = text[newline + 1:]
    return text.strip()


def shorten(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[:chars].rstrip() + " [...]"


def indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def clean(text: str) -> str:
    """Terminal colours out; control characters and lone surrogates as escapes."""
    text = _ANSI.sub("", text).replace("\r\n", "\n")
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


# -- redaction ---------------------------------------------------------------------------------


def normal(text: str) -> str:
    """``text`` as runs are compared: whitespace runs as one space, escaped quotes bare (what
    :func:`_normal_map` does, at the speed a hidden file of megabytes needs)."""
    return _WHITESPACE.sub(" ", _ESCAPED_QUOTE.sub(r"\1", text))


def _normal_map(text: str) -> tuple[str, list[int]]:
    """:func:`normal`'s text, and where each of its characters starts in ``text`` (one more
    entry: ``len(text)``), so that a run found there maps back."""
    out: list[str] = []
    starts: list[int] = []
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        starts.append(i)
        if char.isspace():
            out.append(" ")
            while i < size and text[i].isspace():
                i += 1
            continue
        if char == "\\" and i + 1 < size and text[i + 1] in "'\"":
            out.append(text[i + 1])
            i += 2
            continue
        out.append(char)
        i += 1
    starts.append(size)
    return "".join(out), starts


def encoded_forms(data: bytes) -> list[str]:
    """The ways a program most readily prints a file: its text, as ``repr``/``ascii``/JSON write
    it (quotes left out), the bytes' ``repr``, base64 (at each of the three alignments: a line
    encoded on its own is a slice of one of them), hex."""
    text = data.decode("utf-8", errors="replace")
    forms = {text, repr(text)[1:-1], ascii(text)[1:-1], json.dumps(text)[1:-1],
             json.dumps(text, ensure_ascii=False)[1:-1], repr(data)[2:-1], data.hex(), data.hex().upper()}
    for offset in range(3):
        encoded = base64.b64encode(data[offset:]).decode("ascii").rstrip("=")
        forms.update((encoded, encoded.translate(str.maketrans("+/", "-_"))))
    return sorted(normal(form) for form in forms if len(form) >= SEED)


def _meaningful(run: str) -> bool:
    """A run of one repeated character (a ruler of ``=``, indentation) tells nothing."""
    return len(set(run) - {" "}) >= 3


class _TooMuchWork(AgentbenchError):
    pass


class Redactor:
    """Replaces text of the hidden files in what is shown to the model (see the module's doc)."""

    def __init__(self, files: Iterable[tuple[str, bytes]] = ()) -> None:
        self.forms: list[str] = []
        lines: set[str] = set()
        self.names: set[str] = set()  # the hidden code's names, and the files' module names
        for relative, data in files:
            self.forms += encoded_forms(data)
            text = data.decode("utf-8", errors="replace")
            lines.update(line for line in (normal(raw).strip() for raw in text.splitlines())
                         if MIN_LINE <= len(line) < MIN_RUN and _meaningful(line))
            self.names.update(code_names(relative, text))
            path = Path(relative)
            self.names.update(part for part in (*path.parent.parts, path.stem) if part)
        self.lines = sorted(line for line in lines if not self._a_name(line))

    @classmethod
    def from_files(cls, hidden: dict[str, bytes]) -> Redactor:
        """The hidden files (none: nothing is redacted), each up to ``MAX_FILE_BYTES``,
        ``MAX_TOTAL_BYTES`` in all."""
        files: list[tuple[str, bytes]] = []
        total = 0
        for relative in sorted(hidden):
            if total >= MAX_TOTAL_BYTES:
                break
            data = hidden[relative][:min(MAX_FILE_BYTES, MAX_TOTAL_BYTES - total)]
            total += len(data)
            files.append((relative, data))
        return cls(files)

    def __call__(self, text: str) -> str:
        return self._render(text, self.spans(text))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` holds hidden text: sorted, disjoint ``(start, end)`` ranges."""
        if not self.forms or not text:
            return []
        norm, starts = _normal_map(text)
        try:
            mask = self._mask(norm)
        except _TooMuchWork:
            return [(0, len(text))]
        spans: list[tuple[int, int]] = []
        i = 0
        while i < len(norm):
            if not mask[i]:
                i += 1
                continue
            j = i
            while j < len(norm) and mask[j]:
                j += 1
            start, end = starts[i], starts[j]
            i = j
            # The whitespace around a run stays: the lines around the marker keep their breaks.
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start == end:
                continue
            if spans and (start - spans[-1][1] <= MERGE_GAP or not text[spans[-1][1]:start].strip()):
                start = spans.pop()[0]
            spans.append((start, end))
        return spans

    def _mask(self, norm: str) -> bytearray:
        mask = bytearray(len(norm))
        windows: dict[str, list[int]] = {}
        for position in range(len(norm) - SEED + 1):
            windows.setdefault(norm[position:position + SEED], []).append(position)
        work = 0
        for form in self.forms:
            reach: dict[int, int] = {}  # per diagonal: where the last run found on it ended
            for seed in range(0, len(form) - SEED + 1, STEP):
                for position in windows.get(form[seed:seed + SEED], ()):
                    diagonal = position - seed
                    if reach.get(diagonal, -1) > seed:
                        continue  # inside a run already found
                    work += 1
                    start, hidden_start = position, seed
                    while start > 0 and hidden_start > 0 and norm[start - 1] == form[hidden_start - 1]:
                        start, hidden_start = start - 1, hidden_start - 1
                    end = position + SEED
                    while end < len(norm) and end - diagonal < len(form) and norm[end] == form[end - diagonal]:
                        end += 1
                    reach[diagonal] = end - diagonal
                    work += end - start
                    if work > MAX_WORK:
                        raise _TooMuchWork
                    if end - start >= MIN_RUN and _meaningful(norm[start:end]) \
                            and not self._a_name(norm[start:end]):
                        mask[start:end] = b"\x01" * (end - start)
        for line in self.lines:
            found = norm.find(line)
            while found >= 0:
                mask[found:found + len(line)] = b"\x01" * len(line)
                found = norm.find(line, found + 1)
        return mask

    def _a_name(self, run: str) -> bool:
        """Whether ``run`` is one (dotted) name of the hidden code, give or take the quotes,
        brackets and dots around it."""
        core = run.strip(_NAME_EDGES)
        return (len(run) - len(core) <= 4 and bool(_DOTTED_NAME.fullmatch(core))
                and all(part in self.names for part in core.split(".")))

    @staticmethod
    def _render(text: str, spans: list[tuple[int, int]]) -> str:
        out, last = [], 0
        for start, end in spans:
            out += [text[last:start], REDACTED]
            last = end
        out.append(text[last:])
        return "".join(out)


def code_names(relative: str, text: str) -> set[str]:
    """The names ``text`` (a hidden file) uses in its code, not in its string literals: Python's
    tokens where the file is Python, else identifiers outside quotes."""
    if relative.endswith(".py"):
        try:
            return {token.string for token in tokenize.generate_tokens(io.StringIO(text).readline)
                    if token.type == tokenize.NAME}
        except (tokenize.TokenError, SyntaxError, ValueError):
            pass
    return set(_IDENTIFIER.findall(_LITERAL.sub(" ", text)))
