"""e2e: the dbmgr (cservice/dbmgr.c) keeps every acknowledged write.

A node runs the dbmgr on SQLite and a Lua client (services/e2e_db_client.lua)
that makes 10,000 acknowledged writes; the test kills the node with SIGKILL
once they are acknowledged, restarts it on the same file, and the client
finds all 10,000 (the file is also read with Python's sqlite3). Also: a kill
in the middle of the writes keeps every write acknowledged before it, and
SIGTERM commits the open batch before the node exits; another process
holding the write lock makes the writes wait, and they all land after it."""

import os
import re
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase  # noqa: E402


class Durability(NodeTestCase):
    def start_client(self, name, mode, n, **keys):
        log = self.path(name + ".log")
        cfg = self.config(
            name + ".lua",
            start="e2e_db_client %s %d" % (mode, n),
            luaservice=nodeutil.e2e_luaservice(),
            logfile=log,
            db_path=self.path("game.db"),
            thread=2,
            **keys
        )
        return self.node(cfg, name=name, logfile=log)

    def rows(self):
        """Entities of type unit in the file, read by Python's sqlite3 (WAL included)."""
        con = sqlite3.connect(self.path("game.db"))
        try:
            return {r[0] for r in con.execute("SELECT id FROM entities WHERE type = 'unit' AND id > 0")}
        finally:
            con.close()

    def check_with_node(self, n):
        c = self.start_client("check", "check", n)
        c.wait_log(r"e2e db check (ok \d+|failed.*)$|ERROR", timeout=60)
        self.assertRegex(c.log(), r"e2e db check ok %d" % n, c.describe())
        code, _ = c.stop(signal.SIGTERM, timeout=20)
        self.assertEqual(code, 0, c.describe())

    def test_kill9_after_10000_acknowledged_writes(self):
        n = 10000
        w = self.start_client("writer", "write", n)
        w.wait_log(r"e2e db all acked %d$|ERROR" % n, timeout=90)
        self.assertNotIn("ERROR", w.log(), w.describe())
        w.send_signal(signal.SIGKILL)
        self.assertEqual(w.wait(10), -signal.SIGKILL, w.describe())
        self.assertEqual(len(self.rows()), n, "rows in the file after kill -9")
        self.check_with_node(n)

    def test_kill9_mid_stream_keeps_what_was_acknowledged(self):
        n = 50000
        w = self.start_client("writer", "write", n)
        m = w.wait_log(r"e2e db acked (\d+)$", timeout=60)
        w.send_signal(signal.SIGKILL)
        w.wait(10)
        # Every log line was written after its writes were acknowledged;
        # the last one seen before the kill is a lower bound.
        acked = max(int(x) for x in re.findall(r"e2e db acked (\d+)$", w.log(), re.M))
        self.assertGreaterEqual(acked, int(m.group(1)))
        got = len(self.rows())
        self.assertGreaterEqual(got, acked, "every acknowledged write is in the file\n" + w.describe())

    def test_database_locked_by_another_process(self):
        """Another process holds SQLite's write lock (about 2.5 s): the dbmgr's
        writes wait (one alert), none is acknowledged meanwhile, and all
        land when the lock goes."""
        n = 600
        w = self.start_client("writer", "slow", n)
        w.wait_log(r"e2e db acked 100$", timeout=30)
        con = sqlite3.connect(self.path("game.db"), timeout=10, isolation_level=None)
        try:
            con.execute("BEGIN EXCLUSIVE")
            w.wait_log(r"dbmgr: the database is unavailable", timeout=10)
            before = w.log().count("e2e db acked")
            # Hold it a while longer: no write may be acknowledged meanwhile.
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                self.assertTrue(w.running(), w.describe())
                time.sleep(0.05)
            self.assertEqual(w.log().count("e2e db acked"), before, "acknowledged while locked\n" + w.describe())
        finally:
            con.execute("COMMIT")
            con.close()
        w.wait_log(r"e2e db all acked %d$|e2e db write failed" % n, timeout=60)
        self.assertNotIn("e2e db write failed", w.log(), w.describe())
        self.assertRegex(w.log(), r"dbmgr: the database is back after \d+ ms", w.describe())
        self.assertEqual(w.log().count("dbmgr: the database is unavailable"), 1, "one alert")
        w.send_signal(signal.SIGKILL)
        w.wait(10)
        self.assertEqual(len(self.rows()), n, "every write landed")

    def test_sigterm_commits_the_open_batch(self):
        n = 500
        # A batch that would stay open for 10 s: only the shutdown commits it.
        w = self.start_client("sender", "send", n, db_batch_ms=10000, db_batch_max=65536)
        w.wait_log(r"e2e db sent %d$" % n, timeout=30)
        code, _ = w.stop(signal.SIGTERM, timeout=20)
        self.assertEqual(code, 0, w.describe())
        self.assertIn("dbmgr: flushed, exiting", w.log(), w.describe())
        self.assertEqual(len(self.rows()), n, "the open batch was committed")
        self.check_with_node(n)


if __name__ == "__main__":
    nodeutil.main()
