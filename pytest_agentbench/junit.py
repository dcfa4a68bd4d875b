"""Reading a test runner's JUnit XML report: a check passes on evidence, not on an exit code.

``os._exit(0)`` in the code under test, ``addopts = -h`` or ``--collect-only``, a deselect-all
config: each exits 0 and none writes a complete report with passing tests. The report is written
outside the verification tree, to a path the harness chose and removed beforehand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

MAX_REPORT_BYTES = 32 * 2**20
# Commands that run pytest (the only runner we ask for a report today); other commands keep
# exit-code semantics.
_PYTEST = re.compile(r"(?<![\w.-])(py\.test|pytest)(?![\w.-])")


def runs_pytest(command: str) -> bool:
    return bool(_PYTEST.search(command))


def report_options(path: Path) -> str:
    """What a pytest check gets in ``PYTEST_ADDOPTS`` so it writes its report to ``path``."""
    return f"--junitxml={path} -o junit_family=xunit2"


@dataclass(frozen=True)
class TestCounts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    # (test id, passed | failed | error | skipped) per test case, in report order; the id is
    # ``classname::name`` as the report writes them. A pipeline's regression gate compares them.
    cases: tuple[tuple[str, str], ...] = ()

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped


def read_report(path: Path) -> TestCounts | str:
    """The counts of a JUnit report, or why it is no evidence (missing, truncated, too big)."""
    try:
        size = path.stat().st_size
    except OSError:
        return "the runner wrote no test report (it never finished)"
    if size > MAX_REPORT_BYTES:
        return f"the test report is larger than {MAX_REPORT_BYTES // 2**20} MiB"
    try:
        root = ElementTree.fromstring(path.read_bytes())
    except ElementTree.ParseError as exc:
        return f"the test report is incomplete or corrupt ({exc})"
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    cases: list[tuple[str, str]] = []
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        status = ("error" if "error" in tags else "failed" if "failure" in tags
                  else "skipped" if "skipped" in tags else "passed")
        counts["errors" if status == "error" else status] += 1
        cases.append((f"{case.get('classname') or ''}::{case.get('name') or ''}", status))
    # Collection errors are reported on the suite, with no test case.
    for suite in root.iter("testsuite"):
        reported = int(suite.get("errors") or 0)
        counts["errors"] = max(counts["errors"], reported)
    return TestCounts(**counts, cases=tuple(cases))
