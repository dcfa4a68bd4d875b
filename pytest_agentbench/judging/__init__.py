"""Judge checks (docs: "Judge checks (describe-then-judge)").

A canary's ``[[verify.judge]]`` entries (:mod:`.spec`) run after its deterministic checks, and
only when those pass: the artifact is captured in the clean verification tree
(:mod:`.artifacts`, web pages through headless Chromium in :mod:`.page`), a describer model states
what it sees without a verdict, and a judge model decides from that description alone, in strict
JSON (:mod:`.ask`). Registry model names become clients through this process's session
(:mod:`.clients`); each check's record (:mod:`.records`) lands in ``attempts[].judges``.

Whose fault a check that gets no judge's verdict is follows the rest of the harness, and the
record's verdict says it (:mod:`.records` lists them): what the model under test left that cannot
be captured fails the check (``not_captured``), a link where the artifact goes is ``tampered``,
and only the harness's or a server's fault is ``error`` (the attempt is ``infra_error``).
"""
