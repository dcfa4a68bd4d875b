"""Static checks of the pricing page; the rendered page itself is the judge check's (canary.toml)."""

import re
from pathlib import Path

SITE = Path("web")


def test_three_cards_with_their_buttons_are_still_there():
    html = (SITE / "index.html").read_text()
    assert html.count('class="card"') == 3
    for name in ("Basic", "Pro", "Enterprise"):
        assert f"Choose {name}</button>" in html


def test_the_cards_have_no_fixed_desktop_width():
    css = (SITE / "style.css").read_text()
    # 1200px wide whatever the screen: the Enterprise card is cut off on a phone.
    assert not re.search(r"(?<![-\w])width\s*:\s*1200px", css)


def test_the_script_calls_no_undefined_function():
    js = (SITE / "app.js").read_text()
    if re.search(r"\bhighlightPopular\s*\(\s*\)\s*;", js):
        assert re.search(r"function\s+highlightPopular\b|highlightPopular\s*=", js)
