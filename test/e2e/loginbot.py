"""loginbot - a scriptable game client written from docs/protocol.md alone.

    python3 loginbot.py --pin PUBHEX HOST PORT NAME PASSWORD [--register]

As a library (the e2e tests):

    bot = LoginBot("127.0.0.1", 7100, pin=bytes.fromhex(PUB))
    ok = bot.login("alice", "secret123", register=True)   # -> LoginOk or raises ServerError
    game = GameConn(ok)                                    # connects, ENTER, ENTER_OK
    game.move(3, 4); game.say("hi"); game.logout()
    p = Player(bot, "alice", "secret123")                  # login + game, and after a close
    p.recover(dead=(host, port))                           # RESUME at the next candidate (or log in again)

Needs python3-cryptography (Debian's 38 is enough: X25519, HKDF,
ChaCha20Poly1305). Every socket operation has a timeout.
"""

import os
import socket
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import serialization

VERSION = 1
IDS = {
    "HELLO": 0x0001, "WELCOME": 0x0002, "REGISTER": 0x0003, "LOGIN": 0x0004, "GUEST": 0x0005,
    "LOGIN_OK": 0x0006, "ERROR": 0x0007, "ENTER": 0x0010, "ENTER_OK": 0x0011, "KICK": 0x0012,
    "LOGOUT": 0x0013, "BYE": 0x0014, "PING": 0x0015, "PONG": 0x0016, "REDIRECT": 0x0017, "TICKET": 0x0018, "RESUME": 0x0019, "GATES": 0x001A, "MOVE": 0x0100, "MOVED": 0x0101,
    "SAY": 0x0102, "CHAT": 0x0103,
}
NAMES = {v: k for k, v in IDS.items()}
CODES = {
    "MALFORMED": 1, "BAD_VERSION": 2, "BUSY": 3, "RATE": 4, "BAD_NAME": 5, "BAD_PASSWORD": 6,
    "NAME_TAKEN": 7, "UNKNOWN_ACCOUNT": 8, "WRONG_PASSWORD": 9, "BAD_CREDENTIAL": 10, "LOGIN_RACE": 11,
    "NO_BASEAPP": 12, "UNAVAILABLE": 13, "TOKEN_INVALID": 14, "TOKEN_EXPIRED": 15, "TOKEN_USED": 16,
    "TOKEN_FOREIGN": 17, "NOT_ENTERED": 18, "LOGGED_IN_ELSEWHERE": 19, "TIMEOUT": 20, "UNKNOWN_MESSAGE": 21,
    "BAD_MOVE": 22, "BAD_TEXT": 23, "SHUTDOWN": 24, "DECRYPT": 25,
}
CODE_NAMES = {v: k for k, v in CODES.items()}


class ServerError(Exception):
    """An ERROR (or KICK) from the server: .code, .name, .retry_after_ms, .text."""

    def __init__(self, code, text, retry_after_ms=0, kind="ERROR"):
        self.code, self.text, self.retry_after_ms, self.kind = code, text, retry_after_ms, kind
        self.name = CODE_NAMES.get(code, str(code))
        super().__init__("%s %s (%d): %s" % (kind, self.name, code, text))


class Closed(Exception):
    """The server closed the connection."""


# ---- encodings (docs/protocol.md section 2)

def s2(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("message cut short")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def str(self):
        return self.take(self.u16())

    def end(self):
        if self.pos != len(self.data):
            raise ValueError("bytes left over")


def msg(name, payload=b""):
    return struct.pack(">H", IDS[name]) + payload


def decode(body):
    """body -> (name, dict). Raises ValueError on a malformed message."""
    r = Reader(body)
    mid = r.u16()
    name = NAMES.get(mid, "0x%04x" % mid)
    f = {}
    if name == "WELCOME":
        f["version"] = r.u16(); f["public"] = r.take(32); f["nonce"] = r.take(16)
    elif name == "LOGIN_OK":
        f["version"] = r.u16(); f["account"] = r.u64(); f["epoch"] = r.u64()
        f["host"] = r.str().decode(); f["port"] = r.u16(); f["token"] = r.str()
        f["c2s"] = r.take(32); f["s2c"] = r.take(32); f["encrypted"] = r.u8()
        f["ticket"] = r.str(); f["credential"] = r.str()
        f["candidates"] = []
        for _ in range(r.u8()):
            f["candidates"].append({"host": r.str().decode(), "port": r.u16(), "healthy": r.u8(), "online": r.u32()})
    elif name == "ERROR":
        f["code"] = r.u16(); f["retry_after_ms"] = r.u32(); f["queue_position"] = r.u32()
        f["text"] = r.str().decode("utf-8", "replace")
    elif name == "ENTER_OK":
        f["account"] = r.u64(); f["epoch"] = r.u64(); f["name"] = r.str().decode(); f["x"] = r.i32()
        f["y"] = r.i32(); f["logins"] = r.u32()
    elif name == "KICK":
        f["code"] = r.u16(); f["text"] = r.str().decode("utf-8", "replace")
    elif name in ("PONG",):
        f["n"] = r.u32()
    elif name == "MOVED":
        f["x"] = r.i32(); f["y"] = r.i32()
    elif name == "CHAT":
        f["account"] = r.u64(); f["name"] = r.str().decode(); f["text"] = r.str().decode("utf-8", "replace")
    elif name == "REDIRECT":
        f["host"] = r.str().decode(); f["port"] = r.u16(); f["token"] = r.str(); f["c2s"] = r.take(32)
        f["s2c"] = r.take(32); f["encrypted"] = r.u8()
    elif name == "TICKET":
        f["ticket"] = r.str()
    elif name == "GATES":
        f["candidates"] = []
        for _ in range(r.u8()):
            f["candidates"].append({"host": r.str().decode(), "port": r.u16(), "healthy": r.u8(), "online": r.u32()})
    elif name == "BYE":
        pass
    else:
        raise ValueError("unexpected message %s" % name)
    r.end()
    return name, f


# ---- crypto (docs/protocol.md sections 1 and 4)

def x25519_public(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def login_keys(client_priv, static_pub, server_pub, nonce):
    """-> c2s, s2c, as the protocol's key schedule says."""
    cpub = x25519_public(client_priv)
    dh1 = client_priv.exchange(X25519PublicKey.from_public_bytes(static_pub))
    dh2 = client_priv.exchange(X25519PublicKey.from_public_bytes(server_pub))
    transcript = b"shoal login v1" + cpub + server_pub + nonce + static_pub
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=transcript, info=b"shoal session keys v1").derive(dh1 + dh2)
    return okm[:32], okm[32:]


def hkdf(ikm, salt, info, n):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)


def resume_secret(c2s, s2c):
    """R: the session's resume secret (docs/protocol.md section 6.1)."""
    return hkdf(c2s + s2c, b"", b"shoal resume secret v1", 32)


def resume_proof(secret, account, nonce):
    import hmac
    return hmac.new(secret, b"shoal resume proof v1" + struct.pack(">Q", account) + nonce, "sha256").digest()


def resume_keys(secret, nonce):
    okm = hkdf(secret, nonce, b"shoal resume keys v1", 64)
    return okm[:32], okm[32:]


def resume_msg(account, ticket, nonce, secret):
    return msg("RESUME", struct.pack(">HQ", VERSION, account) + s2(ticket) + nonce +
               resume_proof(secret, account, nonce))


class Sealer:
    """One direction: seal (counts SEQ) or open (accepts exactly the next SEQ)."""

    def __init__(self, key):
        self.aead, self.seq = ChaCha20Poly1305(key), 0

    def seal(self, plain):
        seq = struct.pack(">Q", self.seq)
        self.seq += 1
        return seq + self.aead.encrypt(b"\0\0\0\0" + seq, plain, None)

    def open(self, frame):
        if len(frame) < 24:
            raise ValueError("sealed frame too short")
        seq = frame[:8]
        if struct.unpack(">Q", seq)[0] != self.seq:
            raise ValueError("unexpected SEQ")
        plain = self.aead.decrypt(b"\0\0\0\0" + seq, frame[8:], None)  # raises InvalidTag
        self.seq += 1
        return plain


# ---- framing

class Conn:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, body):
        self.sock.sendall(struct.pack(">H", len(body)) + body)

    def _fill(self, n):
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                raise Closed("reset by the server")
            if not chunk:
                raise Closed("closed by the server")
            self.buf += chunk

    def recv_frame(self):
        self._fill(2)
        n = struct.unpack(">H", self.buf[:2])[0]
        self._fill(2 + n)
        body, self.buf = self.buf[2:2 + n], self.buf[2 + n:]
        return body

    def closed_by_server(self):
        """True when the server closes (EOF or reset) within the timeout."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raise_error(name, f):
    if name == "ERROR":
        raise ServerError(f["code"], f["text"], f["retry_after_ms"])
    if name == "KICK":
        raise ServerError(f["code"], f["text"], 0, "KICK")


class LoginOk(dict):
    pass


class LoginBot:
    """One login: connect, key exchange, one request, one answer."""

    def __init__(self, host, port, pin, timeout=10.0):
        self.host, self.port, self.pin, self.timeout = host, port, pin, timeout

    def handshake(self):
        c = Conn(self.host, self.port, self.timeout)
        priv = X25519PrivateKey.generate()
        c.send_frame(msg("HELLO", struct.pack(">H", VERSION) + x25519_public(priv)))
        name, f = decode(c.recv_frame())
        if name == "ERROR":
            c.close()
            raise_error(name, f)
        if name != "WELCOME":
            raise ValueError("expected WELCOME, got " + name)
        c2s, s2c = login_keys(priv, self.pin, f["public"], f["nonce"])
        return c, Sealer(c2s), Sealer(s2c)

    def request(self, body):
        c, tx, rx = self.handshake()
        try:
            c.send_frame(tx.seal(body))
            name, f = decode(rx.open(c.recv_frame()))
            raise_error(name, f)
            return LoginOk(f)
        finally:
            c.close()

    def login(self, user, password, register=False):
        kind = "REGISTER" if register else "LOGIN"
        return self.request(msg(kind, s2(user) + s2(password)))

    def guest(self, device, credential=b""):
        return self.request(msg("GUEST", s2(device) + s2(credential)))


class GameConn:
    """The game connection of a LoginOk: ENTER, then play."""

    def __init__(self, ok, timeout=10.0, host=None, port=None, token=None, resume=None):
        """resume: (ticket, secret) of the session to go on with: RESUME instead of ENTER."""
        self.ok = ok
        self.host, self.port = host or ok["host"], port or ok["port"]
        self.c = Conn(self.host, self.port, timeout)
        self.tx = self.rx = None
        if resume:
            nonce = os.urandom(16)
            c2s, s2c = resume_keys(resume[1], nonce)
            self.c.send_frame(resume_msg(ok["account"], resume[0], nonce, resume[1]))
        else:
            c2s, s2c = ok["c2s"], ok["s2c"]
            self.c.send_frame(msg("ENTER", struct.pack(">HQ", VERSION, ok["account"]) + s2(token or ok["token"])))
        self.secret = resume_secret(c2s, s2c)  # what the next RESUME proves it knows
        if ok["encrypted"]:
            self.tx, self.rx = Sealer(c2s), Sealer(s2c)
        self.pushed = []  # CHAT messages that arrived while waiting for something else
        self.ticket = None  # the latest resume ticket (a TICKET follows ENTER_OK at once)
        self.gates = None  # the latest GATES list (None: LOGIN_OK's candidates)
        self.entered = self.expect("ENTER_OK", clear_error=True)

    def send(self, body):
        self.c.send_frame(self.tx.seal(body) if self.tx else body)

    def recv(self, clear_error=False):
        """The next message (TICKETs are kept in self.ticket, GATES in self.gates, not returned)."""
        while True:
            frame = self.c.recv_frame()
            if self.rx:
                try:
                    frame = self.rx.open(frame)
                except Exception:
                    if clear_error:  # a refused ENTER is answered in clear
                        name, f = decode(frame)
                        raise_error(name, f)
                    raise
            name, f = decode(frame)
            raise_error(name, f)
            if name == "TICKET":
                self.ticket = f["ticket"]
            elif name == "GATES":
                self.gates = f["candidates"]
            else:
                return name, f

    def expect(self, want, clear_error=False):
        while True:
            name, f = self.recv(clear_error)
            if name == want:
                return f
            if name == "CHAT":
                self.pushed.append(f)
                continue
            raise ValueError("expected %s, got %s" % (want, name))

    def ping(self, n):
        self.send(msg("PING", struct.pack(">I", n)))
        return self.expect("PONG")["n"]

    def move(self, x, y):
        self.send(msg("MOVE", struct.pack(">ii", x, y)))
        f = self.expect("MOVED")
        return f["x"], f["y"]

    def say(self, text):
        self.send(msg("SAY", s2(text)))

    def chat(self):
        if self.pushed:
            return self.pushed.pop(0)
        return self.expect("CHAT")

    def follow(self, r):
        """After a REDIRECT (its fields): the game connection at the new baseapp."""
        self.c.close()
        ok = LoginOk(account=self.ok["account"], host=r["host"], port=r["port"], token=r["token"], c2s=r["c2s"],
                     s2c=r["s2c"], encrypted=r["encrypted"])
        return GameConn(ok)

    def wait_ticket(self, timeout=5.0):
        """Until a TICKET has arrived (one follows ENTER_OK at once)."""
        import time
        end = time.time() + timeout
        while self.ticket is None and time.time() < end:
            self.ping(0)
        return self.ticket

    def logout(self):
        self.send(msg("LOGOUT"))
        self.expect("BYE")
        self.c.close()

    def close(self):
        self.c.close()


class Player:
    """A player that goes on after its baseapp dies: logs in, plays, and on a
    close without KICK (or unanswered PINGs) RESUMEs at the next candidate
    gate of its LOGIN_OK (wrapping round, skipping the dead one); on a
    refusal it logs in again with its password (docs/protocol.md 6.1)."""

    def __init__(self, bot, name, password, register=False, timeout=10.0, answer_s=None):
        """answer_s: while playing, a server that does not answer for this
        long is taken for frozen (the socket's timeout raises): recover()."""
        self.bot, self.name, self.password, self.timeout, self.answer_s = bot, name, password, timeout, answer_s
        self.ok = bot.login(name, password, register)
        self.game = self.playing(GameConn(self.ok, timeout))
        self.how = "login"

    def playing(self, game):
        game.wait_ticket()
        if self.answer_s:
            game.c.sock.settimeout(self.answer_s)
        return game

    def candidates(self, dead):
        """The gates to try, the current one's successors first, the dead one left out."""
        gates = [(c["host"], c["port"]) for c in (self.game.gates or self.ok["candidates"])]
        cur = (self.game.host, self.game.port)
        i = gates.index(cur) if cur in gates else -1
        order = gates[i + 1:] + gates[:i + 1]
        return [g for g in order if g != dead and g != cur] or [g for g in order if g != dead]

    def recover(self, dead=None):
        """-> "resumed" or "login" (a refusal, or no gate took the RESUME)."""
        ticket, secret = self.game.ticket, self.game.secret
        self.game.close()
        last = None
        for host, port in self.candidates(dead):
            try:
                self.game = self.playing(GameConn(self.ok, self.timeout, host=host, port=port,
                                                  resume=(ticket, secret)))
                self.how = "resumed"
                return self.how
            except ServerError as e:
                last = e
                if e.name != "UNAVAILABLE":
                    break  # the ticket is refused: a password login
            except (OSError, Closed) as e:
                last = e  # that gate is down too: the next one
        self.last_refusal = last
        self.ok = self.bot.login(self.name, self.password)
        self.game = self.playing(GameConn(self.ok, self.timeout))
        self.how = "login"
        return self.how


def main(argv):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pin", required=True, help="the loginapp's static public key, hex")
    p.add_argument("--register", action="store_true")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("name")
    p.add_argument("password")
    a = p.parse_args(argv)
    ok = LoginBot(a.host, a.port, bytes.fromhex(a.pin)).login(a.name, a.password, a.register)
    print("LOGIN_OK account %d epoch %d gate %s:%d candidates %s" % (ok["account"], ok["epoch"], ok["host"],
                                                                    ok["port"], ok["candidates"]))
    g = GameConn(ok)
    print("ENTER_OK", g.entered)
    print("MOVED", g.move(1, 2))
    g.say("hello")
    print("CHAT", g.chat())
    g.logout()
    print("BYE")


if __name__ == "__main__":
    main(sys.argv[1:])
