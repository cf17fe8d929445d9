"""e2e: a real browser plays through the gates' WebSocket.

A node runs the login demo (examples/login/login_main.lua: dbmgr, registry,
baseappmgr, two baseapps, a loginapp) with gate_websocket = true and
gate_ws_origins set to the page's origin. A test HTTP server on 127.0.0.1
serves examples/web/ and /vectors.json (ChaCha20-Poly1305 frames sealed by
OpenSSL through Python's cryptography: random keys, SEQs and lengths that
cross the 64-byte blocks, and the protocol's worked LOGIN frame). Headless
Chromium (Debian's chromium, driven over its DevTools protocol with the
RFC 6455 client of test_gate_ws.py: no extra packages) loads
play.html, which checks aead.js against the vectors, logs in (X25519 and
HKDF from WebCrypto, sealed frames from aead.js), enters the game on the
gate LOGIN_OK names, moves, pings and logs out. The test reads the DOM
after it rendered (every step there, the position the server
acknowledged), checks the node's log (a WebSocket connection on both
gates, no refused frame) and keeps a screenshot in the build dir
(test/e2e/artifacts/web_client.png).

A machine without chromium FAILS this test (scripts/deps.sh installs it).
"""

import base64
import http.server
import json
import os
import re
import signal
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, scaled  # noqa: E402
from chromium import Chromium, find_chromium  # noqa: E402
from test_login import SECRET, STATIC_KEY  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305  # noqa: E402

ARTIFACTS = os.environ.get("WEB_ARTIFACTS") or os.path.join(os.getcwd(), "artifacts")


def vectors():
    """Frames sealed by OpenSSL: what aead.js must produce byte for byte."""
    out = []
    lengths = [0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 300, 1000]
    for i, n in enumerate(lengths):
        key = os.urandom(32)
        seq = [0, 1, 2 ** 32 + 5, 2 ** 63 + 7][i % 4]
        plain = os.urandom(n)
        nonce = b"\0\0\0\0" + struct.pack(">Q", seq)
        sealed = struct.pack(">Q", seq) + ChaCha20Poly1305(key).encrypt(nonce, plain, None)
        out.append({"key": key.hex(), "seq": str(seq), "plain": plain.hex(), "sealed": sealed.hex()})
    # docs/protocol.md section 7: LOGIN("alice", "secret123") sealed with c2s, SEQ 0
    out.append({"key": "7a12964a6c794dc82fe0870cc4ff0bd6adb008f9da3d6943501bcca3a75f4cf3", "seq": "0",
                "plain": "00040005616c6963650009736563726574313233",
                "sealed": "0000000000000000e4988c116149970b90a85b74c3c747e55bd6cfaacdcb"
                          "7d4873c418de20f8e5bb3b6336ba"})
    return out


class Web(http.server.SimpleHTTPRequestHandler):
    vectors_json = b"[]"

    def do_GET(self):
        if self.path.startswith("/vectors.json"):
            body = self.vectors_json
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, fmt, *args):
        pass


class Browser(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.chromium = find_chromium()
        self.browser = None
        self.httpd = None
        if self.chromium is None:
            self.fail("chromium not found on PATH: the browser test needs Debian's chromium "
                      "(bash scripts/deps.sh installs it)")
        Web.vectors_json = json.dumps(vectors()).encode()
        web = os.path.join(nodeutil.SOURCE_DIR, "examples", "web")
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     lambda *a, **k: Web(*a, directory=web, **k))
        self.http_port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        log = self.path("node.log")
        cfg = self.config(
            "node.lua",
            thread=2, start="login_main",
            luaservice="%s/examples/login/?.lua;%s/service/?.lua" % (nodeutil.SOURCE_DIR, nodeutil.SOURCE_DIR),
            logfile=log, loglevel="debug", call_timeout=5000, db_path=self.path("game.db"), login_port=0,
            login_static_key=STATIC_KEY, login_rate_per_addr=0, baseapp_encrypt=True,
            baseapp_registry=".registry", baseapp_heartbeat_ms=1000, baseappmgr_max_cpu=10000,
            baseapp_save_ms=600000, crypto_scrypt_n=1024, crypto_scrypt_r=1, login_demo_loginapps=1,
            gate_websocket=True, gate_ws_origins="http://127.0.0.1:%d" % self.http_port)
        self.n = self.node(cfg, logfile=log, env={"SHOAL_CLUSTER_SECRET": SECRET})
        self.n.wait_log(r"login demo: started", timeout=scaled(20))
        self.n.wait_log(r"(?s)(registered, gate.*){2}", timeout=scaled(20))
        self.login_port = int(re.search(r"loginapp: listening on [0-9.]+:(\d+)", self.n.log()).group(1))

    def tearDown(self):
        try:
            if self.browser:
                self.browser.stop()
            if self.httpd:
                self.httpd.shutdown()
                self.httpd.server_close()
            if getattr(self, "n", None) and self.n.running():
                self.n.stop(signal.SIGTERM, timeout=20)
        finally:
            super().tearDown()

    def start_browser(self):
        self.browser = Chromium(self)
        self.proc, self.cdp = self.browser.proc, self.browser.cdp

    def test_play_in_chromium(self):
        """Headless Chromium logs in, enters, moves and logs out over WebSocket."""
        self.start_browser()
        url = ("http://127.0.0.1:%d/play.html?auto=1&host=127.0.0.1&port=%d&name=webplayer&password=secret123"
               "&register=1&vectors=/vectors.json" % (self.http_port, self.login_port))
        self.cdp.call("Page.navigate", url=url)
        deadline = time.monotonic() + scaled(40)
        result = None
        while time.monotonic() < deadline:
            result = self.cdp.eval("document.getElementById('result') && "
                                   "document.getElementById('result').textContent")
            if result and result not in ("idle", "running"):
                break
            time.sleep(0.1)
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = self.cdp.call("Page.captureScreenshot", format="png")
        with open(os.path.join(ARTIFACTS, "web_client.png"), "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        steps = self.cdp.eval("Array.from(document.querySelectorAll('#steps li'))"
                              ".map(li => li.id + ' ' + li.className + ': ' + li.textContent).join('\\n')")
        self.assertEqual(result, "done", "page result %r, steps:\n%s\n%s" % (result, steps, self.n.describe()))
        dom = self.cdp.eval("document.documentElement.outerHTML")
        self.assertRegex(dom, r'id="step-vectors" class="ok">aead.js matches 14 vectors')
        self.assertRegex(dom, r'id="step-login" class="ok">logged in: account \d+, gate 127\.0\.0\.1:\d+, encrypted')
        m = re.search(r'id="step-enter" class="ok">entered the world as webplayer at (-?\d+),(-?\d+)', dom)
        self.assertIsNotNone(m, steps)
        x, y = int(m.group(1)), int(m.group(2))
        self.assertIn('id="step-move" class="ok">move acknowledged: %d,%d<' % (x + 3, y + 4), dom)
        self.assertIn('id="position">%d,%d<' % (x + 3, y + 4), dom)
        self.assertIn('id="step-logout" class="ok">logged out (BYE)<', dom)
        self.assertNotIn('class="fail"', dom)
        log = self.n.log()
        self.assertGreaterEqual(len(re.findall(r"upgraded to a WebSocket", log)), 2, "login and game connections")
        self.assertNotRegex(log, r"forged frame|WebSocket handshake refused")

    def test_foreign_origin_refused(self):
        """A page from another origin (localhost instead of 127.0.0.1) is
        refused by the allow-list: the browser sees the WebSocket fail."""
        self.start_browser()
        url = ("http://localhost:%d/play.html?auto=1&host=127.0.0.1&port=%d&timeout=5000"
               % (self.http_port, self.login_port))
        self.cdp.call("Page.navigate", url=url)
        deadline = time.monotonic() + scaled(30)
        result = None
        while time.monotonic() < deadline:
            result = self.cdp.eval("document.getElementById('result') && "
                                   "document.getElementById('result').textContent")
            if result and result not in ("idle", "running"):
                break
            time.sleep(0.1)
        self.assertTrue(result and result.startswith("failed"), result)
        self.n.wait_log(r"WebSocket handshake refused: 403 origin not allowed")


if __name__ == "__main__":
    nodeutil.main()
