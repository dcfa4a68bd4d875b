"""Reading a test runner's report: a check passes on evidence, not on an exit code.

``os._exit(0)`` in the code under test, ``addopts = -h`` or ``--collect-only``, a deselect-all
config: each exits 0 and none writes a complete report with passing tests. The report is written
outside the verification tree, to a path the harness chose and removed beforehand.

Which checks need a report: every pytest command (the harness asks for a JUnit XML report through
``PYTEST_ADDOPTS``), and every command that names ``$AGENTBENCH_TEST_REPORT`` — the canary's author
tells the runner to write its report there (``jest --json --outputFile="$AGENTBENCH_TEST_REPORT"``,
``ctest --output-junit "$AGENTBENCH_TEST_REPORT"``, ``gotestsum --junitfile ...``). Two formats are
read, told apart by their first byte: JUnit XML (most runners) and Jest's ``--json`` report.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

MAX_REPORT_BYTES = 32 * 2**20
# What is kept of the failing cases' messages (the feedback for a further try quotes them): a
# report of thousands of failures must not make every CheckResult megabytes big.
MAX_FAILURES = 20
MAX_MESSAGE_CHARS = 2000
REPORT_VAR = "AGENTBENCH_TEST_REPORT"  # where a check's runner must write its report
_PYTEST = re.compile(r"(?<![\w.-])(py\.test|pytest)(?![\w.-])")
# Jest's per-test statuses; anything else (a status a later Jest adds) is not a pass.
_JEST_STATUS = {"passed": "passed", "failed": "failed", "pending": "skipped", "skipped": "skipped",
                "todo": "skipped", "disabled": "skipped", "focused": "passed"}


def runs_pytest(command: str) -> bool:
    return bool(_PYTEST.search(command))


def wants_report(command: str) -> bool:
    """Whether ``command`` passes only on its report's evidence."""
    return runs_pytest(command) or REPORT_VAR in command


def report_options(path: Path) -> str:
    """What a pytest check gets in ``PYTEST_ADDOPTS`` so it writes its report to ``path``.
    pytest splits the variable as a shell would: a path with spaces must be quoted."""
    return f"--junitxml={shlex.quote(str(path))} -o junit_family=xunit2"


@dataclass(frozen=True)
class CaseFailure:
    """A failed or erroring test case as its report tells it, each text cut to
    ``MAX_MESSAGE_CHARS``: ``message`` is the runner's one-line summary (pytest's assertion
    message, Jest's first failure message), ``detail`` the end of the traceback."""

    test: str  # the id, as in TestCounts.cases
    status: str  # failed | error
    message: str = ""
    detail: str = ""


@dataclass(frozen=True)
class TestCounts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    # (test id, passed | failed | error | skipped) per test case, in report order; the id is
    # ``classname::name`` as a JUnit report writes them (Jest: ``file::full name``, the file
    # relative to the tree). A pipeline's regression gate compares them.
    cases: tuple[tuple[str, str], ...] = ()
    # The first MAX_FAILURES failed or erroring cases, with what the report says about them.
    failures: tuple[CaseFailure, ...] = ()

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


def read_report(path: Path, tree: Path | None = None) -> TestCounts | str:
    """The counts of a JUnit XML or Jest JSON report, or why it is no evidence (missing,
    truncated, too big, another format). ``tree``: the checked tree, whose path is cut from the
    file names a report holds (each check runs in a tree of its own)."""
    try:
        size = path.stat().st_size
    except OSError:
        return "the runner wrote no test report (it never finished)"
    if size > MAX_REPORT_BYTES:
        return f"the test report is larger than {MAX_REPORT_BYTES // 2**20} MiB"
    data = path.read_bytes()
    if data.lstrip()[:1] == b"{":
        return _read_jest(data, tree)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        return f"the test report is incomplete or corrupt ({exc})"
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    cases: list[tuple[str, str]] = []
    failures: list[CaseFailure] = []
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        status = ("error" if "error" in tags else "failed" if "failure" in tags
                  else "skipped" if "skipped" in tags else "passed")
        counts["errors" if status == "error" else status] += 1
        test_id = f"{case.get('classname') or ''}::{case.get('name') or ''}"
        cases.append((test_id, status))
        if status in ("failed", "error") and len(failures) < MAX_FAILURES:
            element = case.find("error" if status == "error" else "failure")
            assert element is not None
            failures.append(_failure(test_id, status, element.get("message") or "",
                                     element.text or "", tree))
    # Collection errors are reported on the suite, with no test case.
    for suite in root.iter("testsuite"):
        reported = int(suite.get("errors") or 0)
        counts["errors"] = max(counts["errors"], reported)
    return TestCounts(**counts, cases=tuple(cases), failures=tuple(failures))


def _failure(test_id: str, status: str, message: str, detail: str, tree: Path | None) -> CaseFailure:
    """A failure's texts, bounded, and without the checked tree's path (a tree of the harness's,
    which says nothing to whoever reads them)."""
    if tree is not None:
        message, detail = (text.replace(f"{tree}/", "") for text in (message, detail))
    return CaseFailure(test_id, status, message[:MAX_MESSAGE_CHARS], detail[-MAX_MESSAGE_CHARS:])


def _read_jest(data: bytes, tree: Path | None) -> TestCounts | str:
    """Jest's ``--json`` report: ``testResults[].assertionResults[].status`` per test; a test file
    that failed to run (a syntax error, ``process.exit`` in the code) counts as an error."""
    try:
        report: Any = json.loads(data)
    except ValueError as exc:
        return f"the test report is incomplete or corrupt ({exc})"
    suites = report.get("testResults") if isinstance(report, dict) else None
    if not isinstance(suites, list):
        return "the test report is neither JUnit XML nor a Jest --json report"
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    cases: list[tuple[str, str]] = []
    failures: list[CaseFailure] = []
    prefix = f"{tree}/" if tree is not None else None
    for suite in suites:
        if not isinstance(suite, dict):
            counts["errors"] += 1
            continue
        name = str(suite.get("name") or "")
        if prefix and name.startswith(prefix):
            name = name[len(prefix):]
        assertions = suite.get("assertionResults")
        assertions = assertions if isinstance(assertions, list) else []
        if suite.get("status") == "failed" and not assertions:
            counts["errors"] += 1  # the file never ran its tests
            if len(failures) < MAX_FAILURES:
                failures.append(_failure(f"{name}::", "error", "", str(suite.get("message") or ""), tree))
        for assertion in assertions:
            if not isinstance(assertion, dict):
                continue
            status = _JEST_STATUS.get(str(assertion.get("status")), "error")
            counts["errors" if status == "error" else status] += 1
            test_id = f"{name}::{assertion.get('fullName') or assertion.get('title') or ''}"
            cases.append((test_id, status))
            if status in ("failed", "error") and len(failures) < MAX_FAILURES:
                messages = assertion.get("failureMessages")
                messages = [str(m) for m in messages] if isinstance(messages, list) else []
                first = messages[0] if messages else ""
                failures.append(_failure(test_id, status, first.split("\n", 1)[0],
                                         "\n".join(messages), tree))
    runtime_errors = report.get("numRuntimeErrorTestSuites")
    if isinstance(runtime_errors, int):
        counts["errors"] = max(counts["errors"], runtime_errors)
    if report.get("success") is not True and not (counts["failed"] or counts["errors"]):
        counts["errors"] += 1  # Jest itself says the run failed (a hook, an open handle...)
    return TestCounts(**counts, cases=tuple(cases), failures=tuple(failures))
