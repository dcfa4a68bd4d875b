"""Decides the answer: it must give the string greet("Ada") returns. A short explanation around it
is tolerated; an essay that happens to contain it somewhere is not an answer."""
import os
import sys

answer = open(os.environ["AGENTBENCH_ANSWER"], encoding="utf-8").read()
if not answer.strip():
    sys.exit("no answer")
if "Hello, Ada!" not in answer:
    sys.exit(f"the answer does not give the returned string 'Hello, Ada!': {answer[:200]!r}")
if len(answer.strip()) > 600:
    sys.exit(f"{len(answer.strip())} characters: not an answer to 'the returned string only'")
print("the answer gives the returned string")
