"""A web page as an artifact: headless Chromium renders it at two viewports (desktop, phone),
with the console errors, uncaught exceptions and failed network requests it logged.

Why the DevTools protocol over ``--remote-debugging-pipe`` and not ``chromium --screenshot``: the
command-line screenshot gives no failed requests at all, and its ``--enable-logging`` lines log a
``console.log`` and an uncaught exception at the same level, so errors cannot be told from
chatter. The pipe needs no port (nothing another process could connect to) and no websocket
library: it is NUL-separated JSON on file descriptors 3 and 4. Playwright would need a browser
download, which an offline machine cannot make. The phone viewport is a device-metrics override
(390×844 CSS pixels, mobile, scale 1 to keep the image small for a small vision model): media queries and the layout viewport behave as on a phone.

Whose fault a page that cannot be captured is: the browser not found, not starting or exiting is
the harness's (:class:`BrowserError`, the check gets no verdict); once it has been asked to load
the page, a page that does not load or settle in time — its scripts loop, a resource never
arrives, its serve command serves nothing — or one that renders nothing at any viewport is the
model's (:class:`~pytest_agentbench.judging.artifacts.NotCaptured` with the model's fault).
What the capture keeps — the problems logged, the viewports at which the page was blank — is what
the deterministic page checks (page_checks.py) read.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_agentbench.errors import AgentbenchError
from pytest_agentbench.judging.captured import INFRASTRUCTURE, MODEL, Artifact, NotCaptured, locate
from pytest_agentbench.sandbox.commands import Jail

VIEWPORTS = {"desktop": (1280, 800, 1, False), "phone": (390, 844, 1, True)}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LOAD_TIMEOUT = 15.0  # seconds for one page load
SETTLE = 0.3  # seconds after the load event: scripts that run on load log their errors
TEXT_CAP = 4000  # characters of the page's text per viewport


def find_browser() -> str | None:
    """``$AGENTBENCH_CHROMIUM``, else the first Chromium-family browser on PATH."""
    given = os.environ.get("AGENTBENCH_CHROMIUM")
    if given:
        return shutil.which(given) or None
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class BrowserError(AgentbenchError):
    """The browser failed: the harness's fault, not the page's."""


class BrowserTimeout(BrowserError):
    """The browser did not answer in time: its own fault before it was given the page, the
    page's after (a script that never yields keeps the renderer from answering)."""


@dataclass
class Shot:
    viewport: str
    png: bytes
    text: str


@dataclass
class PageCapture:
    shots: list[Shot] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # console errors, failed requests, in order
    blank: list[str] = field(default_factory=list)  # viewports at which it showed nothing


class _Pipe:
    """The DevTools protocol over Chromium's pipe: commands on fd 3, replies and events on fd 4."""

    def __init__(self, process: subprocess.Popen, write_fd: int, read_fd: int) -> None:
        self.process, self.write_fd, self.read_fd = process, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = LOAD_TIMEOUT) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self.read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise BrowserTimeout("the browser did not answer in time")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise BrowserError(f"the browser exited (code {self.process.poll()})")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method: str, session: str, deadline: float) -> None:
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self.events):
            self.events.append(self.read(deadline))


def _problems(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and failed requests, in the order they happened. The
    browser's own ``/favicon.ico`` request (no page asked for it: a served page without an icon
    gets a 404) is no failed request of the page."""
    urls: dict[str, str] = {}
    own: set[str] = set()  # requests the browser made on its own
    found: list[str] = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        request_id = params.get("requestId", "")
        if method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            urls[request_id] = url
            if (params.get("initiator") or {}).get("type") == "other" and params.get("type") == "Other" \
                    and url.split("?")[0].endswith("/favicon.ico"):
                own.add(request_id)
        elif request_id in own:
            continue
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = urls.get(request_id, "?")
            found.append(f"failed request: {url}: {params.get('errorText', '')}")
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            if int(response.get("status") or 0) >= 400:
                found.append(f"failed request: {response.get('url')}: HTTP {response.get('status')}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text", "")
            # Chromium words it "Uncaught X" or "X" depending on where the script came from.
            first = text.splitlines()[0].removeprefix("Uncaught ") if text else "?"
            found.append(f"uncaught exception: {first}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            found.append(f"console.{params.get('type')}: {args}")
    return found


def capture_url(url: str, browser: str | None = None, jail: Jail | None = None,
                serve: str | None = None, load_timeout: float = LOAD_TIMEOUT) -> PageCapture:
    """Render ``url`` at every viewport of :data:`VIEWPORTS`; raise :class:`BrowserError` (the
    browser's fault) or :class:`NotCaptured` (the page's). ``jail``: where the browser runs
    (None: here, as this process). ``serve``: a command that serves ``url``, started beside the
    browser — in the same jail, whose network namespace has only its own loopback — and gone
    with it. ``load_timeout``: seconds for the page to load, and again to settle, per viewport."""
    browser = browser or find_browser()
    if browser is None:
        raise BrowserError("no Chromium found (chromium, chromium-browser, google-chrome; "
                           "or set AGENTBENCH_CHROMIUM)")
    scratch = jail.scratch if jail is not None else None
    profile = tempfile.mkdtemp(prefix="agentbench-chromium-", dir=scratch)
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    # Chromium reads commands from fd 3 and writes to fd 4: put the pipe ends there in the child
    # (through copies, in case a pipe end already is fd 3 or 4). close_fds=False keeps them open.
    def child_fds() -> None:
        reads, writes = os.dup(to_browser_r), os.dup(from_browser_w)
        os.dup2(reads, 3)
        os.dup2(writes, 4)

    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--no-default-browser-check", "--mute-audio",
               "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"]
    if serve:
        command = ["/bin/sh", "-c", f'({serve}) >/dev/null 2>&1 </dev/null & exec "$0" "$@"', *command]
    if jail is not None:
        command = jail.wrap(command)
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, preexec_fn=child_fds,  # noqa: PLW1509
                               close_fds=False, start_new_session=True,
                               env=jail.env if jail else None, cwd=jail.cwd if jail else None)
    os.close(to_browser_r)
    os.close(from_browser_w)
    pipe = _Pipe(process, to_browser_w, from_browser_r)
    try:
        return _capture(pipe, url, retry=bool(serve), load_timeout=load_timeout)
    finally:
        try:
            pipe.send("Browser.close", timeout=2)
        except (BrowserError, OSError):
            pass
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            # Its own session (start_new_session): the renderers and the GPU process go too.
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        try:
            os.killpg(process.pid, signal.SIGKILL)  # what is left of the session: a serve command
        except (ProcessLookupError, PermissionError):
            pass
        os.close(to_browser_w)
        os.close(from_browser_r)
        shutil.rmtree(profile, ignore_errors=True)


# The page's text, and whether it shows nothing at all: no text, and no element (html and body
# included) that draws something — a replaced element (image, canvas, form control...), a
# background, a border, a shadow or generated content. A page whose app never rendered (an empty
# root element, a script that failed before drawing) is blank; one with only a coloured
# background is not (its colour may be the point), nor is one drawn on a canvas.
INSPECT = """(() => {
  // innerText of a body that is not rendered (display: none) is its whole source text: none shows.
  const body = document.body, text = body && body.getClientRects().length ? body.innerText : '';
  if (text.trim()) return {text, blank: false};
  const replaced = /^(img|picture|canvas|svg|video|iframe|object|embed|input|textarea|select|button|progress|meter)$/i;
  const generated = (el, pseudo) => !['none', 'normal'].includes(getComputedStyle(el, pseudo).content);
  const draws = (el) => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (box.width < 1 || box.height < 1 || style.visibility === 'hidden' || +style.opacity === 0) return false;
    return replaced.test(el.tagName) || style.backgroundImage !== 'none'
      || !/^(transparent|rgba\\(0, 0, 0, 0\\))$/.test(style.backgroundColor) || style.boxShadow !== 'none'
      || ['Top', 'Right', 'Bottom', 'Left'].some((side) => parseFloat(style['border' + side + 'Width']) > 0)
      || generated(el, '::before') || generated(el, '::after');
  };
  return {text, blank: ![...document.querySelectorAll('*')].some(draws)};
})()"""


def _capture(pipe: _Pipe, url: str, retry: bool = False, load_timeout: float = LOAD_TIMEOUT) -> PageCapture:
    # A fresh page per viewport: each load logs its own errors. The pages load at once and settle
    # together: one settling pause a capture, not one a viewport (1.37 -> 1.10 s a capture here).
    # Until the pages are asked for, every failure is the browser's own.
    pages: dict[str, tuple[str, str]] = {}  # viewport -> (target id, session id)
    for viewport, (width, height, scale, mobile) in VIEWPORTS.items():
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                  "deviceScaleFactor": scale, "mobile": mobile}, session=session)
        pages[viewport] = (target, session)
    rendered = _render(pipe, {viewport: session for viewport, (_, session) in pages.items()}, url,
                       retry, load_timeout)
    capture = PageCapture()
    for viewport, (target, session) in pages.items():
        text, png, empty = rendered[viewport]
        mine = [e for e in pipe.events if e.get("sessionId") == session]
        capture.problems += [f"{viewport}: {p}" for p in _problems(mine)]
        capture.shots.append(Shot(viewport, png, text[:TEXT_CAP]))
        if empty:
            capture.blank.append(viewport)
        pipe.send("Target.closeTarget", {"targetId": target})
    return capture


def _render(pipe: _Pipe, sessions: dict[str, str], url: str, retry: bool,
            load_timeout: float) -> dict[str, tuple[str, bytes, bool]]:
    """Load ``url`` in the page of each session (viewport -> session): per viewport, its text,
    a screenshot and whether it is blank. The browser not answering now is the page's doing: a
    script that never yields holds the renderer, and the load event waits for every resource."""
    stage, viewport = "start loading", next(iter(sessions))
    rendered: dict[str, tuple[str, bytes, bool]] = {}
    try:
        deadline = time.monotonic() + load_timeout
        for viewport, session in sessions.items():
            while True:  # a served page: until its server listens (connection refused meanwhile)
                # What this page logged before (a refused try) is not the page's.
                pipe.events = [e for e in pipe.events if e.get("sessionId") != session]
                navigated = pipe.send("Page.navigate", {"url": url}, session=session, timeout=load_timeout)
                if not (retry and navigated.get("errorText")) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if retry and navigated.get("errorText"):
                # The serve command runs in the tree the model made: serving nothing is its result.
                raise NotCaptured(f"nothing served {url} within {load_timeout:g}s "
                                  f"({navigated['errorText']})", MODEL)
        stage = "finish loading"
        for viewport, session in sessions.items():
            pipe.wait_for("Page.loadEventFired", session, time.monotonic() + load_timeout)
        time.sleep(SETTLE)
        stage = "settle after loading"
        for viewport, session in sessions.items():
            # Only the page in front renders (a screenshot of one behind it never comes).
            pipe.send("Page.bringToFront", session=session, timeout=load_timeout)
            inspected = pipe.send("Runtime.evaluate", {"expression": INSPECT, "returnByValue": True},
                                  session=session, timeout=load_timeout)
            shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session,
                             timeout=load_timeout)
            value = inspected.get("result", {}).get("value") or {}
            rendered[viewport] = (str(value.get("text", "")), base64.b64decode(shot["data"]),
                                  bool(value.get("blank")))
    except BrowserTimeout:
        raise NotCaptured(f"the page did not {stage} within {load_timeout:g}s at the {viewport} "
                          "viewport: its scripts kept it busy (an endless loop?) or a resource "
                          "it waits for never arrived", MODEL) from None
    return rendered


def capture_page(target: str, tree: Path, jail: Jail | None = None, serve: str | None = None,
                 links: dict[str, str] | None = None, load_timeout: float = LOAD_TIMEOUT,
                 keep_blank: bool = False) -> Artifact:
    """A ``page:`` artifact: an http(s) URL (served by ``serve`` when given: ``{port}`` in both
    is a free port), or an HTML file of the verification tree (``links``: the links the model
    made in its own tree, path → target). Raises :class:`NotCaptured` for what the model left
    that cannot be rendered — a page blank at every viewport too, unless ``keep_blank`` (a
    ``not_blank`` check then says so); the browser's own failure is an artifact with an
    infrastructure error."""
    if target.startswith(("http://", "https://")):
        if serve:
            from pytest_agentbench.servers.managed import free_port

            port = str(free_port())
            target, serve = target.replace("{port}", port), serve.replace("{port}", port)
        url, label = target, f"the web page {target}"
    else:
        path = locate(tree, target, "page", links or {})
        with path.open("rb") as handle:
            if not handle.read(1 << 16).strip():
                raise NotCaptured(f"page {target!r} is empty", MODEL)
        url, label = path.as_uri(), f"the web page {target}"
    try:
        capture = capture_url(url, jail=jail, serve=serve, load_timeout=load_timeout)
    except (BrowserError, OSError) as exc:
        return Artifact(label, error=f"headless Chromium could not render {target}: {exc}",
                        fault=INFRASTRUCTURE)
    if len(capture.blank) == len(VIEWPORTS) and not keep_blank:
        logs = "; ".join(capture.problems[:5])
        raise NotCaptured("the page is blank at every viewport: no text and nothing drawn"
                          + (f" (the browser logged: {logs})" if logs else ""), MODEL)
    sizes = ", ".join(f"{name} {w}x{h}" for name, (w, h, _, _) in VIEWPORTS.items())
    logs = "\n".join(f"- {p}" for p in capture.problems) or "- none"
    texts = "\n\n".join(f"Visible text at the {s.viewport} viewport:\n{s.text}" for s in capture.shots)
    text = f"Rendered at two viewports ({sizes}).\n\nBrowser console errors and failed requests:\n{logs}\n\n{texts}"
    images = [(f"Screenshot at the {s.viewport} viewport ({VIEWPORTS[s.viewport][0]}px wide):",
               "image/png", s.png) for s in capture.shots]
    return Artifact(label, text, images, capture.problems, blank=capture.blank)
