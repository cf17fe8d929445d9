"""worldbot - the world messages (docs/protocol.md section 7) on top of
loginbot's client, written from the doc.

    ok = LoginBot(host, port, pin).login("alice", "secret123", register=True)
    w = WorldConn(ok)               # ENTER, ENTER_OK; then WORLD arrives
    w.wait_world(5)                 # -> the WORLD fields
    w.walk(10.0, 20.0, 0.0)         # one-way; a refusal comes back as REFUSED
    w.pump(0.5)                     # reads what arrived: AOI, PROP, REFUSED, HERE, WORLD
    w.view                          # {account: (x, y)} of the entities in view
    w.where(5)                      # -> HERE {seq, applied, x, y, dir}

Every wait is bounded (seconds).
"""
import math
import socket
import struct
import time

import loginbot
from loginbot import Closed, GameConn, msg, s2  # noqa: F401

WORLD_IDS = {"WALK": 0x0104, "WORLD": 0x0105, "AOI": 0x0106, "PROP": 0x0107, "SET_PROP": 0x0108,
             "REFUSED": 0x0109, "WHERE": 0x010A, "HERE": 0x010B}
loginbot.IDS.update(WORLD_IDS)
loginbot.NAMES.update({v: k for k, v in WORLD_IDS.items()})
REASONS = {1: "not a number", 2: "out of bounds", 3: "too fast", 4: "malformed", 5: "unknown entity",
           6: "queue full", 7: "bad property", 8: "no space"}
ENTER, LEAVE, MOVE = 1, 2, 3


def decode_world(body):
    """(name, fields) of a world message, or None for the others."""
    mid = struct.unpack(">H", body[:2])[0]
    name = loginbot.NAMES.get(mid)
    if name not in WORLD_IDS:
        return None
    r = loginbot.Reader(body)
    r.u16()
    f = {}
    if name == "WORLD":
        f["space"] = r.str().decode()
        f["width"], f["height"], f["radius"], f["x"], f["y"], f["dir"] = struct.unpack(">ffffff", r.take(24))
    elif name == "AOI":
        recs = r.str()
        f["records"] = [struct.unpack(">BQff", recs[i:i + 17]) for i in range(0, len(recs), 17)]
    elif name == "PROP":
        f["subject"] = r.u64(); f["own"] = r.u8(); f["key"] = r.str().decode(); f["value"] = r.str().decode()
    elif name == "REFUSED":
        f["reason"] = r.u8(); f["x"], f["y"] = struct.unpack(">ff", r.take(8)); f["text"] = r.str().decode()
        f["why"] = REASONS.get(f["reason"], str(f["reason"]))
    elif name == "HERE":
        f["seq"] = r.u32(); f["applied"] = r.u32(); f["x"], f["y"], f["dir"] = struct.unpack(">fff", r.take(12))
    else:
        raise ValueError("a client never gets %s" % name)
    r.end()
    return name, f


class WorldConn(GameConn):
    def __init__(self, ok, timeout=10.0, **kw):
        self.world = None
        self.worlds = 0  # WORLD messages seen (a recovered space sends it again)
        self.view = {}
        self.props = []
        self.refused = []
        self.heres = []
        self.errors = []
        super().__init__(ok, timeout, **kw)

    def recv(self, clear_error=False):
        while True:
            frame = self.c.recv_frame()
            if self.rx:
                try:
                    frame = self.rx.open(frame)
                except Exception:
                    if clear_error:
                        name, f = loginbot.decode(frame)
                        loginbot.raise_error(name, f)
                    raise
            w = decode_world(frame)
            if w:
                self.absorb(*w)
                continue
            name, f = loginbot.decode(frame)
            if name == "ERROR" and self.world is not None:
                self.errors.append(f)  # a refusal in play (the connection is kept)
                continue
            loginbot.raise_error(name, f)
            if name == "TICKET":
                self.ticket = f["ticket"]
                continue
            return name, f

    def absorb(self, name, f):
        if name == "WORLD":
            self.world = f
            self.worlds += 1
        elif name == "AOI":
            for kind, subject, x, y in f["records"]:
                if kind == LEAVE:
                    self.view.pop(subject, None)
                else:
                    self.view[subject] = (x, y)
        elif name == "PROP":
            self.props.append(f)
        elif name == "REFUSED":
            self.refused.append(f)
        elif name == "HERE":
            self.heres.append(f)

    def pump(self, seconds):
        """Reads every message that arrives within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.c.sock.settimeout(left)
            try:
                name, f = self.recv()
                if name == "CHAT":
                    self.pushed.append(f)
            except socket.timeout:
                return
            finally:
                self.c.sock.settimeout(10.0)

    def until(self, pred, seconds, what):
        """Pumps until pred() is true (returned) or raises AssertionError."""
        deadline = time.monotonic() + seconds
        while True:
            v = pred()
            if v:
                return v
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out after %.1f s waiting for %s" % (seconds, what))
            self.pump(min(left, 0.05))

    def wait_world(self, seconds, count=1):
        self.until(lambda: self.worlds >= count, seconds, "WORLD")
        return self.world

    def walk(self, x, y, d=0.0):
        self.send(msg("WALK", struct.pack(">fff", x, y, d)))

    def set_prop(self, scope, key, value):
        self.send(msg("SET_PROP", struct.pack(">B", scope) + s2(key.encode()) + s2(value.encode())))

    def nudge(self):
        """A WHERE whose HERE is read later (pump): a player that only
        watches still talks to its baseapp within baseapp_idle_ms."""
        self.send(msg("WHERE"))

    def where(self, seconds):
        n = len(self.heres)
        self.send(msg("WHERE"))
        self.until(lambda: len(self.heres) > n, seconds, "HERE")
        return self.heres[-1]


def nan():
    return math.nan


def vectors():
    """The worked examples of docs/protocol.md section 6.2 (clear bodies,
    frames with their 2-byte length)."""
    def frame(body):
        return struct.pack(">H", len(body)) + body
    rec = struct.pack(">BQff", ENTER, 7, 12.5, 40.0)
    return [
        ("WALK(12.5, 40.0, 1.5)", frame(msg("WALK", struct.pack(">fff", 12.5, 40.0, 1.5)))),
        ('WORLD("world", 1000, 1000, 50, 500, 500, 0)',
         frame(msg("WORLD", s2("world") + struct.pack(">ffffff", 1000, 1000, 50, 500, 500, 0)))),
        ("AOI(one record: enter of account 7 at 12.5, 40.0)", frame(msg("AOI", s2(rec)))),
        ('PROP(7, own 1, "gold", "42")', frame(msg("PROP", struct.pack(">QB", 7, 1) + s2("gold") + s2("42")))),
        ('SET_PROP(owner 1, "gold", "42")', frame(msg("SET_PROP", struct.pack(">B", 1) + s2("gold") + s2("42")))),
        ('REFUSED(too fast 3, 500.0, 500.0, "too fast")',
         frame(msg("REFUSED", struct.pack(">Bff", 3, 500.0, 500.0) + s2("too fast")))),
        ("WHERE", frame(msg("WHERE"))),
        ("HERE(seq 5, applied 5, 12.5, 40.0, 1.5)", frame(msg("HERE", struct.pack(">IIfff", 5, 5, 12.5, 40.0, 1.5)))),
    ]


if __name__ == "__main__":
    for what, data in vectors():
        print("%s frame:\n    %s" % (what, data.hex()))
