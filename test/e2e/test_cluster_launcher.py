"""e2e: the cluster launcher (scripts/cluster.lua, docs/cluster-layout.md).

Runs the launcher with lua5.4 on layouts written into a temp dir: `print`
computes the node table, `start` brings 4 real nodes up on 127.0.0.1 (they
join each other and the registry, and the example's demo service makes a
round trip to every peer), `status` and `stop` follow them through their
pid files until the processes are gone; a node that cannot start is
reported, one that ignores SIGTERM is killed. Bad layouts and a missing secret
are refused with exit code 2 and one line; a 255-node layout prints, and
its node 255 starts with the whole 255-entry cluster list."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, read_text, scaled, wait_until  # noqa: E402

SECRET_ENV = "E2E_LAUNCHER_SECRET"
LUA = shutil.which("lua5.4")
ROW = re.compile(r"^(\d+)\s+(\S+)\s+(\S+)\s+(\S+):(\d+)\s+(\S+)\s+(.+)$", re.M)


def layout_text(base_port, machines, extra=""):
    return (
        'secret_env = "%s"\n'
        "base_port = %d\n"
        "heartbeat_ms = 200; heartbeat_misses = 3\n"
        "machines = {\n%s\n}\n%s\n" % (SECRET_ENV, base_port, machines, extra)
    )


# 4 nodes: m1 runs the global node (1) and a baseapp (2); m2 a baseapp (3) and a cellapp (4).
FOUR = """
  { name = "m1", host = "127.0.0.1", global = { "registry", "login", "dbmgr" }, baseapp = 1 },
  { name = "m2", host = "127.0.0.1", baseapp = 1, cellapp = 1 },
"""
FOUR_SETTINGS = "settings = { thread = 1, cluster_demo_report_ms = 300 }"


class Launcher(NodeTestCase):
    def setUp(self):
        super().setUp()
        if LUA is None:
            self.fail("lua5.4 is not installed: the launcher needs it (scripts/deps.sh installs it)")
        self.script = os.path.join(nodeutil.SOURCE_DIR, "scripts", "cluster.lua")
        self.rundir = self.path("run")

    def tearDown(self):
        # whatever a failed test left running: the nodes of our pid files
        if os.path.isdir(self.rundir):
            for name in os.listdir(self.rundir):
                if name.endswith(".pid"):
                    try:
                        pid = int(read_text(os.path.join(self.rundir, name)).strip())
                    except ValueError:
                        continue
                    if self.tmp in read_text("/proc/%d/cmdline" % pid):
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
        super().tearDown()

    def write_layout(self, text, name="layout.lua"):
        return nodeutil.write_file(self.path(name), text)

    def launcher(self, layout, *args, secret="e2e-launcher-secret", timeout=60):
        env = dict(os.environ)
        env.pop(SECRET_ENV, None)
        if secret is not None:
            env[SECRET_ENV] = secret
        return subprocess.run(
            [LUA, self.script, layout] + list(args),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.tmp, env=env, timeout=scaled(timeout), text=True, errors="replace",
        )

    def run_ok(self, layout, *args, **kw):
        r = self.launcher(layout, *args, **kw)
        self.assertEqual(r.returncode, 0, "launcher %s: exit %d\n%s%s" % (args, r.returncode, r.stdout, r.stderr))
        return r.stdout

    def node_log(self, n):
        return read_text(os.path.join(self.rundir, "node%d.log" % n))

    def describe(self):
        return "\n".join("--- node%d.log:\n%s" % (n, nodeutil.tail(self.node_log(n), 15)) for n in (1, 2, 3, 4))


def gone(pid):
    """The process is gone (or a zombie nobody reaped yet)."""
    stat = read_text("/proc/%d/stat" % pid)
    return stat == "" or stat.rsplit(")", 1)[1].split()[0] == "Z"


class StartStatusStop(Launcher):
    def test_print_start_status_stop(self):
        base = nodeutil.free_port_run(4)
        layout = self.write_layout(layout_text(base, FOUR, FOUR_SETTINGS))
        rows = ROW.findall(self.run_ok(layout, "print"))
        self.assertEqual(
            [(int(i), m, role, host, int(port), tags) for i, m, role, host, port, tags, _ in rows],
            [
                (1, "m1", "global", "127.0.0.1", base, "global,registry,login,dbmgr,m1"),
                (2, "m1", "baseapp", "127.0.0.1", base + 1, "baseapp,m1"),
                (3, "m2", "baseapp", "127.0.0.1", base + 2, "baseapp,m2"),
                (4, "m2", "cellapp", "127.0.0.1", base + 3, "cellapp,m2"),
            ],
        )
        self.assertEqual([start for *_, start in rows], ["cluster_demo global", "cluster_demo baseapp",
                                                         "cluster_demo baseapp", "cluster_demo cellapp"])
        self.assertFalse(os.path.exists(self.rundir), "print starts nothing")

        out = self.run_ok(layout, "start", "--dir", "run", "--shoal", nodeutil.SHOAL_BIN)
        started = re.findall(r"^node (\d) (\w+) 127\.0\.0\.1:(\d+) pid (\d+)$", out, re.M)
        self.assertEqual([(int(n), role, int(p)) for n, role, p, _ in started],
                         [(1, "global", base), (2, "baseapp", base + 1), (3, "baseapp", base + 2),
                          (4, "cellapp", base + 3)], out)
        pids = {int(n): int(pid) for n, _, _, pid in started}
        for n in (1, 2, 3, 4):
            config = read_text(os.path.join(self.rundir, "node%d.lua" % n))
            self.assertEqual("registry = true" in config, n == 1, config)
            self.assertTrue(os.path.exists(os.path.join(self.rundir, "node%d.pid" % n)))
        self.assertNotIn("e2e-launcher-secret", "".join(read_text(os.path.join(self.rundir, "node%d.lua" % n))
                                                        for n in (1, 2, 3, 4)), "the secret stays out of files")

        # all up: node 1 sees every harbor, every node registered, the demo's round trips
        for n in (2, 3, 4):
            wait_until(lambda: "harbor: node %d up" % n in self.node_log(1), scaled(20),
                       "node 1 seeing node %d up\n%s" % (n, self.describe()), interval=0.1)
        for n in (1, 2, 3, 4):
            wait_until(lambda: "clusterd: node %d registered" % n in self.node_log(n), scaled(20),
                       "node %d registered\n%s" % (n, self.describe()), interval=0.1)
        report = re.compile(r"cluster_demo: healthy peers \| global: global1 [\d.]+ ms \| "
                            r"baseapp: baseapp2 [\d.]+ ms, baseapp3 [\d.]+ ms \| cellapp: cellapp4 [\d.]+ ms$", re.M)
        wait_until(lambda: report.search(self.node_log(1)), scaled(20),
                   "node 1's demo reaching every peer\n%s" % self.describe(), interval=0.1)

        out = self.run_ok(layout, "status", "--dir", "run")
        self.assertEqual(re.findall(r"^node (\d) \w+ 127\.0\.0\.1:\d+ running pid (\d+)$", out, re.M),
                         [(str(n), str(pids[n])) for n in (1, 2, 3, 4)], out)
        out = self.run_ok(layout, "start", "--dir", "run", "--shoal", nodeutil.SHOAL_BIN)
        self.assertEqual(len(re.findall(r"already running, pid", out)), 4, out)

        out = self.run_ok(layout, "stop", "--dir", "run", "--wait", str(scaled(20)))
        self.assertEqual(re.findall(r"^node (\d) .* stopped \(exit (\d+)\)$", out, re.M),
                         [(str(n), "0") for n in (1, 2, 3, 4)], out)
        for n, pid in pids.items():
            self.assertTrue(gone(pid), "node %d (pid %d) still there" % (n, pid))
        r = self.launcher(layout, "status", "--dir", "run")
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertEqual(len(re.findall(r"stopped \(exit 0\)$", r.stdout, re.M)), 4, r.stdout)

    def test_missing_secret_is_refused(self):
        layout = self.write_layout(layout_text(nodeutil.free_port_run(4), FOUR))
        for secret in (None, ""):
            r = self.launcher(layout, "start", "--dir", "run", "--shoal", nodeutil.SHOAL_BIN, secret=secret)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
            self.assertIn("the cluster secret is missing: set the environment variable %s" % SECRET_ENV, r.stderr)
            self.assertFalse(os.path.exists(self.rundir), "nothing was started or written")

    def test_a_node_that_cannot_start_and_one_that_will_not_stop(self):
        base = nodeutil.free_port_run(4)
        layout = self.write_layout(layout_text(base, FOUR, FOUR_SETTINGS))
        with socket.socket() as busy:  # node 3's port is taken
            busy.bind(("127.0.0.1", base + 2))
            busy.listen()
            r = self.launcher(layout, "start", "--machine", "m2", "--dir", "run", "--shoal", nodeutil.SHOAL_BIN,
                              "--check", str(scaled(1)))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"node 3 baseapp 127\.0\.0\.1:%d exited at once \(exit 1\)" % (base + 2))
        self.assertIn("harbor: cannot listen on 127.0.0.1:%d" % (base + 2), r.stdout)
        self.assertRegex(r.stdout, r"node 4 cellapp 127\.0\.0\.1:%d pid \d+" % (base + 3))
        self.assertNotRegex(r.stdout, r"node [12] ", "--machine m2 starts m2's nodes only")
        # a node that ignores SIGTERM (frozen) is killed after --wait
        pid = int(re.search(r"node 4 .* pid (\d+)", r.stdout).group(1))
        os.kill(pid, signal.SIGSTOP)
        r = self.launcher(layout, "stop", "--machine", "m2", "--dir", "run", "--wait", "1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"node 3 .* not running")
        self.assertRegex(r.stdout, r"node 4 .* \(pid %d\) did not stop within 1 s: sending SIGKILL" % pid)
        self.assertRegex(r.stdout, r"node 4 .* stopped \(exit 137\)")
        self.assertTrue(gone(pid))


class BadLayouts(Launcher):
    CASES = [
        # (what, layout text, the error's expected part)
        ("unknown top-level key", layout_text(7001, FOUR, "colour = 'blue'"), "layout: unknown key 'colour'"),
        ("unknown machine key",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" }, baseapps = 2 }'),
         "machine 'm1': unknown key 'baseapps'"),
        ("unknown role", layout_text(7001, FOUR, "roles = { loginapp = { start = 'x' } }"),
         "roles: unknown key 'loginapp'"),
        ("unknown role key", layout_text(7001, FOUR, "roles = { baseapp = { begin = 'x' } }"),
         "roles.baseapp: unknown key 'begin'"),
        ("fractional count",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" }, baseapp = 1.5 }'),
         "machine 'm1': baseapp must be an integer >= 0 (a node count), got 1.5"),
        ("negative count",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" }, cellapp = -1 }'),
         "machine 'm1': cellapp must be an integer >= 0 (a node count), got -1"),
        ("count as a string",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" }, cellapp = "2" }'),
         "machine 'm1': cellapp must be an integer >= 0 (a node count), got \"2\""),
        ("too many nodes",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" }, baseapp = 200 },'
                           '{ name = "m2", host = "10.0.0.2", cellapp = 55 }'),
         "the layout has 256 nodes; a cluster holds at most 255"),
        ("two nodes on one host:port",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" }, baseapp = 2 },'
                           '{ name = "m2", host = "127.0.0.1", port = 7003, cellapp = 1 }'),
         "nodes 3 and 4 both listen on 127.0.0.1:7003"),
        ("localhost is 127.0.0.1",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" } },'
                           '{ name = "m2", host = "localhost", port = 7001, cellapp = 1 }'),
         "nodes 1 and 2 both listen on 127.0.0.1:7001"),
        ("no registry",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "login" }, baseapp = 1 }'),
         'no machine lists "registry" in global'),
        ("two registries",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" } },'
                           '{ name = "m2", host = "10.0.0.2", global = { "registry" } }'),
         "machines 'm1' and 'm2' both list \"registry\""),
        ("duplicate machine names",
         layout_text(7001, '{ name = "m1", host = "127.0.0.1", global = { "registry" } },'
                           '{ name = "m1", host = "10.0.0.2", baseapp = 1 }'),
         "machines 1 and 2 are both named 'm1'"),
        ("port past 65535", layout_text(65534, FOUR), "node 3 (machine 'm2') would listen on port 65536"),
        ("a setting the launcher owns", layout_text(7001, FOUR, "settings = { node = 3 }"),
         "settings may not set 'node'"),
        ("no machines", 'base_port = 7001\n', "layout: 'machines' is missing"),
        ("a syntax error", "machines = {\n", "layout.lua:2:"),
        ("a runtime error", "machines = nil .. 1\n", "layout.lua:1: attempt to concatenate"),
    ]

    def test_each_error_exits_2_with_one_line(self):
        for what, text, expected in self.CASES:
            with self.subTest(what):
                layout = self.write_layout(text)
                for args in (("print",), ("start", "--dir", "run", "--shoal", nodeutil.SHOAL_BIN)):
                    r = self.launcher(layout, *args)
                    self.assertEqual(r.returncode, 2, "%s: %s%s" % (args, r.stdout, r.stderr))
                    self.assertEqual(r.stdout, "")
                    self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
                    self.assertTrue(r.stderr.startswith("cluster: "), r.stderr)
                    self.assertIn(expected, r.stderr)
                self.assertFalse(os.path.exists(self.rundir))

    def test_bad_command_lines(self):
        layout = self.write_layout(layout_text(7001, FOUR))
        for args in ((), ("launch",), ("start", "--colour", "x"), ("start", "--dir"), ("stop", "--wait", "soon"),
                     ("start", "--check", "-1")):
            r = self.launcher(layout, *args)
            self.assertEqual(r.returncode, 2, "%s: %s%s" % (args, r.stdout, r.stderr))
        r = self.launcher(layout, "start", "--machine", "m9")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no machine named 'm9'", r.stderr)


class FullCluster(Launcher):
    def test_255_nodes_print_and_node_255_starts_with_the_full_list(self):
        """The harbor reads a 255-entry `cluster` (longer than 4 KB). Only
        node 255 runs (--machine): its harbor listens on its own entry, the
        last one of the list."""
        base = nodeutil.free_port_run(255)
        machines = ('{ name = "m1", host = "127.0.0.1", global = { "registry" }, baseapp = 100 },'
                    '{ name = "m2", host = "127.0.0.1", baseapp = 100, cellapp = 53 },'
                    '{ name = "last", host = "127.0.0.1", cellapp = 1 }')
        layout = self.write_layout(layout_text(base, machines, "settings = { thread = 1 }"))
        rows = ROW.findall(self.run_ok(layout, "print"))
        self.assertEqual([int(r[0]) for r in rows], list(range(1, 256)))
        self.assertEqual(rows[101][1:3] + (int(rows[101][4]),), ("m2", "baseapp", base + 101))
        self.assertEqual(rows[254][1:3] + (int(rows[254][4]),), ("last", "cellapp", base + 254))
        out = self.run_ok(layout, "start", "--machine", "last", "--dir", "run", "--shoal", nodeutil.SHOAL_BIN)
        self.assertRegex(out, r"^node 255 cellapp 127\.0\.0\.1:%d pid \d+$" % (base + 254))
        self.assertGreater(len(read_text(os.path.join(self.rundir, "node255.lua"))), 4096)
        wait_until(lambda: "harbor: node 255 listening on 127.0.0.1:%d" % (base + 254) in self.node_log(255),
                   scaled(15), "node 255's harbor listening\n%s" % nodeutil.tail(self.node_log(255)), interval=0.1)
        out = self.run_ok(layout, "stop", "--machine", "last", "--dir", "run", "--wait", str(scaled(20)))
        self.assertRegex(out, r"node 255 .* stopped \(exit 0\)")


if __name__ == "__main__":
    nodeutil.main()
