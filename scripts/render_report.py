#!/usr/bin/env python3
"""Open a run's ``report.html`` in headless Chromium, check it and save a screenshot.

    python scripts/render_report.py runs/demo-20250101-120000            # or .../report.html
    python scripts/render_report.py RUN --out /tmp/report.png --json

Checks: no console errors, no uncaught exceptions, no request that leaves the machine (the
report must open offline), every section of ``themekit.report_html.SECTION_IDS`` present and
every Plotly figure drawn. Exit code 0 when all pass, 1 when a check fails, 2 when Chromium is
missing or fails to start.

Chromium is Debian's (``apt-get update && apt-get install -y chromium``) or any Chrome named by
``--chromium``/``$CHROMIUM``. It is driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``), so nothing beyond the standard library is needed. The screenshot
goes to ``<run folder>/report.png`` unless ``--out`` says otherwise (``*.png`` and ``runs/`` are
ignored by git).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from base64 import b64decode
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SECTION_IDS = ("overview", "themes", "sizes", "map", "agreement", "provenance")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
CHECK_JS = """
(() => {
  const ids = %s;
  const present = ids.filter(id => { const el = document.getElementById(id);
                                       return el !== null && el.offsetHeight > 0; });
  const figs = Array.from(document.querySelectorAll('.plotly-graph-div'));
  const drawn = figs.filter(el => el.querySelector('.main-svg') !== null).map(el => el.id);
  return JSON.stringify({present, figures: figs.map(el => el.id), drawn,
                         height: document.documentElement.scrollHeight,
                         title: document.title, plotly: typeof window.Plotly});
})()
"""


class BrowserError(RuntimeError):
    """Chromium could not be started or stopped answering."""


@dataclass
class RenderResult:
    html: str
    screenshot: str | None
    sections_present: list[str] = field(default_factory=list)
    sections_missing: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    figures_not_drawn: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    title: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (
            self.sections_missing
            or self.figures_not_drawn
            or self.console_errors
            or self.external_requests
        )


def find_chromium(explicit: str | None = None) -> str:
    for cand in (
        explicit,
        os.environ.get("CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
        "chrome",
    ):
        if cand and (found := shutil.which(cand)):
            return found
    raise BrowserError(
        "Chromium not found: install it with 'apt-get update && apt-get install -y chromium'"
    )


class _Pipe:
    """A DevTools-protocol connection over Chromium's fds 3 (in) and 4 (out)."""

    def __init__(self, exe: str, user_dir: str) -> None:
        to_child_r, self._w = os.pipe()
        self._r, from_child_w = os.pipe()

        def _setup_fds() -> None:  # runs in the child, before exec
            a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={user_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_setup_fds,  # the child sets up fds 3 and 4
            pass_fds=(3, 4),
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._next = 0
        self._inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._stderr: list[bytes] = []
        threading.Thread(target=self._reader, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _reader(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._inbox.put(None)
                return
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                self._inbox.put(json.loads(msg))

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._get(deadline, method)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply.get("result") or {})
            self.events.append(reply)

    def _get(self, deadline: float, what: str) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrowserError(f"Chromium did not answer {what} in time")
        try:
            item = self._inbox.get(timeout=left)
        except queue.Empty:
            raise BrowserError(f"Chromium did not answer {what} in time") from None
        if item is None:
            err = b"".join(self._stderr[-20:]).decode(errors="replace")
            raise BrowserError(f"Chromium closed the connection during {what}: {err}")
        return item

    def wait_event(self, method: str, session: str | None, timeout: float) -> dict[str, Any]:
        for ev in self.events:
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev
        deadline = time.monotonic() + timeout
        while True:
            ev = self._get(deadline, method)
            self.events.append(ev)
            if ev.get("method") == method and ev.get("sessionId") == session:
                return ev

    def pump(self, seconds: float) -> None:
        """Collect events for a while."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self._inbox.get(timeout=left)
            except queue.Empty:
                return
            if item is None:
                return
            self.events.append(item)

    def close(self) -> None:
        try:
            os.write(self._w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass


def _console_errors(events: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    errors: list[str] = []
    external: list[str] = []
    for ev in events:
        method, p = ev.get("method"), ev.get("params") or {}
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append(
                "console."
                + p["type"]
                + ": "
                + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            )
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails") or {}
            errors.append(
                "uncaught: " + str((d.get("exception") or {}).get("description") or d.get("text"))
            )
        elif method == "Log.entryAdded" and (p.get("entry") or {}).get("level") == "error":
            e = p["entry"]
            errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            url = (p.get("request") or {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:", "blob:")):
                external.append(url)
    return errors, external


def render(html: Path, screenshot: Path | None, *, chromium: str | None = None, width: int = 1280,
           max_height: int = 12000, settle: float = 1.5, timeout: float = 60.0) -> RenderResult:  # fmt: skip
    """Load ``html`` in headless Chromium and check it; save a full-page PNG to ``screenshot``."""
    html = html.resolve()
    if not html.is_file():
        raise FileNotFoundError(html)
    exe = find_chromium(chromium)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="themekit-chromium-") as user_dir:
        pipe = _Pipe(exe, user_dir)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)[
                "targetId"
            ]
            session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log", "Network"):
                pipe.send(f"{domain}.enable", session=session)
            pipe.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)  # fmt: skip
            pipe.send("Page.navigate", {"url": html.as_uri()}, session=session, timeout=timeout)
            pipe.wait_event("Page.loadEventFired", session, timeout)
            pipe.pump(settle)  # let Plotly finish drawing and late errors arrive
            ids = json.dumps(list(SECTION_IDS))
            res = pipe.send(
                "Runtime.evaluate",
                {"expression": CHECK_JS % ids, "returnByValue": True},
                session=session,
            )
            info = json.loads(res["result"]["value"])
            shot = None
            if screenshot is not None:
                height = int(min(max(info.get("height") or 900, 900), max_height))
                png = pipe.send(
                    "Page.captureScreenshot",
                    {"format": "png", "captureBeyondViewport": True,
                     "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}},
                    session=session, timeout=timeout,
                )  # fmt: skip
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(b64decode(png["data"]))
                shot = str(screenshot)
            pipe.pump(0.2)
        finally:
            pipe.close()
    errors, external = _console_errors(pipe.events)
    return RenderResult(
        html=str(html),
        screenshot=shot,
        sections_present=info["present"],
        sections_missing=[s for s in SECTION_IDS if s not in info["present"]],
        figures=info["figures"],
        figures_not_drawn=[f for f in info["figures"] if f not in info["drawn"]],
        console_errors=errors,
        external_requests=external,
        title=info.get("title", ""),
        seconds=round(time.monotonic() - t0, 2),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("target", type=Path, help="a run folder or a report.html")
    ap.add_argument("--out", type=Path, help="screenshot path (default: <run folder>/report.png)")
    ap.add_argument(
        "--chromium", help="Chromium/Chrome executable (default: $CHROMIUM or chromium on PATH)"
    )
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args(argv)
    html = args.target / "report.html" if args.target.is_dir() else args.target
    out = args.out or html.with_name("report.png")
    try:
        result = render(html, out, chromium=args.chromium)
    except (BrowserError, FileNotFoundError) as exc:
        print(f"render_report: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({**asdict(result), "ok": result.ok}, indent=2))
    else:
        print(f"{result.html}: {'OK' if result.ok else 'PROBLEMS'} in {result.seconds:.1f} s")
        print(f"  sections present: {', '.join(result.sections_present)}")
        for label, items in (("sections missing", result.sections_missing),
                             ("figures not drawn", result.figures_not_drawn),
                             ("console errors", result.console_errors),
                             ("external requests", result.external_requests)):  # fmt: skip
            if items:
                print(f"  {label}: {len(items)}")
                for item in items[:20]:
                    print(f"    {item}")
        print(
            f"  figures drawn: {len(result.figures) - len(result.figures_not_drawn)}/{len(result.figures)}"
        )
        print(f"  screenshot: {result.screenshot}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
