"""e2e: the world cluster of examples/world/layout.lua, started by the
launcher: eight real nodes on 127.0.0.1 (registry, dbmgr, two manager
nodes each with a baseappmgr, a cellappmgr and a loginapp, two baseapps,
two cellapps) and Python clients (worldbot.py) over real sockets.

- Placement: `world` and `dungeon` go to different (least-loaded) cellapps.
- Play: players see each other enter, move and leave; an owner-only
  property reaches only its owner, a public one everyone in range
  (client -> gate -> agent -> cellapp -> baseapp -> client).
- Bad movement input (NaN, inf, out of bounds, too fast, a malformed
  WALK) is refused with its reason, logged, never applied; the connection
  is kept.
- Migration under load: a player sends numbered WALKs while its space
  migrates back and forth; the cellapp applied exactly 1..N, in order.
- kill -9 / SIGSTOP of the cellapp of a space (3 times each): the space
  comes back on the live cellapp from the newest snapshot, players get
  WORLD again and go on playing.
- kill -9 and SIGSTOP of the active cellappmgr (3 rounds each): the
  standby takes over within the detection bound and knows every space.

    test_world.py --shoal SHOAL --source SRC [Case ...]
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase  # noqa: E402
from loginbot import LoginBot  # noqa: E402
from worldbot import WorldConn  # noqa: E402

SECRET = "e2e-world-cluster"
STATIC_PUB = "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859"
NODES = 8
REGISTRY, DBMGR, MGRS, BASEAPPS, CELLAPPS = 1, 2, (3, 4), (5, 6), (7, 8)
# The layout's failure-detection bound: heartbeat 250 ms x 8, plus a
# lease/route check interval (250 ms) and the re-entry.
BOUND_S = 0.25 * 8 + 0.5
SNAPSHOT_MS = 300  # the RPO the tests run with (WORLD_SNAPSHOT_MS)


def node_of(handle_hex):
    return int(handle_hex[:2], 16)


class WorldCluster(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.run_dir = self.path("run")
        self.env = dict(os.environ, SHOAL_CLUSTER_SECRET=SECRET, CLUSTER_BASE_PORT=str(nodeutil.free_port_run(NODES)),
                        WORLD_DB=self.path("world.db"), WORLD_SCRYPT_N="1024", WORLD_SCRYPT_R="1",
                        WORLD_SNAPSHOT_MS=str(SNAPSHOT_MS))
        self.started = True
        self.addCleanup(self.stop_if_started)
        self.conns = []
        self.addCleanup(self.close_conns)
        self.launcher("start", "--shoal", nodeutil.SHOAL_BIN, "--check", "1")
        for n in MGRS:
            self.wait_log(n, r"cellappmgr %d: (active|standby)" % n)
            self.wait_log(n, r"baseappmgr %d: (active|standby)" % n)
        for n in BASEAPPS:
            self.wait_log(n, r"registered, gate")
        for n in CELLAPPS:
            self.wait_log(n, r"cellapp \w+: registered")
        self.login_ports = [int(self.wait_log(n, r"loginapp: listening on [0-9.]+:(\d+)").group(1)) for n in MGRS]
        self.consoles = {}

    def tearDown(self):
        self.close_conns()
        self.stop_if_started()
        super().tearDown()

    def close_conns(self):
        for c in self.conns:
            c.close()
        self.conns = []

    def stop_if_started(self):
        if getattr(self, "started", False):
            self.started = False
            self.launcher("stop", "--wait", "20")
            for n in range(1, NODES + 1):
                pid = self.pid(n)
                if pid and self.alive(pid):
                    os.kill(pid, signal.SIGKILL)

    # ---- the cluster

    def launcher(self, *args, timeout=60):
        layout = os.path.join(nodeutil.SOURCE_DIR, "examples", "world", "layout.lua")
        cmd = ["lua5.4", os.path.join(nodeutil.SOURCE_DIR, "scripts", "cluster.lua"), layout, args[0],
               "--dir", self.run_dir] + list(args[1:])
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
                           timeout=nodeutil.scaled(timeout))
        if args[0] == "start":
            self.assertEqual(r.returncode, 0, r.stdout + self.describe())
        return r

    def file(self, n, ext):
        return os.path.join(self.run_dir, "node%d.%s" % (n, ext))

    def log(self, n):
        return nodeutil.read_text(self.file(n, "log"))

    def describe(self):
        return "".join("\n--- node %d log (tail) ---\n%s" % (n, nodeutil.tail(self.log(n), 15))
                       for n in range(1, NODES + 1))

    def wait_log(self, n, pattern, timeout=20):
        found = []

        def seen():
            m = re.search(pattern, self.log(n), re.M)
            found[:] = [m] if m else []
            return m is not None
        nodeutil.wait_until(seen, nodeutil.scaled(timeout), "node %d logs %r%s" % (n, pattern, self.describe()))
        return found[0]

    def pid(self, n):
        try:
            return int(nodeutil.read_text(self.file(n, "pid")).strip() or 0)
        except (OSError, ValueError):
            return 0

    @staticmethod
    def alive(pid):
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def signal(self, n, sig):
        pid = self.pid(n)
        self.assertTrue(pid and self.alive(pid), "node %d is not running" % n)
        os.kill(pid, sig)
        t = time.monotonic()
        if sig == signal.SIGKILL:
            nodeutil.wait_until(lambda: not self.alive(pid), nodeutil.scaled(10), "node %d gone" % n)
        return t

    def restart(self, n):
        self.consoles.pop(n, None)
        self.launcher("start", "--shoal", nodeutil.SHOAL_BIN, "--check", "1")
        nodeutil.wait_until(lambda: self.pid(n) and self.alive(self.pid(n)), nodeutil.scaled(10),
                            "node %d running again" % n)

    # ---- the console: a snippet injected into a node's cellappmgr service

    def console_port(self, n):
        ms = re.findall(r"debug console listening on 127\.0\.0\.1:(\d+)", self.log(n))
        self.assertTrue(ms, "node %d has no console%s" % (n, self.describe()))
        return int(ms[-1])

    def console(self, n, line, timeout=15):
        """One console command on node n; its answer (the text before the next prompt)."""
        s = socket.create_connection(("127.0.0.1", self.console_port(n)), timeout=nodeutil.scaled(timeout))
        try:
            buf = b""
            deadline = time.monotonic() + nodeutil.scaled(timeout)

            def until(marker):
                nonlocal buf
                while marker not in buf:
                    if time.monotonic() > deadline:
                        raise AssertionError("console of node %d: no %r in %r" % (n, marker, buf))
                    chunk = s.recv(65536)
                    if not chunk:
                        raise AssertionError("console of node %d closed: %r" % (n, buf))
                    buf += chunk
                out, buf = buf.split(marker, 1)
                return out
            until(b"shoal> ")
            s.sendall((line + "\n").encode())
            return until(b"shoal> ").decode("utf-8", "replace").strip()
        finally:
            s.close()

    def inject(self, n, lua, service=".cellappmgr", timeout=15):
        """Runs lua (which returns one JSON string) in `service` on node n."""
        path = self.path("snippet-%d-%d.lua" % (n, time.monotonic_ns()))
        nodeutil.write_file(path, lua)
        out = self.console(n, "inject %s %s" % (service, path), timeout)
        line = out.splitlines()[-1] if out else ""
        try:
            return json.loads(line)
        except ValueError:
            raise AssertionError("console of node %d answered %r" % (n, out))

    def mgr_call(self, cmd, *args, node=None):
        """A call of the active cellappmgr (found through the lease from node's service)."""
        lua_args = "".join(", " + nodeutil.lua_value(a) for a in args)
        lua = ('local cjson = require "cjson"\n'
               'local c = require("game.cellappmgr").client()\n'
               'local r, code, why = c:%s(%s)\n'
               'return cjson.encode({r = r or cjson.null, code = code, why = why})\n') % (cmd, lua_args[2:])
        for n in ([node] if node else MGRS):
            if self.alive(self.pid(n)):
                return self.inject(n, lua)
        raise AssertionError("no manager node alive")

    def spaces(self):
        r = self.mgr_call("spaces")
        self.assertIsInstance(r["r"], dict, r)
        return r["r"]

    def holder(self, space):
        """The node of the cellapp that holds space, and its epoch."""
        r = self.mgr_call("locate", space)
        self.assertIsInstance(r["r"], dict, r)
        return node_of(r["r"]["cellapp"]), r["r"]["epoch"]

    # ---- players

    def player(self, name, i=0, register=True):
        port = self.login_ports[i % len(self.login_ports)]
        ok = LoginBot("127.0.0.1", port, pin=bytes.fromhex(STATIC_PUB)).login(name, "secret123", register=register)
        w = WorldConn(ok)
        self.conns.append(w)
        w.wait_world(nodeutil.scaled(10))
        return w

    def sees(self, w, other, pos=None, seconds=5):
        def ok():
            p = w.view.get(other)
            return p is not None and (pos is None or (abs(p[0] - pos[0]) < 0.01 and abs(p[1] - pos[1]) < 0.01))
        w.until(ok, nodeutil.scaled(seconds), "account %d in view at %r (view %r)" % (other, pos, w.view))

    def walk_to(self, w, x, y, seconds=5):
        """Walks in steps the speed cap allows; waits until the cellapp applied
        it. A step the cellapp refused (steps that reached it bunched up on a
        loaded machine look too fast: w.refused) is walked again from where
        the cellapp has the player, at most 5 times."""
        for _ in range(5):
            refused = len(w.refused)
            here = w.where(nodeutil.scaled(seconds))
            cx, cy = here["x"], here["y"]
            if abs(cx - x) <= 0.01 and abs(cy - y) <= 0.01:
                break
            while abs(cx - x) > 0.01 or abs(cy - y) > 0.01:
                dx, dy = x - cx, y - cy
                d = (dx * dx + dy * dy) ** 0.5
                step = min(d, 4.0)
                cx, cy = cx + dx / d * step, cy + dy / d * step
                if step == d:
                    cx, cy = x, y
                w.walk(cx, cy, 0.0)
                w.pump(0.06)
            if len(w.refused) == refused:
                here = w.where(nodeutil.scaled(seconds))
                break
        self.assertAlmostEqual(here["x"], x, places=2)
        self.assertAlmostEqual(here["y"], y, places=2)


class Play(WorldCluster):
    def test_placement_aoi_and_props(self):
        a = self.player("alice")
        b = self.player("bob", 1)
        self.assertEqual(a.world["space"], "world")
        self.assertEqual((a.world["width"], a.world["height"], a.world["radius"]), (1000.0, 1000.0, 50.0))
        # both start at the centre: each sees the other enter
        ida, idb = a.ok["account"], b.ok["account"]
        self.sees(a, idb)
        self.sees(b, ida)
        # the second space goes to the other (least-loaded) cellapp
        self.mgr_call("locate", "dungeon")
        sp = self.spaces()
        self.assertEqual(set(sp), {"world", "dungeon"}, sp)
        self.assertNotEqual(sp["world"]["cellapp"], sp["dungeon"]["cellapp"], sp)
        # the debug console shows the game state: each cellapp node its spaces, the one
        # holding "world" both players' cell parts; the managers' nodes the map
        world_node = node_of(sp["world"]["cellapp"])
        out = self.console(world_node, "spaces")
        self.assertRegex(out, r"(?m)^  space world .*entities=2", out)
        self.assertRegex(out, r"(?m)^1 spaces from 1 services$", out)
        out = self.console(world_node, "entity %d" % ida)
        self.assertRegex(out, r"(?m)^cellapp \w+ space world: entity %d .*x=" % ida, out)
        self.assertIn("entity 999999: not on this node", self.console(world_node, "entity 999999"))
        out = "\n".join(self.console(n, "players") for n in BASEAPPS)
        self.assertRegex(out, r"(?m)^  account %d .*epoch=\d+ .*name=alice" % ida, out)
        self.assertRegex(out, r"(?m)^  account %d .*epoch=\d+ .*name=bob" % idb, out)
        out = "\n".join(self.console(n, "entity %d" % ida) for n in BASEAPPS)
        self.assertRegex(out, r"(?m)^baseapp \w+: account %d " % ida, out)
        self.assertRegex(out, r"(?m)^  entity .*name=alice.*x=", out)
        out = "\n".join(self.console(n, "spaces") for n in MGRS)
        self.assertIn("(active, lease epoch", out)
        self.assertRegex(out, r"(?m)^  space dungeon on cellapp ", out)
        # a move is seen
        self.walk_to(a, 510.0, 505.0)
        self.sees(b, ida, (510.0, 505.0))
        # owner-only: only alice; public: both
        a.set_prop(1, "gold", "42")
        a.set_prop(0, "title", "knight")
        a.until(lambda: any(p["key"] == "title" for p in a.props), nodeutil.scaled(5), "alice's PROP title")
        b.until(lambda: any(p["key"] == "title" and p["subject"] == ida for p in b.props), nodeutil.scaled(5),
                "bob sees alice's title")
        self.assertTrue(any(p["key"] == "gold" and p["value"] == "42" and p["own"] == 1 for p in a.props), a.props)
        b.pump(0.3)
        self.assertFalse(any(p["key"] == "gold" for p in b.props), b.props)
        # out of range, then gone
        self.walk_to(a, 600.0, 505.0)
        b.until(lambda: ida not in b.view, nodeutil.scaled(5), "alice out of bob's view")
        self.walk_to(a, 510.0, 505.0)
        self.sees(b, ida, (510.0, 505.0))
        # the game's own data (ctx.data, docs/game-guide.md): the demo counts lines said
        a.say("hello")
        a.say("again")
        a.until(lambda: sum(1 for f in a.pushed if f["account"] == ida) >= 2, nodeutil.scaled(5), "alice's CHATs")
        nodeutil.wait_until(lambda: "data={said=2}" in "".join(self.console(n, "entity %d" % ida) for n in BASEAPPS),
                            nodeutil.scaled(5), "alice's data.said = 2 in her entity")
        # the logic service reloaded from its file (docs/game-guide.md section 6): players stay, the count goes on
        for n in BASEAPPS:
            h = re.search(r"(?m)^(:[0-9a-f]{8}) +snlua +game_demo", self.console(n, "list"))
            self.assertTrue(h, "no game_demo on node %d" % n)
            out = self.console(n, "reload " + h.group(1))
            self.assertRegex(out, r"^reloaded %s: \d+ handler\(s\) set" % h.group(1), out)
        a.say("after the reload")
        nodeutil.wait_until(lambda: "data={said=3}" in "".join(self.console(n, "entity %d" % ida) for n in BASEAPPS),
                            nodeutil.scaled(5), "alice's data.said = 3 after the reload")
        a.logout()
        b.until(lambda: ida not in b.view, nodeutil.scaled(5), "alice's leave")
        # her position was saved with her entity: she comes back there
        a2 = self.player("alice", register=False)
        here = a2.where(nodeutil.scaled(5))
        self.assertAlmostEqual(here["x"], 510.0, places=2)
        self.assertEqual(here["seq"], 1)
        # and her data was saved with her entity
        out = "".join(self.console(n, "entity %d" % a2.ok["account"]) for n in BASEAPPS)
        self.assertIn("data={said=3}", out)

    def test_bad_moves(self):
        a = self.player("carol")
        self.walk_to(a, 501.0, 500.0)  # a first move: the speed check has a reference
        start = a.where(nodeutil.scaled(5))
        cases = [((float("nan"), 10.0), "not a number"), ((float("inf"), 10.0), "not a number"),
                 ((10.0, float("-inf")), "not a number"), ((-1.0, 500.0), "out of bounds"),
                 ((500.0, 1000.0), "out of bounds"), ((start["x"] + 400.0, start["y"]), "too fast")]
        for (x, y), why in cases:
            n = len(a.refused)
            a.walk(x, y, 0.0)
            a.until(lambda: len(a.refused) > n, nodeutil.scaled(5), "REFUSED for %r" % ((x, y),))
            r = a.refused[-1]
            self.assertEqual(r["why"], why, r)
            self.assertEqual((r["x"], r["y"]), (start["x"], start["y"]), r)
        # malformed: a WALK two bytes short, then an empty one
        for body in (b"\x01\x04" + b"\0" * 10, b"\x01\x04"):
            n = len(a.refused)
            a.send(body)
            a.until(lambda: len(a.refused) > n, nodeutil.scaled(5), "REFUSED malformed")
            self.assertEqual(a.refused[-1]["why"], "malformed")
        # a bad property, a server -> client id, a reserved id
        n = len(a.refused)
        a.set_prop(0, "no spaces", "x")
        a.until(lambda: len(a.refused) > n, nodeutil.scaled(5), "REFUSED bad property")
        self.assertEqual(a.refused[-1]["why"], "bad property")
        for mid in (0x0105, 0x0110):
            n = len(a.errors)
            a.send(bytes([mid >> 8, mid & 0xff]))
            a.until(lambda: len(a.errors) > n, nodeutil.scaled(5), "ERROR for 0x%04x" % mid)
            self.assertEqual(a.errors[-1]["code"], 21, a.errors[-1])  # UNKNOWN_MESSAGE
        here = a.where(nodeutil.scaled(5))  # the connection is kept; nothing moved
        self.assertEqual((here["x"], here["y"]), (start["x"], start["y"]), here)
        # two refused here (malformed), the six moves by the space: each logged
        nodeutil.wait_until(lambda: sum(self.log(n).count("malformed WALK: refused") for n in BASEAPPS) == 2,
                            nodeutil.scaled(5), "the baseapp logs the malformed WALKs")


class Migration(WorldCluster):
    N = 200  # numbered WALKs per walker
    WALKERS = 8

    def test_migration_keeps_every_message_in_order(self):
        """WALKERS players each send N numbered WALKs (dir = the number)
        while `world` migrates three times; each player's requests were
        applied exactly once and in order (WHERE: seq = applied = all)."""
        walkers = [self.player("walker%d" % i, i) for i in range(self.WALKERS)]
        watcher = self.player("watcher", 1)
        starts = [w.where(nodeutil.scaled(5)) for w in walkers]
        sent = [0] * self.WALKERS
        stop = threading.Event()

        def walk(i):
            w, st = walkers[i], starts[i]
            x = st["x"]
            while sent[i] < self.N and not stop.is_set():
                # a step under the space's slack (0.01): two WALKs that arrive in the
                # same millisecond are not "too fast" (docs/space.md)
                x += 0.005
                w.walk(x, st["y"], float(sent[i]))
                sent[i] += 1
                time.sleep(0.01)
        threads = [threading.Thread(target=walk, args=(i,)) for i in range(self.WALKERS)]
        for t in threads:
            t.start()
        pauses, during = [], []
        try:
            for k in range(3):  # at a quarter, a half and three quarters of the walk
                nodeutil.wait_until(lambda: min(sent) >= self.N * (k + 1) // 4, nodeutil.scaled(20),
                                    "the walkers at %d%%" % (25 * (k + 1)))
                node, epoch = self.holder("world")
                r = self.mgr_call("migrate", "world")
                self.assertIsInstance(r["r"], dict, r)
                pauses.append(r["r"]["pause_ms"])
                during.append(max(sent))
                node2, epoch2 = self.holder("world")
                self.assertNotEqual(node2, node)
                self.assertEqual(epoch2, epoch + 1)
        finally:
            for t in threads:
                t.join(timeout=nodeutil.scaled(30))
            stop.set()
        self.assertEqual(sent, [self.N] * self.WALKERS)
        self.assertLess(max(during), self.N, "every migration happened while all walked: %r" % during)
        for i, w in enumerate(walkers):
            here = w.where(nodeutil.scaled(10))
            # after the first WHERE: N WALKs, then this WHERE, each once, in order
            self.assertEqual(here["seq"], starts[i]["seq"] + self.N + 1, (i, here))
            self.assertEqual(here["applied"], starts[i]["applied"] + self.N + 1, (i, here))
            self.assertEqual(w.refused, [], i)
            self.assertAlmostEqual(here["dir"], float(self.N - 1), places=3, msg=(i, here))
            self.assertEqual(w.refused, [], i)
        # the watcher sees every walker at its last position
        for w in walkers:
            here = w.heres[-1]
            self.sees(watcher, w.ok["account"], (here["x"], here["y"]))
        print("migration pauses ms: %r (the walkers had sent at most %r of their WALKs)" % (pauses, during), file=sys.stderr)


class CellappFailover(WorldCluster):
    ROUNDS = 3

    CROWD = 16  # more players in the space, each of whom must come back too

    def failover(self, sig, rounds=None, prefix=""):
        """Rounds of sig to the cellapp of `world`; -> the ms from each
        signal until every player of the space had WORLD again. After a
        SIGSTOP round the node is woken (SIGCONT) and must drop its stale
        copy of the space, then killed and restarted."""
        a = self.player(prefix + "frank")
        b = self.player(prefix + "grace", 1)
        crowd = [self.player(prefix + "crowd%d" % i, i) for i in range(self.CROWD)]
        everyone = [a, b] + crowd
        ida = a.ok["account"]
        self.sees(b, ida)
        took = []
        for i in range(rounds or self.ROUNDS):
            node, epoch = self.holder("world")
            x = 490.0 - 10 * (i % 5)  # within the view radius (50) of grace at the centre
            self.walk_to(a, x, 500.0)
            time.sleep(SNAPSHOT_MS * 2.5 / 1000)  # a snapshot holds the position (the RPO)
            for w in [b] + crowd:  # what came meanwhile; and a word to the baseapp, so that many rounds
                w.nudge()            # stay within its idle bound (baseapp_idle_ms)
                w.pump(0.001)
            before = [w.worlds for w in everyone]
            t0 = self.signal(node, sig)
            deadline = t0 + nodeutil.scaled(BOUND_S + 8)
            back = [None] * len(everyone)
            while None in back:
                self.assertLess(time.monotonic(), deadline, "round %d: players without WORLD again: %r" % (
                    i, [w.ok["account"] for w, t in zip(everyone, back) if t is None]))
                for j, w in enumerate(everyone):
                    if back[j] is None:
                        w.pump(0.005)
                        if w.worlds > before[j]:
                            back[j] = time.monotonic()
            ms = (max(back) - t0) * 1000
            took.append(ms)
            node2, epoch2 = self.holder("world")
            self.assertNotEqual(node2, node)
            self.assertGreater(epoch2, epoch)
            here = a.where(nodeutil.scaled(5))
            self.assertAlmostEqual(here["x"], x, places=2)  # from the newest snapshot
            self.sees(b, ida, (x, 500.0))
            self.walk_to(a, x + 5, 500.0)  # and plays on
            self.sees(b, ida, (x + 5, 500.0))
            self.wait_log(MGRS[0] if self.active_mgr() == MGRS[0] else MGRS[1],
                          r"failover: event=space_recovered space=world from=%02x" % node)
            print("round %d: %s of node %d: players back in %.0f ms" % (i, sig.name, node, ms), file=sys.stderr)
            if sig == signal.SIGSTOP:
                # woken, it registers a new life and drops what it held: the space stays where it is
                self.signal(node, signal.SIGCONT)
                self.wait_log(node, r"space world dropped \(it lives elsewhere now\)")
                self.assertEqual(self.holder("world"), (node2, epoch2))
                self.signal(node, signal.SIGKILL)
            nodeutil.wait_until(lambda: not self.alive(self.pid(node)), nodeutil.scaled(10), "node gone")
            lives = len(re.findall(r"cellapp \w+: registered", self.log(node)))
            self.restart(node)
            nodeutil.wait_until(lambda: len(re.findall(r"cellapp \w+: registered", self.log(node))) > lives,
                                nodeutil.scaled(20), "node %d's cellapp registered again" % node)
        for w in everyone:
            w.logout()
        return took

    def active_mgr(self):
        for n in MGRS:
            m = re.findall(r"cellappmgr %d: (active|standby)" % n, self.log(n))
            if m and m[-1] == "active":
                return n
        return None

    def test_kill(self):
        self.failover(signal.SIGKILL)
        # the active manager's node shows the steps in the console's `failover`
        out = self.console(self.active_mgr(), "failover")
        self.assertGreaterEqual(len(re.findall(r"(?m)^  failover: event=space_recovered space=world ", out)),
                                self.ROUNDS, out)
        self.assertRegex(out, r"(?m)^\d+ events from \d+ services$", out)

    def test_stop(self):
        self.failover(signal.SIGSTOP)


class ManagerFailover(WorldCluster):
    ROUNDS = 3

    def active_mgr(self):
        states = {}
        for n in MGRS:
            m = re.findall(r"cellappmgr %d: (active|standby)" % n, self.log(n))
            states[n] = m[-1] if m else None
        active = [n for n, st in states.items() if st == "active"]
        return active[0] if len(active) == 1 else None

    def takeover(self, sig):
        """Rounds of sig to the active cellappmgr's node: the standby takes
        over within the detection bound and knows every space (the same
        cellapps, epochs); the player plays on. A stopped one is woken and
        must step down; a killed one is restarted and becomes the standby."""
        a = self.player("heidi")
        self.mgr_call("locate", "dungeon")
        before = self.spaces()
        for i in range(self.ROUNDS):
            active = self.active_mgr()
            self.assertIsNotNone(active)
            other = MGRS[1] if active == MGRS[0] else MGRS[0]
            actives = len(re.findall(r"cellappmgr %d: active" % other, self.log(other)))
            t0 = self.signal(active, sig)
            nodeutil.wait_until(lambda: len(re.findall(r"cellappmgr %d: active" % other, self.log(other))) > actives,
                                nodeutil.scaled(BOUND_S + 5), "node %d's cellappmgr active" % other)
            took = time.monotonic() - t0
            self.assertLess(took, nodeutil.scaled(BOUND_S + 2))
            after = self.mgr_call("spaces", node=other)["r"]
            self.assertEqual(after, before)
            self.walk_to(a, 500.0 + (i + 1), 500.0)  # the player goes on
            standbys = len(re.findall(r"cellappmgr %d: standby" % active, self.log(active)))
            if sig == signal.SIGSTOP:
                self.signal(active, signal.SIGCONT)  # woken: its life ended, it steps down
            else:
                self.restart(active)
            nodeutil.wait_until(lambda: len(re.findall(r"cellappmgr %d: standby" % active, self.log(active))) > standbys,
                                nodeutil.scaled(20), "node %d's cellappmgr standby" % active)
            self.assertEqual(self.active_mgr(), other)
            # through the lease from the node that was active: the same map (once its links are back)
            got = []

            def same_map():
                got[:] = [self.mgr_call("spaces", node=active)]
                return got[0]["r"] == before
            nodeutil.wait_until(same_map, nodeutil.scaled(10), "the map from node %d" % active)
            print("round %d: %s of cellappmgr %d: standby active after %.0f ms" % (i, sig.name, active, took * 1000),
                  file=sys.stderr)

    def test_kill_active_cellappmgr(self):
        self.takeover(signal.SIGKILL)

    def test_stop_active_cellappmgr(self):
        self.takeover(signal.SIGSTOP)


if __name__ == "__main__":
    nodeutil.main()
