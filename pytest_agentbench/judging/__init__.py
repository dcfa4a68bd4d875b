"""Judge checks (issue 20, README "Judge checks (describe-then-judge)").

A canary's ``[[verify.judge]]`` entries (:mod:`.spec`) run after its deterministic checks, and
only when those pass: the artifact is captured in the clean verification tree
(:mod:`.artifacts`, web pages through headless Chromium in :mod:`.page`), a describer model states
what it sees without a verdict, and a judge model decides from that description alone, in strict
JSON (:mod:`.ask`). Registry model names become clients through this process's session
(:mod:`.clients`); each check's record (:mod:`.records`) lands in ``attempts[].judges``.
"""
