"""e2e: hostile input to the debug console (service/debug_console.lua),
over real TCP: a browser's HTTP request with "shutdown" in its body, service
names out of the luaservice path, idle sockets that would lock operators
out, control characters and huge lines in log messages. Each gets a clear
error and the node stays up. The sessions and the node come from
test_console.py."""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import scaled  # noqa: E402
from test_console import PROMPT, Console, ConsoleTestCase  # noqa: E402


# Lua for inject: holds the debug request (so the session stays busy, not
# idle) until the test creates the file, bounded by a deadline.
WAIT_FOR_FILE = """\
local shoal = require "shoal"
local deadline = shoal.now() + %d
while shoal.now() < deadline do
	local f = io.open(%s)
	if f then
		f:close()
		return "released"
	end
	shoal.sleep(20)
end
return "never released"
"""

CUT_MARK = "...[cut: line over 8192 bytes]"


def log_text(line):
    """The text of a log line, after "DATE TIME LEVEL [:handle] "."""
    m = re.match(r"^\S+ \S+ \w+ +\[:[0-9a-f]{8}\] (.*)$", line)
    assert m, "not a log line: %r" % line[:200]
    return m.group(1)


class Hostile(ConsoleTestCase):
    """Hostile input: each gets a clear error, and the node stays up."""

    def pipelined(self, port, line):
        """A fresh session that sends line at once (so no idle deadline can
        pass before it is read); returns the answer."""
        c = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        try:
            c.sendall(line.encode() + b"\n")
            data = b""
            while data.count(PROMPT) < 2:
                chunk = c.recv(65536)
                if not chunk:
                    raise AssertionError("the console closed the session: %r" % data)
                data += chunk
            return data.split(PROMPT)[1].decode("utf-8", "replace")
        finally:
            c.close()

    def raw(self, port, data):
        """Sends data on a new connection; returns all it gets back until
        the console closes the connection."""
        c = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        try:
            c.sendall(data)
            got = b""
            while True:
                try:
                    chunk = c.recv(65536)
                except socket.timeout:
                    raise AssertionError("the console kept the connection open; got: %r" % got)
                if not chunk:
                    return got.decode("utf-8", "replace")
                got += chunk
        finally:
            c.close()

    def test_http_post_with_shutdown_runs_nothing(self):
        """A browser on a web page can POST to the console (a cross-protocol
        request) with "shutdown" in its body. A session whose line looks
        like HTTP (a request line, a line starting with GET/POST/...  and a
        space, a Host:/Origin: header) is closed at once: nothing it sent
        runs, the node stays up, the log says why."""
        n, port = self.start_node()
        body = b"shutdown\n"
        post = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://attacker.example\r\n"
                b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % (port, len(body))) + body
        requests = [
            post,
            b"GET /?cmd=shutdown HTTP/1.0\r\n\r\nshutdown\r\n",
            b"OPTIONS * HTTP/1.1\r\nshutdown\r\n",
            b"put /x\nshutdown\n",
            b"BREW /pot HTTP/1.1\nshutdown\n",
            b"list\nHost: 127.0.0.1\nshutdown\n",
        ]
        for req in requests:
            reply = self.raw(port, req)
            self.assertIn("error: this is a debug console, not an HTTP server: session closed, nothing it sent was "
                          "run\n", reply, req)
            self.assertNotIn("shutting down", reply, req)
            self.assertTrue(n.running(), "the node stopped after %r\n%s" % (req, n.describe()))
        n.wait_log(r"WARN .*closed the session from 127\.0\.0\.1:\d+: it sent HTTP \('POST / HTTP/1\.1'\)")
        n.wait_log(r"it sent HTTP \('Host: 127\.0\.0\.1'\)")
        self.assertIn("services", self.pipelined(port, "list"), "the node still answers")
        self.assertNotIn("shutdown requested", n.log())
        self.assertTrue(n.running(), n.describe())

    def test_start_refuses_paths_outside_the_service_path(self):
        """`start NAME` finds NAME in the luaservice path: a name with "..",
        ".", an empty part or an absolute path is refused with a clear
        error, and a file outside the path's directories never runs."""
        svc = self.path("svc")
        os.makedirs(os.path.join(svc, "sub"))
        self.file("svc/sub/ok.lua", 'local shoal = require "shoal"\nshoal.start(function() end)\n')
        ran = self.path("evil-ran")
        self.file("evil.lua", 'local shoal = require "shoal"\nio.open(%s, "w"):close()\nshoal.start(function() end)\n'
                  % nodeutil.lua_value(ran))
        n, port = self.start_node(luaservice="%s/?.lua;%s/service/?.lua" % (svc, nodeutil.SOURCE_DIR))
        s = self.session(port)
        cases = [
            ("start sub/../../evil", "bad service name 'sub/../../evil': no '..' parts"),
            ("start sub/../../evil arg", "no '..' parts"),
            ("start sub/./../../evil", "no '.' parts"),
            ("start %s" % self.path("evil"), "an absolute path is not allowed"),
            ("start sub//ok", "an empty part between slashes"),
            ("start ..", "no '..' parts"),
            ("start .hidden", "it starts with a letter, a digit or _"),
        ]
        for line, fragment in cases:
            self.assertError(s.cmd(line), fragment)
        self.assertFalse(os.path.exists(ran), "a file outside the luaservice path ran")
        self.handle(s.cmd("start sub/ok"))  # a nested name inside the path is fine
        self.assertUsable(s)

    def test_idle_sessions_are_closed(self):
        """A session that sends no whole line for console_idle_ms is closed
        with a message; a partial line ("shutdown" without its newline) is
        not run; a session running a command is not idle."""
        idle_ms = max(100, int(300 * nodeutil.TIME_SCALE))
        n, port = self.start_node(console_idle_ms=idle_ms, console_timeout=int(30000 * nodeutil.TIME_SCALE))
        # every command is sent with the connection, before the banner is
        # read, so none can wait idle_ms however slow this machine is
        h = self.handle(self.pipelined(port, "start counter"))
        release = self.path("release")
        self.file("wait.lua", WAIT_FOR_FILE % (int(30000 * nodeutil.TIME_SCALE), nodeutil.lua_value(release)))
        busy = Console(port, first="inject %s wait.lua" % h)
        self.sessions.append(busy)
        n.wait_log(r"console 127\.0\.0\.1:%d: inject" % busy.sock.getsockname()[1])
        t0 = time.monotonic()
        silent = self.session(port)
        partial = self.session(port)
        partial.sock.sendall(b"shutdown")
        closed = "\nerror: session closed: no command for %.1f s (console_idle_ms)\n" % (idle_ms / 1000)
        self.assertEqual(silent.read_to_eof(), closed)
        self.assertGreaterEqual(time.monotonic() - t0, idle_ms / 1000)
        self.assertEqual(partial.read_to_eof(), closed)
        n.wait_log(r"session from 127\.0\.0\.1:%d closed: idle for" % partial.sock.getsockname()[1])
        # the busy session has been running its command for over idle_ms
        self.file("release", "")
        self.assertEqual(busy.read_until(PROMPT), "released\n")
        self.assertIn("services", self.pipelined(port, "list"), "the node still answers")
        self.assertNotIn("shutdown requested", n.log())
        self.assertTrue(n.running(), n.describe())

    def test_idle_sessions_cannot_lock_operators_out(self):
        """With every console_max_sessions place taken, a new connection
        takes the place of the session that has waited longest for a line;
        only when every session is running a command is it refused."""
        n, port = self.start_node(console_max_sessions=2, console_timeout=int(30000 * nodeutil.TIME_SCALE))
        a, b = self.session(port), self.session(port)
        h = self.handle(b.cmd("start counter"))  # a has waited longer
        c = self.session(port)
        text = a.read_to_eof()
        self.assertRegex(text, r"^\nerror: session closed: idle for [\d.]+ s and a new session needs the place "
                               r"\(console_max_sessions = 2\)\n$")
        n.wait_log(r"WARN .*debug console: 2 sessions open: closed the one from 127\.0\.0\.1:%d"
                   % a.sock.getsockname()[1])
        self.assertUsable(c)
        self.assertUsable(b)
        # both sessions busy: the newcomer is refused, the sessions go on
        release = self.path("release")
        self.file("wait.lua", WAIT_FOR_FILE % (int(30000 * nodeutil.TIME_SCALE), nodeutil.lua_value(release)))
        for s in (b, c):
            s.send("inject %s wait.lua" % h)
            n.wait_log(r"console 127\.0\.0\.1:%d: inject" % s.sock.getsockname()[1])
        self.assertEqual(self.raw(port, b""), "error: too many console sessions (at most 2), all running a command\n")
        n.wait_log(r"WARN .*refused 127\.0\.0\.1:\d+: 2 sessions open, all running a command")
        self.file("release", "")
        self.assertEqual(b.read_until(PROMPT), "released\n")
        self.assertEqual(c.read_until(PROMPT), "released\n")
        self.assertUsable(b)
        self.assertUsable(c)

    def test_log_lines_are_escaped_and_cut(self):
        """Control characters in a log message are shown escaped, so one
        message is one line (no forged lines, no terminal escapes), and a
        line over 8192 bytes is cut with a mark: from shoal.log in Lua, and
        from a TEXT message sent straight to the logger."""
        n, port = self.start_node()
        s = self.session(port)
        me = re.search(r"service (:[0-9a-f]{8})", s.banner).group(1)
        self.file("logs.lua", r"""
local shoal = require "shoal"
shoal.log("m1 one\nFORGED 2026-01-01 00:00:00.000 ERROR [:01000001] fake\r\27[31mred\tend\127")
shoal.send(0x01000001, "text", "\3m2 direct\nFORGED-direct\27]0;title\7\0nul")
shoal.log("m3 " .. string.rep("x", 20000))
shoal.send(0x01000001, "text", "m4 " .. string.rep("\n", 100000) .. ".")
shoal.log("m5 caf\195\169 \226\130\172 latin1 caf\233 c1 \194\155")
shoal.log("m7 before\0after")
shoal.log("m6 done")
""")
        self.assertEqual(s.cmd("inject %s logs.lua" % me), "(no values)\n")
        n.wait_log(r"m6 done$")
        lines = n.log().splitlines()
        self.assertEqual([l for l in lines if l.startswith("FORGED")], [], "a message made a line of its own")
        self.assertEqual(len([l for l in lines if "FORGED" in l]), 2)
        texts = {}
        for l in lines:
            t = log_text(l)
            texts[t.split(" ", 1)[0]] = t
        self.assertEqual(texts["m1"], r"m1 one\nFORGED 2026-01-01 00:00:00.000 ERROR [:01000001] fake\r\x1b[31mred"
                                      r"\tend\x7f")
        self.assertEqual(texts["m2"], r"m2 direct\nFORGED-direct\x1b]0;title\x07\x00nul")
        self.assertRegex(n.log(), r"(?m)^\S+ \S+ ERROR +\[%s\] m2 direct" % me)
        self.assertEqual(texts["m3"], "m3 " + "x" * (8192 - 3) + CUT_MARK)
        self.assertEqual(texts["m4"], "m4 " + r"\n" * ((8192 - 3) // 2) + CUT_MARK)
        self.assertEqual(texts["m7"], r"m7 before\x00after")  # a NUL no longer ends Lua's text
        self.assertEqual(texts["m5"], "m5 caf\u00e9 \u20ac latin1 caf\\xe9 c1 \\xc2\\x9b")
        for l in lines:
            self.assertIsNone(re.search(r"[\x00-\x1f\x7f]", l), "a control character in %r" % l[:100])
        self.assertUsable(s)


if __name__ == "__main__":
    nodeutil.main()
