"""e2e: the login cluster of examples/login/layout.lua, started by the
launcher (scripts/cluster.lua): nine real nodes on 127.0.0.1 (registry,
dbmgr, two baseappmgrs, two loginapps, three baseapps), the C bot
(bench/bot) and the Python client (loginbot.py) against it.

- Play (SQLite and PostgreSQL): 500 bots register over both loginapps,
  play checked rounds and log out; every bot completes, the three baseapps
  share the sessions, every entity is in the database and every account
  offline.
- PostgreSQL stopped (pg_ctl stop -m fast) during play: logins meanwhile
  get UNAVAILABLE with a retry_after; the saves of sessions that log out
  meanwhile queue in dbmgr and land when the server is back.
- The active baseappmgr's node killed (SIGKILL) during a stream of logins:
  logins fail only with retry-after answers, then resume; the gap printed.
- The dbmgr's node killed during play and restarted: what was saved before
  is there, logins during the outage get UNAVAILABLE with a retry_after
  (never a hang) and succeed after it.
- A baseapp's node killed during play: its clients see the close and log
  in again at once, on a live baseapp.

    test_login_cluster.py --bot BOT --shoal SHOAL --source SRC [Case ...]
"""
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
BOT = nodeutil.take_option("--bot")
from nodeutil import NodeTestCase  # noqa: E402
import pgserver  # noqa: E402
from loginbot import GameConn, LoginBot, ServerError  # noqa: E402

SECRET = "e2e-login-cluster"
STATIC_PUB = "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859"
NODES = 9
REGISTRY, DBMGR, BAMS, LOGINS, BASEAPPS = 1, 2, (3, 4), (5, 6), (7, 8, 9)
# The layout's failure-detection bound: heartbeat 250 ms x 12 (links and
# the registry's dead verdict), plus one lease check interval.
BOUND_S = 0.25 * 12 + 0.25
RETRYABLE = {"UNAVAILABLE", "BUSY", "NO_BASEAPP", "LOGIN_RACE", "RATE"}
# A REGISTER refused with a retry_after after its account was created: the
# bot's next REGISTER gets NAME_TAKEN and it logs in instead (docs/bot.md).
STREAM_ERRORS = RETRYABLE | {"NAME_TAKEN"}


class LoginCluster(NodeTestCase):
    BACKEND = "sqlite"

    def setUp(self):
        super().setUp()
        self.pg = None
        self.run_dir = self.path("run")
        self.env = dict(os.environ, SHOAL_CLUSTER_SECRET=SECRET, CLUSTER_BASE_PORT=str(nodeutil.free_port_run(NODES)),
                        LOGIN_DB=self.path("game.db"), LOGIN_SCRYPT_N="1024", LOGIN_SCRYPT_R="1")
        if self.BACKEND == "postgres":
            self.pg = pgserver.PgServer()  # fails loudly when PostgreSQL is missing
            self.addCleanup(self.pg.destroy)  # after tearDown has stopped the nodes
            self.pg.start()
            self.env.update(LOGIN_DB_BACKEND="postgres", LOGIN_DB_CONNINFO=self.pg.conninfo)
        self.started = True
        # A cleanup, not only tearDown: it runs when setUp fails too (a
        # node that died at start), before NodeTestCase removes the dir.
        self.addCleanup(self.stop_if_started)
        self.launcher("start", "--shoal", nodeutil.SHOAL_BIN, "--check", "1")
        for n in BAMS:
            self.wait_log(n, r"baseappmgr %d: (active|standby)" % n)
        for n in BASEAPPS:
            self.wait_log(n, r"registered, gate")
        self.ports = [int(self.wait_log(n, r"loginapp: listening on [0-9.]+:(\d+)").group(1)) for n in LOGINS]
        self.logins = ",".join("127.0.0.1:%d" % p for p in self.ports)
        # Both loginapps reach dbmgr and an active baseappmgr that knows the baseapps.
        r = self.bot("--register", "--bots", "4", "--rounds", "0", "--prefix", "probe", "--concurrency", "4")
        self.assertEqual(r["completed"], 4, r)

    def tearDown(self):
        self.stop_if_started()
        super().tearDown()

    def stop_if_started(self):
        if getattr(self, "started", False):
            self.stop_all()

    # ---- the cluster

    def launcher(self, *args, timeout=60):
        layout = os.path.join(nodeutil.SOURCE_DIR, "examples", "login", "layout.lua")
        cmd = ["lua5.4", os.path.join(nodeutil.SOURCE_DIR, "scripts", "cluster.lua"), layout, args[0],
               "--dir", self.run_dir] + list(args[1:])
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env,
                           timeout=nodeutil.scaled(timeout))
        if args[0] == "start":
            self.assertEqual(r.returncode, 0, r.stdout + self.describe())
        return r

    def stop_all(self):
        self.started = False
        self.launcher("stop", "--wait", "20")  # SIGKILL past the wait
        for n in range(1, NODES + 1):  # belt and braces: nothing outlives the test
            pid = self.pid(n)
            if pid and self.alive(pid):
                os.kill(pid, signal.SIGKILL)

    def file(self, n, ext):
        return os.path.join(self.run_dir, "node%d.%s" % (n, ext))

    def log(self, n):
        return nodeutil.read_text(self.file(n, "log"))

    def describe(self):
        return "".join("\n--- node %d log (tail) ---\n%s" % (n, nodeutil.tail(self.log(n), 15))
                       for n in range(1, NODES + 1))

    def wait_log(self, n, pattern, timeout=20):
        found = []

        def seen():
            m = re.search(pattern, self.log(n))
            found[:] = [m] if m else []
            return m is not None
        nodeutil.wait_until(seen, nodeutil.scaled(timeout), "node %d logs %r%s" % (n, pattern, self.describe()))
        return found[0]

    def pid(self, n):
        try:
            return int(nodeutil.read_text(self.file(n, "pid")).strip() or 0)
        except (OSError, ValueError):
            return 0

    @staticmethod
    def alive(pid):
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill(self, n):
        pid = self.pid(n)
        self.assertTrue(pid and self.alive(pid), "node %d is not running" % n)
        os.kill(pid, signal.SIGKILL)
        nodeutil.wait_until(lambda: not self.alive(pid), nodeutil.scaled(10), "node %d gone" % n)
        return time.monotonic()

    def restart(self, n):
        self.launcher("start", "--shoal", nodeutil.SHOAL_BIN, "--check", "1")  # starts the stopped ones only
        nodeutil.wait_until(lambda: self.pid(n) and self.alive(self.pid(n)), nodeutil.scaled(10),
                            "node %d running again" % n)

    def active_bam(self):
        states = {}
        for n in BAMS:
            m = re.findall(r"baseappmgr %d: (active|standby)" % n, self.log(n))
            states[n] = m[-1] if m else None
        active = [n for n, s in states.items() if s == "active"]
        self.assertEqual(len(active), 1, states)
        return active[0]

    def exit_stats(self, n):
        total = {}
        for line in re.findall(r"exit stats (.*)$", self.log(n), re.M):
            for k, v in re.findall(r"(\w+)=(\d+)", line):
                total[k] = total.get(k, 0) + int(v)
        return total

    # ---- clients

    def bot(self, *args, check=True):
        cmd = [BOT, "--login", self.logins, "--server-key", STATIC_PUB, "--json",
               "--timeout-ms", str(int(nodeutil.scaled(10) * 1000)),
               "--duration-limit", str(int(nodeutil.scaled(90)))] + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = p.communicate(timeout=nodeutil.scaled(120))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if check:
            self.assertEqual(p.returncode, 0, out + err + self.describe())
        r = json.loads(out)
        r["stderr"] = err
        return r

    def end_stream(self, t, stop, reports):
        """Stops a stream (below) and checks its reports: no bot failed, and
        every refusal was one a client retries. Returns the refusals by code."""
        stop.set()
        t.join(nodeutil.scaled(150))
        self.assertFalse(t.is_alive())
        errors = {}
        for r in reports:
            self.assertEqual(r["failed"], 0, r)
            for code, k in r["errors"].items():
                errors[code] = errors.get(code, 0) + k
        self.assertLessEqual(set(errors), STREAM_ERRORS, errors)
        return errors

    def stream(self, prefix, stop):
        """Bot processes one after another (20 logins each, 4 at once, one
        round) until stop is set; their reports. Runs in a thread."""
        out = []

        def run():
            k = 0
            while not stop.is_set() and k < 200:
                t0 = time.monotonic()
                r = self.bot("--register", "--bots", "20", "--concurrency", "4", "--rounds", "1", "--say-every", "0",
                             "--prefix", prefix, "--first", str(k * 20), "--retries", "40", check=False)
                r["t0"], r["t1"] = t0, time.monotonic()
                out.append(r)
                k += 1
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, out

    def login(self, name, register=False, port=None, deadline_s=20):
        """One login with the Python client, retried on retry-after answers
        (bounded); (GameConn, [codes of the refusals seen])."""
        refusals = []
        end = time.monotonic() + nodeutil.scaled(deadline_s)
        k = 0
        while True:
            bot = LoginBot("127.0.0.1", port or self.ports[k % 2], bytes.fromhex(STATIC_PUB),
                           timeout=nodeutil.scaled(10))
            k += 1
            try:
                return GameConn(bot.login(name, "password1", register=register), timeout=nodeutil.scaled(10)), refusals
            except ServerError as e:
                if register and e.name == "NAME_TAKEN":
                    register = False
                    continue
                self.assertGreater(e.retry_after_ms, 0, "%s without a retry_after: %s" % (e.name, e.text))
                refusals.append(e.name)
                wait_ms = e.retry_after_ms
            self.assertLess(time.monotonic(), end, "no login of %s within %d s: %r" % (name, deadline_s, refusals))
            time.sleep(min(wait_ms, 1000) / 1000.0)

    # ---- the database

    def db_rows(self, query_sqlite, query_pg):
        if self.pg:
            return [tuple(r) for r in self.pg.sql(query_pg)]
        con = sqlite3.connect(self.env["LOGIN_DB"], timeout=10)
        try:
            return [tuple(str(v) for v in r) for r in con.execute(query_sqlite).fetchall()]
        finally:
            con.close()

    def accounts(self, prefix):
        """{name: (state, has an entity)} of the accounts named prefix*."""
        rows = self.db_rows(
            "SELECT CAST(a.name AS TEXT), CAST(a.state AS TEXT), e.id IS NOT NULL FROM accounts a LEFT JOIN entities e"
            " ON e.type = 'player' AND e.id = a.id WHERE CAST(a.name AS TEXT) LIKE '%s%%'" % prefix,
            "SELECT convert_from(a.name, 'UTF8'), convert_from(coalesce(a.state, ''::bytea), 'UTF8'),"
            " e.id IS NOT NULL FROM accounts a LEFT JOIN entities e ON e.type = 'player' AND e.id = a.id"
            " WHERE convert_from(a.name, 'UTF8') LIKE '%s%%'" % prefix)
        return {r[0]: (r[1], r[2] in ("1", "t", "True")) for r in rows}


class Play(LoginCluster):
    def test_500_bots_register_play_log_out(self):
        r = self.bot("--register", "--bots", "500", "--rounds", "3", "--say-every", "3", "--concurrency", "32",
                     "--prefix", "c")
        self.assertEqual((r["entered"], r["completed"], r["rounds"], r["failed"]), (500, 500, 1500, 0), r)
        self.assertGreater(r["chats_other"], 0)
        self.stop_all()  # the baseapps log their exit stats
        enters = {n: self.exit_stats(n).get("enters", 0) for n in BASEAPPS}
        saves = {n: self.exit_stats(n).get("save_logout", 0) for n in BASEAPPS}
        served = {n: sum(int(x) for x in re.findall(r"gate: stopping: \d+ connections open, (\d+) served", self.log(n)))
                  for n in LOGINS}
        print("sessions per baseapp: %r, logout saves %r, connections per loginapp %r" % (enters, saves, served))
        for n in LOGINS:  # the bots spread over both loginapps
            self.assertGreaterEqual(served[n], 200, served)
        for n in BASEAPPS:
            self.assertGreaterEqual(enters[n], 50, "baseapp node %d took few sessions: %r" % (n, enters))
        self.assertGreaterEqual(sum(saves.values()), 500, saves)
        acc = self.accounts("c")
        self.assertEqual(len(acc), 500)
        bad = {k: v for k, v in acc.items() if v != ("offline", True)}
        self.assertEqual(len(bad), 0, "%d accounts not offline with an entity, e.g. %r" % (len(bad), list(bad.items())[:5]))


class PlayPg(Play):
    BACKEND = "postgres"


class PgStopped(LoginCluster):
    BACKEND = "postgres"

    def outage(self):
        """10 sessions play; PostgreSQL stops; they move and log out; a
        login meanwhile is refused with a retry_after; the server starts
        again; all 10 log in again (bounded) and 50 bots play. Returns
        {i: (x, y)} of the positions their second login found."""
        sessions = [self.login("pg%02d" % i, register=True)[0] for i in range(10)]
        for i, s in enumerate(sessions):
            self.assertEqual(s.move(i, 1), (i, 1))
            s.c.sock.settimeout(nodeutil.scaled(20))  # a reply may wait behind a save that waits for the database
        t0 = time.monotonic()
        self.pg.stop("fast")
        print("pg_ctl stop -m fast took %.1f s" % (time.monotonic() - t0))
        # Play goes on; the logout saves queue in dbmgr (the agent's save
        # call may time out meanwhile: the write stays queued, docs/dbmgr.md).
        # Each session in its own thread: an agent may wait on the database.
        errors = []

        def play(i, s):
            try:
                self.assertEqual(s.move(i, 500 + i), (i, 500 + i))
                s.logout()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append("pg%02d: %r" % (i, e))
        threads = [threading.Thread(target=play, args=(i, s), daemon=True) for i, s in enumerate(sessions)]
        for t in threads:
            t.start()
        # A login meanwhile is refused with a retry_after, not left waiting.
        with self.assertRaises(ServerError) as cm:
            LoginBot("127.0.0.1", self.ports[0], bytes.fromhex(STATIC_PUB),
                     timeout=nodeutil.scaled(15)).login("pg00", "password1")
        self.assertIn(cm.exception.name, RETRYABLE)
        self.assertGreater(cm.exception.retry_after_ms, 0)
        for t in threads:
            t.join(nodeutil.scaled(60))
        self.assertEqual(errors, [])
        self.pg.start()
        found = {}
        for i in range(10):
            s, refusals = self.login("pg%02d" % i, deadline_s=30)
            found[i] = (s.entered["x"], s.entered["y"])
            s.logout()
        r = self.bot("--register", "--bots", "50", "--rounds", "1", "--prefix", "after")
        self.assertEqual(r["completed"], 50)
        return found

    def test_postgres_stopped_during_play(self):
        self.outage()

    def test_saves_made_during_the_outage_land(self):
        """Saves made while PostgreSQL is down queue in dbmgr and land when
        it is back: the agent's first save is a write alone (the baseapp
        hands it the player's indexed columns at ENTER). Before, that save
        first read the column list, the read timed out during the outage
        and the save never reached dbmgr's queue."""
        found = self.outage()
        self.assertEqual(found, {i: (i, 500 + i) for i in range(10)})


class BaseappmgrKilled(LoginCluster):
    def test_active_baseappmgr_killed_during_logins(self):
        active = self.active_bam()
        standby = [n for n in BAMS if n != active][0]
        stop = threading.Event()
        t, reports = self.stream("m", stop)
        nodeutil.wait_until(lambda: len(reports) >= 2, nodeutil.scaled(60), "two rounds of the stream")
        killed = self.kill(active)
        self.wait_log(standby, r"baseappmgr %d: active" % standby, timeout=BOUND_S + 15)
        n = len(reports)
        nodeutil.wait_until(lambda: len(reports) >= n + 2, nodeutil.scaled(60), "two more rounds of the stream")
        errors = self.end_stream(t, stop, reports)
        # The gap: the longest login (first connect to ENTER_OK, retries
        # and their waits included) of a bot process that overlapped the kill.
        during = [r for r in reports if r["t0"] <= killed + BOUND_S and r["t1"] >= killed]
        gap_ms = max(r["login_total_ms"]["max"] for r in during)
        print("BAM killed: longest login across the failover %.0f ms (bound %.0f ms + a retry); refusals %r"
              % (gap_ms, BOUND_S * 1000, errors))
        self.assertLess(gap_ms, (BOUND_S + 4) * 1000 * nodeutil.scaled(1))


class DbmgrKilled(LoginCluster):
    def test_dbmgr_killed_during_play_and_restarted(self):
        before = [self.login("d%02d" % i, register=True)[0] for i in range(10)]
        for i, s in enumerate(before):
            self.assertEqual(s.move(i, 2), (i, 2))
            s.logout()  # acknowledged: saved before the kill
        playing = self.login("dplay", register=True)[0]
        self.assertEqual(playing.move(3, 3), (3, 3))
        self.kill(DBMGR)
        t0 = time.monotonic()
        # Play needs no database; a login does: refused with a retry_after.
        self.assertEqual(playing.move(4, 4), (4, 4))
        with self.assertRaises(ServerError) as cm:
            LoginBot("127.0.0.1", self.ports[1], bytes.fromhex(STATIC_PUB),
                     timeout=nodeutil.scaled(15)).login("d00", "password1")
        self.assertIn(cm.exception.name, RETRYABLE)
        self.assertGreater(cm.exception.retry_after_ms, 0)
        self.assertLess(time.monotonic() - t0, nodeutil.scaled(12), "the refusal took too long")
        # A stream of bot logins across the outage and the restart: refused
        # with retry-after answers meanwhile, none failing.
        stop = threading.Event()
        t, reports = self.stream("ds", stop)
        # Let its first logins meet the outage (they retry until the restart:
        # its first report comes after it, so there is nothing to poll).
        time.sleep(1.5)
        self.restart(DBMGR)
        self.wait_log(DBMGR, r"login node global: started")
        n = len(reports)
        nodeutil.wait_until(lambda: len(reports) >= n + 2, nodeutil.scaled(90), "two more rounds of the stream")
        errors = self.end_stream(t, stop, reports)
        self.assertIn("UNAVAILABLE", errors)
        print("dbmgr killed: %d bot processes across the outage, refusals %r, longest login %.0f ms"
              % (len(reports), errors, max(r["login_total_ms"]["max"] for r in reports)))
        for i in range(10):
            s, refusals = self.login("d%02d" % i, deadline_s=30)
            self.assertEqual((s.entered["x"], s.entered["y"]), (i, 2), "d%02d: %r" % (i, refusals))
            s.logout()
        r = self.bot("--register", "--bots", "50", "--rounds", "1", "--prefix", "after")
        self.assertEqual(r["completed"], 50)


class BaseappKilled(LoginCluster):
    def test_baseapp_killed_during_play(self):
        sessions = {}
        for i in range(24):
            s = self.login("b%02d" % i, register=True)[0]
            self.assertEqual(s.move(i, 9), (i, 9))
            sessions[i] = s
        gates = {}
        for n in BASEAPPS:
            gates[n] = int(re.search(r"registered, gate [0-9.]+:(\d+)", self.log(n)).group(1))
        victim = BASEAPPS[0]
        on_victim = [i for i, s in sessions.items() if s.ok["port"] == gates[victim]]
        self.assertGreater(len(on_victim), 0, "no session on baseapp node %d" % victim)
        self.kill(victim)
        worst = 0.0
        for i in on_victim:
            self.assertTrue(sessions[i].c.closed_by_server(), "b%02d did not see the close" % i)
            t0 = time.monotonic()
            s, refusals = self.login("b%02d" % i, deadline_s=BOUND_S + 15)
            worst = max(worst, time.monotonic() - t0)
            self.assertNotEqual(s.ok["port"], gates[victim])
            self.assertEqual(s.ping(7), 7)
            s.logout()
        print("baseapp killed: %d sessions logged in again, the longest took %.0f ms" % (len(on_victim), worst * 1000))
        self.assertLess(worst, BOUND_S + 5)
        for i, s in sessions.items():  # the others play on
            if i not in on_victim:
                self.assertEqual(s.move(i, 10), (i, 10))
                s.logout()
        r = self.bot("--register", "--bots", "60", "--rounds", "1", "--prefix", "after")
        self.assertEqual(r["completed"], 60)


class Demo(NodeTestCase):
    """scripts/demo_login.sh --no-build (the README's first command without its
    deps and build steps): the whole cluster, 200 bots, its summary and
    status; exit code 0, and no node left running (also after Ctrl-C)."""

    def setUp(self):
        super().setUp()
        self.outputs = []
        self.addCleanup(self.kill_left_nodes)

    def kill_left_nodes(self):
        """Should the script fail to stop a node, the test does."""
        for pid in re.findall(r"^  node \d+ \w+ [0-9.:]+ pid (\d+)$", "".join(self.outputs), re.M):
            if LoginCluster.alive(int(pid)):
                os.kill(int(pid), signal.SIGKILL)

    def test_demo_script(self):
        build = os.path.dirname(nodeutil.SHOAL_BIN)
        self.assertTrue(os.path.samefile(BOT, os.path.join(build, "bench", "bot")), "the bot is not in the shoal build")
        env = dict(os.environ, CLUSTER_BASE_PORT=str(nodeutil.free_port_run(NODES)), TMPDIR=self.tmp)
        env.pop("SHOAL_DEMO_KEEP", None)
        p = subprocess.Popen(["bash", os.path.join(nodeutil.SOURCE_DIR, "scripts", "demo_login.sh"), "--no-build",
                              "--build-dir", build], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=nodeutil.scaled(200))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGINT)  # the script's trap stops its nodes
            out, _ = p.communicate(timeout=60)
            self.outputs.append(out)
            self.fail("demo_login.sh took too long:\n" + out)
        self.outputs.append(out)
        pids = [int(x) for x in re.findall(r"^  node \d+ \w+ [0-9.:]+ pid (\d+)$", out, re.M)]
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("demo: ok", out)
        self.assertRegex(out, r"bot: bots=200 logins_ok=\d+ entered=200 completed=200 failed=0")
        self.assertEqual(len(pids), NODES, out)
        self.assertEqual(len(re.findall(r"exit stats .*\benters=[1-9]", out)), 3, out)
        self.assertIn("online per baseapp at the peak", out)
        for pid in pids:
            self.assertFalse(LoginCluster.alive(pid), "node pid %d outlived the demo" % pid)

    def test_ctrl_c_stops_every_node(self):
        env = dict(os.environ, CLUSTER_BASE_PORT=str(nodeutil.free_port_run(NODES)), TMPDIR=self.tmp)
        # SIGINT as a terminal sends it: to the whole process group, with the
        # default disposition (a shell ignores it in its background children).
        p = subprocess.Popen(["bash", os.path.join(nodeutil.SOURCE_DIR, "scripts", "demo_login.sh"), "--no-build",
                              "--build-dir", os.path.dirname(nodeutil.SHOAL_BIN), "--bots", "2000"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                             start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        out = self.outputs
        reader = threading.Thread(target=lambda: out.extend(p.stdout), daemon=True)
        reader.start()
        try:
            nodeutil.wait_until(lambda: any("bots register" in line for line in out), nodeutil.scaled(60),
                                "the bots started")
            os.killpg(p.pid, signal.SIGINT)
            p.wait(nodeutil.scaled(60))
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)
        reader.join(10)
        text = "".join(out)
        self.assertEqual(p.returncode, 130, text)
        self.assertIn("demo: interrupted", text)
        pids = [int(x) for x in re.findall(r"^  node \d+ \w+ [0-9.:]+ pid (\d+)$", text, re.M)]
        self.assertEqual(len(pids), NODES, text)
        for pid in pids:
            self.assertFalse(LoginCluster.alive(pid), "node pid %d outlived the demo" % pid)


if __name__ == "__main__":
    nodeutil.main()
