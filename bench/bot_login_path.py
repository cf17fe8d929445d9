"""bot_login_path - bench/bot against the real login path: one node running
examples/login/login_main.lua (dbmgr on SQLite, registry, baseappmgr, 3
baseapps with sealed game frames, 2 loginapps), low KDF cost.

- 500 bots register, play 3 checked rounds (MOVE, PING, a SAY) and log
  out; then the same 500 log in again and play: every bot completes.
- 100 guests, then the same accounts shared by two bot processes at once
  (--shared-accounts: a newer login kicks or fences the older session):
  no bot fails, nothing hangs.

Skipped (passes) when the tree has no examples/login/login_main.lua.

    python3 bench/bot_login_path.py --bot BOT --shoal SHOAL --source SRC
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys

ap = argparse.ArgumentParser(add_help=False)
ap.add_argument("--bot", required=True)
ap.add_argument("--source", required=True)
_args, _ = ap.parse_known_args()
BOT = os.path.abspath(_args.bot)
i = sys.argv.index("--bot")  # nodeutil.main() parses the rest
del sys.argv[i:i + 2]
sys.path.insert(0, os.path.join(os.path.abspath(_args.source), "test", "e2e"))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase  # noqa: E402

STATIC_KEY = "a8abababababababababababababababababababababababababababababab6b"
STATIC_PUB = "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859"


class BotLoginPath(NodeTestCase):
    def setUp(self):
        super().setUp()
        main = os.path.join(nodeutil.SOURCE_DIR, "examples", "login", "login_main.lua")
        self.assertTrue(os.path.exists(main), "examples/login/login_main.lua is missing")
        log = self.path("node.log")
        cfg = self.config(
            "node.lua",
            thread=2,
            start="login_main",
            luaservice="%s/examples/login/?.lua;%s/service/?.lua" % (nodeutil.SOURCE_DIR, nodeutil.SOURCE_DIR),
            logfile=log,
            loglevel="info",
            call_timeout=10000,
            db_path=self.path("game.db"),
            login_port=0,
            login_static_key=STATIC_KEY,
            login_rate_per_addr=0,
            baseapp_encrypt=True,
            baseapp_registry=".registry",
            baseapp_heartbeat_ms=1000,
            baseappmgr_max_cpu=10000,  # every baseapp reports the whole node's CPU
            crypto_scrypt_n=1024,
            crypto_scrypt_r=1,
            login_demo_loginapps=2,
            login_demo_baseapps=3,
        )
        self.n = self.node(cfg, logfile=log, env={"SHOAL_CLUSTER_SECRET": "bot-login-path"})
        self.n.wait_log(r"login demo: started", timeout=nodeutil.scaled(20))
        self.n.wait_log(r"(?s)(registered, gate.*){3}", timeout=nodeutil.scaled(20))
        ports = re.findall(r"loginapp: listening on [0-9.]+:(\d+)", self.n.log())
        self.assertEqual(len(ports), 2, self.n.describe())
        self.logins = ",".join("127.0.0.1:%s" % p for p in ports)

    def tearDown(self):
        if getattr(self, "n", None) and self.n.running():
            self.n.stop(signal.SIGTERM, timeout=nodeutil.scaled(20))
        super().tearDown()

    def start_bot(self, *args):
        cmd = [BOT, "--login", self.logins, "--server-key", STATIC_PUB, "--json",
               "--timeout-ms", str(int(nodeutil.scaled(10) * 1000)),
               "--duration-limit", str(int(nodeutil.scaled(90)))] + list(args)
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finish(self, p):
        try:
            out, err = p.communicate(timeout=nodeutil.scaled(120))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0:  # at once: a ctest timeout later would cut the failure's text
            print("bot exited %s: %s\n%s" % (p.returncode, out[-3000:], err[-3000:]), file=sys.stderr, flush=True)
        self.assertEqual(p.returncode, 0, out + err + "\n" + self.n.describe())
        return json.loads(out)

    def bot(self, *args):
        return self.finish(self.start_bot(*args))

    def test_500_register_play_login_again(self):
        r = self.bot("--register", "--bots", "500", "--rounds", "3", "--say-every", "3", "--concurrency", "32",
                     "--prefix", "p")
        self.assertEqual((r["entered"], r["completed"], r["rounds"], r["failed"]), (500, 500, 1500, 0))
        self.assertGreater(r["chats_other"], 0)
        r = self.bot("--login-only", "--bots", "500", "--rounds", "2", "--say-every", "0", "--concurrency", "32",
                     "--prefix", "p")
        self.assertEqual((r["entered"], r["completed"], r["rounds"]), (500, 500, 1000))

    def test_guests_and_shared_accounts(self):
        r = self.bot("--guest", "--bots", "100", "--rounds", "1", "--concurrency", "16")
        self.assertEqual((r["completed"], r["failed"]), (100, 0))
        r = self.bot("--register", "--bots", "100", "--rounds", "0", "--prefix", "s")
        self.assertEqual(r["completed"], 100)
        a = self.start_bot("--bots", "100", "--rounds", "20", "--say-every", "0", "--shared-accounts", "--prefix", "s")
        b = self.start_bot("--bots", "100", "--rounds", "20", "--say-every", "0", "--shared-accounts", "--prefix", "s")
        ra, rb = self.finish(a), self.finish(b)
        for r in (ra, rb):
            self.assertEqual(r["failed"], 0)
            self.assertEqual(r["completed"] + r["kicked"], 100)


if __name__ == "__main__":
    nodeutil.main()
