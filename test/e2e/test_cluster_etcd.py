"""e2e: a whole Shoal cluster on the etcd registry backend (issue 13: no
single point of failure; docs/registry.md, "A cluster on etcd"). A real
3-member etcd (etcdcluster.py, Debian's etcd-server) and 3 Shoal nodes with
registry_backend = "etcd" and no built-in registry (node 1 says
registry = true, which is ignored with a warning). Each node's `cluster`
names only itself: peers come from the etcd watch. Nodes 2 and 3 run a
baseappmgr (shoal.lease over etcd), all run services/cluster_probe.lua.

In order: the nodes find each other and call each other; SIGSTOP of the
standby's node past its TTL: `suspect` then `dead`, and after SIGCONT a new incarnation
(clusterd registers again); kill -9 of the
active baseappmgr's node: a `dead` event on node 1 and the standby active
within the bound (etcd lease TTL = heartbeat_ms x registry_dead, plus
etcd's expiry check); the etcd leader SIGKILLed: calls, a registration
and a new node's join go on; a second member SIGKILLed (no majority): the
nodes log "registry: etcd unavailable", a registry query answers an error
within its bound, no node crashes; the members restarted: the cluster
recovers (every node listed, a new join seen). A missing etcd binary is a
failure."""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import etcdcluster  # noqa: E402
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, free_ports, scaled, wait_until  # noqa: E402
from test_cluster import ask  # noqa: E402

HEARTBEAT_MS = 500
DEAD = 4
ETCD_TIMEOUT_MS = 500
# etcd's lease TTL (s, at least 2) plus its expiry check and a loaded machine's slack
BOUND_S = max(2.0, HEARTBEAT_MS * DEAD / 1000.0) + 2.0
SECRET = "e2e-cluster-etcd-secret"
READY = r"cluster probe ready on node \d+"


class ClusterEtcd(NodeTestCase):
    def setUp(self):
        super().setUp()
        if etcdcluster.ETCD is None:
            self.fail(etcdcluster.missing_message())
        self.etcd = etcdcluster.EtcdCluster(self.path("etcd"))
        os.makedirs(self.etcd.dir)
        self.addCleanup(self.etcd.stop)
        self.etcd.start()
        ports = free_ports(10)
        self.harbor_port = {n: ports[n - 1] for n in range(1, 6)}
        self.probe_port = {n: ports[4 + n] for n in range(1, 6)}
        self.running = {}

    def start_node(self, n, **extra):
        life = sum(1 for x in self.nodes if x.name.startswith("node%d-" % n)) + 1
        keys = dict(
            node=n, thread=2, start="etcd_node", luaservice=nodeutil.e2e_luaservice(),
            cluster="%d@127.0.0.1:%d" % (n, self.harbor_port[n]),
            heartbeat_ms=HEARTBEAT_MS, registry_suspect=2, registry_dead=DEAD,
            registry_backend="etcd", registry_etcd_endpoints=self.etcd.endpoints(),
            registry_etcd_timeout_ms=ETCD_TIMEOUT_MS, registry_etcd_prefix="/e2e-cluster/",
            probe_port=self.probe_port[n], logfile=self.path("node%d-%d.log" % (n, life)))
        keys.update(extra)
        cfg = self.config("node%d-%d.lua" % (n, life), **keys)
        node = self.node(cfg, name="node%d-%d" % (n, life), logfile=keys["logfile"],
                         env={"SHOAL_CLUSTER_SECRET": SECRET})
        self.running[n] = node
        return node

    def ask(self, n, line, timeout=10):
        return ask(self.probe_port[n], line, timeout)

    def wait_reachable(self, a, b, timeout=20):
        wait_until(lambda: self.ask(a, "ping %d .probe" % b).startswith("ok pong from node %d" % b), scaled(timeout),
                   "node %d reaching node %d" % (a, b), interval=0.1)

    def events(self, n):
        out = []
        for e in self.ask(n, "events").split():
            i, kind, inc, seq = e.split(":")
            out.append((i, kind, int(inc), int(seq)))
        return out

    def describe(self):
        return "\n".join(n.describe() for n in self.running.values())

    def bam_state(self, n):
        text = self.running[n].log()
        a = text.rfind("baseappmgr %d: active" % n)
        s = text.rfind("baseappmgr %d: standby" % n)
        return "active" if a > s else ("standby" if s > a else None)

    def test_whole_cluster_on_etcd(self):
        self.start_node(1, registry=True)
        self.start_node(2, bam="yes")
        self.start_node(3, bam="yes")
        for n in (1, 2, 3):
            self.running[n].wait_log(READY, timeout=scaled(20))
        self.running[1].wait_log(r"registry = true ignored: registry_backend = etcd, the built-in registry is not "
                                 r"started", timeout=scaled(5))
        self.assertNotIn("registry: interval", self.running[1].log(), "no built-in registry started")
        for n in (1, 2, 3):
            self.assertEqual(self.ask(n, "watch"), "ok")
        # the nodes find each other through etcd alone
        for a in (1, 2, 3):
            for b in (1, 2, 3):
                if a != b:
                    self.wait_reachable(a, b)
        done = self.ask(1, "call 2 .probe 20 10")
        self.assertTrue(done.startswith("done ok=20 err=0"), done)
        self.assertEqual(self.ask(3, "ping 0 global:probe1"), "ok pong from node 1")
        wait_until(lambda: self.ask(1, "peers") == "1 2 3", scaled(10), "peers 1 2 3 from etcd", 0.1)

        # baseappmgr active/standby over the etcd lease; kill -9 the active's node
        wait_until(lambda: sorted([str(self.bam_state(2)), str(self.bam_state(3))]) == ["active", "standby"], scaled(20),
                   "one baseappmgr active, the other standby", 0.1)
        active = 2 if self.bam_state(2) == "active" else 3
        standby = 5 - active

        # a frozen node: its etcd lease expires (dead), woken it registers a new life
        before = len(self.events(1))
        self.running[standby].send_signal(signal.SIGSTOP)
        try:
            frozen = wait_until(lambda: [e for e in self.events(1)[before:] if e[:2] == (str(standby), "dead")],
                                scaled(BOUND_S + 5), "frozen node %d dead" % standby, 0.05)[0]
        finally:
            self.running[standby].send_signal(signal.SIGCONT)
        # suspect first (node 1's watch saw its heartbeats stop), as on the built-in registry
        sus = [e for e in self.events(1)[before:] if e[:2] == (str(standby), "suspect") and e[2] == frozen[2]]
        self.assertTrue(sus and sus[0][3] < frozen[3], "suspect before dead: %s" % self.events(1)[before:])
        wait_until(lambda: [e for e in self.events(1)[before:] if e[:2] == (str(standby), "join") and e[2] > frozen[2]],
                   scaled(15), "node %d back with a new incarnation" % standby, 0.1)
        self.running[standby].wait_log(r"clusterd: node %d registered again \(incarnation \d+\)" % standby,
                                       timeout=scaled(10))
        self.wait_reachable(1, standby)
        wait_until(lambda: self.bam_state(active) == "active" and self.bam_state(standby) == "standby", scaled(10),
                   "the same active and standby after the freeze", 0.1)
        before = {n: len(self.events(n)) for n in (1, standby)}
        t0 = time.monotonic()
        self.running[active].kill()
        dead = wait_until(lambda: [e for e in self.events(1)[before[1]:] if e[:2] == (str(active), "dead")],
                          scaled(BOUND_S + 5), "node %d dead on node 1" % active, 0.05)[0]
        dead_s = time.monotonic() - t0
        wait_until(lambda: [e for e in self.events(standby)[before[standby]:] if e[:2] == (str(active), "dead")],
                   scaled(BOUND_S + 5), "node %d dead on node %d" % (active, standby), 0.05)
        dead_both_s = time.monotonic() - t0
        inc = dead[2]
        wait_until(lambda: self.bam_state(standby) == "active", scaled(BOUND_S + 5),
                   "baseappmgr %d takes over" % standby, 0.05)
        takeover_s = time.monotonic() - t0
        print("etcd cluster: node %d dead on node 1 after %.2f s, baseappmgr %d active after %.2f s (bound %.1f s)"
              % (active, dead_s, standby, takeover_s, BOUND_S))
        self.assertLess(dead_both_s, scaled(BOUND_S), "dead on both other nodes within the bound (%.2f s)"
                        % dead_both_s)
        self.assertLess(takeover_s, scaled(BOUND_S + 1), "takeover within the bound")
        seqs = [e[3] for e in self.events(1)]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "seq goes up by one")

        # the etcd leader SIGKILLed: calls, registrations and joins go on
        leader = wait_until(lambda: [self.etcd.leader()] if self.etcd.leader() is not None else None, 10,
                            "an etcd leader")[0]
        self.etcd.kill(leader)
        self.start_node(active, bam="yes")  # a registration and a join
        self.running[active].wait_log(READY, timeout=scaled(20))
        wait_until(lambda: [e for e in self.events(1) if e[:2] == (str(active), "join") and e[2] > inc],
                   scaled(15), "node %d joins again with one etcd member down" % active, 0.1)
        self.wait_reachable(1, active)
        self.wait_reachable(active, standby)
        self.running[active].wait_log(r"baseappmgr %d: standby" % active, timeout=scaled(15))
        done = self.ask(standby, "call 1 .probe 10 10")
        self.assertTrue(done.startswith("done ok=10 err=0"), done)

        # a majority gone: clear UNAVAIL lines, bounded answers, nobody crashes
        self.etcd.kill(next(k for k, p in enumerate(self.etcd.procs) if p is not None))
        for n in (1, 2, 3):
            self.running[n].wait_log(r"heartbeat failed: registry: etcd unavailable", timeout=scaled(15))
        t0 = time.monotonic()
        answer = self.ask(1, "peers", timeout=30)
        query_s = time.monotonic() - t0
        self.assertIn("registry: etcd unavailable", answer)
        print("etcd cluster without a majority: a registry query failed after %.2f s" % query_s)
        self.assertLess(query_s, scaled(2 * 3 * ETCD_TIMEOUT_MS / 1000.0 + 2), "a query is bounded: %.2f s" % query_s)
        done = self.ask(1, "call 2 .probe 5 10")  # the harbors go on without the registry
        self.assertTrue(done.startswith("done ok=5 err=0"), done)
        for n in (1, 2, 3):
            self.assertTrue(self.running[n].running(), "node %d still runs" % n)

        # the members back: the cluster recovers, a new node joins
        for k, p in enumerate(self.etcd.procs):
            if p is None:
                self.etcd.start_member(k)
        self.etcd.wait_healthy(30)
        self.start_node(4)
        self.running[4].wait_log(READY, timeout=scaled(20))
        wait_until(lambda: [e for e in self.events(1) if e[:2] == ("4", "join")], scaled(20),
                   "node 4's join after the recovery", 0.1)
        wait_until(lambda: self.ask(1, "peers") == "1 2 3 4", scaled(20), "every node listed again", 0.2)
        self.wait_reachable(4, 2)
        mark = len(self.running[1].log())
        time.sleep(scaled(3 * HEARTBEAT_MS / 1000.0))  # three heartbeats: none fails any more
        self.assertNotIn("heartbeat failed", self.running[1].log()[mark:], "heartbeats succeed again")
        for n in (1, 2, 3, 4):
            self.assertTrue(self.running[n].running(), "node %d still runs" % n)

    def test_missing_etcd_is_a_failure(self):
        """Without etcd on PATH the test fails (never skips) and says why."""
        etcdcluster.check_missing_fails(self, __file__, "ClusterEtcd.test_whole_cluster_on_etcd")


if __name__ == "__main__":
    nodeutil.main()
