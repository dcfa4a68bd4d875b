"""The HTML report: charts, the conversation of every attempt, the set-up, no duplicate
rows — checked in a real headless Chromium where one is installed — and model text escaped."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_agentbench.attempt.outcome import Outcome
from pytest_agentbench.report.conversation import MAX_TEXT, Budget, read_conversation
from pytest_agentbench.report.html_report import render_html, table_rows
from pytest_agentbench.testing import ScriptedServer, call, say
from tests.conftest import HELLO_SOURCE

HOSTILE = "<script>alert(1)</script></details></pre><img src=x onerror=alert(2)>&amp;"
SCRIPTS = {
    "good": [call("write_file", path="hello.py", content=HELLO_SOURCE), say("Created hello.py.")],
    "talker": [say("I changed hello.py.")],
    "looper": [{"content": "again and again " * 40, "finish_reason": "length"}],
    # Hostile text in its reply, in a tool call's arguments and in what the tool returns.
    "hostile": [call("write_file", path="notes.txt", content=HOSTILE), call("read_file", path="notes.txt"),
                say(HOSTILE)],
}
CHARTS = ("chart-pass-rate", "chart-outcomes", "chart-effort", "chart-speed")


def chromium() -> str | None:
    return next((found for name in ("chromium", "chromium-browser", "google-chrome")
                 if (found := shutil.which(name))), None)


@pytest.fixture
def report_html(bench) -> tuple[Path, dict]:
    """A real run's HTML and JSON reports: 4 models x 2 repeats, two tiers."""
    bench.canary()
    bench.canary("hello-medium", tier="medium")
    with ScriptedServer(SCRIPTS) as server:
        bench.run(server, "--agentbench-html", "report.html", models=",".join(SCRIPTS), repeats=2)
    return bench.pytester.path / "report.html", bench.report()


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes (what a browser would build elements of)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(page: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


def test_the_page_in_headless_chromium(report_html, tmp_path):
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH (apt-get install chromium)")
    page, _ = report_html
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1280,2000"]
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120, check=True)
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    # The browser built every chart: each figure holds an <svg> with drawn paths.
    for chart in CHARTS:
        start = dom.index(f'<figure id="{chart}"')
        figure = dom[start:dom.index("</figure>", start)]
        assert "<svg" in figure and figure.count("<path") >= 3, chart
    assert not any(tag == "script" for tag, _ in elements(dom))  # hostile text stayed text
    # The models compared, as the browser built them: the glossary names every outcome with
    # attempt/outcome.py's meaning, the matrix has a coloured pass count per canary x model, and
    # each pair of models has its difference, interval and verdict.
    glossary = Table.of(dom, "glossary", "dl")
    assert [name for name, _ in glossary.pairs] == [o.value for o in Outcome]
    assert all(meaning == (getattr(o, "meaning", "") or "-") for o, (_, meaning) in zip(Outcome, glossary.pairs))
    matrix = Table.of(dom, "matrix")
    assert matrix.rows[0] == ["canary", "good", "hostile", "looper", "talker"]  # as the model table
    assert matrix.rows[1:] == [["hello", "2/2", "0/2", "0/2", "0/2"], ["hello-medium", "2/2", "0/2", "0/2", "0/2"]]
    assert matrix.styles[1][1] == "background:hsl(120, 70%, 82%)" and matrix.styles[1][2] == "background:hsl(0, 70%, 82%)"
    pairs = Table.of(dom, "pairwise")
    assert pairs.rows[0] == ["model", "pass@1", "against", "pass@1", "difference", "95% CI", "verdict"]
    assert len(pairs.rows) == 1 + 6  # 4 models: 6 pairs
    assert pairs.rows[1][0] == "good" and pairs.rows[1][4] == "+1.00" and pairs.rows[1][6] == "better"
    losers = [row for row in pairs.rows[1:] if "good" not in (row[0], row[2])]
    assert losers and all(row[4] == "+0.00" and row[6] == "no evidence" for row in losers)
    assert "<script>alert(1)</script>" in dom.replace("&lt;", "<").replace("&gt;", ">")
    # A real screenshot of the page: a PNG of the window's size with more than a blank page.
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 2000)
    from PIL import Image  # installed with matplotlib

    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50


class Table(HTMLParser):
    """The cells' text (and each cell's style) of one element by id: a table's rows, or a
    definition list's (term, definition) pairs."""

    def __init__(self, element_id: str, tag: str) -> None:
        super().__init__()
        self.element_id, self.tag, self.depth = element_id, tag, 0
        self.rows: list[list[str]] = []
        self.styles: list[list[str]] = []
        self.pairs: list[tuple[str, str]] = []
        self.cell: list[str] | None = None

    @classmethod
    def of(cls, page: str, element_id: str, tag: str = "table") -> Table:
        found = cls(element_id, tag)
        found.feed(page)
        assert found.rows or found.pairs, f"no #{element_id} on the page"
        return found

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == self.tag and (self.depth or attributes.get("id") == self.element_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
            self.styles.append([])
        elif self.depth and tag in ("td", "th", "dt", "dd"):
            self.cell = []
            if tag in ("td", "th"):
                self.styles[-1].append(attributes.get("style") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == self.tag and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th", "dt", "dd") and self.cell is not None:
            text = " ".join("".join(self.cell).split())
            if tag == "dt":
                self.pairs.append((text, ""))
            elif tag == "dd":
                self.pairs[-1] = (self.pairs[-1][0], text)
            else:
                self.rows[-1].append(text)
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def test_model_text_is_escaped_everywhere(report_html):
    page, report = report_html
    html = page.read_text()
    tags = elements(html)
    assert not any(tag in ("script", "img", "iframe") for tag, _ in tags)
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
    assert "</details></pre><img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/details&gt;&lt;/pre&gt;&lt;img" in html
    assert "&amp;amp;" in html  # escaped once more, not taken as an entity
    # The conversation itself is there: the reply, the call's arguments and the tool's result.
    hostile = [a for a in report["attempts"] if a["model"] == "hostile"]
    assert hostile and all(a["last_reply"] == HOSTILE for a in hostile)
    assert html.count("read_file({&#34;path&#34;: &#34;notes.txt&#34;})") == 4  # 2 canaries x 2 repeats
    assert html.count("&lt;script&gt;alert(1)") >= 4 * 4  # reply, last reply, argument, result


def test_the_page_has_charts_setup_conversations_and_no_duplicate_rows(report_html):
    page, report = report_html
    html = page.read_text()
    for chart in CHARTS:
        assert f'<figure id="{chart}"' in html
    # Nothing to run or fetch: no script, no link but the charts' own (#id).
    assert "<script" not in html and re.findall(r'(?:href|src)="([^#"][^"]*)"', html) == []
    for text in ("Sandbox, limits and settings", "Budgets per attempt", "seed = 0 + repeat",
                 "conversation (", "the system prompt", "turn 1", "loop stopped: final"):
        assert text in html, text
    # Two tiers: each model has its tier rows and an all row.
    assert len([r for r in table_rows(report["aggregates"]) if r["model"] == "good"]) == 3


def test_a_single_tier_has_no_all_row_duplicating_it():
    rows = [{"model": "m", "variant": "base", "tier": "lite"}, {"model": "m", "variant": "base", "tier": "all"},
            {"model": "k", "variant": "base", "tier": "lite"}, {"model": "k", "variant": "base", "tier": "heavy"},
            {"model": "k", "variant": "base", "tier": "all"}]
    assert [(r["model"], r["tier"]) for r in table_rows(rows)] == [
        ("m", "lite"), ("k", "lite"), ("k", "heavy"), ("k", "all")]


def minimal_report(**extra) -> dict:
    return {"run_id": "r1", "started": "s", "finished": "f", "environment": {}, "settings": {"ks": [1]},
            "models": {}, "attempts": [], "summary": [], "aggregates": [], **extra}


def test_ofat_and_ceilings_sections_when_present():
    assert 'id="ofat"' not in render_html(minimal_report()) and 'id="ceilings"' not in render_html(minimal_report())
    page = render_html(minimal_report(
        ofat={"cells": [{"model": "m", "factor": "temperature", "value": 0.7, "variant": "temperature=0.7",
                         "n": 6, "c": 4, "pass_rate": 0.6667, "delta": 0.3333, "ci_low": -0.1, "ci_high": 0.7,
                         "verdict": "noise <b>"}],
              "winners": {"m": {"temperature": 0.7}}, "baselines": {"m": {"n": 6, "c": 2}}},
        ceilings=[{"model": "m", "variant": "base", "canary": "c1",
                   "original": {"n": 3, "c": 0, "outcomes": {"budget_turns": 3}},
                   "raised": [{"budget": "turns", "factor": 2, "n": 3, "c": 2}], "ceiling": "undetermined",
                   "repeats_needed": 9}]))
    ofat = page[page.index('id="ofat"'):page.index('id="canaries"')]
    assert "temperature=0.7" in ofat and "0.667" in ofat and "noise &lt;b&gt;" in ofat
    assert "<dt>m</dt><dd>temperature: 0.7</dd>" in ofat and "<dd>n: 6, c: 2</dd>" in ofat
    ceilings = page[page.index('id="ceilings"'):page.index('id="canaries"')]
    assert "turns ×2: 2/3" in ceilings and "budget_turns" in ceilings
    assert "undetermined <small>(9 repeats would settle it)" in ceilings


def test_sections_added_by_other_parts_are_tables_when_present():
    assert "Pipelines (per phase)" not in render_html(minimal_report())
    page = render_html(minimal_report(
        pipelines={"phases": [{"model": "m", "phase": "explore", "json_first_try_rate": 0.5,
                               "drift": "<script>x</script>"}], "iterations": []},
        progress=[{"model": "m", "expected": 5, "changed": 4.2}]))
    pipelines = page[page.index("Pipelines (per phase): phases"):page.index('id="canaries"')]
    assert "<th>json first try rate</th>" in pipelines and "<td>explore</td>" in pipelines
    assert "&lt;script&gt;" in pipelines and "<script>" not in pipelines
    assert "Pipelines (per phase): iterations" not in page  # an empty table is left out
    assert "Progress on discriminators" in page and "<td>4.2</td>" in page


def test_a_conversation_is_bounded_and_only_read_from_a_transcript(tmp_path):
    transcript = tmp_path / "a.jsonl"
    turn = {"event": "turn", "turn": 1, "response": {"content": "x" * (MAX_TEXT + 500), "tool_calls": []}}
    transcript.write_text(json.dumps({"event": "start", "messages": [{"role": "user", "content": "task"}]})
                          + "\n" + json.dumps(turn) + "\n{not json\n")
    conversation = read_conversation(str(transcript), Budget())
    assert [e.role for e in conversation.entries] == ["user", "assistant"]
    assert conversation.entries[1].text.endswith("[500 more characters in the transcript]")
    assert read_conversation(str(transcript), Budget(chars=0)).problem.startswith("not embedded")
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    assert read_conversation(str(secret), Budget()).entries == []
    assert read_conversation(str(tmp_path / "gone.jsonl"), Budget()).problem.startswith("transcript not readable")


def test_the_renderer_loads_jinja2_and_matplotlib_only_when_it_renders():
    code = textwrap.dedent("""
        import sys
        import pytest_agentbench.run.controller, pytest_agentbench.report.html_report as html
        assert not {"jinja2", "matplotlib"} & set(sys.modules), sorted(sys.modules)
        html.render_html({"run_id": "r", "environment": {}, "settings": {}, "models": {}, "attempts": [],
                          "summary": [], "aggregates": []})
        assert {"jinja2", "matplotlib"} <= set(sys.modules)
        assert "matplotlib.pyplot" not in sys.modules  # no global backend switched
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
