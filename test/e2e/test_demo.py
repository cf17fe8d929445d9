#!/usr/bin/env python3
"""e2e_world_Demo: scripts/demo.sh --no-build (the README's first command
without its deps and build steps) with 60 bots: the world cluster, the bots
walking, a kill -9 of a baseapp and of the space's cellapp; the script must
end with exit 0 and its PASS verdict, and no node may outlive it."""
import os
import re
import signal
import subprocess

import nodeutil

NODES = 8  # examples/world/layout.lua
BOTS = 60
NODE_LINE = r"^  node \d+ \w+ [0-9.:]+ pid (\d+)$"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Demo(nodeutil.NodeTestCase):
    def setUp(self):
        super().setUp()
        self.out = ""
        self.addCleanup(self.kill_left_nodes)

    def kill_left_nodes(self):
        """Should the script fail to stop a node, the test does (and fails below)."""
        for pid in re.findall(NODE_LINE, self.out, re.M):
            if alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)

    def test_demo(self):
        build = os.path.dirname(nodeutil.SHOAL_BIN)
        env = dict(os.environ, CLUSTER_BASE_PORT=str(nodeutil.free_port_run(NODES)), TMPDIR=self.tmp,
                   SHOAL_DEMO_TIME_SCALE=str(max(1, int(nodeutil.TIME_SCALE + 0.999))))
        env.pop("SHOAL_DEMO_KEEP", None)
        p = subprocess.Popen(["bash", os.path.join(nodeutil.SOURCE_DIR, "scripts", "demo.sh"), "--no-build",
                              "--build-dir", build, "--bots", str(BOTS), "--settle-s", "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             start_new_session=True)
        try:
            self.out, _ = p.communicate(timeout=nodeutil.scaled(200))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGINT)  # the script's trap stops its nodes
            self.out, _ = p.communicate(timeout=60)
            self.fail("demo.sh took too long:\n" + self.out)
        out = self.out
        pids = [int(x) for x in re.findall(NODE_LINE, out, re.M)]
        self.assertEqual(len(pids), NODES, out)
        for pid in pids:
            self.assertFalse(alive(pid), "node pid %d outlived the demo\n%s" % (pid, out))
        self.assertEqual(p.returncode, 0, out)
        m = re.search(r"^demo: PASS: %d bots, baseapp killed: (\d+) back in max (\d+) ms, cellapp killed: (\d+) "
                      r"back in max (\d+) ms, 0 stranded$" % BOTS, out, re.M)
        self.assertIsNotNone(m, out)
        self.assertGreater(int(m.group(1)), 0, out)  # the killed baseapp had bots
        self.assertEqual(int(m.group(3)), BOTS, out)  # every bot was in the killed cellapp's space
        self.assertRegex(out, r"bot: bots=%d logins_ok=\d+ entered=\d+ completed=%d failed=0" % (BOTS, BOTS))
        self.assertRegex(out, r"(?m)^demo: online \d+/%d  moves/s [1-9]" % BOTS)


if __name__ == "__main__":
    nodeutil.main()
