"""Judge checks (docs: "Judge checks (describe-then-judge)").

A canary's ``[[verify.judge]]`` entries (schemas/judge.py) run after its deterministic checks, and
only when those pass: the artifact is captured in the clean verification tree
(:mod:`.artifacts`, web pages through headless Chromium in :mod:`.page`), a page's deterministic
checks run on what was captured (:mod:`.page_checks`: no console errors, not blank; a failing one
is ``check_failed`` and no model is asked), a describer model states
what it sees without a verdict, and a judge model decides from that description alone, in strict
JSON (:mod:`.ask`). Registry model names become clients through this process's session
(:mod:`.clients`); each check's record (schemas/judge_records.py) lands in ``attempts[].judges``. The judging
plugin (:mod:`.report`, registered by features.py) hands the judge models to verification and
adds the judges' table to the reports.

Whose fault a check that gets no judge's verdict is follows the rest of the harness, and the
record's verdict says it (schemas/judge_records.py lists them): what the model under test left that cannot
be captured fails the check (``not_captured``), a link where the artifact goes is ``tampered``,
and only the harness's or a server's fault is ``error`` (the attempt is ``infra_error``).
"""
