"""The registry's etcd backend (lualib/shoal/registry_etcd.lua) on a real
3-member etcd cluster: test/lua/test_registry_etcd.lua's cases, which
SIGKILL one member (everything keeps working), then a second (UNAVAIL,
clearly and in bounded time), then restart both (it recovers) through
this runner's control socket. A missing etcd binary is a failure."""

import os
import socket
import threading

import etcdcluster
import nodeutil
from nodeutil import NodeTestCase


class Control:
    """A 127.0.0.1 control socket: "kill leader" (SIGKILL the member that
    leads now), "kill other" (a live one), "start all" (restart the killed
    ones on their data, wait for a healthy cluster); "ok" or "error ..."
    answers (one command per connection)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.done = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    line = conn.makefile().readline().strip()
                    if line == "kill leader":
                        found = lambda: [self.cluster.leader()] if self.cluster.leader() is not None else None
                        i = nodeutil.wait_until(found, 10, "an etcd leader")[0]
                        self.cluster.kill(i)
                    elif line == "kill other":
                        self.cluster.kill(next(k for k, p in enumerate(self.cluster.procs) if p is not None))
                    elif line == "start all":
                        for k, p in enumerate(self.cluster.procs):
                            if p is None:
                                self.cluster.start_member(k)
                        self.cluster.wait_healthy(20)
                    else:
                        raise ValueError("unknown command " + line)
                    self.done.append(line)
                    conn.sendall(b"ok\n")
                except Exception as e:  # the Lua side fails with the reason
                    conn.sendall(("error %s\n" % str(e).replace("\n", " ")[:500]).encode())

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class RegistryEtcd(NodeTestCase):
    def test_lua_cases(self):
        if etcdcluster.ETCD is None:
            self.fail(etcdcluster.missing_message())
        cluster = etcdcluster.EtcdCluster(self.path("etcd"))
        os.makedirs(cluster.dir)
        self.addCleanup(cluster.stop)
        cluster.start()
        control = Control(cluster)
        self.addCleanup(control.stop)
        log = self.path("test_registry_etcd.log")
        env = dict(os.environ, SHOAL_TEST="test_registry_etcd", SHOAL_LOGFILE=log,
                   SHOAL_ETCD_ENDPOINTS=cluster.endpoints(), SHOAL_ETCD_CONTROL=str(control.port))
        r = nodeutil.run_shoal([os.path.join(nodeutil.SOURCE_DIR, "test", "lua", "config.lua")], timeout=100,
                               env=env)
        self.assertEqual(r.returncode, 0, "test_registry_etcd.lua failed:\n" + r.stdout + r.stderr
                         + nodeutil.tail(nodeutil.read_text(log), 60))
        self.assertEqual(control.done, ["kill leader", "kill other", "start all"], "the member failures ran")
        text = nodeutil.read_text(log)
        self.assertIn("registry: etcd watch", text, "the watch saw its member die and reconnected")

    def test_missing_etcd_is_a_failure(self):
        """Without etcd on PATH the test fails (never skips) and says why."""
        out = etcdcluster.check_missing_fails(self, __file__, "RegistryEtcd.test_lua_cases")
        self.assertIn("FAIL: test_lua_cases", out)


if __name__ == "__main__":
    nodeutil.main()
