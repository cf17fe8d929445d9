"""e2e: baseappmgr active/standby (service/baseappmgr.lua over the registry
lease, docs/baseappmgr.md). Three real nodes on 127.0.0.1: node 1 runs the
registry and services/e2e_bam_client.lua (three fake baseapps and a stream
of picks through game/baseappmgr.lua's client); nodes 2 and 3 each run a
baseappmgr. One holds the lease "baseappmgr" and answers picks; the other
is the standby.

KillActive: kill -9 the active one's node during the stream; picks resume
from the standby (now active, a higher lease epoch) within the failure
detection bound (heartbeat_ms x misses + 1 s, scaled by
SHOAL_E2E_TIME_SCALE); no pick waits past its timeouts; the gap is printed.
The killed node restarts and becomes the standby. At no time are two
baseappmgrs active, and each lease epoch is served by one of them only.

FreezeActive: SIGSTOP the active one's node: the standby takes over once
the registry declares it dead; after SIGCONT it registers a new life and
is the standby (never a second active).

StopActive: SIGTERM the active one: it leaves the registry on the way out,
so the standby takes over at once (well under the detection bound)."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, free_ports, scaled, wait_until  # noqa: E402

HEARTBEAT_MS = 250
MISSES = 4  # registry_dead: missed heartbeats before the registry declares a component dead
BOUND_MS = HEARTBEAT_MS * MISSES + 1000  # the documented detection bound
PICK_TIMEOUT_MS = 500
PICK_EVERY_MS = 20
PICK_MAX = 4000  # the stream's bound: 4000 x 20 ms = 80 s at most
SECRET = "e2e-baseappmgr-secret"

PICK = re.compile(r"PICK t=(\d+) (ok epoch=(\d+) mgr=(\S+)|err code=(\S+)) ms=(\d+)")
STATES = re.compile(r"STATES t=(\d+) (.*)$", re.M)


class BaseappmgrCase(NodeTestCase):
    NODES = (1, 2, 3)

    def setUp(self):
        super().setUp()
        ports = free_ports(len(self.NODES))
        self.harbor_port = {n: ports[i] for i, n in enumerate(self.NODES)}
        self.running = {}
        self.start_node(1).wait_log(r"bam client ready", timeout=15)
        self.start_node(2).wait_log(r"baseappmgr 2: active \(lease epoch 1\)", timeout=15)
        self.start_node(3).wait_log(r"baseappmgr 3: standby \(active: 2, lease epoch 1\)", timeout=15)
        self.wait_states("2=active:1 3=standby:1")
        self.wait_picks(lambda p: p["mgr"] == "2", 20, "20 picks from baseappmgr 2")

    def start_node(self, n):
        """Starts node n (again: a new log file, so waits see this life's lines)."""
        life = sum(1 for x in self.nodes if x.name.startswith("node%d-" % n)) + 1
        keys = dict(
            node=n,
            thread=2,
            start="e2e_bam_client" if n == 1 else "baseappmgr",
            luaservice=nodeutil.e2e_luaservice(),
            cluster=",".join("%d@127.0.0.1:%d" % (m, self.harbor_port[m]) for m in self.NODES),
            heartbeat_ms=HEARTBEAT_MS,
            heartbeat_misses=MISSES,
            registry_suspect=2,
            registry_dead=MISSES,
            logfile=self.path("node%d-%d.log" % (n, life)),
        )
        if n == 1:
            keys.update(registry=True, pick_timeout_ms=PICK_TIMEOUT_MS, pick_every_ms=PICK_EVERY_MS,
                        pick_max=PICK_MAX)
        cfg = self.config("node%d-%d.lua" % (n, life), **keys)
        node = self.node(cfg, name="node%d-%d" % (n, life), logfile=keys["logfile"],
                         env={"SHOAL_CLUSTER_SECRET": SECRET})
        self.running[n] = node
        return node

    def client_log(self):
        return self.running[1].log()

    def picks(self):
        out = []
        for m in PICK.finditer(self.client_log()):
            out.append(dict(t=int(m.group(1)), ok=m.group(3) is not None,
                            epoch=int(m.group(3)) if m.group(3) else None, mgr=m.group(4), code=m.group(5),
                            ms=int(m.group(6))))
        return out

    def states(self):
        return [(int(m.group(1)), m.group(2).strip()) for m in STATES.finditer(self.client_log())]

    def wait_states(self, want, timeout=15):
        wait_until(lambda: any(s == want for _, s in self.states()), scaled(timeout),
                   "the baseappmgrs' states %r (seen: %r)" % (want, self.states()[-5:]), interval=0.05)

    def wait_picks(self, pred, n, what, timeout=15, after=0):
        wait_until(lambda: sum(1 for p in self.picks()[after:] if p["ok"] and pred(p)) >= n, scaled(timeout),
                   what, interval=0.05)

    def check_no_split_brain(self):
        for t, s in self.states():
            self.assertLessEqual(s.count("active"), 1, "two active baseappmgrs at t=%d: %s" % (t, s))
        by_epoch = {}
        last_epoch = 0
        for p in self.picks():
            if not p["ok"]:
                continue
            by_epoch.setdefault(p["epoch"], set()).add(p["mgr"])
            self.assertGreaterEqual(p["epoch"], last_epoch, "a pick at an older epoch after a newer one: %r" % p)
            last_epoch = p["epoch"]
        for epoch, mgrs in by_epoch.items():
            self.assertEqual(len(mgrs), 1, "epoch %d served by %r" % (epoch, sorted(mgrs)))

    def check_no_pick_hangs(self):
        # One pick: at most two calls and two lease look-ups, each bounded
        # by the timeout (game/baseappmgr.lua).
        limit = scaled(4 * PICK_TIMEOUT_MS) + 200
        for p in self.picks():
            self.assertLessEqual(p["ms"], limit, "a pick took %d ms (limit %d): %r" % (p["ms"], limit, p))


class KillActive(BaseappmgrCase):
    def test_kill9_active_standby_takes_over_and_restart_is_standby(self):
        before = len(self.picks())
        self.running[2].send_signal(signal.SIGKILL)
        self.running[2].wait(10)
        self.wait_picks(lambda p: p["mgr"] == "3", 1, "a pick from baseappmgr 3", timeout=BOUND_MS / 1000 + 15,
                        after=before)
        picks = self.picks()
        last_old = max(p["t"] for p in picks if p["ok"] and p["mgr"] == "2")
        first_new = min(p["t"] for p in picks if p["ok"] and p["mgr"] == "3")
        failed = [p for p in picks[before:] if not p["ok"]]
        gap = first_new - last_old
        bound = scaled(BOUND_MS) + PICK_EVERY_MS + PICK_TIMEOUT_MS
        print("BAM failover: picks resumed %d ms after the last pick of the killed baseappmgr (%d failed picks "
              "meanwhile, codes %s; bound %d ms)" % (gap, len(failed), sorted({p["code"] for p in failed}), bound))
        self.assertLessEqual(gap, bound, "the gap %d ms is over the bound" % gap)
        self.assertTrue(all(p["code"] == "no_active" for p in failed), failed[:3])
        self.assertEqual({p["epoch"] for p in picks if p["ok"] and p["mgr"] == "3"}, {2})
        self.wait_states("3=active:2")
        # the killed one comes back: the standby, same epoch
        node = self.start_node(2)
        node.wait_log(r"baseappmgr 2: standby \(active: 3, lease epoch 2\)", timeout=15)
        self.wait_states("2=standby:2 3=active:2")
        after = len(self.picks())
        self.wait_picks(lambda p: True, 20, "20 more picks", after=after)
        self.assertTrue(all(p["mgr"] == "3" and p["epoch"] == 2 for p in self.picks()[after:] if p["ok"]))
        self.check_no_split_brain()
        self.check_no_pick_hangs()


class FreezeActive(BaseappmgrCase):
    def test_frozen_active_is_replaced_and_wakes_as_standby(self):
        before = len(self.picks())
        self.running[2].send_signal(signal.SIGSTOP)
        try:
            self.wait_picks(lambda p: p["mgr"] == "3", 1, "a pick from baseappmgr 3", timeout=BOUND_MS / 1000 + 15,
                            after=before)
        finally:
            self.running[2].send_signal(signal.SIGCONT)
        picks = self.picks()
        last_old = max(p["t"] for p in picks if p["ok"] and p["mgr"] == "2")
        first_new = min(p["t"] for p in picks if p["ok"] and p["mgr"] == "3")
        # A pick in flight at the freeze waits out its two calls' timeouts.
        bound = scaled(BOUND_MS) + 2 * PICK_TIMEOUT_MS + PICK_EVERY_MS
        print("BAM freeze: picks resumed %d ms after the last pick of the frozen baseappmgr (bound %d ms)"
              % (first_new - last_old, bound))
        self.assertLessEqual(first_new - last_old, bound)
        # Woken, it learns that its life ended: the standby, never a second active.
        self.running[2].wait_log(r"baseappmgr 2: standby \(active: 3, lease epoch 2\)", timeout=15)
        self.wait_states("2=standby:2 3=active:2")
        after = len(self.picks())
        self.wait_picks(lambda p: True, 10, "10 more picks", after=after)
        self.assertTrue(all(p["mgr"] == "3" and p["epoch"] == 2 for p in self.picks()[after:] if p["ok"]))
        self.check_no_split_brain()
        self.check_no_pick_hangs()


class StopActive(BaseappmgrCase):
    def test_sigterm_hands_the_lease_over_at_once(self):
        self.running[2].send_signal(signal.SIGTERM)
        self.running[3].wait_log(r"baseappmgr 3: active \(lease epoch 2\)", timeout=10)
        log1 = self.client_log()
        self.assertRegex(log1, r"lease baseappmgr \(epoch 1\) is free: baseappmgr/2 inc 1 left")
        self.assertEqual(self.running[2].wait(10), 0)
        before = len(self.picks())
        self.wait_picks(lambda p: p["mgr"] == "3", 10, "picks from baseappmgr 3", after=before)
        picks = self.picks()
        last_old = max(p["t"] for p in picks if p["ok"] and p["mgr"] == "2")
        first_new = min(p["t"] for p in picks if p["ok"] and p["mgr"] == "3")
        print("BAM graceful hand-over: picks resumed %d ms after the last pick of the stopped baseappmgr"
              % (first_new - last_old))
        # A leave frees the lease at once: no detection bound to wait out.
        self.assertLess(first_new - last_old, scaled(BOUND_MS) / 2)
        self.check_no_split_brain()
        self.check_no_pick_hangs()


if __name__ == "__main__":
    nodeutil.main()
