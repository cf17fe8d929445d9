"""e2e: the cluster. Three real nodes on 127.0.0.1 joined by their harbors
(cservice/harbor.c), node 1 running the registry; each node runs
services/cluster_probe.lua, which the test drives over a line protocol.

Covers: remote calls by handle-resolved name and by global name in every
direction, a 1 MB message, a wrong secret refused, kill -9 and SIGSTOP of a
node with 100 calls waiting (all fail, the SIGSTOP ones within the
detection bound), a restarted node served again, a frozen node declared
dead and registered again with a new incarnation, registry queries by tag
and health, the per-node send queue bound."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, free_ports, scaled, wait_until  # noqa: E402

HEARTBEAT_MS = 200
MISSES = 3
BOUND_S = (HEARTBEAT_MS * MISSES + 1000) / 1000.0  # the documented detection bound
SECRET = "e2e-cluster-secret"
READY = r"cluster probe ready on node \d+"


def ask(port, line, timeout=10):
    """One command to a node's probe; returns its one-line answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as s:
        s.settimeout(scaled(timeout))
        s.sendall((line + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError("probe on port %d closed without answering %r" % (port, line))
            buf += chunk
        return buf.decode().strip()


def parse_done(text):
    m = re.match(r"done ok=(\d+) err=(\d+) ms=(\d+) first=(.*)$", text)
    if not m:
        raise AssertionError("unexpected answer %r" % text)
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)


class ClusterCase(NodeTestCase):
    """Starts nodes 1..3 (node 1 hosts the registry)."""

    NODES = (1, 2, 3)

    def setUp(self):
        super().setUp()
        ports = free_ports(2 * len(self.NODES) + 1)
        self.console_port = ports[-1]
        self.harbor_port = {n: ports[i] for i, n in enumerate(self.NODES)}
        self.probe_port = {n: ports[len(self.NODES) + i] for i, n in enumerate(self.NODES)}
        self.running = {}
        for n in self.NODES:
            self.start_node(n)
        for n in self.NODES:
            self.running[n].wait_log(READY, timeout=15)
        for a in self.NODES:
            for b in self.NODES:
                if a != b:
                    self.wait_reachable(a, b)

    def cluster_spec(self, n):
        return ",".join("%d@127.0.0.1:%d" % (m, self.harbor_port[m]) for m in self.NODES)

    def start_node(self, n, secret=SECRET, **extra):
        """Starts node n (again: a new log file, so waits see this run's lines)."""
        life = sum(1 for x in self.nodes if x.name.startswith("node%d-" % n)) + 1
        keys = dict(
            node=n,
            thread=2,
            start="cluster_probe",
            luaservice=nodeutil.e2e_luaservice(),
            cluster=self.cluster_spec(n),
            heartbeat_ms=HEARTBEAT_MS,
            heartbeat_misses=MISSES,
            registry_suspect=4,  # 800 ms: loaded test machines delay heartbeats
            registry_dead=8,
            tags="eu,game" if n != 3 else "us,game",
            probe_port=self.probe_port[n],
            logfile=self.path("node%d-%d.log" % (n, life)),
        )
        if n == 1:
            keys["registry"] = True
            keys["console"] = True
            keys["console_port"] = self.console_port
        keys.update(extra)
        cfg = self.config("node%d-%d.lua" % (n, life), **keys)
        node = self.node(cfg, name="node%d-%d" % (n, life), logfile=keys["logfile"], env={"SHOAL_CLUSTER_SECRET": secret})
        self.running[n] = node
        return node

    def ask(self, n, line, timeout=10):
        return ask(self.probe_port[n], line, timeout)

    def wait_reachable(self, a, b, timeout=15):
        wait_until(
            lambda: self.ask(a, "ping %d .probe" % b).startswith("ok pong from node %d" % b),
            scaled(timeout),
            "node %d reaching node %d" % (a, b),
            interval=0.1,
        )

    def describe(self):
        return "\n".join(n.describe() for n in self.running.values())


class RemoteCalls(ClusterCase):
    def test_calls_by_name_and_global_name_every_direction(self):
        for a in self.NODES:
            for b in self.NODES:
                if a == b:
                    continue
                self.assertEqual(self.ask(a, "ping %d .probe" % b), "ok pong from node %d" % b)
                self.assertEqual(self.ask(a, "ping 0 global:probe%d" % b), "ok pong from node %d" % b)
        ok, err, _, first = parse_done(self.ask(1, "call 2 .probe 100 10"))
        self.assertEqual((ok, err), (100, 0), first)

    def test_one_way_sends_arrive_every_direction(self):
        for a, b in ((1, 2), (2, 1), (3, 1), (2, 3)):
            self.assertEqual(self.ask(a, "sends %d 1000" % b), "counted 1000")

    def test_one_megabyte_message_crosses_intact(self):
        self.assertEqual(self.ask(1, "big 3 1048576", timeout=30), "ok 1048576")
        self.assertEqual(self.ask(3, "big 2 1048576", timeout=30), "ok 1048576")

    def test_unknown_name_and_unknown_node_fail_clearly(self):
        r = self.ask(1, "ping 2 .nosuch")
        self.assertTrue(r.startswith("err") and "no service .nosuch on node 2" in r, r)
        r = self.ask(1, "ping 9 .probe")
        self.assertTrue(r.startswith("err") and "node 9 is unreachable" in r, r)


class Discovery(ClusterCase):
    """Nodes 2 and 3 know only node 1 (the registry's) and themselves: they
    learn each other's address from the registry and connect."""

    def cluster_spec(self, n):
        return ",".join("%d@127.0.0.1:%d" % (m, self.harbor_port[m]) for m in sorted({1, n}))

    def test_addresses_come_from_the_registry(self):
        self.assertEqual(self.ask(2, "ping 3 .probe"), "ok pong from node 3")
        self.assertEqual(self.ask(3, "ping 0 global:probe2"), "ok pong from node 2")


class NodeFailures(ClusterCase):
    def start_waiting_calls(self, target, n=100, ms=60000):
        """Node 1 starts n calls to target that would take ms; returns a
        socket whose answer comes when they all ended."""
        s = socket.create_connection(("127.0.0.1", self.probe_port[1]), timeout=scaled(5))
        s.sendall(("call %d .probe %d %d\n" % (target, n, ms)).encode())
        # the calls are in flight once node 3's probe has them: give them a moment
        wait_until(lambda: self.pending_calls(target) >= n, scaled(10), "%d calls pending" % n, interval=0.05)
        return s

    def pending_calls(self, target):
        table = self.ask(1, "nodes")
        for row in table.split(";"):
            cols = row.split()
            if cols and cols[0] == str(target):
                return int(cols[7])
        return 0

    def read_answer(self, s, timeout):
        s.settimeout(scaled(timeout))
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        s.close()
        return buf.decode().strip()

    def test_kill9_fails_every_waiting_call_at_once(self):
        s = self.start_waiting_calls(3)
        t0 = time.monotonic()
        self.running[3].kill()
        ok, err, _, first = parse_done(self.read_answer(s, timeout=10))
        took = time.monotonic() - t0
        self.assertEqual((ok, err), (0, 100), first)
        self.assertIn("node 3", first)
        # a closed connection is seen at once, well inside the silence bound
        self.assertLess(took, scaled(BOUND_S), "took %.2f s" % took)
        r = self.ask(1, "ping 3 .probe")
        self.assertTrue(r.startswith("err") and "node 3" in r, r)
        # restarted: served again without touching nodes 1 and 2
        self.start_node(3).wait_log(READY, timeout=15)
        self.wait_reachable(1, 3)
        self.wait_reachable(2, 3)
        self.assertEqual(self.ask(2, "ping 0 global:probe3"), "ok pong from node 3")

    def test_sigstop_fails_every_waiting_call_within_the_bound(self):
        s = self.start_waiting_calls(3)
        t0 = time.monotonic()
        self.running[3].send_signal(signal.SIGSTOP)
        try:
            ok, err, _, first = parse_done(self.read_answer(s, timeout=10))
            took = time.monotonic() - t0
        finally:
            self.running[3].send_signal(signal.SIGCONT)
        self.assertEqual((ok, err), (0, 100), first)
        self.assertIn("node 3 lost: silent for", first)
        self.assertLess(took, scaled(BOUND_S), "all 100 failed after %.2f s, bound %.2f s" % (took, BOUND_S))
        # back from the freeze: the link comes back by itself
        self.wait_reachable(1, 3)

    def events(self, n, since=0):
        """Node n's recorded registry events after the first `since`: (id, event, inc, seq)."""
        out = []
        for e in self.ask(n, "events").split()[since:]:
            i, kind, inc, seq = e.split(":")
            out.append((i, kind, int(inc), int(seq)))
        return out

    def test_frozen_node_is_declared_dead_then_registers_again(self):
        self.assertEqual(self.ask(2, "watch"), "ok")
        before = len(self.events(2))
        self.running[3].send_signal(signal.SIGSTOP)
        try:
            dead = wait_until(lambda: [e for e in self.events(2, before) if e[:2] == ("3", "dead")], scaled(10),
                              "node 3 declared dead", 0.05)[0]
            wait_until(lambda: self.ask(1, "peers") == "1 2", scaled(10), "healthy-only peers = 1 2", 0.1)
        finally:
            self.running[3].send_signal(signal.SIGCONT)
        wait_until(lambda: [e for e in self.events(2, before) if e[:2] == ("3", "join") and e[2] > dead[2]],
                   scaled(15), "node 3 back with a new incarnation", 0.1)
        mine = [e for e in self.events(2, before) if e[0] == "3"]
        kinds = [e[1] for e in mine]
        i = kinds.index("dead")
        self.assertEqual(kinds[i - 1:i + 2], ["suspect", "dead", "join"], mine)
        self.assertEqual(mine[i + 1][2], dead[2] + 1, "the new life has the next incarnation")
        seqs = [e[3] for e in self.events(2)]
        self.assertEqual(seqs, list(range(seqs[0], seqs[0] + len(seqs))), "seq goes up by one")
        wait_until(lambda: self.ask(1, "peers") == "1 2 3", scaled(10), "node 3 healthy again", 0.1)

    def test_send_queue_bound_gives_an_error(self):
        """Node 2 frozen, node 1 floods it: sends fail with 'resource limit
        reached' once the bound is used up, and node 1's memory stays
        bounded. Node 1 runs with a 2 MiB bound and a long heartbeat so the
        flood meets the bound, not the failure detector."""
        self.running[1].kill()
        self.start_node(1, harbor_queue_kb=2048, heartbeat_ms=5000).wait_log(READY, timeout=15)
        self.wait_reachable(1, 2)
        self.running[2].send_signal(signal.SIGSTOP)
        try:
            r = self.ask(1, "flood 2 65536 4000", timeout=30)  # up to 256 MB if unbounded
            m = re.match(r"sent (\d+) err=(.*)$", r)
            self.assertTrue(m, r)
            sent, err = int(m.group(1)), m.group(2)
            self.assertEqual(err, "resource limit reached", r)
            self.assertLess(sent, 4000)
            rss_kb = int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % self.running[1].proc.pid).read()).group(1))
            self.assertLess(rss_kb, 200 * 1024, "node 1 RSS %d KB" % rss_kb)
        finally:
            self.running[2].send_signal(signal.SIGCONT)
        self.wait_reachable(1, 2)


class Registry(ClusterCase):
    def test_queries_by_tag_and_health_and_status(self):
        wait_until(lambda: self.ask(1, "peers") == "1 2 3", scaled(10), "all three registered", 0.1)
        # (polled: on a loaded machine a late heartbeat may make a node
        # suspect for a moment, and healthy-only queries then leave it out)
        wait_until(lambda: self.ask(1, "peers eu") == "1 2", scaled(10), "peers eu = 1 2", 0.1)
        wait_until(lambda: self.ask(3, "peers us") == "3", scaled(10), "peers us = 3", 0.1)
        self.assertEqual(self.ask(2, "peers none"), "")
        self.assertEqual(self.ask(3, "status load 42"), "ok")
        wait_until(lambda: self.ask(1, "peerstatus 3 load") == "alive 42", scaled(10), "node 3's status", 0.1)


    def test_graceful_stop_leaves_the_registry(self):
        """SIGTERM: clusterd's exit hook sends "leave" (the harbor waits for
        it), the node exits 0 and the others see leave, not dead."""
        # node 3 must have joined first: on a loaded machine its first
        # heartbeat can come after the SIGTERM, and then nothing leaves
        wait_until(lambda: self.ask(1, "peers") == "1 2 3", scaled(10), "all three registered", 0.1)
        self.assertEqual(self.ask(2, "watch"), "ok")
        code, _ = self.running[3].stop(signal.SIGTERM, timeout=15)
        self.assertEqual(code, 0, self.describe())
        wait_until(lambda: ":leave:" in self.ask(2, "events"), scaled(10), "node 3 left", 0.05)
        mine = [e.split(":")[1] for e in self.ask(2, "events").split() if e.startswith("3:")]
        self.assertEqual(mine[-1], "leave", mine)
        self.assertNotIn("dead", mine[-3:], "a graceful stop is a leave, not a death: %s" % mine)
        wait_until(lambda: self.ask(1, "peers") == "1 2", scaled(10), "node 3 gone from peers", 0.1)

    def test_console_nodes_and_registry(self):
        """`nodes` and `registry` in the debug console, through a real nc."""
        wait_until(lambda: self.ask(1, "peers") == "1 2 3", scaled(10), "all three registered", 0.1)
        out = subprocess.run(["nc", "-q", "5", "127.0.0.1", str(self.console_port)], input=b"nodes\nregistry\nexit\n",
                             capture_output=True, timeout=scaled(20)).stdout.decode()
        rows = dict(re.findall(r"^(?:shoal> )?([23])\s+(\w+)\s+127\.0\.0\.1:", out, re.M))
        self.assertEqual(rows, {"2": "up", "3": "up"}, out)
        for n in (1, 2, 3):
            self.assertRegex(out, r"node/%d\s+\d+\s+(alive|suspect)\s+\d+\s+127\.0\.0\.1:%d" % (n, self.harbor_port[n]))
        self.assertIn("3 components", out)


class WrongSecret(NodeTestCase):
    def test_wrong_secret_is_refused(self):
        ports = free_ports(4)
        spec = "4@127.0.0.1:%d,5@127.0.0.1:%d" % (ports[0], ports[1])
        nodes = {}
        for i, (n, secret) in enumerate(((5, SECRET), (4, "not-the-secret"))):
            log = self.path("node%d.log" % n)
            cfg = self.config("node%d.lua" % n, node=n, thread=2, start="cluster_probe",
                              luaservice=nodeutil.e2e_luaservice(), cluster=spec, heartbeat_ms=HEARTBEAT_MS,
                              probe_port=ports[2 + i], logfile=log)
            nodes[n] = self.node(cfg, name="node%d" % n, logfile=log, env={"SHOAL_CLUSTER_SECRET": secret})
            nodes[n].wait_log(READY, timeout=15)
        nodes[5].wait_log(r"refused: node 4 does not know the cluster secret \(bad HMAC\)", timeout=10)
        nodes[4].wait_log(r"the peer refused us: node 4 does not know the cluster secret", timeout=10)
        r = ask(ports[3], "ping 5 .probe")
        self.assertTrue(r.startswith("err") and "node 5" in r, r)
        self.assertNotIn("node 4 up", nodes[5].log())

    def test_missing_secret_stops_the_node_with_a_clear_error(self):
        ports = free_ports(1)
        log = self.path("node.log")
        cfg = self.config(node=1, start="cluster_probe", luaservice=nodeutil.e2e_luaservice(),
                          cluster="1@127.0.0.1:%d" % ports[0], probe_port=1, logfile=log,
                          cluster_secret_env="E2E_NO_SUCH_SECRET")
        n = self.node(cfg, logfile=log)
        code = n.wait(15)
        self.assertNotEqual(code, 0)
        self.assertIn("set the environment variable E2E_NO_SUCH_SECRET", n.log())


if __name__ == "__main__":
    nodeutil.main()
