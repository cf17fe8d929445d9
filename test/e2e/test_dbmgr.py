"""e2e: the dbmgr (cservice/dbmgr.c) keeps every acknowledged write, on
SQLite (class Durability) and on PostgreSQL (DurabilityPg, PgOutage,
LuaCasesPg: a real server from Debian's package, test/e2e/pgserver.py).

A node runs the dbmgr and a Lua client (services/e2e_db_client.lua) that
makes 10,000 acknowledged writes; the test kills the node with SIGKILL once
they are acknowledged, restarts it on the same database, and the client
finds all 10,000 (the database is also read from Python: sqlite3, psql).
Also: a kill in the middle of the writes keeps every write acknowledged
before it, and SIGTERM commits the open batch before the node exits.
SQLite: another process holding the write lock makes the writes wait, and
they all land after it. PostgreSQL: the server stopped mid-run (fast and
immediate) while writes stream: they queue (FULL past db_queue_max), one
alert, reads fail with TIMEOUT, and when it is back every acknowledged
write is there, in order. LuaCasesPg runs test/lua/test_db.lua's cases
(accounts, indexes, CAS, bad input, ...) on PostgreSQL.

    test_dbmgr.py --shoal BIN --source DIR Durability            # SQLite (e2e_dbmgr)
    test_dbmgr.py --shoal BIN --source DIR DurabilityPg PgOutage LuaCasesPg  # (e2e_dbmgr_pg)"""

import os
import re
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
import pgserver  # noqa: E402
from nodeutil import NodeTestCase  # noqa: E402


class Durability(NodeTestCase):
    """On SQLite; DurabilityPg runs the same tests on PostgreSQL."""

    def db_keys(self):
        return {"db_path": self.path("game.db")}

    def start_client(self, name, mode, n, env=None, **keys):
        log = self.path(name + ".log")
        all_keys = self.db_keys()
        all_keys.update(keys)
        cfg = self.config(
            name + ".lua",
            start="e2e_db_client %s %d" % (mode, n),
            luaservice=nodeutil.e2e_luaservice(),
            logfile=log,
            thread=2,
            **all_keys
        )
        return self.node(cfg, name=name, logfile=log, env=env)

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


class PgCase(NodeTestCase):
    """A fresh PostgreSQL server per test, stopped and removed after it."""

    def setUp(self):
        super().setUp()
        self.pg = pgserver.PgServer()  # fails loudly when PostgreSQL is missing
        self.addCleanup(self.pg.destroy)  # after tearDown has killed the nodes
        self.pg.start()

    def db_keys(self):
        return {"db_backend": "postgres", "db_conninfo": self.pg.conninfo}

    def rows(self):
        """Entities of type unit in the database, read with psql."""
        return {int(r[0]) for r in self.pg.sql("SELECT id FROM entities WHERE type = 'unit' AND id > 0")}


class DurabilityPg(PgCase, Durability):
    test_database_locked_by_another_process = None  # SQLite's lock; PgOutage is PostgreSQL's


class PgOutage(PgCase, Durability):
    """The PostgreSQL server stopped mid-run while writes stream."""

    test_kill9_after_10000_acknowledged_writes = None
    test_kill9_mid_stream_keeps_what_was_acknowledged = None
    test_sigterm_commits_the_open_batch = None
    test_database_locked_by_another_process = None

    def outage(self, mode):
        stop = self.path("stop-writing")
        w = self.start_client("writer", "outage", 400000, env={"E2E_DB_STOP": stop},
                              db_queue_max=3000, db_read_timeout_ms=700)
        w.wait_log(r"e2e db acked 2000$|e2e db stream failed|ERROR", timeout=60)
        self.assertNotRegex(w.log(), r"stream failed|ERROR", w.describe())
        self.pg.stop(mode)
        w.wait_log(r"dbmgr: the database is unavailable", timeout=20)
        # Nothing is acknowledged while it is away; reads time out; past
        # db_queue_max writes are refused with FULL.
        w.wait_log(r"e2e db write full$", timeout=30)
        # A read failure logged after the alert: the acknowledgements the
        # dbmgr sent before the outage (a slow client, under a sanitizer,
        # may still be logging them when the alert is written) are behind us.
        alert_at = w.log().index("dbmgr: the database is unavailable")
        deadline = time.monotonic() + nodeutil.scaled(20)
        m = None
        while m is None:
            m = re.search(r"e2e db read failed (\w+) after (\d+) ms", w.log()[alert_at:])
            self.assertTrue(m or time.monotonic() < deadline, "no read failed after the alert\n" + w.describe())
            self.assertTrue(w.running(), w.describe())
            time.sleep(0.05)
        self.assertEqual(m.group(1), "TIMEOUT", w.describe())
        self.assertGreaterEqual(int(m.group(2)), 600, "a read fails after its timeout (700 ms)")
        before = w.log().count("e2e db acked")
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.assertTrue(w.running(), w.describe())
            time.sleep(0.05)
        self.assertEqual(w.log().count("e2e db acked"), before, "acknowledged while away\n" + w.describe())
        self.pg.start()
        w.wait_log(r"dbmgr: the database is back after \d+ ms", timeout=30)
        with open(stop, "w"):
            pass
        m = w.wait_log(r"e2e db stream (ok acked=(\d+) full=(\d+) order=(\d+)|failed.*)$", timeout=90)
        self.assertIsNotNone(m.group(2), w.describe())
        acked, full = int(m.group(2)), int(m.group(3))
        self.assertGreater(full, 0, "writes past the bound were refused")
        self.assertEqual(w.log().count("dbmgr: the database is unavailable"), 1, "one alert per outage")
        w.send_signal(signal.SIGKILL)
        w.wait(10)
        self.assertGreaterEqual(len(self.rows()), acked, "every acknowledged write is in the database")

    def test_server_stopped_fast(self):
        self.outage("fast")

    def test_server_stopped_immediate(self):
        self.outage("immediate")


class LuaCasesPg(NodeTestCase):
    """test/lua/test_db.lua's cases on PostgreSQL: one fresh schema per launch
    (a database each would cost a checkpoint each)."""

    def test_lua_cases(self):
        pg = pgserver.PgServer()
        self.addCleanup(pg.destroy)
        pg.start()
        pg.sql("; ".join("CREATE SCHEMA s%d" % i for i in range(1, 41)))
        log = self.path("test_db.log")
        env = dict(os.environ, SHOAL_TEST="test_db", SHOAL_LOGFILE=log,
                   SHOAL_TEST_PG="postgresql:///postgres?host=%s&port=%d&user=%s&options=-csearch_path%%%%3Ds%%d"
                   % (pg.dir, pg.port, pgserver.DB_USER))
        r = nodeutil.run_shoal([os.path.join(nodeutil.SOURCE_DIR, "test", "lua", "config_db.lua")], timeout=120,
                               env=env)
        self.assertEqual(r.returncode, 0, "test_db.lua on PostgreSQL failed:\n" + r.stdout + r.stderr
                         + nodeutil.tail(nodeutil.read_text(log)))


if __name__ == "__main__":
    nodeutil.main()
