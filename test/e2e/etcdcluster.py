"""A real etcd cluster for the tests (Debian's etcd-server package): N
members on 127.0.0.1 ports in a temp dir, started with a bounded wait,
killed with SIGKILL, restarted on their data, always stopped."""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

import nodeutil

ETCD = shutil.which("etcd")


def missing_message():
    return ("etcd not found on PATH: the etcd registry tests need Debian's etcd-server package "
            "(bash scripts/deps.sh installs it)")


def check_missing_fails(case, script, test_name):
    """Runs test `test_name` of `script` with an empty PATH: it must fail
    (never skip) and say that etcd is missing. -> its output."""
    import sys
    env = dict(os.environ, PATH=case.path("empty"))
    os.makedirs(env["PATH"])
    r = subprocess.run([sys.executable, os.path.abspath(script), "--shoal", nodeutil.SHOAL_BIN,
                        "--source", nodeutil.SOURCE_DIR, test_name],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                       timeout=nodeutil.scaled(30))
    case.assertEqual(r.returncode, 1, r.stdout + r.stderr)
    case.assertIn("etcd not found on PATH", r.stdout + r.stderr)
    return r.stdout + r.stderr


class EtcdCluster:
    def __init__(self, workdir, n=3):
        self.dir = workdir
        base = nodeutil.free_port_run(2 * n)
        self.client_ports = [base + 2 * i for i in range(n)]
        self.peer_ports = [base + 2 * i + 1 for i in range(n)]
        self.procs = [None] * n
        self.n = n

    def endpoints(self):
        return ",".join("127.0.0.1:%d" % p for p in self.client_ports)

    def command(self, i):
        cluster = ",".join("m%d=http://127.0.0.1:%d" % (k, p) for k, p in enumerate(self.peer_ports))
        return [ETCD, "--name", "m%d" % i, "--data-dir", os.path.join(self.dir, "m%d" % i),
                "--listen-client-urls", "http://127.0.0.1:%d" % self.client_ports[i],
                "--advertise-client-urls", "http://127.0.0.1:%d" % self.client_ports[i],
                "--listen-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % self.peer_ports[i],
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "shoal-test", "--heartbeat-interval", "50",
                "--election-timeout", "500", "--log-level", "warn"]

    def start_member(self, i):
        log = open(os.path.join(self.dir, "m%d.log" % i), "ab")
        self.procs[i] = subprocess.Popen(nodeutil.owned(self.command(i)), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()

    def start(self, timeout=30):
        for i in range(self.n):
            self.start_member(i)
        self.wait_healthy(timeout)

    def healthy(self, i):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.client_ports[i], timeout=1) as r:
                return json.loads(r.read().decode()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def wait_healthy(self, timeout=30):
        def ok():
            for i, p in enumerate(self.procs):
                if p is not None and p.poll() is not None:
                    raise AssertionError("etcd member m%d exited (%s):\n%s" % (i, p.returncode, self.log(i)))
            return all(self.healthy(i) for i in range(self.n) if self.procs[i] is not None)
        nodeutil.wait_until(ok, nodeutil.scaled(timeout), "a healthy etcd cluster")

    def leader(self):
        """The index of the member that leads now (None: no leader seen)."""
        for i in range(self.n):
            if self.procs[i] is None:
                continue
            try:
                req = urllib.request.Request("http://127.0.0.1:%d/v3/maintenance/status" % self.client_ports[i],
                                             data=b"{}", headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=1) as r:
                    st = json.loads(r.read().decode())
                if st.get("leader") and st["leader"] == st["header"]["member_id"]:
                    return i
            except (OSError, ValueError, KeyError):
                continue
        return None

    def kill(self, i):
        p = self.procs[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        self.procs[i] = None

    def log(self, i):
        return nodeutil.tail(nodeutil.read_text(os.path.join(self.dir, "m%d.log" % i)))

    def stop(self):
        for i in range(self.n):
            self.kill(i)
