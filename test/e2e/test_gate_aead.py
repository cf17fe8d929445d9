"""e2e: the gate's AEAD mode (docs/gate.md, "Encrypted connections").

A node runs the gate with gate_aead_agent (services/): a client sends
"key C2S S2C" in clear (TEST ONLY: real clients get their keys from the
login), the agent calls gateserver.cipher with the ack "ok", and from then
on every frame both ways is ChaCha20-Poly1305 (SEQ | CT | TAG, nonce 4 zero
bytes | SEQ, no associated data). The client here is Python with the
`cryptography` module (Debian's python3-cryptography, scripts/deps.sh):
an implementation written from docs/gate.md, not from the C code.

Classes (ctest runs each as e2e_gate_aead_<Class>):
  Aead         encrypted echo both ways, many frames in order, frames of
               every size class, several writers at once (agent, writer
               services, the gate's relay) staying in order, keys not logged
  AeadHostile  replayed, reordered, forged, short, truncated and plaintext
               frames after the switch each close only their connection with
               its reason; a second cipher command is refused

Every wait is bounded (SHOAL_E2E_TIME_SCALE stretches them).
"""

import os
import sys

try:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
except ImportError:  # a pyenv python without it: Debian's python3 has the package
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import random  # noqa: E402
import re  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import scaled  # noqa: E402
from test_gate import GateCase, closed_within, connect, frame, recv_frame  # noqa: E402

OVERHEAD = 24  # SEQ 8 + TAG 16


class Direction:
    """One direction of an encrypted connection: seals or opens frames
    with a counter nonce (docs/gate.md)."""

    def __init__(self, key):
        self.aead = ChaCha20Poly1305(key)
        self.seq = 0

    @staticmethod
    def nonce(seq):
        return b"\x00" * 4 + struct.pack(">Q", seq)

    def seal(self, plain):
        seq = self.seq
        self.seq += 1
        return struct.pack(">Q", seq) + self.aead.encrypt(self.nonce(seq), plain, None)

    def open(self, body):
        assert len(body) >= OVERHEAD, "sealed frame of %d bytes" % len(body)
        seq = struct.unpack(">Q", body[:8])[0]
        assert seq == self.seq, "frame SEQ %d, expected %d" % (seq, self.seq)
        plain = self.aead.decrypt(self.nonce(seq), body[8:], None)  # raises InvalidTag
        self.seq += 1
        return plain


class Client:
    """A client switched to the AEAD mode: plaintext frames first, then
    "key ...", the clear "ok", then sealed frames."""

    def __init__(self, port, plain_first=(b"before the switch",), header=2):
        self.sock = connect(port)
        self.header = header
        for body in plain_first:  # echoed in clear
            self.sock.sendall(frame(body, header))
            assert recv_frame(self.sock, header) == body
        self.c2s_key, self.s2c_key = os.urandom(32), os.urandom(32)
        self.tx, self.rx = Direction(self.c2s_key), Direction(self.s2c_key)
        self.sock.sendall(frame(b"key %s %s" % (self.c2s_key.hex().encode(), self.s2c_key.hex().encode()), header))
        ack = recv_frame(self.sock, header)
        assert ack == b"ok", "the ack is the last clear frame, got %r" % ack[:40]

    def send(self, plain):
        self.sock.sendall(frame(self.tx.seal(plain), self.header))

    def recv(self, timeout=5.0):
        return self.rx.open(recv_frame(self.sock, self.header, timeout=timeout))

    def echo(self, plain):
        self.send(plain)
        got = self.recv()
        assert got == plain, "echo mismatch: sent %d bytes, got %d" % (len(plain), len(got))

    def close(self):
        self.sock.close()


class AeadCase(GateCase):
    def start(self, gate_args="maxpacket=65535"):
        return self.start_gate(gate_args, agent="aead")

    def wait_close_reason(self, reason):
        return self.gate_node.wait_log(r"watchdog: connection \d+ closed: %s$" % reason, timeout=10)


class Aead(AeadCase):
    def test_echo_both_ways(self):
        """Clear frames before the switch, then sealed frames both ways: the
        agent sees plaintext and its replies come back sealed, with SEQ
        counting from 0 in each direction."""
        self.start()
        c = Client(self.port)
        for body in [b"hello", b"", b"\x00\xff" * 100, bytes(range(256)) * 100]:
            c.echo(body)
        self.assertEqual(c.tx.seq, 4)
        self.assertEqual(c.rx.seq, 4)
        c.close()
        self.assert_alive()

    def test_largest_frames(self):
        """With a 2-byte header a sealed frame is at most 65535 bytes: the
        plaintext at most 65511 both ways."""
        self.start()
        c = Client(self.port)
        big = bytes(random.Random(3).randrange(256) for _ in range(65535 - OVERHEAD))
        c.echo(big)
        c.echo(b"after")
        c.close()

    def test_header4_large_frames(self):
        """With header=4 the same frames carry large bodies: 300 KB both
        ways (maxpacket bounds the sealed body)."""
        self.start("header=4 maxpacket=400000")
        c = Client(self.port, header=4)
        big = bytes(random.Random(5).randrange(256) for _ in range(300000))
        c.echo(big)
        c.echo(b"")
        c.close()

    def test_many_frames_in_order(self):
        """2,000 sealed frames of varied sizes in few writes come back in
        order, each opening with the next SEQ."""
        self.start()
        c = Client(self.port)
        rnd = random.Random(11)
        bodies = [bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 7, 100, 1400]))) for _ in range(2000)]
        for i in range(0, len(bodies), 250):
            c.sock.sendall(b"".join(frame(c.tx.seal(b)) for b in bodies[i:i + 250]))
        for i, b in enumerate(bodies):
            self.assertEqual(c.recv(), b, "frame %d" % i)
        c.close()

    def test_split_sealed_frames(self):
        """A sealed frame split at every byte (header included) still opens:
        the gate opens whole frames, whatever the reads."""
        self.start()
        c = Client(self.port)
        data = frame(c.tx.seal(b"split me"))
        for cut in range(1, len(data)):
            c.sock.sendall(data[:cut])
            time.sleep(0.005)
            c.sock.sendall(data[cut:])
            self.assertEqual(c.recv(), b"split me")
            data = frame(c.tx.seal(b"split me"))
        c.close()

    def test_several_writers_stay_in_order(self):
        """The agent, 3 writer services (other workers) and the gate's relay
        (PTYPE_CLIENT) write 300 frames each at once: every frame opens with
        the next SEQ (sealing is in the order frames go onto the socket),
        and each writer's frames keep their order. Three rounds, one
        connection: the counters go on across them."""
        self.start()
        c = Client(self.port)
        n, w = 300, 4
        for _round in range(3):
            c.send(b"burst %d %d" % (n, w))
            last = {}
            count, done = 0, False
            # The relayed frames may come after "done" (they are not ordered
            # against direct writes, docs/gate.md): read until both are in.
            while not done or count < n * (w + 1):
                plain = c.recv(timeout=20)
                self.assertNotEqual(plain, b"burst timed out")
                if plain == b"done":
                    self.assertFalse(done, "one done a burst")
                    done = True
                    continue
                tag, k = plain.split(b":")
                self.assertEqual(int(k), last.get(tag, 0) + 1, "writer %s out of order" % tag)
                last[tag] = int(k)
                count += 1
            self.assertEqual(count, n * (w + 1))
            self.assertEqual(sorted(last), [b"w%d" % i for i in range(w + 1)])
        c.echo(b"still in step")
        c.close()

    def test_keys_are_not_logged(self):
        """Neither key (in hex, either case) appears in the node's log, even
        at the debug level."""
        self.start_gate("maxpacket=65535", agent="aead", loglevel="debug")
        c = Client(self.port)
        c.echo(b"x")
        c2s, s2c = c.c2s_key.hex(), c.s2c_key.hex()
        c.close()
        self.wait_close_reason("closed by the client")
        log = self.gate_node.log().lower()
        self.assertNotIn(c2s, log)
        self.assertNotIn(s2c, log)


class AeadHostile(AeadCase):
    def setUp(self):
        super().setUp()
        self.start()
        self.bystander = Client(self.port)

    def tearDown(self):
        try:
            # The others are unaffected: an encrypted bystander still echoes
            # (checked before the stop by a test that stops the node).
            if self.gate_node.running():
                self.bystander.echo(b"unaffected")
            self.bystander.close()
        finally:
            super().tearDown()

    def refused(self, data, reason, c=None):
        c = c or Client(self.port)
        c.echo(b"fine so far")
        c.sock.sendall(data(c) if callable(data) else data)
        self.assertTrue(closed_within(c.sock, 5), "not closed after a bad frame (%s)" % reason)
        self.wait_close_reason(reason)
        self.gate_node.wait_log(r"gate: connection \d+ \(.*\) closed: %s" % reason, timeout=5)
        c.close()

    def test_replayed_frame(self):
        """A frame sent again (its SEQ already seen): "replayed frame"."""
        def replay(c):
            f = frame(c.tx.seal(b"once"))
            return f + f
        self.refused(replay, "replayed frame")

    def test_reordered_frame(self):
        """The second frame before the first: "reordered frame"."""
        def swap(c):
            a, b = frame(c.tx.seal(b"first")), frame(c.tx.seal(b"second"))
            return b + a
        self.refused(swap, "reordered frame")

    def test_forged_frames(self):
        """A bit flipped in the ciphertext, in the tag, or in SEQ's place
        with a frame sealed under another key: "forged frame"."""
        for where in ("ciphertext", "tag", "key"):
            def forge(c, where=where):
                body = bytearray(c.tx.seal(b"genuine frame"))
                if where == "ciphertext":
                    body[10] ^= 1
                elif where == "tag":
                    body[-1] ^= 0x80
                else:
                    body = bytearray(Direction(os.urandom(32)).seal(b"x" * 13))
                    body[:8] = struct.pack(">Q", c.tx.seq - 1)
                return frame(bytes(body))
            self.refused(forge, "forged frame")

    def test_short_frame(self):
        """A frame shorter than SEQ and TAG: "malformed frame"."""
        self.refused(frame(b"\x00" * (OVERHEAD - 1)), "malformed frame")

    def test_plaintext_after_the_switch(self):
        """Plaintext after the switch is refused: a short one as malformed,
        a long one as reordered (its first bytes read as a SEQ), or as
        forged even when its first 8 bytes happen to be the next SEQ."""
        self.refused(frame(b"hello"), "malformed frame")
        self.refused(frame(b"a plaintext frame that is long enough"), "reordered frame")
        self.refused(lambda c: frame(struct.pack(">Q", c.tx.seq) + b"a plaintext frame after the right SEQ"),
                     "forged frame")

    def test_truncated_stream(self):
        """The stream ends inside a sealed frame: "truncated frame"."""
        def cut(c):
            f = frame(c.tx.seal(b"cut short"))
            return f[:len(f) - 5]
        c = Client(self.port)
        c.echo(b"fine")
        c.sock.sendall(cut(c))
        time.sleep(0.05)
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(closed_within(c.sock, 5))
        self.wait_close_reason("truncated frame")
        c.close()

    def test_second_cipher_command(self):
        """A second cipher command for a connection closes it ("bad cipher
        command"): no rekeying inside a connection."""
        c = Client(self.port)
        c.send(b"cipher again")
        self.assertTrue(closed_within(c.sock, 5))
        self.wait_close_reason("bad cipher command")
        c.close()

    def test_flood_of_forgeries_is_one_line_each_rate_limited(self):
        """40 connections that send a forged frame each are all closed; the
        gate's lines for them are rate-limited (at most 20 a second, the
        rest counted)."""
        clients = [Client(self.port, plain_first=()) for _ in range(40)]
        for c in clients:
            body = bytearray(c.tx.seal(b"forged"))
            body[9] ^= 1
            c.sock.sendall(frame(bytes(body)))
        for c in clients:
            self.assertTrue(closed_within(c.sock, 10))
            c.close()
        deadline = time.monotonic() + scaled(10)
        while self.log_count(r"watchdog: connection \d+ closed: forged frame$") < 40:
            self.assertLess(time.monotonic(), deadline, "40 close events")
            time.sleep(0.05)
        lines = self.log_count(r"gate: connection \d+ \(.*\) closed: forged frame")
        self.assertGreaterEqual(lines, 20)
        self.assertLessEqual(lines, 40)
        # The gate's exit line counts them (and the bystander's switch).
        self.bystander.echo(b"unaffected")
        code, _ = self.gate_node.stop(timeout=30)
        self.assertEqual(code, 0, self.gate_node.describe())
        m = re.search(r"gate: stopping: .*, (\d+) encrypted, (\d+) closed for a refused frame", self.gate_node.log())
        self.assertIsNotNone(m, self.gate_node.describe())
        self.assertEqual((int(m.group(1)), int(m.group(2))), (41, 40))


if __name__ == "__main__":
    nodeutil.main()
