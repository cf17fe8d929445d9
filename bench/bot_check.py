"""bot_check - bench/bot against a scripted fake cluster (a loginapp and two
gates in this process, written from docs/protocol.md), so that each way the
bot follows the server is exercised on purpose: retry_after_ms (BUSY), the
retry budget, the gate fallback (a refused gate: log in again), KICK
(counted, or followed with --relogin, the guest credential kept),
REDIRECT (the entity keeps its position, a later epoch), a sealed ERROR, a
clear token refusal, a wrong pinned key (impostor), a reply that does not match
(MOVED), a silent gate (the step's deadline), and the report's counts.

    python3 bench/bot_check.py --bot build/bench/bot [unittest args]

Needs the `cryptography` package (Debian's python3-cryptography, 38 or
newer). Every wait is bounded: the bot runs with its --duration-limit and
under a subprocess timeout; the servers' sockets have timeouts.
"""

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import unittest

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

BOT = None
ID = dict(HELLO=1, WELCOME=2, REGISTER=3, LOGIN=4, GUEST=5, LOGIN_OK=6, ERROR=7, ENTER=0x10, ENTER_OK=0x11,
          KICK=0x12, LOGOUT=0x13, BYE=0x14, PING=0x15, PONG=0x16, REDIRECT=0x17, TICKET=0x18, MOVE=0x100, MOVED=0x101, SAY=0x102, CHAT=0x103)
BUSY, WRONG_PASSWORD, TOKEN_INVALID, LOGGED_IN_ELSEWHERE = 3, 9, 14, 19


def raw_pub(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def s2(b):
    return struct.pack(">H", len(b)) + b


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def recv_frame(conn):
    (n,) = struct.unpack(">H", recv_exact(conn, 2))
    return recv_exact(conn, n)


class Channel:
    """One connection's framing and, once keyed, its sealed frames."""

    def __init__(self, conn):
        self.conn, self.kin, self.kout, self.sin, self.sout = conn, None, None, 0, 0

    def send(self, body):
        if self.kout:
            seq = struct.pack(">Q", self.sout)
            body = seq + ChaCha20Poly1305(self.kout).encrypt(b"\0\0\0\0" + seq, body, None)
            self.sout += 1
        self.conn.sendall(struct.pack(">H", len(body)) + body)

    def recv(self):
        body = recv_frame(self.conn)
        if self.kin:
            assert body[:8] == struct.pack(">Q", self.sin), "bad SEQ"
            body = ChaCha20Poly1305(self.kin).decrypt(b"\0\0\0\0" + body[:8], body[8:], None)
            self.sin += 1
        return body


def error(code, retry_ms=0, text=b"err"):
    return struct.pack(">HHII", ID["ERROR"], code, retry_ms, 0) + s2(text)


class FakeCluster:
    """A loginapp and gates; `script` decides each answer (see the tests)."""

    def __init__(self, script):
        self.script, self.lock = script, threading.Lock()
        self.static = X25519PrivateKey.generate()
        self.pub = raw_pub(self.static).hex()
        self.logins = 0          # login connections seen
        self.grants = 0          # LOGIN_OKs sent
        self.sessions = {}       # token -> (account, epoch, name, c2s, s2c)
        self.requests = []       # (kind, name or device, credential)
        self.entered = {}        # name -> ENTER_OKs sent
        self.socks = []
        self.login_port = self.listen(self.serve_login)
        self.gate_port = self.listen(self.serve_gate)
        dead = socket.socket()   # a port nobody listens on: bound, closed
        dead.bind(("127.0.0.1", 0))
        self.dead_port = dead.getsockname()[1]
        dead.close()

    def listen(self, handler):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(512)
        s.settimeout(0.2)
        self.socks.append(s)
        threading.Thread(target=self.accept_loop, args=(s, handler), daemon=True).start()
        return s.getsockname()[1]

    def accept_loop(self, s, handler):
        while s in self.socks:
            try:
                conn, _ = s.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(10)
            threading.Thread(target=self.guard, args=(conn, handler), daemon=True).start()

    def guard(self, conn, handler):
        try:
            handler(conn)
        except (EOFError, OSError, AssertionError, ValueError, KeyError, struct.error, InvalidTag):
            pass
        finally:
            # A graceful close: unread client bytes would make close() send
            # a reset, which can destroy the last frame before the bot reads it.
            try:
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(2)
                while conn.recv(4096):
                    pass
            except OSError:
                pass
            conn.close()

    def close(self):
        socks, self.socks = self.socks, []
        for s in socks:
            s.close()

    def serve_login(self, conn):
        ch = Channel(conn)
        hello = ch.recv()
        with self.lock:
            self.logins += 1
            n = self.logins
        if self.script.get("busy", lambda n: False)(n):
            ch.send(error(BUSY, 50, b"busy"))
            return
        assert struct.unpack(">HH", hello[:4]) == (ID["HELLO"], 1) and len(hello) == 36
        ec_pub = X25519PublicKey.from_public_bytes(hello[4:])
        es = X25519PrivateKey.generate()
        nonce = os.urandom(16)
        ch.send(struct.pack(">HH", ID["WELCOME"], 1) + raw_pub(es) + nonce)
        ikm = self.static.exchange(ec_pub) + es.exchange(ec_pub)
        salt = b"shoal login v1" + hello[4:] + raw_pub(es) + nonce + bytes.fromhex(self.pub)
        okm = HKDF(hashes.SHA256(), 64, salt, b"shoal session keys v1").derive(ikm)
        ch.kin, ch.kout = okm[:32], okm[32:]
        req = ch.recv()
        (mid,) = struct.unpack(">H", req[:2])
        (la,) = struct.unpack(">H", req[2:4])
        first = req[4:4 + la]
        (lb,) = struct.unpack(">H", req[4 + la:6 + la])
        second = req[6 + la:6 + la + lb]
        with self.lock:
            self.requests.append((mid, first, second))
        if self.script.get("wrong_password") and mid == ID["LOGIN"]:
            ch.send(error(WRONG_PASSWORD, 0, b"wrong password"))
            return
        name = ("#" + first.hex()).encode() if mid == ID["GUEST"] else first
        cred = b""
        if mid == ID["GUEST"]:
            if second:
                assert second == b"C" * 32, "the guest credential was not kept"
            else:
                cred = b"C" * 32
        with self.lock:
            self.grants += 1
            g = self.grants
            token = b"T%08d" % g
            c2s, s2c = os.urandom(32), os.urandom(32)
            self.sessions[token] = (1000 + g, g, name, c2s, s2c, (0, 0))
        port = self.dead_port if self.script.get("dead_gate", lambda g: False)(g) else self.gate_port
        cand = s2(b"127.0.0.1") + struct.pack(">HBI", port, 1, 0)
        ch.send(struct.pack(">HHQQ", ID["LOGIN_OK"], 1, 1000 + g, g) + s2(b"127.0.0.1") + struct.pack(">H", port)
                + s2(token) + c2s + s2c + b"\x01" + s2(b"ticket") + s2(cred) + b"\x01" + cand)

    def serve_gate(self, conn):
        ch = Channel(conn)
        enter = ch.recv()
        mid, ver, account = struct.unpack(">HHQ", enter[:12])
        assert (mid, ver) == (ID["ENTER"], 1)
        token = enter[14:]
        with self.lock:
            acc, epoch, name, c2s, s2c, pos = self.sessions.pop(token)
            self.entered[name] = self.entered.get(name, 0) + 1
            times = self.entered[name]
        assert acc == account
        if self.script.get("refuse_token"):
            ch.send(error(TOKEN_INVALID, 0, b"bad token"))  # clear: before ENTER_OK
            return
        if self.script.get("silent_gate"):
            recv_frame(conn)  # until the bot gives up and closes
            return
        ch.kin, ch.kout = c2s, s2c
        ch.send(struct.pack(">HQQ", ID["ENTER_OK"], acc, epoch) + s2(name) + struct.pack(">iiI", pos[0], pos[1], 1))
        ch.send(struct.pack(">H", ID["TICKET"]) + s2(b"fresh ticket"))  # right after ENTER_OK, as section 6 says
        if self.script.get("kick", lambda times: False)(times):
            ch.send(struct.pack(">HH", ID["KICK"], LOGGED_IN_ELSEWHERE) + s2(b"logged in elsewhere"))
            return
        while True:
            m = ch.recv()
            (mid,) = struct.unpack(">H", m[:2])
            if mid == ID["MOVE"]:
                x, y = struct.unpack(">ii", m[2:])
                if self.script.get("bad_moved"):
                    x += 1
                ch.send(struct.pack(">Hii", ID["MOVED"], x, y))
                if self.script.get("redirect", lambda times: False)(times):
                    # the entity moves to "another baseapp" (this gate again), one epoch on
                    with self.lock:
                        self.grants += 1
                        token = b"R%08d" % self.grants
                        k1, k2 = os.urandom(32), os.urandom(32)
                        self.sessions[token] = (acc, epoch + 1, name, k1, k2, (x, y))
                    ch.send(struct.pack(">H", ID["REDIRECT"]) + s2(b"127.0.0.1") + struct.pack(">H", self.gate_port)
                            + s2(token) + k1 + k2 + b"\x01")
                    return
            elif mid == ID["PING"]:
                ch.send(struct.pack(">H", ID["PONG"]) + m[2:])
            elif mid == ID["SAY"]:
                ch.send(struct.pack(">H", ID["CHAT"]) + struct.pack(">Q", acc) + s2(name) + m[2:])
                ch.send(struct.pack(">HQ", ID["CHAT"], 1) + s2(b"someone") + s2(b"hello"))  # another player
            elif mid == ID["LOGOUT"]:
                ch.send(struct.pack(">H", ID["BYE"]))
                return


class BotCheck(unittest.TestCase):
    def run_bot(self, script, *args, key=None, expect_rc=0):
        fake = FakeCluster(script)
        try:
            cmd = [BOT, "--login", "127.0.0.1:%d" % fake.login_port, "--server-key", key or fake.pub,
                   "--duration-limit", "30", "--json"] + list(args)
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        finally:
            fake.close()
        self.assertEqual(p.returncode, expect_rc, p.stdout + p.stderr)
        return json.loads(p.stdout), fake

    def test_play_register(self):
        r, fake = self.run_bot({}, "--bots", "20", "--register", "--rounds", "3", "--concurrency", "8")
        self.assertEqual((r["entered"], r["completed"], r["failed"], r["rounds"]), (20, 20, 0, 60))
        self.assertEqual(r["rtt_ms"]["n"], 20 * 3 * 3)
        self.assertEqual(r["chats_other"], 60)
        self.assertEqual(r["tickets"], 20)
        self.assertEqual(r["login_ms"]["n"], 20)
        self.assertTrue(all(m == ID["REGISTER"] for m, _, _ in fake.requests))
        self.assertEqual(sorted(n for _, n, _ in fake.requests), [b"bot%05d" % i for i in range(20)])

    def test_busy_is_retried(self):
        r, _ = self.run_bot({"busy": lambda n: n <= 10}, "--bots", "10", "--rounds", "1")
        self.assertEqual((r["completed"], r["retries"], r["errors"].get("BUSY")), (10, 10, 10))

    def test_retry_budget(self):
        r, _ = self.run_bot({"busy": lambda n: True}, "--bots", "3", "--retries", "2", expect_rc=1)
        self.assertEqual((r["failed"], r["retries"], r["errors"].get("BUSY")), (3, 6, 9))
        self.assertEqual(r["failures"], {"welcome": {"n": 3, "timeouts": 0}})

    def test_gate_fallback(self):
        r, _ = self.run_bot({"dead_gate": lambda g: g <= 5}, "--bots", "5", "--rounds", "1")
        self.assertEqual((r["completed"], r["fallbacks"], r["retries"], r["logins_ok"]), (5, 5, 5, 10))

    def test_kick_counted(self):
        r, _ = self.run_bot({"kick": lambda times: True}, "--bots", "4", "--rounds", "2")
        self.assertEqual((r["kicked"], r["kicks"], r["failed"], r["completed"]), (4, 4, 0, 0))
        self.assertEqual(r["kick_codes"], {"LOGGED_IN_ELSEWHERE": 4})

    def test_kick_relogin_guest(self):
        # Each guest is kicked once, logs in again with its stored credential
        # (the fake refuses another one) and finishes.
        r, fake = self.run_bot({"kick": lambda times: times == 1}, "--bots", "4", "--guest", "--relogin",
                               "--rounds", "2")
        self.assertEqual((r["kicks"], r["completed"], r["kicked"], r["retries"]), (4, 4, 0, 4))
        creds = [c for m, _, c in fake.requests]
        self.assertEqual(sorted(len(c) for c in creds), [0] * 4 + [32] * 4)

    def test_redirect(self):
        # Each session is moved once, after its first MOVED: the bot enters
        # the new gate with the new token and keys, the entity keeps its
        # position and a later epoch, and the round is played again there.
        r, fake = self.run_bot({"redirect": lambda times: times == 1}, "--bots", "5", "--rounds", "3")
        self.assertEqual((r["redirects"], r["completed"], r["rounds"], r["logins_ok"]), (5, 5, 15, 5))
        self.assertEqual(sorted(fake.entered.values()), [2] * 5)

    def test_sealed_error(self):
        r, _ = self.run_bot({"wrong_password": True}, "--bots", "3", expect_rc=1)
        self.assertEqual(r["errors"], {"WRONG_PASSWORD": 3})
        self.assertEqual(r["failures"], {"login_reply": {"n": 3, "timeouts": 0}})

    def test_clear_token_refusal(self):
        r, _ = self.run_bot({"refuse_token": True}, "--bots", "2", expect_rc=1)
        self.assertEqual((r["errors"], r["failures"]), ({"TOKEN_INVALID": 2}, {"enter": {"n": 2, "timeouts": 0}}))

    def test_impostor_key(self):
        other = raw_pub(X25519PrivateKey.generate()).hex()
        r, _ = self.run_bot({}, "--bots", "2", key=other, expect_rc=1)
        self.assertEqual((r["logins_ok"], r["failures"]), (0, {"login_reply": {"n": 2, "timeouts": 0}}))

    def test_mismatched_reply(self):
        r, _ = self.run_bot({"bad_moved": True}, "--bots", "2", "--rounds", "1", expect_rc=1)
        self.assertEqual((r["entered"], r["failures"]), (2, {"play": {"n": 2, "timeouts": 0}}))

    def test_silent_gate_deadline(self):
        r, _ = self.run_bot({"silent_gate": True}, "--bots", "3", "--timeout-ms", "300", expect_rc=1)
        self.assertEqual(r["failures"], {"enter": {"n": 3, "timeouts": 3}})
        self.assertLess(r["elapsed_s"], 10)


def main():
    global BOT
    ap = argparse.ArgumentParser()
    ap.add_argument("--bot", required=True)
    args, rest = ap.parse_known_args()
    BOT = args.bot
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
