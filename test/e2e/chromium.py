"""Headless Chromium for the e2e tests (test_web_client.py,
test_dashboard.py): Debian's chromium in its own process group, driven
over its DevTools protocol (JSON over the RFC 6455 client of
test_gate_ws.py: no extra packages).

    browser = chromium.Chromium(testcase)   # fails the test without chromium
    browser.cdp.call("Page.navigate", url=...); browser.cdp.eval("js")
    browser.stop()                          # chromium and its helpers
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import nodeutil
from nodeutil import scaled
from test_gate_ws import OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, client_frame, read_frame, read_head


def find_chromium():
    for name in ("chromium", "chromium-browser"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Cdp:
    """The DevTools protocol over one page's WebSocket (text frames of JSON)."""

    def __init__(self, ws_url, timeout):
        m = re.match(r"ws://([\d.]+):(\d+)(/.*)", ws_url)
        self.s = socket.create_connection((m.group(1), int(m.group(2))), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                        % (m.group(3), m.group(1), m.group(2), key)).encode())
        head = read_head(self.s, timeout)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.next_id, self.timeout = 0, timeout

    def recv(self):
        data, first = b"", None
        while True:
            fin, op, payload = read_frame(self.s, self.timeout)
            if op == OP_PING:
                self.s.sendall(client_frame(OP_PONG, payload))
                continue
            if op == OP_CLOSE:
                raise AssertionError("DevTools closed the connection")
            first = op if first is None else first
            data += payload
            if fin:
                return json.loads(data)

    def call(self, method, **params):
        self.next_id += 1
        self.s.sendall(client_frame(OP_TEXT, json.dumps({"id": self.next_id, "method": method,
                                                         "params": params}).encode()))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            m = self.recv()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise AssertionError("%s: %s" % (method, m["error"]))
                return m["result"]
        raise AssertionError("no answer to %s" % method)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")

    def close(self):
        self.s.close()


class Chromium:
    """One headless chromium with one page, for a test case (its tmp dir)."""

    def __init__(self, tc, window="1000,700"):
        exe = find_chromium()
        if exe is None:
            tc.fail("chromium not found on PATH: the browser tests need Debian's chromium "
                    "(bash scripts/deps.sh installs it)")
        self.proc, self.cdp = None, None
        profile = tempfile.mkdtemp(prefix="chromium-", dir=tc.tmp)
        self.proc = subprocess.Popen(nodeutil.owned(
            [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--window-size=" + window,
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--user-data-dir=" + profile, "about:blank"]),
            stdout=subprocess.DEVNULL, stderr=open(tc.path("chromium.log"), "wb"), start_new_session=True)
        port_file = os.path.join(profile, "DevToolsActivePort")
        nodeutil.wait_until(lambda: os.path.exists(port_file) and open(port_file).read().count("\n") >= 1,
                            scaled(30), "chromium's DevToolsActivePort")
        port = int(open(port_file).read().split("\n")[0])

        def page():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=5) as r:
                pages = [p for p in json.load(r) if p.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None
        self.cdp = Cdp(nodeutil.wait_until(page, scaled(15), "a chromium page"), scaled(30))

    def screenshot(self, path):
        shot = self.cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))

    def stop(self):
        if self.cdp:
            self.cdp.close()
            self.cdp = None
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # chromium and its helpers: its own group
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
