"""e2e: the debug console (service/debug_console.lua) over real TCP.

Each test starts a node whose start service is the console (config
`start = "debug_console"`, `console_port = 0`: the log tells the port) and
drives it with a real client: `nc` (netcat-openbsd) for a scripted
session, the real `telnet` client in a pty, Python sockets for the rest.
The console's services come from the test's temp dir (counter.lua,
rewritten to test hot reload).

Run one class with its name as the argument (test/e2e/CMakeLists.txt
registers each class as its own ctest). Hostile input is in
test_console_hostile.py."""

import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, scaled, wait_until  # noqa: E402

PROMPT = b"shoal> "
LISTENING = r"debug console listening on 127\.0\.0\.1:(\d+)$"
TIMEOUT_MS = int(1000 * nodeutil.TIME_SCALE)

COUNTER_V1 = """\
-- counter: the total is a file-level local, hits a global.
local shoal = require "shoal"
local label = ...
local total = 0
local command = {}
hits = hits or 0
function command.add(n) total = total + n return total end
function command.get() return label, total, hits end
function command.version() return 1 end
shoal.start(function()
\tshoal.dispatch("lua", function(_, _, cmd, ...)
\t\thits = hits + 1
\t\treturn command[cmd](...)
\tend)
end)
"""

COUNTER_V2 = (
    COUNTER_V1.replace("total = total + n return", "total = total + 10 * n return")
    .replace("return 1 end", "return 2 end")
    .replace("shoal.start(", "function command.twice() return total * 2 end\nshoal.start(")
)

COUNTER_V3 = COUNTER_V2.replace("return 2 end", "return 3 end")


def call_file(cmd, *args):
    """Lua code that calls the service it is injected into."""
    lua_args = "".join(", " + nodeutil.lua_value(a) for a in args)
    return 'local shoal = require "shoal"\nreturn shoal.call(shoal.self(), "lua", "%s"%s)\n' % (cmd, lua_args)


class Console:
    """One console session over a Python socket."""

    def __init__(self, port, host="127.0.0.1", first=None):
        """first: a command sent with the connection, before the banner is
        read (its answer is left to read_until)."""
        self.sock = socket.create_connection((host, port), timeout=scaled(10))
        self.buf = b""
        if first is not None:
            self.send(first)
        self.banner = self.read_until(PROMPT)

    def read_until(self, marker):
        """Returns the text before marker (consumed); AssertionError when
        the session closes first or nothing comes for 10 s."""
        while marker not in self.buf:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("no %r from the console; got so far: %r" % (marker, self.buf))
            if not data:
                raise AssertionError("console closed before %r; got: %r" % (marker, self.buf))
            self.buf += data
        text, self.buf = self.buf.split(marker, 1)
        return text.decode("utf-8", "replace")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def cmd(self, line):
        """Sends a command and returns its answer (the text before the next prompt)."""
        self.send(line)
        return self.read_until(PROMPT)

    def read_to_eof(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise AssertionError("the console did not close the session; got so far: %r" % self.buf)
            if not data:
                text, self.buf = self.buf, b""
                return text.decode("utf-8", "replace")
            self.buf += data

    def close(self):
        self.sock.close()


class ConsoleTestCase(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.sessions = []

    def tearDown(self):
        for s in self.sessions:
            s.close()
        super().tearDown()

    def start_node(self, listening=LISTENING, **keys):
        """A node running the console; returns (node, port)."""
        nodeutil.write_file(self.path("counter.lua"), COUNTER_V1)
        log = self.path("node.log")
        settings = dict(
            start="debug_console",
            console_port=0,
            console_timeout=TIMEOUT_MS,
            luaservice="%s/?.lua;%s/service/?.lua" % (self.tmp, nodeutil.SOURCE_DIR),
            logfile=log,
            thread=3,
        )
        settings.update(keys)
        n = self.node(self.config(**settings), logfile=log)
        port = int(n.wait_log(listening).group(1))
        return n, port

    def session(self, port):
        s = Console(port)
        self.sessions.append(s)
        self.assertIn("Shoal debug console", s.banner)
        return s

    def file(self, name, text):
        return nodeutil.write_file(self.path(name), text)

    def handle(self, text):
        m = re.search(r"^(:[0-9a-f]{8})$", text, re.M)
        self.assertTrue(m, "no handle in %r" % text)
        return m.group(1)

    def assertError(self, answer, fragment):
        """answer is exactly one line: "error: ..." containing fragment."""
        lines = answer.splitlines()
        self.assertEqual(len(lines), 1, "one error line expected, got %r" % answer)
        self.assertTrue(lines[0].startswith("error: "), "not an error line: %r" % answer)
        self.assertIn(fragment, lines[0])

    def assertUsable(self, s):
        """The session still answers a command."""
        self.assertIn("services", s.cmd("list"))


class NetcatSession(ConsoleTestCase):
    def test_scripted_nc_session_with_telnet_bytes(self):
        """A whole session through `nc`: CR LF line ends and the telnet
        client's opening negotiation (IAC DO/WILL, a subnegotiation) are
        ignored; exit closes the session and nc ends cleanly."""
        n, port = self.start_node()
        script = (
            b"\xff\xfd\x03\xff\xfb\x18\xff\xfb\x1f\xff\xfa\x18\x00xterm\xff\xf0help\r\n"
            b"list\r\n"
            b"stat\r\n"
            b"log\r\n"
            b"net\r\n"
            b"frobnicate\r\n"
            b"exit\r\n"
        )
        r = subprocess.run(
            ["nc", "-N", "127.0.0.1", str(port)], input=script, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=scaled(15),
        )
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, "nc failed: %r\n%s" % (r.stderr, n.describe()))
        answers = out.split("shoal> ")
        self.assertEqual(len(answers), 8, "banner, 6 prompted answers, then bye: %r" % out)
        banner, help_, list_, stat, log, net, bad, bye = answers
        self.assertIn("Shoal debug console, node 1", banner)
        for name in ("help", "list", "stat", "mem", "gc", "info", "kill", "start", "inject", "reload", "log",
                     "net", "ping", "exit", "shutdown"):
            self.assertRegex(help_, r"(?m)^  %s\b" % name)
        self.assertRegex(list_, r"(?m)^:01000001 +logger")
        self.assertRegex(list_, r"(?m)^:[0-9a-f]{8} +snlua +debug_console$")
        self.assertRegex(stat, r"(?m)^handle +module +messages +cpu\(s\) +mqlen +mqpeak +mem$")
        self.assertRegex(stat, r"(?m)^total +\d+ svc")
        self.assertEqual(log, "log level info\n")
        self.assertRegex(net, r"(?m)^\d+ +listen +:[0-9a-f]{8} .* 127\.0\.0\.1:%d$" % port)
        self.assertRegex(net, r"(?m)^\d+ +connected +:[0-9a-f]{8} +\d+ +\d+ +\d+  127\.0\.0\.1:\d+$")
        self.assertEqual(bad, "error: unknown command 'frobnicate' (type help for the list)\n")
        self.assertEqual(bye, "bye\n")
        self.assertNotIn("\xff", out)
        n.wait_log(r"console 127\.0\.0\.1:\d+: exit$")  # commands are logged

    def test_nc_eof_ends_the_session(self):
        """Without exit, the client's EOF ends the session; a last line
        without a newline still runs."""
        n, port = self.start_node()
        r = subprocess.run(
            ["nc", "-N", "127.0.0.1", str(port)], input=b"log\nping :01000001\nnet", stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=scaled(15),
        )
        out = r.stdout.decode()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("log level info", out)
        self.assertIn("error: :01000001 is a C service (logger): it has no debug protocol", out)
        self.assertIn("2 sockets", out)
        n.wait_log(r"session from 127\.0\.0\.1:\d+ closed")
        s = self.session(port)
        self.assertIn("2 sockets", s.cmd("net"), "the listener and this session only")

    def test_telnet_client(self):
        """The real telnet client (Debian package telnet, installed by
        scripts/deps.sh) in a pty, as an operator types: each command is
        sent once the prompt is there, the answers are checked, exit ends
        telnet cleanly."""
        telnet = shutil.which("telnet")
        self.assertTrue(telnet, "telnet is not installed: scripts/deps.sh installs the Debian package `telnet`")
        n, port = self.start_node()
        t = TelnetPty(telnet, port)
        try:
            banner = t.read_until(PROMPT)
            self.assertIn("Connected to 127.0.0.1.", banner)
            self.assertIn("Shoal debug console, node 1", banner)
            self.assertRegex(t.cmd("list"), r"(?m)^:[0-9a-f]{8} +snlua +debug_console$")
            self.assertEqual(t.cmd("log"), "log level info\n")
            self.assertEqual(t.cmd("ping :01000001"),
                             "error: :01000001 is a C service (logger): it has no debug protocol\n")
            self.assertRegex(t.cmd("net"), r"(?m)^2 sockets$")
            t.send("exit")
            rest = t.read_to_eof()
            self.assertIn("bye\n", rest)
            self.assertIn("Connection closed by foreign host.", rest)
            self.assertEqual(t.wait(), 0, "telnet's exit code")
        finally:
            t.close()
        n.wait_log(r"console 127\.0\.0\.1:\d+: net$")


class TelnetPty:
    """The telnet client on a pseudo-terminal: it reads the keyboard from
    the pty (a pipe would make it quit at EOF before the answers come) and
    writes what it receives there; the tty echoes what we type."""

    def __init__(self, telnet, port):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([telnet, "127.0.0.1", str(port)], stdin=slave, stdout=slave, stderr=slave,
                                     close_fds=True, start_new_session=True)
        os.close(slave)
        self.buf = b""

    def read_more(self, deadline):
        left = deadline - time.monotonic()
        ready = select.select([self.master], [], [], max(0, left))[0] if left > 0 else []
        if not ready:
            return None
        try:
            return os.read(self.master, 65536)
        except OSError:  # EIO: telnet exited and the pty closed
            return b""

    def read_until(self, marker):
        deadline = time.monotonic() + scaled(10)
        while marker not in self.buf:
            data = self.read_more(deadline)
            if data is None:
                raise AssertionError("no %r from telnet within 10 s; got so far: %r" % (marker, self.buf))
            if not data:
                raise AssertionError("telnet ended before %r; got: %r" % (marker, self.buf))
            self.buf += data
        text, self.buf = self.buf.split(marker, 1)
        return text.replace(b"\r\n", b"\n").decode("utf-8", "replace")

    def read_to_eof(self):
        deadline = time.monotonic() + scaled(10)
        while True:
            data = self.read_more(deadline)
            if data is None:
                raise AssertionError("telnet did not end within 10 s; got so far: %r" % self.buf)
            if not data:
                text, self.buf = self.buf, b""
                return text.replace(b"\r\n", b"\n").decode("utf-8", "replace")
            self.buf += data

    def send(self, line):
        os.write(self.master, line.encode() + b"\n")

    def cmd(self, line):
        """Types a command; returns the answer (without the echoed line)."""
        self.send(line)
        echoed, _, answer = self.read_until(PROMPT).partition("\n")
        assert echoed == line, "the tty echo %r is not the typed %r" % (echoed, line)
        return answer

    def wait(self):
        return self.proc.wait(timeout=scaled(10))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


class Commands(ConsoleTestCase):
    def test_every_command(self):
        """help, list, stat, mem, gc, info, start, ping, log, net, kill with
        every form of SERVICE (handle, decimal, hex, local id, .name)."""
        n, port = self.start_node()
        s = self.session(port)
        self.assertIn("usage: kill SERVICE", s.cmd("help kill"))
        h = self.handle(s.cmd("start counter greetings"))
        num = int(h[1:], 16)
        self.file("name.lua", 'local shoal = require "shoal"\nshoal.name(".counter")\nreturn "named"\n')
        self.assertEqual(s.cmd("inject %s name.lua" % h), "named\n")
        for form in (h, str(num), "0x%08X" % num, str(num & 0xFFFFFF), ".counter"):
            info = s.cmd("info " + form)
            self.assertIn("handle    " + h, info, form)
            self.assertIn("name      counter", info)
            self.assertIn("file      %s/counter.lua" % self.tmp, info)
            self.assertRegex(info, r"lua mem   [\d.]+ KB \(\d+ bytes\), limit none")
            self.assertRegex(info, r"messages  \d+")
        self.assertRegex(s.cmd("list"), r"(?m)^%s +snlua +counter greetings$" % h)
        stat = s.cmd("stat .counter")
        self.assertRegex(stat, r"(?m)^%s +snlua +\d+ +[\d.]+ +\d+ +\d+ +[\d.]+ KB$" % h)
        self.assertEqual(len(stat.splitlines()), 2)
        self.assertRegex(s.cmd("stat"), r"(?m)^total +4 svc")
        mem = s.cmd("mem")
        self.assertRegex(mem, r"(?m)^%s +snlua +[\d.]+ KB  counter greetings$" % h)
        self.assertRegex(mem, r"total [\d.]+ KB in 4 services")
        self.assertRegex(s.cmd("mem " + h), r"^%s lua memory [\d.]+ KB \(\d+ bytes\), limit none\n$" % h)
        self.assertRegex(s.cmd("gc .counter"), r"^%s gc: [\d.]+ KB -> [\d.]+ KB \(freed -?[\d.]+ KB\)\n$" % h)
        # gc everywhere: the bootstrap exited; service_mgr, the console, the counter
        self.assertRegex(s.cmd("gc"), r"^gc: 3 Lua services, [\d.]+ KB -> [\d.]+ KB \(freed -?[\d.]+ KB\)\n$")
        self.assertRegex(s.cmd("ping .counter"), r"^pong from %s in [\d.]+ ms\n$" % h)
        self.assertEqual(s.cmd("log"), "log level info\n")
        self.assertEqual(s.cmd("log WARN"), "log level info -> warn\n")
        self.assertEqual(s.cmd("log info"), "log level warn -> info\n")
        self.assertIn("2 sockets", s.cmd("net"))
        self.assertEqual(s.cmd("kill .counter"), "killed %s\n" % h)
        self.assertError(s.cmd("ping " + h), "no such service " + h)
        self.assertNotIn("counter", s.cmd("list"))
        s.send("exit")
        self.assertEqual(s.read_to_eof(), "bye\n")

    def test_bad_commands_keep_the_session(self):
        """Each bad command prints exactly one "error: " line and the
        session goes on."""
        n, port = self.start_node()
        s = self.session(port)
        h = self.handle(s.cmd("start counter"))
        me = re.search(r"service (:[0-9a-f]{8})", s.banner).group(1)
        self.file("syntax.lua", "local x = = 1\n")
        cases = [
            ("frobnicate", "unknown command 'frobnicate' (type help for the list)"),
            ("kill", "usage: kill SERVICE"),
            ("info", "usage: info SERVICE"),
            ("inject " + h, "usage: inject SERVICE FILE"),
            ("start", "usage: start NAME [ARG...]"),
            ("list all", "too many arguments; usage: list"),
            ("info :0100ffff", "no such service :0100ffff"),
            ("info .nosuch", "no service named .nosuch"),
            ("ping nonsense", "bad service 'nonsense'"),
            ("kill :0100ffff", "no such service :0100ffff"),
            ("kill 65535", "no such service :0100ffff"),
            ("kill " + me, "is this console: use exit or shutdown"),
            ("ping :01000001", "is a C service (logger)"),
            ("kill 1", ":01000001 is the node's logger"),
            ("inject %s /nonexistent/fix.lua" % h, "cannot open /nonexistent/fix.lua: No such file or directory"),
            ("inject %s %s" % (h, self.tmp), "Is a directory"),
            ("inject %s syntax.lua" % h, "syntax.lua:1: unexpected symbol near '='"),
            ("reload %s /nonexistent/fix.lua" % h, "cannot open /nonexistent/fix.lua"),
            ("log loud", "bad log level 'loud'"),
            ("help nothing", "no command 'nothing'"),
            ("start no_such_service", "newservice no_such_service failed"),
            ("start ../etc", "bad service name '../etc'"),
            ('start counter "open', "unterminated quote"),
            ("\x1b[A", "control character 0x1b"),
            ("x" * 10000, "line too long"),
        ]
        for line, fragment in cases:
            self.assertError(s.cmd(line), fragment)
            self.assertRegex(s.cmd("ping " + h), r"^pong from ", "after %r" % line[:40])
        self.assertEqual(s.cmd(""), "", "a blank line is just a new prompt")
        self.assertEqual(s.cmd("   "), "")

    def test_inject(self):
        """inject runs a file inside the service: its return values and
        print output come back; it sees the service's globals and may call
        other services; a runtime error shows its traceback."""
        n, port = self.start_node()
        s = self.session(port)
        h = self.handle(s.cmd("start counter"))
        self.file("values.lua", 'print("hello", 42)\nreturn 1 + 1, "two", nil, hits\n')
        self.assertEqual(s.cmd("inject %s values.lua" % h), "hello\t42\n2\ttwo\tnil\t0\n")
        self.file("add.lua", call_file("add", 5))
        self.assertEqual(s.cmd("inject %s add.lua" % h), "5\n")
        self.assertEqual(s.cmd("inject %s add.lua" % h), "10\n")
        self.file("nothing.lua", "local x = 1\n")
        self.assertEqual(s.cmd("inject %s nothing.lua" % h), "(no values)\n")
        self.file("empty.lua", "")
        self.assertEqual(s.cmd("inject %s empty.lua" % h), "(no values)\n")
        self.file("setglobal.lua", "injected = 'yes'\nreturn injected, hits\n")
        self.assertEqual(s.cmd("inject %s setglobal.lua" % h), "yes\t2\n")
        self.file("boom.lua", "local function f()\n  error('boom on purpose')\nend\nf()\n")
        out = s.cmd("inject %s boom.lua" % h).splitlines()
        self.assertEqual(out[0], "error: boom.lua:2: boom on purpose", out)
        self.assertIn("  stack traceback:", out)
        self.assertTrue(any("boom.lua:4: in main chunk" in l for l in out), out)
        self.assertTrue(all(l.startswith("  ") for l in out[1:]), out)
        # a file name with a space, quoted
        self.file("my fix.lua", "return 'quoted'\n")
        self.assertEqual(s.cmd('inject %s "%s"' % (h, self.path("my fix.lua"))), "quoted\n")

    def test_hot_reload(self):
        """Edit the service's file and reload: a command behaves
        differently, a new command exists, the running total (a local) and
        the hit count (a global) survive, and new instances run the new
        code. A broken file changes nothing."""
        n, port = self.start_node()
        s = self.session(port)
        h = self.handle(s.cmd("start counter greetings"))
        for name, (cmd, args) in {
            "add5.lua": ("add", (5,)),
            "add1.lua": ("add", (1,)),
            "get.lua": ("get", ()),
            "version.lua": ("version", ()),
            "twice.lua": ("twice", ()),
        }.items():
            self.file(name, call_file(cmd, *args))
        self.assertEqual(s.cmd("inject %s add5.lua" % h), "5\n")
        self.assertEqual(s.cmd("inject %s add5.lua" % h), "10\n")
        self.assertEqual(s.cmd("inject %s version.lua" % h), "1\n")
        self.assertIn("attempt to call a nil value", s.cmd("inject %s twice.lua" % h))

        self.file("counter.lua", COUNTER_V2)
        self.assertRegex(
            s.cmd("reload " + h),
            r"^reloaded %s: 0 handler\(s\) set, 1 code value\(s\) replaced, 2 state value\(s\) kept\n$" % h,
        )
        self.assertEqual(s.cmd("inject %s version.lua" % h), "2\n")
        self.assertEqual(s.cmd("inject %s add1.lua" % h), "20\n", "add now adds 10x, on the kept total")
        self.assertEqual(s.cmd("inject %s twice.lua" % h), "40\n", "a new command")
        # label kept (a start argument), total kept, hits (a global) counted every call
        self.assertEqual(s.cmd("inject %s get.lua" % h), "greetings\t20\t8\n")
        # the bytecode cache was cleared: a new instance runs v2 from zero
        h2 = self.handle(s.cmd("start counter fresh"))
        self.assertEqual(s.cmd("inject %s add1.lua" % h2), "10\n")
        self.assertEqual(s.cmd("inject %s version.lua" % h2), "2\n")

        # a syntax error in the edited file: the error, and nothing changes
        self.file("counter.lua", "local x = = 1\n")
        self.assertError(s.cmd("reload " + h), "counter.lua:1: unexpected symbol")
        self.assertEqual(s.cmd("inject %s version.lua" % h), "2\n")
        self.assertEqual(s.cmd("inject %s get.lua" % h), "greetings\t20\t10\n")

        # reload from a patched copy, for this one service
        self.file("patched.lua", COUNTER_V3)
        self.assertIn("reloaded %s from patched.lua" % h, s.cmd("reload %s patched.lua" % h))
        self.assertEqual(s.cmd("inject %s version.lua" % h), "3\n")
        self.assertEqual(s.cmd("inject %s version.lua" % h2), "2\n", "other instances keep their code")
        self.assertEqual(s.cmd("inject %s add1.lua" % h), "30\n")


class Robustness(ConsoleTestCase):
    def test_stuck_service_times_out_and_sessions_are_independent(self):
        """A service busy in one message gives "error: timeout" after
        console_timeout, in every session; the console and the other
        sessions keep answering meanwhile."""
        n, port = self.start_node()
        a, b, c = self.session(port), self.session(port), self.session(port)
        h = self.handle(a.cmd("start counter"))
        spin_s = 3 * nodeutil.TIME_SCALE
        self.file("spin.lua", 'local shoal = require "shoal"\nlocal t = shoal.hpc() + %d\n'
                  "while shoal.hpc() < t do end\nreturn 'spun'\n" % int(spin_s * 1e9))
        t0 = time.monotonic()
        a.send("inject %s spin.lua" % h)
        time.sleep(0.2)
        t1 = time.monotonic()
        self.assertIn("services", b.cmd("list"))
        self.assertLess(time.monotonic() - t1, 0.5 * nodeutil.TIME_SCALE, "list does not wait for the stuck service")
        answer = c.cmd("ping " + h)
        self.assertError(answer, "timeout: %s did not answer within %d ms" % (h, TIMEOUT_MS))
        self.assertError(a.read_until(PROMPT), "timeout: %s did not answer within %d ms" % (h, TIMEOUT_MS))
        took = time.monotonic() - t0
        self.assertLess(took, spin_s, "the timeout came before the service was free again")
        self.assertError(b.cmd("info " + h), "timeout")
        self.assertIn("log level", a.cmd("log"))
        # once the loop ends the service answers again
        wait_until(lambda: c.cmd("ping " + h).startswith("pong"), scaled(10), "the service to answer again")

    def test_many_concurrent_sessions(self):
        """Eight sessions, their commands interleaved, from eight threads."""
        n, port = self.start_node()
        h = self.handle(self.session(port).cmd("start counter"))
        errors = []

        def worker(i):
            try:
                s = Console(port)
                for _ in range(20):
                    assert s.cmd("ping " + h).startswith("pong from")
                    assert "services" in s.cmd("list")
                    assert s.cmd("stat %s" % h).count("\n") == 2
                s.send("exit")
                assert s.read_to_eof() == "bye\n"
                s.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("session %d: %r" % (i, e))

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(scaled(60))
        self.assertEqual(errors, [], n.describe())

    def test_log_level(self):
        """log LEVEL changes what the node logs, at once."""
        n, port = self.start_node()
        s = self.session(port)
        me = re.search(r"service (:[0-9a-f]{8})", s.banner).group(1)
        self.file("logs.lua", 'local shoal = require "shoal"\nlocal tag = ...\n'
                  'shoal.debug("marker-debug") shoal.info("marker-info") shoal.error("marker-error")\n')
        self.assertEqual(s.cmd("inject %s logs.lua" % me), "(no values)\n")
        n.wait_log(r"marker-error")
        self.assertIn("marker-info", n.log())
        self.assertNotIn("marker-debug", n.log())
        self.assertEqual(s.cmd("log debug"), "log level info -> debug\n")
        self.file("logs2.lua", 'local shoal = require "shoal"\nshoal.debug("second-debug")\n')
        s.cmd("inject %s logs2.lua" % me)
        n.wait_log(r"DEBUG .*second-debug")
        self.assertEqual(s.cmd("log error"), "log level debug -> error\n")
        self.file("logs3.lua", 'local shoal = require "shoal"\nshoal.warn("third-warn") shoal.error("third-error")\n')
        s.cmd("inject %s logs3.lua" % me)
        n.wait_log(r"third-error")
        self.assertNotIn("third-warn", n.log())

    def test_binds_loopback_only(self):
        """By default the console listens on 127.0.0.1 only: `net` shows the
        listen address, and the host's other addresses refuse."""
        n, port = self.start_node()
        s = self.session(port)
        net = s.cmd("net")
        listeners = re.findall(r"(?m)^\d+ +listen +:[0-9a-f]{8} .*  (\S+)$", net)
        self.assertEqual(listeners, ["127.0.0.1:%d" % port], net)
        other = None
        try:
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing address
            other = probe.getsockname()[0]
            probe.close()
        except OSError:
            pass
        if other and not other.startswith("127."):
            with self.assertRaises(OSError, msg="the console answered on %s" % other):
                socket.create_connection((other, port), timeout=scaled(5)).close()
        self.assertNotIn("reachable from the network", n.log())

    def test_host_and_port_as_service_arguments(self):
        """`start = "debug_console HOST PORT"` (the bootstrap passes one
        string) works without console_* keys; a public address warns."""
        n, port = self.start_node(listening=r"debug console listening on 0\.0\.0\.0:(\d+)$",
                                  start="debug_console 0.0.0.0 0", console_port="1")
        n.wait_log(r"WARN .*reachable from the network")
        s = self.session(port)
        self.assertUsable(s)

    def start_node_expect_failure(self, **keys):
        log = self.path("node.log")
        settings = dict(start="debug_console", luaservice="%s/service/?.lua" % nodeutil.SOURCE_DIR, logfile=log)
        settings.update(keys)
        n = self.node(self.config(**settings), logfile=log)
        self.assertEqual(n.wait(20), 1, n.describe())
        return n.log() + n.stderr()  # a bad value in the config: stderr; at the console's start: the log

    def test_bad_settings_stop_the_start(self):
        self.assertIn("no port: set console_port", self.start_node_expect_failure())
        self.assertIn("console_port must be an integer in -1..65535, got 'http'",
                      self.start_node_expect_failure(console_port="http"))
        self.assertIn("console_timeout must be an integer",
                      self.start_node_expect_failure(console_port=0, console_timeout=0))
        self.assertIn("console_idle_ms must be an integer in 100..86400000, got '5'",
                      self.start_node_expect_failure(console_port=0, console_idle_ms=5))
        # the port is taken
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        try:
            text = self.start_node_expect_failure(console_port=busy.getsockname()[1])
            self.assertIn("debug_console: cannot listen on 127.0.0.1:%d" % busy.getsockname()[1], text)
        finally:
            busy.close()

# A game service's reports, as a baseapp or a cellapp gives them
# (shoal/debug.lua's provide): PLAYERS players, entity ids ENTITIES.
REPORTER = r"""
local shoal = require "shoal"
local sdebug = require "shoal.debug"
local name, players, entities = ...
shoal.start(function()
	sdebug.provide("players", function()
		local lines = { "baseapp " .. name .. ": " .. players .. " players" }
		for i = 1, tonumber(players) do
			lines[#lines + 1] = string.format("  %s-%d", name, i)
		end
		return lines, tonumber(players)
	end)
	sdebug.provide("entity", function(id)
		for e in entities:gmatch("%d+") do
			if tonumber(e) == id then
				return { name .. " has entity " .. id }
			end
		end
		return nil
	end)
	sdebug.provide("spaces", function()
		error("a broken report")
	end)
end)
"""


class GameReports(ConsoleTestCase):
    def test_players_spaces_entity_failover(self):
        """The game commands print what the node's services report and sum
        it; services without a report are silent; a failing report is one
        line and the session goes on; bad ids are refused."""
        n, port = self.start_node()
        self.file("reporter.lua", REPORTER)
        s = self.session(port)
        self.assertEqual(s.cmd("players"), "0 players from 0 services\n")
        self.assertEqual(s.cmd("failover"), "0 events from 0 services\n")
        self.handle(s.cmd("start reporter a 2 5,7"))
        self.handle(s.cmd("start reporter b 3 9"))
        out = s.cmd("players")
        self.assertIn("baseapp a: 2 players\n  a-1\n  a-2\n", out)
        self.assertIn("baseapp b: 3 players\n  b-1\n  b-2\n  b-3\n", out)
        self.assertTrue(out.endswith("5 players from 2 services\n"), out)
        self.assertEqual(s.cmd("entity 7"), "a has entity 7\n1 reports from 1 services\n")
        self.assertEqual(s.cmd("entity 9"), "b has entity 9\n1 reports from 1 services\n")
        self.assertEqual(s.cmd("entity 8"), "entity 8: not on this node\n")
        out = s.cmd("spaces")
        self.assertTrue(out.startswith("0 spaces from 0 services\n"), out)
        self.assertEqual(out.count("failed: "), 2, out)
        self.assertIn("a broken report", out)
        for bad in ("entity", "entity abc", "entity 0", "entity -1", "entity 99999999999999999"):
            self.assertError(s.cmd(bad), "id" if bad != "entity" else "entity")
        self.assertUsable(s)


class Stopping(ConsoleTestCase):
    def test_shutdown_stops_the_node(self):
        n, port = self.start_node()
        other = self.session(port)
        s = self.session(port)
        s.send("shutdown")
        self.assertEqual(s.read_to_eof(), "shutting down the node\n")
        self.assertEqual(n.wait(15), 0, n.describe())
        self.assertIn("shutdown requested from 127.0.0.1:", n.log())
        self.assertIn("node stopped", n.log())
        self.assertIn("the node is shutting down", other.read_to_eof())

    def test_exit_closes_only_that_session_and_sigterm_closes_all(self):
        n, port = self.start_node()
        a, b = self.session(port), self.session(port)
        a.send("quit")
        self.assertEqual(a.read_to_eof(), "bye\n")
        self.assertUsable(b)
        n.send_signal(signal.SIGTERM)
        self.assertEqual(b.read_to_eof(), "\nthe node is shutting down\n")
        self.assertEqual(n.wait(15), 0, n.describe())


if __name__ == "__main__":
    nodeutil.main()
