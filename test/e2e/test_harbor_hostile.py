"""e2e: the harbor against hostile or broken peers (cservice/harbor.c,
harbor_handshake.c, harbor_link.c). Real nodes on 127.0.0.1 as in
test_cluster.py; the test itself plays the stranger, and, knowing the
secret, a peer node that sends what a real harbor never would.

Covers: 600 idle connections held against a harbor port do not keep a
restarted peer out (it is back within the detection bound plus the
dialer's longest backoff); message frames sent before the handshake are
refused at once and the node's memory does not grow; messages of type
SOCKET, SYSTEM, HARBOR and DEBUG from another node are refused with a log
line and an error for the caller while the node stays up and serves; a Lua
protocol id over 255 is refused where it is registered."""

import hashlib
import hmac
import os
import re
import resource
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, scaled, wait_until  # noqa: E402
from test_cluster import BOUND_S, READY, SECRET, ClusterCase, ask, free_ports  # noqa: E402

BACKOFF_MAX_S = 2.0  # a dialer's longest wait between two tries (harbor_int.h)
HELLO, PROOF, WELCOME, REFUSE, MSG, FIRST, MORE = 1, 2, 3, 4, 5, 6, 7
PTYPE = {"TEXT": 0, "RESPONSE": 1, "ERROR": 2, "LUA": 4, "SOCKET": 5, "SYSTEM": 6, "HARBOR": 7, "DEBUG": 8}


def frame(kind, body=b""):
    return struct.pack(">IB", len(body) + 1, kind) + body


def msg_frame(ptype, source, dest, session, payload):
    """MSG: ptype u8, source u32, dest u32, session i32, 4 reserved bytes, payload."""
    return frame(MSG, struct.pack(">BIIiI", ptype, source, dest, session, 0) + payload)


def read_frame(s, timeout):
    """One frame from s: (kind, body); raises on EOF or timeout."""
    s.settimeout(scaled(timeout))
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        chunk = s.recv(65536)
        if not chunk:
            raise AssertionError("connection closed while reading a frame (%r so far)" % buf)
        buf += chunk
    n = struct.unpack(">I", buf[:4])[0]
    return buf[4], buf[5:4 + n], buf[4 + n:]


class FakePeer:
    """A harbor peer played by the test: dials a node, proves the secret as
    node `me`, then sends raw frames."""

    def __init__(self, port, me, secret=SECRET):
        self.me = me
        self.s = socket.create_connection(("127.0.0.1", port), timeout=scaled(5))
        self.rest = b""
        kind, body, self.rest = read_frame(self.s, 5)
        assert kind == HELLO and len(body) == 25, (kind, body)
        self.node, their_nonce = body[0], body[1:17]
        my_nonce, boot = os.urandom(16), os.urandom(8)
        mac = hmac.new(secret.encode(), b"shoal-harbor-1D" + bytes([me, self.node]) + their_nonce + my_nonce,
                       hashlib.sha256).digest()
        self.s.sendall(frame(PROOF, bytes([me]) + my_nonce + boot + mac))
        kind, body = self.next_frame(5)
        assert kind == WELCOME, (kind, body)

    def next_frame(self, timeout=5):
        buf = self.rest
        self.s.settimeout(scaled(timeout))
        while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("node %d closed the link" % self.node)
            buf += chunk
        n = struct.unpack(">I", buf[:4])[0]
        self.rest = buf[4 + n:]
        return buf[4], buf[5:4 + n]

    def next_message(self, timeout=5):
        """The next MSG frame (PINGs and NAMEs skipped): (ptype, source, dest, session, payload)."""
        deadline = time.monotonic() + scaled(timeout)
        while time.monotonic() < deadline:
            kind, body = self.next_frame(timeout)
            if kind == MSG:
                ptype, source, dest, session = struct.unpack(">BIIi", body[:13])
                return ptype, source, dest, session, body[17:]
        raise AssertionError("no message from node %d within %.1f s" % (self.node, scaled(timeout)))

    def ping(self):
        """A PING: the node hears from us (a silent peer is lost at its detection bound)."""
        self.s.sendall(frame(8, struct.pack(">Q", 0)))

    def close(self):
        self.s.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


class Strangers:
    """Holds `count` idle TCP connections to port from a thread, opening a
    new one for each the node closes, until stop(): the attacker of the
    issue, bounded in count and time. Opens are paced by a token bucket:
    `rate` a second on average, up to `count` at once, so a batch the node
    closes together is replaced at once."""

    def __init__(self, port, count, rate, max_seconds):
        self.port, self.count, self.rate, self.max_seconds = port, count, rate, max_seconds
        self.stopping = threading.Event()
        self.opened = 0  # connections opened in all
        self.held = 0  # connections open now
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open_one(self):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", self.port))
        self.opened += 1
        return s

    def run(self):
        socks = []
        t0 = last = time.monotonic()
        tokens = float(self.count)
        try:
            while not self.stopping.is_set() and time.monotonic() - t0 < self.max_seconds:
                now = time.monotonic()
                tokens = min(float(self.count), tokens + (now - last) * self.rate)
                last = now
                while len(socks) < self.count and tokens >= 1:
                    socks.append(self.open_one())
                    tokens -= 1
                self.held = len(socks)
                readable = select.select(socks, [], [], 0.02)[0] if socks else []
                for s in readable:
                    try:
                        alive = s.recv(4096) != b""
                    except BlockingIOError:
                        alive = True
                    except OSError:
                        alive = False
                    if not alive:
                        socks.remove(s)
                        s.close()
        finally:
            for s in socks:
                s.close()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)


class UnprovenFlood(ClusterCase):
    """The nodes run the default heartbeat (1 s x 3): a stranger's idle
    connection used to be held for 4 s then, so 200 connects a second kept
    all 512 link slots of node 1 taken."""

    HEARTBEAT_MS = 1000
    BOUND_S = (HEARTBEAT_MS * 3 + 1000) / 1000.0

    def start_node(self, n, secret=SECRET, **extra):
        extra.setdefault("heartbeat_ms", self.HEARTBEAT_MS)
        return super().start_node(n, secret, **extra)

    def test_idle_connections_do_not_keep_a_restarted_peer_out(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 2048:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        flood = Strangers(self.harbor_port[1], 600, rate=200, max_seconds=scaled(60)).start()
        try:
            wait_until(lambda: flood.opened >= 600, scaled(20), "600 connections opened", 0.05)
            self.running[3].kill()
            self.start_node(3).wait_log(READY, timeout=15)
            t0 = time.monotonic()
            bound = scaled(self.BOUND_S + BACKOFF_MAX_S)
            try:
                self.wait_reachable(1, 3, timeout=bound)
            except AssertionError:
                raise AssertionError("node 3 not back within %.1f s of its restart, with %d strangers' connects"
                                     % (bound, flood.opened)) from None
            took = time.monotonic() - t0
            self.wait_reachable(3, 1)
            self.wait_reachable(2, 3)
        finally:
            flood.stop()
        self.assertTrue(self.running[1].running(), self.describe())
        log = self.running[1].log()
        self.assertIn("have not proven the secret (harbor_max_unproven)", log, "the oldest stranger is dropped")
        lines = log.count("connection from")
        self.assertLess(lines, 100, "the strangers' log lines are rate limited (%d lines)" % lines)
        print("node 3 back %.2f s after its restart; %d strangers' connects" % (took, flood.opened))


class BeforeHandshake(NodeTestCase):
    def test_message_frames_before_the_handshake_are_refused_and_memory_stays(self):
        ports = free_ports(3)
        log = self.path("node1.log")
        cfg = self.config("node1.lua", node=1, thread=2, start="cluster_probe", luaservice=nodeutil.e2e_luaservice(),
                          cluster="1@127.0.0.1:%d,2@127.0.0.1:%d" % (ports[0], ports[1]), heartbeat_ms=1000,
                          probe_port=ports[2], logfile=log)
        node = self.node(cfg, name="node1", logfile=log, env={"SHOAL_CLUSTER_SECRET": SECRET})
        node.wait_log(READY, timeout=15)
        before = rss_kb(node.proc.pid)
        total = 64 << 20
        part = b"x" * 65536
        first = frame(FIRST, struct.pack(">BIIiII", PTYPE["LUA"], 0x02000001, 0x01000009, 0, total, 0) + part)
        more = frame(MORE, part)
        conns, refused = [], 0
        try:
            for _ in range(4):
                s = socket.create_connection(("127.0.0.1", ports[0]), timeout=scaled(5))
                conns.append(s)
                try:
                    s.sendall(first)
                    for _ in range(48 * 16):  # 48 MiB a connection if nothing stops it
                        s.sendall(more)
                except OSError:
                    refused += 1
            time.sleep(0.2)  # what the node had read is in its heap by now
            grown = rss_kb(node.proc.pid) - before
        finally:
            for s in conns:
                s.close()
        self.assertLess(grown, 16 * 1024, "RSS grew by %d KB" % grown)
        self.assertEqual(refused, 4, "every connection is cut before its data is in")
        # (the frame's size gives it away first: no frame over 512 bytes before the handshake)
        node.wait_log(r"connection from \S+ refused: protocol error: .*before the handshake", timeout=5)
        self.assertTrue(node.running(), node.describe())
        self.assertEqual(ask(ports[2], "ping 1 .probe"), "ok pong from node 1")


class RemoteTypes(ClusterCase):
    NODES = (1, 2)

    def start_node(self, n, secret=SECRET, **extra):
        extra.setdefault("heartbeat_ms", 1000)  # the test's own peer is silent while it waits for log lines
        return super().start_node(n, secret, **extra)

    def test_types_that_must_not_cross_nodes_are_refused(self):
        peer = FakePeer(self.harbor_port[1], me=9)
        try:
            peer.s.sendall(msg_frame(PTYPE["TEXT"], 0x09000001, 0x01000000, 1, b"query .probe"))
            ptype, _, _, session, payload = peer.next_message()
            self.assertEqual((ptype, session), (PTYPE["RESPONSE"], 1), payload)
            probe = int(payload.decode()[1:], 16)
            for i, name in enumerate(("SOCKET", "SYSTEM", "HARBOR", "DEBUG")):
                peer.ping()
                payload = struct.pack("<iiiQ", 1, 2, 3, 0x4141414141414141)  # a socket message, pointer and all
                peer.s.sendall(msg_frame(PTYPE[name], 0x09000001, probe, 10 + i, payload))
                ptype, _, dest, session, text = peer.next_message()
                self.assertEqual((ptype, dest, session), (PTYPE["ERROR"], 0x09000001, 10 + i), text)
                self.assertIn(b"refuses messages of type %d (%s)" % (PTYPE[name], name.encode()), text)
                self.running[1].wait_log(r"node 9 sent :09000001 -> :%08x: node 1 refuses messages of type %d"
                                         % (probe, PTYPE[name]), timeout=10)
            # the same link still carries what is allowed
            peer.ping()
            peer.s.sendall(msg_frame(PTYPE["TEXT"], 0x09000001, 0x01000000, 20, b"query .probe"))
            self.assertEqual(peer.next_message()[3], 20)
        finally:
            peer.close()
        self.assertTrue(self.running[1].running(), self.describe())
        self.assertEqual(self.ask(2, "ping 1 .probe"), "ok pong from node 1")
        # a Lua protocol 261 would arrive as 5 (SOCKET): refused where it is registered
        r = self.ask(2, "proto 261 1")
        self.assertTrue(r.startswith("refused") and "out of range" in r, r)
        r = self.ask(2, "proto 200 1")
        self.assertEqual(r, "sent")
        self.assertEqual(self.ask(2, "ping 1 .probe"), "ok pong from node 1")
        self.assertEqual(self.ask(1, "ping 2 .probe"), "ok pong from node 2")


if __name__ == "__main__":
    nodeutil.main()
