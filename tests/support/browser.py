"""Headless Chromium driven over the DevTools protocol (aiohttp's websocket client), for
``tuimon web``'s test.

textual-serve draws the app with xterm.js on canvases: the table text is never in the DOM,
and the page fills in over a websocket after it has loaded (``--screenshot`` with a virtual
time budget took its picture before the app's first frame). So :func:`open_page`:

* hooks the page's ``WebSocket`` before any script runs, keeping what the app sent as text
  (``window.__tuimon_text``: the terminal's bytes, escape sequences included);
* loads the page, waits until that text holds every string asked for (the app's tables
  have been sent to the browser);
* measures the share of the xterm text layer's pixels that are not its background colour
  (the browser did draw glyphs) and takes a PNG screenshot.

Chromium listens for DevTools on 127.0.0.1 only, on a port it picks, and is killed at the
end whatever happened.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

CHROMIUM = "/usr/bin/chromium"

HOOK = r"""
window.__tuimon_text = "";
const Original = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new Original(...args);
  const decoder = new TextDecoder();
  ws.addEventListener("message", (event) => {
    if (event.data instanceof ArrayBuffer) {
      window.__tuimon_text += decoder.decode(new Uint8Array(event.data), {stream: true});
    } else if (typeof event.data === "string") {
      window.__tuimon_text += event.data;
    }
  });
  return ws;
};
window.WebSocket.prototype = Original.prototype;
Object.assign(window.WebSocket, Original);
"""

# The share of the xterm text layer's pixels that differ from its most common colour (the
# background, which the layer paints too): the glyphs the browser drew.
INK = r"""
(() => {
  const c = document.querySelector("canvas.xterm-text-layer");
  if (!c) return -1;
  const ctx = c.getContext("2d");
  if (!ctx) return -2;
  const d = new Uint32Array(ctx.getImageData(0, 0, c.width, c.height).data.buffer);
  const counts = new Map();
  for (const p of d) counts.set(p, (counts.get(p) || 0) + 1);
  const most = Math.max(...counts.values());
  return (d.length - most) / d.length;
})()
"""


class Seen(NamedTuple):
    text: str  # what the app sent to the browser
    ink: float  # share of the text layer's pixels not the background's colour
    screenshot: bytes  # PNG


def skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    return None


def open_page(url: str, want: list[str], timeout: float = 40.0, size=(1280, 900)) -> Seen:
    profile = tempfile.mkdtemp(prefix="tuimon-chromium-")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = _devtools_port(Path(profile), proc, timeout=20)
        return asyncio.run(asyncio.wait_for(_drive(port, url, want), timeout))
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited with {proc.returncode}")
        try:
            return int(marker.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            time.sleep(0.1)
    raise AssertionError("chromium never opened its DevTools port")


async def _drive(port: int, url: str, want: list[str]) -> Seen:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
            pages = [t for t in await r.json() if t["type"] == "page"]
        async with http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            cdp = _Cdp(ws)
            await cdp("Page.enable")
            await cdp("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
            await cdp("Page.navigate", url=url)
            text = ""
            while not all(w in text for w in want):
                await asyncio.sleep(0.3)
                text = await cdp.value("window.__tuimon_text || ''")
            await asyncio.sleep(1.0)  # the frame after the text: drawn
            ink = await cdp.value(INK)
            shot = await cdp("Page.captureScreenshot", format="png")
            return Seen(text, ink, base64.b64decode(shot["data"]))


class _Cdp:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.next = 0

    async def __call__(self, method: str, **params) -> dict:
        self.next += 1
        number = self.next
        await self.ws.send_str(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive()).data)
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]

    async def value(self, expression: str):
        result = await self("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")
