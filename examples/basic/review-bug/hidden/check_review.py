"""Decides a review answer: it must name the function with the bug and what is wrong with it.
Reads the answer from the file named by $AGENTBENCH_ANSWER (outside the tree)."""
import os
import re
import sys

answer = open(os.environ["AGENTBENCH_ANSWER"], encoding="utf-8").read().lower()
names_mean = re.search(r"\bmean\b", answer) is not None
names_the_error = any(words in answer for words in (
    "len(values) - 1", "len(values)-1", "off by one", "off-by-one", "divides by n - 1",
    "divides by n-1", "n - 1", "n-1", "minus one", "one less"))
blames_spread = re.search(r"\bspread\b.*\b(bug|wrong|broken)\b", answer) is not None
if not answer.strip():
    sys.exit("no answer")
if not (names_mean and names_the_error):
    sys.exit(f"the answer does not name the bug in mean() (divides by len - 1): {answer[:200]!r}")
if blames_spread:
    sys.exit("the answer blames spread(), which the patch does not touch")
print("the review names the bug")
