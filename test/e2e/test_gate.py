"""e2e: the gate (cservice/gate.c) on real sockets.

Every test starts a node whose start service (services/gate_test_main.lua)
launches a gate through the watchdog template (lualib/shoal/gateserver.lua)
on 127.0.0.1, port 0; the runner reads the port from the gate's log line.
Clients are plain Python sockets (or bench/gate_load and the chat demo's
chat_client, built by CMake and named by GATE_LOAD / CHAT_CLIENT).

Classes (ctest runs each as e2e_gate_<Class>):
  Basics   echo through every kind of agent, empty frames, frames split at
           every byte and coalesced, 4-byte headers, truncated and
           malformed streams
  Limits   oversized frames, maxconn, idle timeout, a client that stops
           reading (write buffer hard limit, bounded RSS)
  Load     1,000 concurrent connections, every byte checked
  Routing  hash(uid) routing over 4 logic instances
  Chat     the examples/chat demo with chat_client

Every wait is bounded (SHOAL_E2E_TIME_SCALE stretches them).
"""

import os
import random
import re
import selectors
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, scaled  # noqa: E402

# Tools and the C echo agent: named by CMake (test/e2e/CMakeLists.txt), or
# found next to the shoal binary's build tree when run by hand.
GATE_LOAD = os.environ.get("GATE_LOAD")
CHAT_CLIENT = os.environ.get("CHAT_CLIENT")
TEST_CPATH = os.environ.get("GATE_TEST_CPATH")


def tool(path_from_env, name):
    return path_from_env or os.path.join(os.path.dirname(nodeutil.SHOAL_BIN), "bench", name)


# ---- framing helpers ----

def frame(body, header=2):
    return struct.pack(">H" if header == 2 else ">I", len(body)) + body


def recv_exact(s, n, timeout=5.0):
    """Reads exactly n bytes (bounded); raises AssertionError on EOF or timeout."""
    deadline = time.monotonic() + scaled(timeout)
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("timed out reading %d bytes (got %d)" % (n, len(buf)))
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(buf))
        except socket.timeout:
            continue
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return bytes(buf)


def recv_frame(s, header=2, timeout=5.0):
    h = recv_exact(s, header, timeout)
    n = struct.unpack(">H" if header == 2 else ">I", h)[0]
    return recv_exact(s, n, timeout) if n else b""


def echo(s, body, header=2):
    s.sendall(frame(body, header))
    got = recv_frame(s, header)
    assert got == body, "echo mismatch: sent %d bytes, got %d" % (len(body), len(got))


def closed_within(s, timeout):
    """True if the server closes s (EOF or reset) within timeout seconds;
    data that arrives meanwhile is read and dropped."""
    deadline = time.monotonic() + scaled(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            if not s.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rst_close(s):
    """Closes with a reset instead of a FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def vm_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


class GateCase(NodeTestCase):
    """Starts a gate test node and finds its port."""

    def start_gate(self, gate_args="", agent="lua", **keys):
        build = os.path.dirname(nodeutil.SHOAL_BIN)
        cpath = "%s/cservice/?.so;%s" % (build, TEST_CPATH or build + "/test/e2e/cservice/?.so")
        log = self.path("node.log")
        cfg = self.config(
            start="gate_test_main",
            luaservice=nodeutil.e2e_luaservice(),
            cpath=cpath,
            logfile=log,
            gate_args=gate_args,
            gate_agent=agent,
            **keys
        )
        self.gate_node = self.node(cfg, logfile=log)
        m = self.gate_node.wait_log(r"gate: listening on [\d.]+:(\d+)", timeout=15)
        self.gate_node.wait_log(r"gate test node ready", timeout=15)
        self.port = int(m.group(1))
        return self.gate_node

    def tearDown(self):
        # Stop gracefully: the gate's and the watchdog's exit paths run, and
        # a sanitizer build reports leaks and errors on stderr.
        try:
            n = getattr(self, "gate_node", None)
            if n is not None and n.running():
                code, _ = n.stop(timeout=30)
                self.assertEqual(code, 0, "node exit code\n" + n.describe())
            if n is not None:
                err = n.stderr()
                self.assertNotRegex(err, r"Sanitizer|runtime error:", n.describe())
        finally:
            super().tearDown()

    def assert_alive(self):
        n = self.gate_node
        self.assertTrue(n.running(), "the node died\n" + n.describe())
        s = connect(self.port)
        try:
            echo(s, b"still alive")
        finally:
            s.close()

    def log_count(self, pattern):
        return len(re.findall(pattern, self.gate_node.log(), re.M))


# ---- Basics ----

class Basics(GateCase):
    def check_echo_agent(self, agent):
        self.start_gate("maxpacket=65535", agent=agent)
        s = connect(self.port)
        for body in [b"hello", b"", b"\x00\xff" * 100, bytes(range(256)) * 255 + b"x" * 255]:
            echo(s, body)
        s.close()
        self.assert_alive()

    def test_echo_lua_agent_per_connection(self):
        """Frames reach a Lua agent made per connection and come back intact."""
        self.check_echo_agent("lua")

    def test_echo_shared_lua_agents(self):
        """The same through a pool of 4 shared Lua agents."""
        self.check_echo_agent("pool")

    def test_echo_c_agent(self):
        """The same through a C agent that hands the payload pointer back
        (session = -conn path of the gate's writer)."""
        self.check_echo_agent("c")

    def test_echo_watchdog_accept(self):
        """accept: frames go to the watchdog itself, which echoes them."""
        self.check_echo_agent("watchdog")

    def test_frames_sent_before_the_agent_exists(self):
        """Frames sent right after connecting, before the watchdog has made
        the agent (a largest frame among them), are held and then delivered
        in order."""
        self.start_gate()
        big = bytes(random.Random(2).randrange(256) for _ in range(65535))
        for _ in range(5):
            s = connect(self.port)
            s.sendall(frame(big) + frame(b"") + frame(b"x"))
            self.assertEqual([recv_frame(s) for _ in range(3)], [big, b"", b"x"])
            s.close()

    def test_zero_length_frames(self):
        """A zero-length frame is a valid empty message: it is delivered and
        echoed as a bare header, between ordinary frames."""
        self.start_gate()
        s = connect(self.port)
        s.sendall(frame(b"") + frame(b"a") + frame(b"") + frame(b""))
        self.assertEqual([recv_frame(s) for _ in range(4)], [b"", b"a", b"", b""])
        s.close()

    def test_frame_one_byte_at_a_time(self):
        """A frame sent one byte at a time with small pauses arrives whole."""
        self.start_gate()
        s = connect(self.port)
        body = bytes(random.Random(1).randrange(256) for _ in range(300))
        data = frame(body)
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.002)
        self.assertEqual(recv_frame(s), body)
        s.close()

    def test_frame_split_at_every_position(self):
        """A frame split in two at each possible position (header included),
        with a pause between the halves, is echoed intact every time."""
        self.start_gate()
        s = connect(self.port)
        body = b"split me at every byte boundary!"
        data = frame(body)
        for cut in range(1, len(data)):
            s.sendall(data[:cut])
            time.sleep(0.01)
            s.sendall(data[cut:])
            self.assertEqual(recv_frame(s), body, "cut at %d" % cut)
        s.close()

    def test_many_frames_coalesced(self):
        """Hundreds of frames of varied sizes (empty ones too) in one write
        all come back, in order, byte for byte."""
        self.start_gate()
        s = connect(self.port)
        rnd = random.Random(7)
        bodies = [bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 5, 100, 1500])))
                  for _ in range(400)]
        echo(s, b"ready")  # the agent is in place: nothing is held back any more
        s.sendall(b"".join(frame(b) for b in bodies))
        for i, b in enumerate(bodies):
            self.assertEqual(recv_frame(s), b, "frame %d" % i)
        s.close()

    def test_header4_large_frames(self):
        """header=4: frames past 64 KB, split and coalesced."""
        self.start_gate("header=4 maxpacket=300000")
        s = connect(self.port)
        big = bytes(random.Random(3).randrange(256) for _ in range(200000))
        echo(s, big, header=4)
        data = frame(b"abc", 4) + frame(b"", 4) + frame(big, 4)
        s.sendall(data[:3])
        time.sleep(0.02)
        s.sendall(data[3:70000])
        time.sleep(0.02)
        s.sendall(data[70000:])
        self.assertEqual([recv_frame(s, 4) for _ in range(3)], [b"abc", b"", big])
        s.close()

    def test_truncated_frame(self):
        """A stream that ends inside a frame closes that connection with a
        log line; others are unaffected."""
        self.start_gate()
        other = connect(self.port)
        echo(other, b"before")
        s = connect(self.port)
        echo(s, b"ok")
        s.sendall(struct.pack(">H", 100) + b"only ten b")
        time.sleep(0.05)
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(closed_within(s, 5), "truncated connection not closed")
        self.gate_node.wait_log(r"closed: truncated frame \(12 bytes of an unfinished frame\)")
        echo(other, b"after")
        s.close()
        other.close()

    def test_malformed_streams_never_crash(self):
        """200 connections send random bytes, half-frames, huge headers,
        and leave with FIN or RST at random moments; the gate survives,
        a connection opened before keeps working, and new ones work."""
        self.start_gate("maxpacket=2000 maxconn=400")
        keeper = connect(self.port)
        echo(keeper, b"keeper")
        rnd = random.Random(11)
        socks = []
        for i in range(200):
            s = connect(self.port)
            kind = i % 5
            if kind == 0:
                payload = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000)))
            elif kind == 1:
                payload = struct.pack(">H", 0xFFFF) + b"x" * 10  # oversized
            elif kind == 2:
                payload = struct.pack(">H", 1500) + b"y" * rnd.randrange(0, 1500)  # truncated
            elif kind == 3:
                payload = b"\x00"  # half a header
            else:
                payload = frame(b"fine") + bytes([rnd.randrange(256)])
            try:
                s.sendall(payload)
            except OSError:
                pass
            socks.append(s)
        for i, s in enumerate(socks):
            if i % 2:
                rst_close(s)
            else:
                s.close()
        echo(keeper, b"keeper still here")
        time.sleep(0.3)
        self.assert_alive()
        n = self.gate_node
        self.assertGreater(self.log_count(r"closed: oversized frame"), 0, n.describe())
        # More than 20 lines a second are counted, not written.
        n.wait_log(r"gate: \d+ more connection log lines suppressed in the last second")
        keeper.close()


# ---- Limits ----

class Limits(GateCase):
    def test_oversized_header_closes_only_that_connection(self):
        """A header over maxpacket closes that connection with a log line;
        the other connections keep echoing."""
        self.start_gate("maxpacket=1000")
        others = [connect(self.port) for _ in range(5)]
        for o in others:
            echo(o, b"x" * 1000)  # exactly maxpacket is fine
        bad = connect(self.port)
        echo(bad, b"fine first")
        bad.sendall(struct.pack(">H", 1001) + b"z" * 20)
        self.assertTrue(closed_within(bad, 5), "oversized connection not closed")
        self.gate_node.wait_log(r"closed: oversized frame \(header says 1001 bytes, maxpacket 1000\)")
        for o in others:
            echo(o, b"unaffected")
            o.close()
        bad.close()
        self.assert_alive()

    def test_maxconn(self):
        """Over maxconn a connection is refused (closed at once, logged) while
        the open ones keep working; a flood of 60 more changes nothing; after
        one leaves, a new one is accepted."""
        self.start_gate("maxconn=20")
        conns = [connect(self.port) for _ in range(20)]
        for i, c in enumerate(conns):
            echo(c, b"conn %d" % i)
        extra = connect(self.port)
        self.assertTrue(closed_within(extra, 5), "connection 21 was not refused")
        extra.close()
        self.gate_node.wait_log(r"refused: maxconn 20 reached")
        flood = [connect(self.port) for _ in range(60)]
        for f in flood:
            self.assertTrue(closed_within(f, 5), "a flood connection was not refused")
            f.close()
        for i, c in enumerate(conns):
            echo(c, b"still %d" % i)
        conns.pop().close()
        # The gate hears of the close a moment later: retry a little.
        deadline = time.monotonic() + scaled(5)
        while True:
            s = connect(self.port)
            try:
                echo(s, b"room again")
                break
            except (AssertionError, ConnectionResetError):
                # Refused: the old connection still counts until its
                # socket is really closed.
                s.close()
                self.assertLess(time.monotonic(), deadline, "no room after a connection left")
                time.sleep(0.05)
        s.close()
        for c in conns:
            echo(c, b"fine")
            c.close()

    def test_idle_timeout(self):
        """A client that never sends is closed after idle ms (logged); one
        that keeps sending stays; one that sent and then went quiet is
        closed too."""
        self.start_gate("idle=600")
        t0 = time.monotonic()
        silent = connect(self.port)
        quiet = connect(self.port)
        echo(quiet, b"one frame, then silence")
        busy = connect(self.port)
        while time.monotonic() - t0 < 1.5:
            echo(busy, b"tick")
            time.sleep(0.1)
        self.assertTrue(closed_within(silent, 5), "silent client not closed")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.55)
        self.assertTrue(closed_within(quiet, 5), "quiet client not closed")
        echo(busy, b"busy client still open")
        self.gate_node.wait_log(r"closed: idle for \d+ ms \(limit 600 ms\)")
        for s in (silent, quiet, busy):
            s.close()

    def test_idle_timeout_bounded(self):
        """The close of a silent client comes between idle and idle plus a
        tick plus scheduling slack."""
        self.start_gate("idle=400")
        s = connect(self.port)
        t0 = time.monotonic()
        self.assertTrue(closed_within(s, 5), "silent client not closed")
        dt = time.monotonic() - t0
        self.assertGreaterEqual(dt, 0.35)
        self.assertLess(dt, scaled(2.0))
        s.close()

    def test_client_that_stops_reading(self):
        """A client that sends big frames but never reads fills its socket;
        the echo piles up in the node's write buffer until it passes
        socket_limit_kb (256 KB here, below the gate's own cap), and the
        connection is aborted, without the node's RSS growing past a bound.
        Other clients keep working."""
        self.start_gate("maxpacket=65535", socket_limit_kb=256, socket_warn_kb=64)
        pid = self.gate_node.proc.pid
        other = connect(self.port)
        echo(other, b"x" * 60000)
        rss0 = vm_kb(pid, "VmRSS")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", self.port))
        s.settimeout(scaled(10))
        echo(s, b"ready")  # the agent is in place; from now on this client never reads
        chunk = frame(bytes(random.Random(5).randrange(256) for _ in range(60000)))
        sent = 0
        peak = rss0
        deadline = time.monotonic() + scaled(30)
        try:
            while sent < 100 * 1024 * 1024 and time.monotonic() < deadline:
                s.sendall(chunk)
                sent += len(chunk)
                if sent % (20 * len(chunk)) == 0:
                    peak = max(peak, vm_kb(pid, "VmRSS"))
        except (ConnectionResetError, BrokenPipeError, socket.timeout) as e:
            if isinstance(e, socket.timeout):
                self.fail("the server stopped reading the client (send blocked)")
        self.gate_node.wait_log(r"closed: write buffer over its limit of 256 KB")
        peak = max(peak, vm_kb(pid, "VmRSS"))
        hwm = vm_kb(pid, "VmHWM")
        print("slow reader: sent %d KB before the close; RSS %d KB -> peak %d KB (VmHWM %d KB)"
              % (sent // 1024, rss0, peak, hwm), file=sys.stderr)
        self.assertLess(sent, 100 * 1024 * 1024, "100 MB went in and the connection is still open")
        # Sent: sent bytes; the node must not have kept them.
        self.assertLess(peak - rss0, 64 * 1024, "RSS grew by %d KB (sent %d KB)" % (peak - rss0, sent // 1024))
        self.assertLess(hwm - rss0, 96 * 1024, "peak RSS grew by %d KB" % (hwm - rss0))
        s.close()
        echo(other, b"y" * 60000)
        other.close()
        self.assert_alive()


# ---- Load ----

class Load(GateCase):
    CONNS = 1000

    def run_gate_load(self, header=2, size=256, rounds=20):
        gate_load = tool(GATE_LOAD, "gate_load")
        self.assertTrue(os.access(gate_load, os.X_OK), "no gate_load at %s (set GATE_LOAD)" % gate_load)
        r = subprocess.run(
            [gate_load, "-h", "127.0.0.1", "-p", str(self.port), "-c", str(self.CONNS), "-s", str(size),
             "-n", str(rounds), "-t", str(int(scaled(60))), "-H", str(header)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=scaled(120))
        m = re.search(r"RESULT ok=(\d+) errors=(\d+) mismatches=(\d+) closed=(\d+)", r.stdout)
        detail = "gate_load exit %d\nstdout:\n%s\nstderr:\n%s\n%s" % (
            r.returncode, r.stdout, r.stderr[-3000:], self.gate_node.describe())
        self.assertTrue(m, detail)
        ok, errors, mismatches, closed = map(int, m.groups())
        self.assertEqual((ok, errors, mismatches, closed), (self.CONNS * rounds, 0, 0, 0), detail)
        self.assertEqual(r.returncode, 0, detail)

    def python_load(self, size=256, rounds=5):
        """The same check in Python (selectors): CONNS connections, each
        sends a distinct frame, waits for the echo, checks it, repeats."""
        sel = selectors.DefaultSelector()
        conns = []
        for i in range(self.CONNS):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=scaled(10))
            s.setblocking(False)
            st = {"i": i, "round": 0, "want": None, "buf": bytearray()}
            conns.append((s, st))
        ok = 0

        def start(s, st):
            body = bytes(((st["i"] * 31 + st["round"] * 7 + k) & 0xFF) for k in range(size))
            st["want"] = frame(body)
            st["buf"] = bytearray()
            s.sendall(st["want"])

        for s, st in conns:
            s.setblocking(True)
            start(s, st)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, st)
        deadline = time.monotonic() + scaled(60)
        live = len(conns)
        while live and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s, st = key.fileobj, key.data
                data = s.recv(65536)
                self.assertTrue(data, "connection %d closed by the gate" % st["i"])
                st["buf"] += data
                if len(st["buf"]) >= len(st["want"]):
                    self.assertEqual(bytes(st["buf"]), st["want"], "connection %d round %d" % (st["i"], st["round"]))
                    ok += 1
                    st["round"] += 1
                    if st["round"] == rounds:
                        sel.unregister(s)
                        live -= 1
                    else:
                        s.setblocking(True)
                        start(s, st)
                        s.setblocking(False)
        self.assertEqual(ok, self.CONNS * rounds)
        for s, _ in conns:
            s.close()

    def test_1000_connections_lua_agents(self):
        """1,000 concurrent connections, one Lua agent each, 20 echoes per
        connection of 256 distinct bytes, every byte checked (gate_load)."""
        self.start_gate("maxconn=1100 backlog=2048", agent="lua", call_timeout=30000)
        self.run_gate_load()
        self.assert_alive()

    def test_1000_connections_c_agent(self):
        """The same through the zero-copy C agent, 4 KB frames."""
        self.start_gate("maxconn=1100 backlog=2048", agent="c")
        self.run_gate_load(size=4096, rounds=20)
        self.assert_alive()

    def test_1000_connections_python_client(self):
        """The same checked by a Python client (shared Lua agents)."""
        self.start_gate("maxconn=1100 backlog=2048", agent="pool")
        self.python_load()
        self.assert_alive()


# ---- Routing ----

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
M64 = (1 << 64) - 1


def route_hash(uid, n):
    """lualib/shoal/router.lua's "hash" rule: jump hash of FNV-1a 64."""
    h = FNV_OFFSET
    for b in str(uid).encode():
        h = ((h ^ b) * FNV_PRIME) & M64
    key, b, j = h, -1, 0
    while j < n:
        b = j
        key = (key * 2862933555777941757 + 1) & M64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b + 1


class Routing(GateCase):
    def test_hash_routing_spreads_and_sticks(self):
        """40 clients log in with distinct uids and send 5 messages each; the
        agent routes every message by hash(uid) over 4 logic instances. Each
        uid's messages all reach one instance (its count goes 1..5 there),
        the instance is the one the rule predicts, and all 4 are used."""
        self.start_gate(agent="route", gate_logic=4)
        used = {}
        clients = []
        for k in range(40):
            uid = "player%03d" % k
            s = connect(self.port)
            s.sendall(frame(struct.pack(">H", 1) + uid.encode()))
            reply = recv_frame(s)
            self.assertEqual(reply[:2], struct.pack(">H", 1), reply)
            clients.append((uid, s))
        for rnd in range(1, 6):
            for uid, s in clients:
                s.sendall(frame(struct.pack(">H", 2) + b"msg%d" % rnd))
            for uid, s in clients:
                reply = recv_frame(s)
                m = re.match(rb"i=(\d) uid=(\S+) n=(\d+) msg(\d)$", reply[2:])
                self.assertTrue(m, reply)
                inst = int(m.group(1))
                self.assertEqual(m.group(2).decode(), uid)
                self.assertEqual(int(m.group(3)), rnd, "%s: message %d counted %s at instance %d"
                                 % (uid, rnd, m.group(3), inst))
                used.setdefault(uid, set()).add(inst)
        for uid, insts in used.items():
            self.assertEqual(len(insts), 1, "%s reached instances %s" % (uid, insts))
            self.assertEqual(insts, {route_hash(uid, 4)}, uid)
        self.assertEqual(set().union(*used.values()), {1, 2, 3, 4})
        # A message before login and an unknown protocol get errors, not crashes.
        s = connect(self.port)
        s.sendall(frame(struct.pack(">H", 2) + b"early"))
        self.assertIn(b"login first", recv_frame(s))
        s.sendall(frame(struct.pack(">H", 1) + b"late"))
        recv_frame(s)
        s.sendall(frame(struct.pack(">H", 99) + b"what"))
        self.assertIn(b"no service handles protocol 99", recv_frame(s))
        s.sendall(frame(b"x"))
        self.assertIn(b"bad frame", recv_frame(s))
        s.close()
        for _, c in clients:
            c.close()
        self.assert_alive_route()

    def assert_alive_route(self):
        self.assertTrue(self.gate_node.running(), self.gate_node.describe())


# ---- Chat ----

class Chat(NodeTestCase):
    def test_chat_demo(self):
        """examples/chat: a watcher (Python) and bob (chat_client --script)
        log in; the room broadcasts "bob: hello room" to both."""
        chat_client = tool(CHAT_CLIENT, "chat_client")
        self.assertTrue(os.access(chat_client, os.X_OK), "no chat_client at %s (set CHAT_CLIENT)" % chat_client)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        cfg = os.path.join(nodeutil.SOURCE_DIR, "examples", "chat", "config.lua")
        n = self.node(cfg, env={"CHAT_PORT": str(port)})
        n.wait_log(r"gate: listening on 127\.0\.0\.1:%d" % port, timeout=15)
        w = connect(port)
        w.sendall(frame(b"login watcher"))
        self.assertEqual(recv_frame(w), b"welcome watcher")
        r = subprocess.run([chat_client, "127.0.0.1", str(port), "bob", "--script", "hello room", "--expect", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=scaled(20))
        self.assertEqual(r.returncode, 0, r.stderr + n.describe())
        self.assertEqual(r.stdout.splitlines(), ["welcome bob", "bob: hello room"], r.stdout)
        got = [recv_frame(w) for _ in range(3)]
        self.assertEqual(got, [b"* bob joined", b"bob: hello room", b"* bob left"])
        w.sendall(frame(b"say bye") + frame(b"quit"))
        self.assertEqual(recv_frame(w), b"watcher: bye")
        self.assertEqual(recv_frame(w), b"bye watcher")
        self.assertTrue(closed_within(w, 5))
        w.close()
        code, _ = n.stop()
        self.assertEqual(code, 0, n.describe())


if __name__ == "__main__":
    nodeutil.main()
