"""e2e: WebSocket clients on the gate (cservice/gate_ws.c,
cservice/gate_wsproto.c) with a client written here from RFC 6455, on real
sockets against a real node (services/gate_test_main.lua, a gate with
gate_websocket = true, echo agents).

Classes (ctest runs each as e2e_gate_ws_<Class>):
  Handshake  the upgrade: good, bad key, bad version, bad path, bad and
             good origin, a head too long, a silent client, a slow
             handshake and a slowloris past gate_ws_handshake_ms,
             handshakes counted against maxconn; TCP clients on the same
             port unchanged
  Frames     echo (every length form both ways), fragmented messages with
             control frames between, ping/pong, the close handshake, kick
             and idle timeout closing with their codes, the TCP gate's
             limits (maxpacket, 4-byte header sizes), the AEAD mode's
             sealed bodies as binary messages (a forged one: 1008)
  Hostile    unmasked frame, oversized length, reserved bits, bad opcode,
             text frame, a continuation with no message, a long or
             fragmented control frame, a fragmented message over
             maxpacket, a malformed close, garbage: each closes with its
             code and a log line, and the node serves others unaffected

Every wait is bounded (SHOAL_E2E_TIME_SCALE stretches them).
"""

import base64
import hashlib
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import scaled  # noqa: E402
from test_gate import GateCase, closed_within, connect, echo, recv_exact  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


# ---- an RFC 6455 client ----

def client_frame(op, payload, fin=True, mask=True, rsv=0, length=None):
    """One client frame; length overrides the announced length (hostile)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack(">BB", b0, mbit | n)
    elif n <= 0xffff:
        head = struct.pack(">BBH", b0, mbit | 126, n)
    else:
        head = struct.pack(">BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


def read_frame(s, timeout=5.0):
    """(fin, opcode, payload) of one server frame; asserts it is unmasked."""
    b0, b1 = recv_exact(s, 2, timeout)
    assert not b1 & 0x80, "a server frame is masked"
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2, timeout))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8, timeout))[0]
    return bool(b0 & 0x80), b0 & 0x0f, recv_exact(s, n, timeout) if n else b""


def read_message(s, timeout=5.0):
    fin, op, payload = read_frame(s, timeout)
    assert fin and op == OP_BINARY, "expected a binary message, got opcode %d fin %s" % (op, fin)
    return payload


def read_head(s, timeout=5.0):
    """The HTTP response head (bytes, up to the blank line)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += recv_exact(s, 1, timeout)
        assert len(buf) < 8192, "response head too long"
    return buf


def request(path="/", key=None, version="13", origin=None, extra=""):
    key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Upgrade: websocket", "Connection: keep-alive, Upgrade",
             "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: %s" % version]
    if origin:
        lines.append("Origin: %s" % origin)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode(), key


def ws_connect(port, path="/", origin=None):
    s = connect(port)
    req, key = request(path, origin=origin)
    s.sendall(req)
    head = read_head(s)
    assert head.startswith(b"HTTP/1.1 101 "), head
    accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
    assert b"\r\nSec-WebSocket-Accept: " + accept + b"\r\n" in head, head
    return s


def ws_echo(s, body):
    s.sendall(client_frame(OP_BINARY, body))
    got = read_message(s)
    assert got == body, "echo mismatch: sent %d bytes, got %d" % (len(body), len(got))


def expect_close(tc, s, code, timeout=5.0):
    """Reads frames until a close: asserts its code, then the EOF."""
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        fin, op, payload = read_frame(s, timeout)
        if op == OP_CLOSE:
            got = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
            tc.assertEqual(got, code, "close code (reason %r)" % payload[2:])
            tc.assertTrue(closed_within(s, timeout), "the gate did not close the socket after its close frame")
            return payload[2:].decode("utf-8", "replace")
    tc.fail("no close frame within %s s" % timeout)


class WsCase(GateCase):
    def start_ws(self, gate_args="", agent="lua", **keys):
        keys.setdefault("gate_websocket", True)
        return self.start_gate(gate_args, agent=agent, **keys)

    def assert_both_alive(self):
        """A TCP client and a WebSocket client both echo."""
        self.assert_alive()
        s = ws_connect(self.port)
        try:
            ws_echo(s, b"ws still alive")
        finally:
            s.close()

    def refused(self, req, status):
        s = connect(self.port)
        s.sendall(req)
        head = read_head(s)
        self.assertTrue(head.startswith(b"HTTP/1.1 %d " % status), head)
        self.assertTrue(closed_within(s, 5), "not closed after a %d" % status)
        s.close()
        return head


# ---- Handshake ----

class Handshake(WsCase):
    def test_good_handshake_and_echo(self):
        """101 with the right Sec-WebSocket-Accept; binary messages echo;
        the watchdog's open event comes once the upgrade is done."""
        self.start_ws()
        s = ws_connect(self.port)
        for body in [b"hello", b"", bytes(range(256))]:
            ws_echo(s, body)
        s.close()
        self.assert_both_alive()

    def test_tcp_clients_on_the_same_port(self):
        """Anything but "GET " is the TCP framing, from its first byte, even
        a frame split after its first byte."""
        self.start_ws()
        s = connect(self.port)
        echo(s, b"tcp on a ws gate")
        s.close()
        s = connect(self.port)
        s.sendall(b"\x00")
        time.sleep(0.05)  # the first byte alone in its own read
        s.sendall(b"\x03abc")
        self.assertEqual(recv_exact(s, 5), b"\x00\x03abc")
        s.close()

    def test_bad_key(self):
        """A key that is not 16 bytes of base64: 400, closed, logged."""
        self.start_ws()
        self.refused(request(key="c2hvcnQ=")[0], 400)
        self.refused(request(key="!" * 22 + "==")[0], 400)
        self.gate_node.wait_log(r"WebSocket handshake refused: 400 bad Sec-WebSocket-Key")
        self.assert_both_alive()

    def test_bad_version(self):
        """Another Sec-WebSocket-Version: 426 naming version 13."""
        self.start_ws()
        head = self.refused(request(version="8")[0], 426)
        self.assertIn(b"\r\nSec-WebSocket-Version: 13\r\n", head)
        self.assert_both_alive()

    def test_bad_path(self):
        """Another path than gate_ws_path: 404; the query is not the path."""
        self.start_ws(gate_ws_path="/game")
        self.refused(request(path="/other")[0], 404)
        self.refused(request(path="/")[0], 404)
        s = ws_connect(self.port, path="/game?v=1")
        ws_echo(s, b"at /game")
        s.close()

    def test_origin_allow_list(self):
        """An Origin not in gate_ws_origins: 403; a listed one and none at
        all (not a browser) upgrade."""
        self.start_ws(gate_ws_origins="http://a.example, http://b.example:8080")
        self.refused(request(origin="http://evil.example")[0], 403)
        self.gate_node.wait_log(r"WebSocket handshake refused: 403 origin not allowed")
        for origin in ["http://a.example", "http://b.example:8080", None]:
            s = ws_connect(self.port, origin=origin)
            ws_echo(s, b"allowed")
            s.close()

    def test_not_an_upgrade(self):
        """A plain GET (no Upgrade), a POST-like head and one too long."""
        self.start_ws()
        self.refused(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400)
        self.refused(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", 400)
        self.refused(request(extra="X-Pad: " + "p" * 9000 + "\r\n")[0], 431)
        self.assert_both_alive()

    def test_silent_client_past_the_deadline(self):
        """A connection that sends nothing is closed at gate_ws_handshake_ms
        (not at the idle timeout), logged, and never announced."""
        self.start_ws(gate_ws_handshake_ms=500)
        s = connect(self.port)
        t0 = time.monotonic()
        self.assertTrue(closed_within(s, 5))
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.45)
        self.assertLess(took, scaled(2.5))
        self.gate_node.wait_log(r"closed: no first bytes within 500 ms")
        self.assertNotRegex(self.gate_node.log(), r"watchdog: connection \d+ closed")

    def test_slow_handshake_and_slowloris(self):
        """A head sent one byte every 50 ms keeps the connection busy but
        not open: closed at the deadline all the same."""
        self.start_ws(gate_ws_handshake_ms=800)
        s = connect(self.port)
        req = request()[0]
        t0 = time.monotonic()
        closed = False
        for i in range(len(req)):
            if time.monotonic() - t0 > scaled(5):
                break
            try:
                s.sendall(req[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.05)
        took = time.monotonic() - t0
        self.assertTrue(closed or closed_within(s, 5), "the slowloris was not closed")
        self.assertLess(took, scaled(3))
        self.gate_node.wait_log(r"closed: WebSocket handshake not finished within 800 ms")
        self.assert_both_alive()

    def test_maxconn_counts_handshakes(self):
        """Connections still in their handshake count against maxconn: the
        next one is refused; once the deadline closed them, there is room."""
        self.start_ws("maxconn=3", gate_ws_handshake_ms=800)
        half = []
        for _ in range(3):
            s = connect(self.port)
            s.sendall(b"GET / HTTP/1.1\r\n")
            half.append(s)
        extra = connect(self.port)
        self.assertTrue(closed_within(extra, 5), "a 4th connection was not refused")
        extra.close()
        self.gate_node.wait_log(r"refused: maxconn 3 reached")
        for s in half:
            self.assertTrue(closed_within(s, 5))
            s.close()
        deadline = time.monotonic() + scaled(5)
        while True:  # the closed ones count until their sockets are gone
            try:
                s = ws_connect(self.port)
                ws_echo(s, b"room again")
                s.close()
                break
            except (AssertionError, ConnectionResetError, BrokenPipeError):
                self.assertLess(time.monotonic(), deadline, "no room after the handshakes timed out")
                time.sleep(0.05)


# ---- Frames ----

class Frames(WsCase):
    def test_every_length_form(self):
        """7-bit, 16-bit and 64-bit lengths both ways (header=4 so a body
        over 65535 bytes fits)."""
        self.start_ws("header=4 maxpacket=300000")
        s = ws_connect(self.port)
        for n in [0, 1, 125, 126, 127, 65535, 65536, 300000]:
            body = bytes((i * 7) & 0xff for i in range(n))
            ws_echo(s, body)
        s.close()

    def test_maxpacket_applies(self):
        """A message over maxpacket closes with 1009, as an oversized TCP
        frame does; one of exactly maxpacket goes through."""
        self.start_ws("maxpacket=1000")
        s = ws_connect(self.port)
        ws_echo(s, b"m" * 1000)
        s.sendall(client_frame(OP_BINARY, b"m" * 1001))
        expect_close(self, s, 1009)
        self.gate_node.wait_log(r"closed: WebSocket oversized message \(close code 1009\)")
        self.assert_both_alive()

    def test_fragmented_with_control_frames_between(self):
        """A message in 4 fragments, a ping and a pong between them: the
        pong echoes the ping's payload, the message arrives whole."""
        self.start_ws()
        s = ws_connect(self.port)
        parts = [b"frag-one|", b"", b"frag-three|", b"end"]
        s.sendall(client_frame(OP_BINARY, parts[0], fin=False))
        s.sendall(client_frame(OP_PING, b"are you there"))
        s.sendall(client_frame(OP_CONT, parts[1], fin=False))
        s.sendall(client_frame(OP_PONG, b"unsolicited"))
        s.sendall(client_frame(OP_CONT, parts[2], fin=False))
        s.sendall(client_frame(OP_CONT, parts[3], fin=True))
        fin, op, payload = read_frame(s)
        self.assertEqual((fin, op, payload), (True, OP_PONG, b"are you there"))
        self.assertEqual(read_message(s), b"".join(parts))
        # Many small fragments of a large message, split at every size.
        body = os.urandom(20000)
        chunks = [body[i:i + 97] for i in range(0, len(body), 97)]
        data = b"".join(client_frame(OP_BINARY if i == 0 else OP_CONT, c, fin=i == len(chunks) - 1)
                        for i, c in enumerate(chunks))
        for i in range(0, len(data), 1000):
            s.sendall(data[i:i + 1000])
        self.assertEqual(read_message(s), body)
        s.close()

    def test_aead_frames_over_websocket(self):
        """The AEAD mode unchanged: the clear "ok" ack, then sealed bodies
        one per binary message both ways; a forged one closes with 1008."""
        from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
        self.start_ws(agent="aead")
        s = ws_connect(self.port)
        c2s, s2c = os.urandom(32), os.urandom(32)
        s.sendall(client_frame(OP_BINARY, b"key %s %s" % (c2s.hex().encode(), s2c.hex().encode())))
        self.assertEqual(read_message(s), b"ok")
        tx, rx = ChaCha20Poly1305(c2s), ChaCha20Poly1305(s2c)
        for seq in range(5):
            body = b"sealed %d" % seq + os.urandom(seq * 50)
            n = struct.pack(">Q", seq)
            s.sendall(client_frame(OP_BINARY, n + tx.encrypt(b"\0\0\0\0" + n, body, None)))
            got = read_message(s)
            self.assertEqual(got[:8], n)
            self.assertEqual(rx.decrypt(b"\0\0\0\0" + got[:8], got[8:], None), body)
        n = struct.pack(">Q", 5)
        forged = bytearray(n + tx.encrypt(b"\0\0\0\0" + n, b"forged", None))
        forged[-1] ^= 1
        s.sendall(client_frame(OP_BINARY, bytes(forged)))
        self.assertEqual(expect_close(self, s, 1008), "forged frame")
        s.close()
        self.gate_node.wait_log(r"closed: forged frame")
        self.assert_both_alive()

    def test_ping_pong(self):
        """Pings with empty and 125-byte payloads are answered in order."""
        self.start_ws()
        s = ws_connect(self.port)
        for p in [b"", b"x" * 125, b"\x00\x01"]:
            s.sendall(client_frame(OP_PING, p))
            self.assertEqual(read_frame(s), (True, OP_PONG, p))
        ws_echo(s, b"after pings")
        s.close()

    def test_close_handshake(self):
        """The client's close is answered with its code, then the socket
        closes; the watchdog hears "closed by the client"."""
        self.start_ws()
        s = ws_connect(self.port)
        ws_echo(s, b"before close")
        s.sendall(client_frame(OP_CLOSE, struct.pack(">H", 1000) + b"bye"))
        expect_close(self, s, 1000)
        s = ws_connect(self.port)
        s.sendall(client_frame(OP_CLOSE, b""))  # no code: answered with 1000
        expect_close(self, s, 1000)
        self.assert_both_alive()

    def test_idle_timeout_closes_1001(self):
        """The TCP gate's idle timeout applies: close code 1001."""
        self.start_ws("idle=500")
        s = ws_connect(self.port)
        ws_echo(s, b"then silence")
        reason = expect_close(self, s, 1001, timeout=5)
        self.assertEqual(reason, "idle timeout")
        self.gate_node.wait_log(r"closed: idle for \d+ ms \(limit 500 ms\)")

    def test_node_stop_closes_1001(self):
        """A stopping gate says goodbye: 1001."""
        self.start_ws()
        s = ws_connect(self.port)
        ws_echo(s, b"x")
        code, _ = self.gate_node.stop(timeout=30)
        self.assertEqual(code, 0)
        expect_close(self, s, 1001)
        self.gate_node.wait_log(r"gate: WebSocket: 1 upgraded, 0 refused")


# ---- Hostile ----

class Hostile(WsCase):
    def hostile(self, data, code, log):
        s = ws_connect(self.port)
        ws_echo(s, b"ready")
        s.sendall(data)
        try:
            expect_close(self, s, code)
        finally:
            s.close()
        self.gate_node.wait_log(log)

    def test_each_closes_with_its_code(self):
        self.start_ws("maxpacket=65535")
        masked_head = lambda b0, b1: bytes([b0, b1]) + b"\x00\x00\x00\x00"  # noqa: E731
        cases = [
            ("unmasked", client_frame(OP_BINARY, b"abc", mask=False), 1002, r"unmasked client frame"),
            ("oversized length", client_frame(OP_BINARY, b"", length=1 << 40), 1009, r"oversized message"),
            ("over maxpacket", client_frame(OP_BINARY, b"", length=70000), 1009, r"oversized message"),
            ("reserved bits", client_frame(OP_BINARY, b"abc", rsv=4), 1002, r"reserved bits set"),
            ("bad opcode", client_frame(3, b"abc"), 1002, r"reserved opcode"),
            ("bad control opcode", client_frame(0xb, b""), 1002, r"reserved opcode"),
            ("text", client_frame(OP_TEXT, b"hello"), 1003, r"text message"),
            ("continuation first", client_frame(OP_CONT, b"abc"), 1002, r"continuation outside a message"),
            ("message inside one", client_frame(OP_BINARY, b"a", fin=False) + client_frame(OP_BINARY, b"b"), 1002,
             r"a new message inside one"),
            ("long ping", client_frame(OP_PING, b"p" * 126), 1002, r"control frame fragmented or over 125"),
            ("fragmented ping", client_frame(OP_PING, b"p", fin=False), 1002, r"control frame fragmented"),
            ("fragments over maxpacket", client_frame(OP_BINARY, b"f" * 40000, fin=False) +
             client_frame(OP_CONT, b"f" * 40000), 1009, r"oversized message"),
            ("long length form", masked_head(0x82, 0x80 | 126)[:2] + b"\x00\x05" + b"\x00" * 4, 1002,
             r"shortest form"),
            ("64-bit top bit", bytes([0x82, 0xff]) + b"\x80" + b"\x00" * 7 + b"\x00" * 4, 1002, r"shortest form"),
            ("close of 1 byte", client_frame(OP_CLOSE, b"\x03"), 1002, r"malformed close frame"),
            ("close code 1005", client_frame(OP_CLOSE, struct.pack(">H", 1005)), 1002, r"malformed close frame"),
        ]
        for name, data, code, log in cases:
            with self.subTest(name):
                self.hostile(data, code, log)
        self.assert_both_alive()
        self.assertTrue(self.gate_node.running())

    def test_garbage_after_upgrade_and_truncation(self):
        """Random bytes after the upgrade close the connection (whatever
        they decode to, never a crash); a stream cut inside a frame is a
        truncated frame."""
        self.start_ws()
        for seed in range(10):  # under the 20 log lines a second of the gate
            s = ws_connect(self.port)
            s.sendall(os.urandom(64 + seed * 13))
            closed_within(s, 5)
            s.close()
        s = ws_connect(self.port)
        s.sendall(client_frame(OP_BINARY, b"0123456789")[:8])
        s.shutdown(socket.SHUT_WR)
        self.assertTrue(closed_within(s, 5))
        self.gate_node.wait_log(r"closed: truncated frame")
        self.assert_both_alive()

    def test_many_hostile_clients_at_once(self):
        """50 half-finished handshakes and 50 unmasked clients at once:
        all closed, the node serves a good client meanwhile."""
        self.start_ws(gate_ws_handshake_ms=1000)
        half = []
        for _ in range(50):
            s = connect(self.port)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            half.append(s)
        bad = []
        for _ in range(50):
            s = ws_connect(self.port)
            s.sendall(client_frame(OP_BINARY, b"x", mask=False))
            bad.append(s)
        self.assert_both_alive()
        for s in half + bad:
            self.assertTrue(closed_within(s, 5))
            s.close()
        self.assert_both_alive()


if __name__ == "__main__":
    nodeutil.main()
