"""e2e: the dsagent (service/dsagent.lua, lualib/ds/agent.lua, the keeper
ds/dskeep.c; docs/dsagent.md) with real DS processes (examples/ds/example_ds.c)
and real signals.

    python3 test_dsagent.py --shoal build/shoal --source . --build build [Case ...]

Each test starts a node whose start service is test/e2e/services/e2e_ds_driver.lua
(dsagent plus a line protocol on 127.0.0.1 for the test). Every DS gets
"--tag TMPDIR" on its command line, so the test finds each process of its
own (keepers, DSs, their helpers) in /proc and checks that none is left.
"""

import os
import re
import signal
import socket
import stat
import time

import nodeutil
from nodeutil import NodeTestCase, free_ports, scaled, wait_until

BUILD = nodeutil.take_option("--build")
EXAMPLE_DS = os.path.join(BUILD, "example_ds")
KEEPER = os.path.join(BUILD, "shoal-dskeep")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})")


def stamp_ms(line):
    m = STAMP.match(line)
    t = time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")
    return (time.mktime(t) + int(m.group(1)[20:]) / 1000.0) * 1000.0


def lua(v):
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, lua(x)) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua(x) for x in v) + "}"
    return nodeutil.lua_value(v)


def procs_with(tag):
    """(pid, ppid, state, cmdline) of every process whose command line holds tag."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        if tag in cmd:
            rest = st[st.rindex(")") + 2:].split()
            out.append((int(d), int(rest[1]), rest[0], cmd))
    return out


def zombies_of(pid):
    n = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        if rest[0] == "Z" and int(rest[1]) == pid:
            n += 1
    return n


class DsCase(NodeTestCase):
    def setUp(self):
        super().setUp()
        self.conn = None
        self.addCleanup(self.kill_tagged)

    def kill_tagged(self):
        """Whatever a failed test left: SIGKILL (a passing one leaves nothing)."""
        for pid, _, _, cmd in procs_with(self.tmp):
            if cmd.startswith(nodeutil.SHOAL_BIN + " "):
                continue  # the node: NodeTestCase's
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def fleet(self, name, args=(), ports=None, **kw):
        d = {"name": name, "build": kw.pop("build", EXAMPLE_DS), "args": list(args) + ["--tag", self.tmp]}
        d["ports"] = ports or [40000, 40999]
        d.update(kw)
        return d

    def start(self, fleets, raw_fleets=None, driver="e2e_ds_driver", **keys):
        path = self.path("fleets.lua")
        nodeutil.write_file(path, raw_fleets or "return " + lua(fleets) + "\n")
        cfg = dict(start=driver, luaservice=nodeutil.e2e_luaservice(), dsagent_fleets=path,
                   dsagent_keeper=KEEPER, dsagent_logdir=self.path("logs"), dsagent_check_ms=50)
        cfg.update(keys)
        self.n = self.node(self.config(**cfg))
        m = self.n.wait_log(driver + r" port (\d+)", timeout=10)
        port = int(m.group(1))
        self.conn = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        self.addCleanup(self.conn.close)
        self.rf = self.conn.makefile("r")
        return self.n

    def cmd(self, line):
        self.conn.sendall((line + "\n").encode())
        return self.rf.readline().rstrip("\n")

    def load(self):
        self.conn.sendall(b"load\n")
        out = {}
        while True:
            line = self.rf.readline().rstrip("\n")
            if line == ".":
                return out
            words = line.split()
            key = "all" if words[0] == "load" else words[1]
            out[key] = {k: v for k, v in (w.split("=") for w in words[1:] if "=" in w)}

    def count(self, fleet, state):
        return int(self.load()[fleet][state])

    def wait_ready(self, fleet, n, timeout=10):
        wait_until(lambda: self.count(fleet, "ready") >= n, scaled(timeout), "%d ready DS in %s" % (n, fleet))

    def log_lines(self, pattern):
        return [l for l in self.n.log().splitlines() if re.search(pattern, l)]

    def wait_log_count(self, pattern, n, timeout):
        return wait_until(lambda: len(self.log_lines(pattern)) >= n and self.log_lines(pattern),
                          scaled(timeout), "%d log lines %r" % (n, pattern))

    def assert_none_left(self, timeout=5):
        wait_until(lambda: not [t for t in procs_with(self.tmp) if not t[3].startswith(nodeutil.SHOAL_BIN)], scaled(timeout), "no DS process of this test left")

    def console(self, text):
        port = int(self.n.wait_log(r"debug console listening on \S+:(\d+)", timeout=5).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as c:
            f = c.makefile("r")
            c.sendall((text + "\nexit\n").encode())
            out = ""
            deadline = time.monotonic() + scaled(10)
            while "bye" not in out and time.monotonic() < deadline:
                out += f.readline()
        return out

    def reap_bound(self, args, reason, bound_ms, **fleet_kw):
        """Starts one DS of a fleet with args; returns the ms from its ready
        (or start) to the reap whose reason matches, checked against bound_ms."""
        self.start([self.fleet("f", args, pool=1, crash_count=100, backoff_ms=2000, **fleet_kw)])
        lines = self.wait_log_count(r"alert=reap ds=1 .*%s" % reason, 1, timeout=bound_ms / 1000.0 + 5)
        begin = self.log_lines(r"event=ready ds=1 ") or self.log_lines(r"event=start ds=1 ")
        took = stamp_ms(lines[0]) - stamp_ms(begin[0])
        self.assertLessEqual(took, scaled(bound_ms), lines[0])  # stretched only under a sanitizer
        self.wait_log_count(r"event=reaped ds=1 ", 1, timeout=5)
        return took


class Lifecycle(DsCase):
    def test_lifecycle(self):
        """start, READY, allocate with match data, match end, reaped; the pool refills with fresh processes."""
        n = self.start([self.fleet("arena", ["--match-ms", "300"], pool=2)])
        self.wait_ready("arena", 2)
        first = {p for p, _, _, c in procs_with(self.tmp) if c.startswith(EXAMPLE_DS)}
        r = self.cmd("alloc arena hello-match-42")
        self.assertTrue(r.startswith("ok "), r)
        _, ds_id, port, pid = r.split()
        self.assertIn(int(pid), first)
        self.assertTrue(40000 <= int(port) <= 40999)
        self.assertEqual(self.count("arena", "allocated"), 1)
        # a replacement starts at once: the pool stays warm
        self.wait_ready("arena", 2)
        self.wait_log_count(r"event=reaped ds=%s .*reason=\"match over\"" % ds_id, 1, timeout=5)
        wait_until(lambda: not os.path.exists("/proc/%s" % pid), scaled(5), "the DS gone")
        self.assertIn("allocated: hello-match-42", nodeutil.read_text(self.path("logs", "arena-%s.log" % ds_id)))
        live = {p for p, _, _, c in procs_with(self.tmp) if c.startswith(EXAMPLE_DS)}
        self.assertEqual(len(live), 2)
        self.assertNotIn(int(pid), live)  # never reused after its match
        r2 = self.cmd("alloc arena second")
        self.assertTrue(r2.startswith("ok ") and r2.split()[1] != ds_id, r2)
        self.assertEqual(zombies_of(n.proc.pid), 0)


class StartLimit(DsCase):
    def test_concurrent_starts_bounded(self):
        """dsagent_max_starting 2: a pool of 6 DSs that take 300 ms to get READY starts 2 at a time (the log's
        start and ready lines never have more than 2 in between), and all 6 get ready."""
        self.start([self.fleet("slow", ["--ready-ms", "300"], pool=6)], dsagent_max_starting=2)
        self.wait_ready("slow", 6)
        events = self.log_lines(r"dsagent event=(start|ready|reaped) ds=\d+ fleet=slow")
        starting, most = 0, 0
        for line in events:
            starting += 1 if "event=start " in line else -1
            most = max(most, starting)
        self.assertEqual(most, 2, "at most 2 starting at once, and 2 did: %r" % events)
        self.assertEqual(len([l for l in events if "event=start " in l]), 6)


class Watchdogs(DsCase):
    def test_crash(self):
        """a DS that aborts is seen at once (exit signal) and reaped."""
        self.start([self.fleet("f", ["--crash-ms", "200"], pool=1, crash_count=100, backoff_ms=2000)])
        line = self.wait_log_count(r"alert=crash ds=1 .*signal 6 SIGABRT", 1, timeout=5)[0]
        took = stamp_ms(line) - stamp_ms(self.log_lines(r"event=start ds=1 ")[0])
        self.assertLess(took, scaled(200 + 300), line)
        self.wait_log_count(r"event=reaped ds=1 .*crashed: signal 6", 1, timeout=5)

    def test_hang(self):
        took = self.reap_bound(["--hang-ms", "100"], "hung: no HEALTH", 100 + 500 + 50 + 300, health_timeout_ms=500)
        print("hang reaped %.0f ms after READY" % took)

    def test_cpu(self):
        took = self.reap_bound(["--spin-ms", "0"], "CPU [0-9]+% above 15%", 500 + 400, cpu_percent=15, cpu_ms=500)
        print("CPU spin reaped %.0f ms after READY" % took)

    def test_rss(self):
        took = self.reap_bound(["--grow-mb", "20"], "RSS [0-9]+ MB above the limit of 60 MB", 2000, rss_mb=60)
        print("RSS growth reaped %.0f ms after READY" % took)

    def test_not_ready(self):
        took = self.reap_bound(["--never-ready"], "not ready within 400 ms", 400 + 50 + 300, ready_timeout_ms=400)
        print("not-ready reaped %.0f ms after its start" % took)

    def test_ignores_sigterm(self):
        """a DS that ignores SIGTERM is SIGKILLed after the grace."""
        self.start([self.fleet("f", ["--hang-ms", "0", "--ignore-term"], pool=1, crash_count=100, backoff_ms=5000,
                               health_timeout_ms=200, grace_ms=300)])
        reap = self.wait_log_count(r"alert=reap ds=1 ", 1, timeout=5)[0]
        gone = self.wait_log_count(r"event=reaped ds=1 ", 1, timeout=5)[0]
        took = stamp_ms(gone) - stamp_ms(reap)
        self.assertGreaterEqual(took, 250, gone)
        self.assertLess(took, scaled(300 + 500), gone)


class Backoff(DsCase):
    def test_backoff_and_crash_loop(self):
        """exits 3 at once: restarts 100, 200, 400, 400 ms apart; the 5th failure stops the fleet; reset restarts it."""
        self.start([self.fleet("f", ["--exit-code-ms", "0"], pool=1, backoff_ms=100, backoff_max_ms=400,
                               crash_count=5, crash_window_ms=20000)])
        self.wait_log_count(r"alert=crash_loop fleet=f 5 failures", 1, timeout=10)
        starts = [stamp_ms(l) for l in self.log_lines(r"event=start ds=")]
        self.assertEqual(len(starts), 5)
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        for want, got in zip([100, 200, 400, 400], gaps):
            self.assertGreaterEqual(got, want - 5, gaps)
            self.assertLess(got, want + scaled(250), gaps)
        time.sleep(scaled(1.0))  # bounded: no start may come in this second
        self.assertEqual(len(self.log_lines(r"event=start ds=")), 5)
        self.assertEqual(self.load()["f"]["crash_looping"], "true")
        self.assertEqual(self.cmd("reset f"), "ok")
        self.wait_log_count(r"event=start ds=6 ", 1, timeout=5)
        self.assertEqual(self.cmd("reset nosuch"), "err no fleet nosuch")


class Helpers(DsCase):
    def test_setsid_helper_reaped(self):
        """a helper that calls setsid (its own session and group) is still found and reaped with its DS."""
        self.start([self.fleet("f", ["--helper", "--match-ms", "100"], pool=1, max=1, crash_count=100)])
        self.wait_ready("f", 1)
        tagged = procs_with(self.tmp)
        ds_pid = [p for p, _, _, c in tagged if c.startswith(EXAMPLE_DS)]
        self.assertEqual(len(ds_pid), 2, tagged)  # the DS and its helper
        sids = {p: os.getsid(p) for p in ds_pid}
        self.assertIn(True, [sids[p] == p for p in ds_pid])  # the helper leads its own session
        self.assertTrue(self.cmd("alloc f x").startswith("ok "))
        self.wait_log_count(r"event=reaped ds=1 ", 1, timeout=5)
        wait_until(lambda: not [p for p in ds_pid if os.path.exists("/proc/%d" % p)], scaled(5),
                   "the DS and its setsid helper gone")


    def test_keeper_killed(self):
        """a keeper killed -9 from outside: its DS dies with it (death signal), the agent counts a failure and refills."""
        self.start([self.fleet("f", pool=1, crash_count=100, backoff_ms=50)])
        self.wait_ready("f", 1)
        tagged = procs_with(self.tmp)
        keeper = [p for p, _, _, c in tagged if c.startswith("shoal-dskeep")][0]
        ds = [p for p, pp, _, c in tagged if c.startswith(EXAMPLE_DS) and pp == keeper][0]
        os.kill(keeper, signal.SIGKILL)
        self.wait_log_count(r'event=reaped ds=1 .*reason="the keeper ended"', 1, timeout=5)
        wait_until(lambda: not os.path.exists("/proc/%d" % ds), scaled(5), "the DS gone with its keeper")
        self.wait_log_count(r"event=ready ds=2 ", 1, timeout=5)
        self.assertEqual(zombies_of(self.n.proc.pid), 0)


class Drain(DsCase):
    def test_drain(self):
        """drain: no new allocation, ready DSs retired at once, an allocated one plays until its match ends, another
        is reaped at the deadline; then drained; undrain serves again."""
        self.start([self.fleet("f", ["--match-ms", "60000"], pool=3, max=6),
                    self.fleet("g", ["--match-ms", "500"], pool=1, max=2)])
        self.wait_ready("f", 3)
        self.wait_ready("g", 1)
        self.assertTrue(self.cmd("alloc f long").startswith("ok "))
        self.assertTrue(self.cmd("alloc g short").startswith("ok "))
        self.wait_ready("f", 3)
        self.assertEqual(self.cmd("drain -5"), "err drain: the deadline must be an integer >= 0 (ms)")
        t0 = time.monotonic()
        self.assertEqual(self.cmd("drain 1500"), "ok")
        self.assertRegex(self.cmd("alloc f x"), r"^err this agent is draining")
        self.wait_log_count(r"reason=\"retired: the agent drains\"", 4, timeout=5)  # 3 of f, 1 of g
        self.wait_log_count(r'event=reaped ds=\d+ fleet=g .*reason="match over"', 1, timeout=5)
        line = self.wait_log_count(r"dsagent event=drained", 1, timeout=10)[0]
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, scaled(1.5 + 2.0 + 1.0))  # the deadline, the grace, the check
        self.assertTrue(self.log_lines(r'reason="the drain.s deadline"'))
        self.assertEqual(self.load()["all"], {"starting": "0", "ready": "0", "allocated": "0", "ending": "0"})
        starts = len(self.log_lines(r"event=start "))
        time.sleep(0.3)
        self.assertEqual(len(self.log_lines(r"event=start ")), starts)  # no start while drained
        self.assert_none_left()
        self.assertEqual(self.cmd("undrain"), "ok")
        self.wait_ready("f", 3)


class Autoscale(DsCase):
    def test_buffer_percent_and_retire(self):
        """a buffer of 50 % of the allocated ones: 6 matches keep 3 ready; when they end, the surplus is retired."""
        self.start([self.fleet("f", ["--match-ms", "2500"], pool=1, buffer_percent=50, max=20, retire_idle_ms=300)])
        self.wait_ready("f", 1)
        done, deadline = 0, time.monotonic() + scaled(10)
        while done < 6 and time.monotonic() < deadline:
            if self.cmd("alloc f m").startswith("ok "):
                done += 1
            else:
                time.sleep(0.01)
        self.assertEqual(done, 6)
        wait_until(lambda: self.count("f", "ready") == 3, scaled(5), "3 ready for 6 allocated")
        self.assertEqual(self.count("f", "allocated"), 6)
        # the matches end: the target falls to the pool (1); 2 ready ones idle > 300 ms are retired
        wait_until(lambda: self.count("f", "allocated") == 0, scaled(10), "the matches over")
        self.wait_log_count(r'reason="retired: surplus above the warm target"', 2, timeout=5)
        wait_until(lambda: self.count("f", "ready") == 1 and self.count("f", "ending") == 0, scaled(5), "1 ready")
        retired = len(self.log_lines(r"reason=\"retired: surplus"))
        time.sleep(0.6)
        # 2 at least (more when a match ended while a replacement was starting); then none: no start/retire loop
        self.assertEqual(len(self.log_lines(r"reason=\"retired: surplus")), retired)
        self.assertEqual(self.count("f", "ready"), 1)

    def test_peak_hours(self):
        """in the peak hours the warm pool is the peak's; min keeps processes live; a bad peak is refused."""
        hour = time.gmtime().tm_hour
        if time.gmtime().tm_min == 59 and time.gmtime().tm_sec > 50:
            time.sleep(15)  # not across the hour
            hour = time.gmtime().tm_hour
        self.start([self.fleet("peak", pool=1, max=10, peak={"from": hour, "to": (hour + 1) % 24 or 24, "pool": 4}),
                    self.fleet("off", pool=1, max=10, peak={"from": (hour + 1) % 24, "to": (hour + 2) % 24 or 24,
                                                            "pool": 4}),
                    self.fleet("floor", pool=0, min=2, max=10),
                    self.fleet("bad", peak={"from": 3, "to": 3, "pool": 1})])
        self.wait_ready("peak", 4)
        self.wait_ready("floor", 2)
        self.wait_ready("off", 1)
        time.sleep(0.3)
        self.assertEqual(self.count("off", "ready"), 1)
        self.assertEqual(self.count("peak", "ready"), 4)
        self.assertTrue(self.log_lines(r"fleet bad: peak must be \{from = HOUR, to = HOUR, pool = N\}"))


class Churn(DsCase):
    def test_churn(self):
        """1,000 start-ready-allocate-end-reap cycles: 0 orphans, 0 zombies, no leaked fd; the rate is printed.
        Under a sanitizer (SHOAL_E2E_TIME_SCALE > 1), where a DS's exec alone takes ~50 ms, 300 cycles."""
        pool = 4
        cycles = 1000 if nodeutil.TIME_SCALE <= 1 else 250
        self.start([self.fleet("f", ["--match-ms", "0", "--health-ms", "1000"], pool=pool, max=12,
                               crash_count=1000)])
        self.wait_ready("f", pool)
        node_pid = self.n.proc.pid
        time.sleep(0.2)
        fds_before = len(os.listdir("/proc/%d/fd" % node_pid))
        done, t0, deadline = 0, time.monotonic(), time.monotonic() + scaled(90)
        while done < cycles and time.monotonic() < deadline:
            r = self.cmd("alloc f m%d" % done)
            if r.startswith("ok "):
                done += 1
            else:
                time.sleep(0.001)
        took = time.monotonic() - t0
        self.assertEqual(done, cycles, "allocations in 90 s")
        wait_until(lambda: len(self.log_lines(r"event=reaped ")) >= cycles, scaled(20), "%d reaped" % cycles)
        self.wait_ready("f", pool)
        wait_until(lambda: self.count("f", "ending") == 0 and self.count("f", "allocated") == 0, scaled(10),
                   "the last matches ended")
        print("BENCH ds_churn_per_s %.0f /s (%d cycles)" % (cycles / took, cycles))
        tagged = [t for t in procs_with(self.tmp) if t[0] != node_pid]
        ds = [p for p, _, _, c in tagged if c.startswith(EXAMPLE_DS)]
        keepers = [p for p, pp, _, c in tagged if c.startswith("shoal-dskeep") and pp == node_pid]
        self.assertEqual(len(ds), pool, tagged)  # the warm pool and nothing else: 0 orphans
        self.assertEqual(len(keepers), pool, tagged)
        self.assertEqual(len(tagged), 2 * pool, tagged)
        wait_until(lambda: zombies_of(node_pid) == 0, scaled(2), "0 zombies")
        self.assertEqual(len(os.listdir("/proc/%d/fd" % node_pid)), fds_before)
        self.assertFalse(self.log_lines(r"alert=crash"))


class NodeKilled(DsCase):
    def test_kill9_leaves_no_ds(self):
        """the node killed -9 (with allocated DSs and setsid helpers): every DS, helper and keeper ends."""
        self.start([self.fleet("f", ["--helper", "--match-ms", "60000"], pool=3, max=6)])
        self.wait_ready("f", 3)
        self.assertTrue(self.cmd("alloc f x").startswith("ok "))
        self.wait_ready("f", 3)
        self.assertGreaterEqual(len(procs_with(self.tmp)), 12)  # 4 keepers, 4 DSs, 4 helpers
        self.n.proc.kill()
        self.n.proc.wait(timeout=scaled(5))
        t0 = time.monotonic()
        self.assert_none_left(timeout=5)
        print("all DS processes gone %.0f ms after the node's kill -9" % ((time.monotonic() - t0) * 1000))


    def test_sigterm_shutdown(self):
        """SIGTERM to the node: it exits 0 within its bound and no DS, helper or keeper is left."""
        self.start([self.fleet("f", ["--helper", "--match-ms", "60000"], pool=2)])
        self.wait_ready("f", 2)
        self.assertTrue(self.cmd("alloc f x").startswith("ok "))
        code, secs = self.n.stop(signal.SIGTERM, timeout=10)
        self.assertEqual(code, 0)
        self.assert_none_left(timeout=5)
        print("node stopped in %.2f s, no DS left" % secs)


class BadInput(DsCase):
    def test_bad_fleets(self):
        """each bad fleet is refused with a line naming it and why; the good one runs."""
        noexec = self.path("noexec")
        nodeutil.write_file(noexec, "#!/bin/sh\n")
        os.chmod(noexec, stat.S_IRUSR | stat.S_IWUSR)
        fleets = [
            self.fleet("good", pool=1),
            self.fleet("missing", build=self.path("nope")),
            self.fleet("noexec", build=noexec),
            self.fleet("dir", build=self.tmp),
            self.fleet("relative", build="example_ds"),
            self.fleet("ports", ports=[5, 2]),
            self.fleet("typo", pools=2),
            self.fleet("bigenv", env={"K%d" % i: "v" for i in range(201)}),
            self.fleet("good"),
        ]
        self.start(fleets)
        self.wait_ready("good", 1)
        want = [r"fleet missing: build \S+/nope does not exist", r"fleet noexec: build \S+ is not executable",
                r"fleet dir: build \S+ is not a regular file", r"fleet relative: build example_ds is not an absolute",
                r"fleet ports: ports must be \{first, last\}", r"fleet typo: unknown field pools",
                r"fleet bigenv: env must have at most 200 entries",
                r"fleet good: defined twice"]
        for w in want:
            self.assertTrue(self.log_lines(r"ERROR .*dsagent: fleets file .*" + w), w)
        self.assertEqual(sorted(k for k in self.load() if k != "all"), ["good"])
        self.assertEqual(self.cmd("alloc nosuch"), "err no fleet nosuch (fleets: good)")

    def test_keeper_usage(self):
        """the keeper run by hand: usage errors and a clear line without its sockets."""
        import subprocess
        r = subprocess.run([KEEPER], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: shoal-dskeep", r.stderr)
        r = subprocess.run([KEEPER, "-m", "10", "--", "/bin/true"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)  # a log size under 1024 bytes
        r = subprocess.run([KEEPER, "--", "/bin/true"], capture_output=True, text=True, timeout=10, close_fds=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn("fds 3 (control) and 4 (the DS socket) must be open", r.stderr)

    def test_bad_webhook(self):
        """a webhook that is not http://HOST:PORT[/PATH] stops the service's start with a line saying so."""
        path = self.path("fleets.lua")
        nodeutil.write_file(path, "return {}\n")
        n = self.node(self.config(start="e2e_ds_driver", luaservice=nodeutil.e2e_luaservice(), dsagent_fleets=path,
                                  dsagent_keeper=KEEPER, dsagent_logdir=self.path("logs"),
                                  dsagent_alert_webhook="ftp://127.0.0.1/x"))
        self.assertEqual(n.wait(10), 1)
        self.assertIn("the webhook must be http://HOST:PORT[/PATH] (got ftp://127.0.0.1/x) (config dsagent_alert_webhook)",
                      n.log() + n.stderr())

    def test_bad_builds(self):
        """builds: a path that does not exist, one not executable, a bad version, a fleet naming no build."""
        plain = self.path("plain.txt")
        nodeutil.write_file(plain, "not a program\n")
        raw = "return " + lua({"builds": [{"name": "gone", "version": "1", "path": self.path("nosuch")},
                                          {"name": "plain", "version": "1", "path": plain},
                                          {"name": "v", "version": "1 2", "path": EXAMPLE_DS},
                                          {"name": "rel", "version": "1", "path": "bin/server"},
                                          {"name": "ok", "version": "2.0", "path": EXAMPLE_DS}],
                               "fleets": [self.fleet("a", build="gone"), self.fleet("b", build="nobuild"),
                                          self.fleet("good", build="ok", pool=1)]}) + "\n"
        self.start(None, raw_fleets=raw)
        self.wait_ready("good", 1)
        log = self.n.log()
        self.assertRegex(log, r"build 1: build gone: path \S+/nosuch does not exist")
        self.assertRegex(log, r"build 2: build plain: path \S+/plain.txt is not executable")
        self.assertIn("build 3: build v: version must be 1-64 letters, digits, '_', '.' or '-'", log)
        self.assertIn("build 4: build rel: path must be the absolute path of an executable", log)
        self.assertIn("entry 1: fleet a: build gone is not an absolute path nor the name of a build", log)
        self.assertIn("entry 2: fleet b: build nobuild is not an absolute path nor the name of a build", log)

    def test_bad_fleet_file(self):
        self.start(None, raw_fleets="return {{ name = ")
        self.assertTrue(self.wait_log_count(r"ERROR .*dsagent: fleets file \S+: .*expected", 1, timeout=5))

    def test_port_range_exhausted(self):
        self.start([self.fleet("f", pool=3, ports=[41000, 41001])])
        self.wait_ready("f", 2)
        self.wait_log_count(r"alert=capacity fleet=f port range 41000-41001 exhausted", 1, timeout=5)
        self.assertEqual(self.count("f", "ready"), 2)
        self.assertTrue(self.cmd("alloc f a").startswith("ok "))
        self.assertTrue(self.cmd("alloc f b").startswith("ok "))
        r = self.cmd("alloc f c")
        self.assertTrue(r.startswith("err fleet f: no ready DS"), r)

    def test_garbage_on_socket(self):
        """a DS that speaks garbage is reaped with a clear line; the other fleet's DSs are untouched."""
        self.start([self.fleet("good", pool=2), self.fleet("bad", ["--garbage"], pool=1, crash_count=100,
                                                           backoff_ms=5000),
                    self.fleet("long", ["--garbage-long"], pool=1, crash_count=100, backoff_ms=5000)])
        self.wait_ready("good", 2)
        self.wait_log_count(r'alert=reap ds=\d+ fleet=bad .*reason="protocol error: HELLO I AM NOT THE PROTOCOL"',
                            1, timeout=5)
        self.wait_log_count(r'alert=reap ds=\d+ fleet=long .*reason="protocol error: a line over 1024 bytes"', 1,
                            timeout=5)
        good = [l for l in self.log_lines(r"event=start ds=\d+ fleet=good")]
        self.assertEqual(len(good), 2)
        self.assertFalse(self.log_lines(r"alert=\S+ ds=\d+ fleet=good"))
        self.assertEqual(self.count("good", "ready"), 2)


class LogsAndReports(DsCase):
    def test_log_rotation(self):
        """400 KB of DS output with log_max_kb 64, log_keep 2: NAME.log, .1 and .2, none over 64 KB + one read."""
        self.start([self.fleet("f", ["--spam-kb", "400"], pool=1, log_max_kb=64, log_keep=2)])
        self.wait_ready("f", 1)
        base = self.path("logs", "f-1.log")
        wait_until(lambda: "spam line 000006399" in nodeutil.read_text(base) + nodeutil.read_text(base + ".1"),
                   scaled(5), "the last spam line in the log")
        for p in (base, base + ".1", base + ".2"):
            self.assertTrue(os.path.exists(p), p)
            self.assertLessEqual(os.path.getsize(p), 64 * 1024 + 16384, p)
        self.assertGreaterEqual(os.path.getsize(base + ".1"), 64 * 1024)
        self.assertFalse(os.path.exists(base + ".3"))

    def test_reports_to_controller(self):
        """every dsagent_report_ms the controller gets the load: processes by state, health."""
        self.start([self.fleet("f", pool=2)], dsagent_controller=".dsctl", dsagent_report_ms=100)
        self.wait_ready("f", 2)
        pat = r"e2e_ds_ctl report from :[0-9a-f]{8} ready=2 healthy=true fleet_f_ready=2"
        first = len(self.wait_log_count(pat, 1, timeout=5))
        t0 = time.monotonic()
        self.wait_log_count(pat, first + 5, timeout=5)  # one every 100 ms (and one at each READY)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)


    def test_alert_command_and_webhook(self):
        """each alert runs the alert command and is POSTed to the webhook (a real HTTP server on 127.0.0.1)."""
        import http.server
        import json
        import threading
        got = []

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers["Content-Length"])
                got.append((self.path, json.loads(self.rfile.read(n))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        self.addCleanup(lambda: (srv.shutdown(), srv.server_close()))
        out = self.path("alerts.txt")
        self.start([self.fleet("f", ["--exit-code-ms", "0"], pool=1, backoff_ms=20, crash_count=3)],
                   dsagent_alert_command='echo "$SHOAL_ALERT_EVENT|$SHOAL_ALERT" >> %s' % out,
                   dsagent_alert_webhook="http://127.0.0.1:%d/hooks/ds" % srv.server_address[1])
        self.wait_log_count(r"alert=crash_loop fleet=f", 1, timeout=5)
        wait_until(lambda: nodeutil.read_text(out).count("\n") >= 4, scaled(5), "4 alert commands run")
        lines = nodeutil.read_text(out).splitlines()
        self.assertEqual(sorted(l.split("|")[0] for l in lines), ["crash", "crash", "crash", "crash_loop"])
        self.assertIn("dsagent alert=crash ds=1 fleet=f state=starting exit 3", lines[0])
        wait_until(lambda: len(got) >= 4, scaled(5), "4 webhook POSTs")
        self.assertEqual({p for p, _ in got}, {"/hooks/ds"})
        self.assertEqual(sorted(b["event"] for _, b in got), ["crash", "crash", "crash", "crash_loop"])
        self.assertFalse(self.log_lines(r"alert (command|webhook)"))
        wait_until(lambda: zombies_of(self.n.proc.pid) == 0, scaled(2), "the alert commands reaped")


class Controller(DsCase):
    """dscontroller (a first slice): two agents report to it; allocations go through it."""

    def start_ctl(self, fleets, **keys):
        return self.start(fleets, driver="e2e_dsc_driver", dsagent_controller=".dscontroller",
                          dsagent_report_ms=100, **keys)

    def test_concurrent_allocations_unique(self):
        """400 allocations from 8 callers at once: each DS handed out once, both agents used, the rest tickets served later."""
        # the tickets' DSs start a few at a time per agent (each 350 ms under a sanitizer): a scaled timeout
        self.start_ctl([self.fleet("f", ["--match-ms", "60000"], pool=20, max=250)],
                       dscontroller_ticket_timeout_ms=int(scaled(15) * 1000))
        self.wait_log_count(r"dscontroller event=agent_joined", 2, timeout=5)
        wait_until(lambda: len(self.log_lines(r"event=ready ds=20 ")) == 2, scaled(20), "40 ready DSs")
        self.conn.settimeout(scaled(30))  # 400 allocations: about 20/s under TSan
        r = self.cmd("burst 50 8 f")
        m = re.match(r"burst ok=(\d+) tickets=(\d+) errors=0 dup=0 agents=2 fleets=", r)
        self.assertTrue(m, r)
        ok, tickets = int(m.group(1)), int(m.group(2))
        self.assertEqual(ok + tickets, 400)
        self.assertGreaterEqual(ok, 40)
        if tickets:  # (a failed ticket ends the wait at once)
            wait_until(lambda: len(self.log_lines(r"e2e_dsc (ds_ready|ticket_failed) ticket=")) >= tickets,
                       scaled(60), "%d tickets answered" % tickets)
        self.assertFalse(self.log_lines(r"DUPLICATE|ticket_failed"))
        print("burst: %d allocated at once, %d by ticket" % (ok, tickets))

    def test_tickets(self):
        """no ready DS: a ticket at once; served when one gets ready; cancel; a ticket times out with a clear error."""
        self.start_ctl([self.fleet("slow", ["--match-ms", "60000"], pool=1, max=1),
                        self.fleet("short", ["--match-ms", "300", "--ready-ms", "200"], pool=1, max=1)],
                       dscontroller_ticket_timeout_ms=1500)
        self.wait_log_count(r"event=ready ds=2 ", 2, timeout=5)  # each agent: ds 1 and 2 ready
        time.sleep(0.3)  # the reports of both READYs
        self.assertTrue(self.cmd("alloc slow").startswith("ok "))
        self.assertTrue(self.cmd("alloc slow").startswith("ok "))
        self.assertEqual(self.cmd("alloc slow"), "ticket 1")
        self.assertEqual(self.cmd("alloc slow"), "ticket 2")
        self.assertEqual(self.cmd("cancel 2"), "ok")
        self.assertEqual(self.cmd("cancel 2"), "err no waiting ticket 2")
        line = self.wait_log_count(r"e2e_dsc ticket_failed ticket=1 ", 1, timeout=5)[0]
        self.assertIn("err=ticket 1: no DS of fleet slow became ready within 1500 ms", line)
        self.assertFalse(self.log_lines(r"ticket=2 "))
        # short: both allocated, the third waits for a match to end (300 ms) and a fresh DS (ready 200 ms later)
        self.assertTrue(self.cmd("alloc short").startswith("ok "))
        self.assertTrue(self.cmd("alloc short").startswith("ok "))
        self.assertEqual(self.cmd("alloc short"), "ticket 3")
        self.wait_log_count(r"e2e_dsc ds_ready ticket=3 agent=:[0-9a-f]{8} id=\d+", 1, timeout=5)
        self.assertEqual(self.cmd("alloc nosuch"), "err no agent has fleet nosuch")


    def test_canary_split_real_allocations(self):
        """a 10 % canary over 10,000 real allocations (each a fresh DS process whose match ends at once), or
        as many as fit in 55 s: the canary's share within 1 point of 10 %, no DS twice."""
        args = ["--match-ms", "0", "--health-ms", "1000"]
        self.start_ctl([self.fleet("v1", args, pool=40, max=80, crash_count=100000),
                        self.fleet("v2", args, pool=10, max=30, crash_count=100000)])
        wait_until(lambda: len(self.log_lines(r"event=ready ds=50 ")) == 2, scaled(60), "100 ready DSs")
        time.sleep(0.3)
        self.assertEqual(self.cmd("alias arena v1 90 v2 10"), "ok")
        self.conn.settimeout(scaled(90))  # the split answers after at most 55 s (and its last tickets)
        r = self.cmd("split 10000 8 arena 55000")
        m = re.match(r"^split n=(\d+) fleets=v1:(\d+),v2:(\d+) tickets=(\d+) failed=(\d+) errors=(\d+) dup=0 ms=(\d+)$", r)
        self.assertTrue(m, r)
        n, v1, v2, tickets, failed, errors, ms = (int(x) for x in m.groups())
        self.assertEqual(v1 + v2, n)
        self.assertGreaterEqual(n, 1000, r)
        # a ticket timed out or an error (an agent's report late on a loaded machine) is a pick without a DS:
        # tolerated up to 1 %, and counted in the share's tolerance
        self.assertLessEqual(failed + errors, n // 100, r)
        share = 100.0 * v2 / n
        self.assertLess(abs(share - 10.0), 1.0, r)
        print("canary split: %d real allocations in %d ms (%.0f/s, %d by ticket, %d failed tickets, %d errors): "
              "v2 %.2f %% (want 10 %%)" % (n, ms, n * 1000.0 / ms, tickets, failed, errors, share))

    def test_builds_at_run_time(self):
        """register a build on every agent (bad paths refused), add a fleet naming it, upgrade the alias to it,
        remove the old fleet once it has no process; each bad request's error."""
        self.start_ctl([self.fleet("v1", ["--match-ms", "60000"], pool=1, max=4)])
        self.wait_log_count(r"event=ready ds=1 ", 2, timeout=10)
        time.sleep(0.3)
        plain = self.path("plain.txt")
        nodeutil.write_file(plain, "x\n")
        self.assertEqual(self.cmd("build arena 2.0 %s" % self.path("nosuch")),
                         "err build arena: path %s does not exist" % self.path("nosuch"))
        self.assertEqual(self.cmd("build arena 2.0 %s" % plain), "err build arena: path %s is not executable" % plain)
        self.assertEqual(self.cmd("build arena 2.0 bin/x"), "err build arena: path must be the absolute path of an executable")
        self.assertEqual(self.cmd("build arena 2.0 %s" % EXAMPLE_DS), "ok 2")
        self.assertRegex(self.cmd("build arena 2.1 %s" % EXAMPLE_DS), r"^err build arena: registered already as 2.0")
        self.assertEqual(self.cmd("addfleet v2 nosuch 1 %s" % self.tmp),
                         "err fleet v2: build nosuch is not an absolute path nor the name of a build")
        self.assertEqual(self.cmd("addfleet v2 arena 1 %s" % self.tmp), "ok 2")
        self.assertEqual(self.cmd("addfleet v2 arena 1 %s" % self.tmp), "err fleet v2: defined already")
        self.wait_log_count(r"event=ready ds=2 fleet=v2", 2, timeout=10)
        time.sleep(0.3)
        self.assertEqual(self.cmd("alias arena v2"), "ok")
        self.assertRegex(self.cmd("burst 1 2 arena"), r"ok=2 .* fleets=v2:2$")
        self.assertEqual(self.cmd("rmfleet nosuch"), "err no fleet nosuch")
        self.assertEqual(self.cmd("burst 1 1 v1"), "burst ok=1 tickets=0 errors=0 dup=0 agents=1 fleets=v1:1")
        refused = re.match(r"^err 1 agents took it, agent :([0-9a-f]{8}): fleet v1 has 1 processes in a match "
                           r"\(remove it once they ended\)$", self.cmd("rmfleet v1"))
        self.assertTrue(refused)
        self.wait_log_count(r"dsagent event=fleet_removed fleet=v1", 1, timeout=5)
        self.wait_log_count(r'fleet=v1 exit=.* reason="retired: the fleet is removed"', 1, timeout=5)
        self.assertRegex(self.cmd("alias arena v1"), r"^ok$")  # an alias may name a fleet that is not there
        # the agent that kept v1 serves it: its pool's one DS was allocated above, so its replacement may still
        # be starting (then a ticket, served once it is ready)
        before = len(self.log_lines(r"dsagent event=allocated ds=\d+ fleet=v1 "))
        r = self.cmd("alloc arena")
        m = re.match(r"^(?:ok :([0-9a-f]{8}) \d+ \S+|ticket (\d+))$", r)
        self.assertTrue(m, r)
        agent = m.group(1)
        if m.group(2):
            line = self.wait_log_count(r"e2e_dsc ds_ready ticket=%s " % m.group(2), 1, timeout=20)[0]
            agent = re.search(r"agent=:([0-9a-f]{8}) ", line).group(1)
        self.assertEqual(agent, refused.group(1), r)
        self.wait_log_count(r"dsagent event=allocated ds=\d+ fleet=v1 ", before + 1, timeout=5)
        self.assertEqual(self.n.log().count("dsagent event=build name=arena version=2.0"), 2)

    def test_alias_canary_upgrade_rollback(self):
        """an alias split 70/30 between two fleets, then pointed at the new one, then back: the allocations follow;
        the old fleet's allocated processes play on (drain by their matches)."""
        self.start_ctl([self.fleet("v1", ["--match-ms", "60000"], pool=25, max=60),
                        self.fleet("v2", ["--match-ms", "60000"], pool=25, max=60)])
        wait_until(lambda: len(self.log_lines(r"event=ready ds=50 ")) == 2, scaled(30), "100 ready DSs")
        time.sleep(0.3)  # the last reports
        self.assertEqual(self.cmd("alias arena v1 70 v2 30"), "ok")
        r = self.cmd("burst 6 10 arena")
        self.assertRegex(r, r"^burst ok=60 tickets=0 errors=0 dup=0 agents=2 fleets=v1:42,v2:18$")
        self.assertEqual(self.cmd("alias arena v2"), "ok")  # the upgrade, all at once
        self.assertRegex(self.cmd("burst 2 5 arena"), r"ok=10 .* fleets=v2:10$")
        self.assertEqual(self.cmd("alias arena v1"), "ok")  # the rollback
        self.assertRegex(self.cmd("burst 1 5 arena"), r"ok=5 .* fleets=v1:5$")
        self.assertEqual(self.cmd("alias arena v1 101 v2 0"), "err the weight of v1 must be an integer 0..100")
        self.assertEqual(self.cmd("alias bad/name v1"),
                         "err an alias name must be 1-64 letters, digits, '_', '.' or '-'")
        # the 28 allocated v2 processes were not touched by the rollback
        self.assertEqual(sum(1 for l in self.log_lines(r"event=reaped ds=\d+ fleet=v2")), 0)
        self.assertEqual(self.cmd("alloc nosuch"), "err no agent has fleet nosuch")


class Client(DsCase):
    """ds.client (lualib/ds/client.lua) through the driver: one node, a dscontroller and two agents."""

    start_ctl = Controller.start_ctl

    def test_client_allocate_and_release(self):
        """ds.client (lualib/ds/client.lua): DSs at once and through tickets, each caller blocked until its DS or
        its bound; a DS given back through its agent (release) is ended; bad requests get clear errors."""
        self.start_ctl([self.fleet("f", ["--match-ms", "60000", "--ready-ms", "300"], pool=2, max=6)],
                       dscontroller_ticket_timeout_ms=int(scaled(6) * 1000))  # longer than the callers' bound
        self.wait_log_count(r"event=ready ds=2 ", 2, timeout=10)
        time.sleep(0.3)  # the reports of the READYs
        self.conn.settimeout(scaled(30))
        # 10 at once: 4 ready, 6 by ticket (the pools refill up to max 6 per agent); 2 more than the max: their bound
        r = self.cmd("dsalloc 14 f %d" % int(scaled(4) * 1000))
        m = re.match(r"^dsalloc n=14 ok=12 errors=2 refused=0 dup=0 maxms=(\d+)$", r)
        self.assertTrue(m, r)
        self.assertLessEqual(int(m.group(1)), scaled(4) * 1000 + 300, r)  # a caller waits its bound, no more
        errs = self.wait_log_count(r"e2e_dsc dsalloc: ", 2, timeout=5)  # the logger writes after the answer
        self.assertEqual(len(errs), 2, errs)
        self.assertRegex(errs[0], r"ds.client: no DS of f within \d+ ms \(ticket \d+ waiting\)")
        self.assertEqual(self.cmd("held"), "held n=12 allocated=12")
        self.assertRegex(self.cmd("dsasync f 500"), r"^async err ds.client: no DS of f within 500 ms \(ticket \d+ waiting\)$")
        self.assertEqual(self.cmd("dsasync f 0"), "async err ds.client allocate: the timeout must be a positive integer (ms)")
        self.assertEqual(self.cmd("release 1"), "ok")
        self.wait_log_count(r"dsagent event=released ds=\d+ fleet=f", 1, timeout=5)
        wait_until(lambda: self.cmd("held") == "held n=12 allocated=11", scaled(5), "the released DS ended")
        line = self.wait_log_count(r'fleet=f exit=.*reason="released by its caller"', 1, timeout=5)[0]
        self.assertFalse(self.log_lines(r"alert=reap .*released"), "a release is not an alert")
        self.assertRegex(self.cmd("release 1"), r"^err release: (DS \d+ is ending, not allocated|no live DS \d+)$")
        self.assertEqual(self.cmd("release 99"), "err ds.client release: not an allocated DS")
        agent = self.log_lines(r"dscontroller event=agent_joined")[0].split("agent=")[1].split()[0]
        self.assertEqual(self.cmd("release_id %s 9999" % agent), "err release: no live DS 9999")
        self.assertRegex(self.cmd("dsalloc 1 nosuch 2000"), r"^dsalloc n=1 ok=0 errors=1 refused=0 dup=0 maxms=\d+$")
        self.wait_log_count(r"e2e_dsc dsalloc: no agent has fleet nosuch", 1, timeout=5)
        self.assertEqual(self.cmd("dsalloc x f 10"), "err usage: dsalloc N NAME MS")
        self.assertRegex(self.cmd("dsasync f %d" % int(scaled(4) * 1000)), r"^async ok :[0-9a-f]{8}/\d+$")  # the freed slot's refill
        st = self.cmd("dsstats")
        self.assertRegex(st, r"^dsstats surplus=\d+ released=\d+ orphaned=0 reasked=0 cancelled=3 refs=0$")
        self.assertFalse(self.log_lines(r"DUPLICATE"))
        print("client: 12 of 14 served (8 by ticket), 2 gave up at their bound; %s; %s" % (r, st))

    def test_takeover_race(self):
        """the race of a takeover: the dead controller's DS for a ticket arrives after the client got one from the
        new controller: the client keeps one, the other is released through its agent (ended, not left allocated)."""
        self.start_ctl([self.fleet("f", ["--match-ms", "60000"], pool=2, max=6)])
        self.wait_log_count(r"event=ready ds=2 ", 2, timeout=10)
        time.sleep(0.3)
        r = self.cmd("race f")
        m = re.match(r"^race kept=(:[0-9a-f]{8})/(\d+) late=(:[0-9a-f]{8})/(\d+)$", r)
        self.assertTrue(m, r)
        self.assertNotEqual(m.group(1, 2), m.group(3, 4))
        self.wait_log_count(r"ds.client event=released agent=%s ds=%s \(no request waits for it\)" % m.group(3, 4), 1, 5)
        self.wait_log_count(r"dsagent event=released ds=%s fleet=f" % m.group(4), 1, timeout=5)
        self.assertRegex(self.n.log(), r"ds.client: dscontroller :[0-9a-f]{8} is gone \(NOSERVICE\): 1 tickets asked again")
        wait_until(lambda: self.cmd("held") == "held n=1 allocated=1", scaled(5), "only the kept DS allocated")
        self.assertRegex(self.cmd("dsstats"), r"^dsstats surplus=1 released=1 orphaned=1 reasked=1 ")

    def test_takeover_race_late_first(self):
        """the other order: the dead controller's late DS comes while the request waits on the new controller's
        ticket: the request keeps it and cancels that ticket (no DS twice, none left without an owner)."""
        self.start_ctl([self.fleet("f", ["--match-ms", "60000"], pool=1, max=2),
                        self.fleet("none", ["--match-ms", "60000"], pool=0, max=1)])
        self.wait_log_count(r"event=ready ds=1 ", 2, timeout=10)
        time.sleep(0.3)
        r = self.cmd("race none f")
        m = re.match(r"^race kept=(:[0-9a-f]{8})/(\d+) late=(:[0-9a-f]{8})/(\d+)$", r)
        self.assertTrue(m, r)
        self.assertEqual(m.group(1, 2), m.group(3, 4))  # the late one kept
        self.assertRegex(self.cmd("dsstats"), r"^dsstats surplus=0 released=0 orphaned=1 reasked=1 cancelled=1 refs=0$")
        self.assertEqual(self.cmd("cancel 1"), "err no waiting ticket 1")  # the new controller's ticket: cancelled
        wait_until(lambda: self.cmd("held") == "held n=1 allocated=1", scaled(5), "only the kept DS allocated")
        self.assertFalse(self.log_lines(r"ds.client event=released"))

    def test_10000_outstanding(self):
        """10,000 allocations outstanding at once: 4 caller services x 2,500 coroutines (ds.client), 2 agents with
        pools of 20 (max 40) whose DSs end their match at once: every one answered exactly once, no DS twice,
        the refusals of dscontroller_max_tickets (if any) clear and counted. Under a sanitizer (SHOAL_E2E_TIME_SCALE
        > 1: each exec and each pass over the tickets several times slower, a DS ready in 350 ms) 4 x 250."""
        per = 2500 if nodeutil.TIME_SCALE <= 1 else 250
        args = ["--match-ms", "0", "--health-ms", "1000"]
        self.start_ctl([self.fleet("f", args, pool=20, max=40, crash_count=100000)],
                       dscontroller_ticket_timeout_ms=int(scaled(80) * 1000),
                       dscontroller_lost_ms=int(scaled(5) * 1000))  # an agent's report late on a loaded machine
        wait_until(lambda: len(self.log_lines(r"event=ready ds=20 ")) == 2, scaled(30), "40 ready DSs")
        time.sleep(0.3)
        bound = int(scaled(85) * 1000)
        self.conn.settimeout(bound / 1000.0 + 40)
        r = self.cmd("multi 4 %d f %d" % (per, bound))
        m = re.match(r"^multi n=%d ok=(\d+) errors=0 refused=(\d+) dup=0 maxms=(\d+) ms=(\d+)$" % (4 * per), r)
        self.assertTrue(m, "%s; %s" % (r, self.log_lines(r"e2e_dsc multi: ")[-5:]))
        ok, refused, maxms, ms = (int(x) for x in m.groups())
        self.assertEqual(ok + refused, 4 * per, r)
        for line in self.log_lines(r"e2e_dsc multi: ")[:5]:
            self.assertRegex(line, r"fleet f: no ready DS and \d+ tickets waiting already")
        self.assertLessEqual(maxms, bound + 500, r)
        self.assertEqual(self.cmd("dups"), "dups 0")
        self.assertFalse(self.log_lines(r"DUPLICATE"))
        # a DS sent twice for one request (a call retried after its bound) is given back, never kept twice
        surplus = len(self.log_lines(r"ds.client event=released"))
        self.assertLessEqual(surplus, 100, "%d DSs given back" % surplus)
        print("%d outstanding: %d served (%d refused) in %d ms (%.0f/s), the longest wait %d ms, %d surplus given back"
              % (4 * per, ok, refused, ms, ok * 1000.0 / ms, maxms, surplus))


HEARTBEAT_MS = 250
MISSES = 4
BOUND_MS = HEARTBEAT_MS * MISSES + 1000  # the registry's failure-detection bound (docs/registry.md)


class Standby(DsCase):
    """Three nodes: node 1 the registry, two dsagents and the test's driver (calls through the lease client);
    nodes 2 and 3 a dscontroller each, holding the registry lease "dscontroller"; node 2 killed -9."""

    def cluster_node(self, n, life=1, **keys):
        cfg = dict(node=n, thread=2, luaservice=nodeutil.e2e_luaservice(), cluster=self.cluster,
                   heartbeat_ms=HEARTBEAT_MS, heartbeat_misses=MISSES, registry_suspect=2, registry_dead=MISSES,
                   logfile=self.path("node%d-%d.log" % (n, life)))
        cfg.update(keys)
        return self.node(self.config("node%d-%d.lua" % (n, life), **cfg), name="node%d-%d" % (n, life),
                         logfile=cfg["logfile"], env={"SHOAL_CLUSTER_SECRET": "e2e-ds-standby"})

    def driver_node(self, fleets):
        """Node 1 of three (self.cluster set here): the registry, two dsagents with `fleets` reporting to
        "lease:dscontroller" and the driver calling through the lease client. -> the driver's port."""
        ports = free_ports(3)
        self.cluster = ",".join("%d@127.0.0.1:%d" % (n, ports[n - 1]) for n in (1, 2, 3))
        path = self.path("fleets.lua")
        nodeutil.write_file(path, "return " + lua(fleets) + "\n")
        self.n = self.cluster_node(1, start="e2e_dsc_driver", registry=True, dsagent_fleets=path,
                                   dsagent_keeper=KEEPER, dsagent_logdir=self.path("logs"), dsagent_check_ms=50,
                                   dsagent_controller="lease:dscontroller", dsagent_report_ms=100,
                                   dsc_lease="dscontroller", dsc_call_ms=int(scaled(0.5) * 1000))
        return int(self.n.wait_log(r"e2e_dsc_driver port (\d+)", timeout=10).group(1))

    def test_kill9_active(self):
        port = self.driver_node([self.fleet("v1", ["--match-ms", "60000"], pool=20, max=40),
                                 self.fleet("v2", ["--match-ms", "60000"], pool=20, max=40)])
        n2 = self.cluster_node(2, start="dscontroller", dscontroller_lease="dscontroller")
        n2.wait_log(r"dscontroller 2: active \(lease epoch 1\)", timeout=15)
        n3 = self.cluster_node(3, start="dscontroller", dscontroller_lease="dscontroller", console=True,
                               console_port=0)
        n3.wait_log(r"dscontroller 3: standby \(active: 2, lease epoch 1\)", timeout=15)
        self.n, driver = n3, self.n  # the console of node 3: its standby refuses
        text = self.console("alloc arena\nfleet\nscale v1 3")
        self.n = driver
        self.assertEqual(len(re.findall(r"dscontroller :[0-9a-f]{8}: standby \(active: 2\)", text)), 3, text)
        self.conn = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        self.addCleanup(self.conn.close)
        self.rf = self.conn.makefile("r")
        wait_until(lambda: len(re.findall(r"dscontroller event=agent_joined", n2.log())) >= 2, scaled(10),
                   "both agents report to controller 2")
        wait_until(lambda: len(self.log_lines(r"event=ready ds=40 ")) == 2, scaled(30), "80 ready DSs")
        time.sleep(0.3)  # the last reports
        self.assertEqual(self.cmd("alias arena v1 70 v2 30"), "ok")
        self.assertRegex(self.cmd("burst 2 10 arena"), r"^burst ok=20 tickets=0 errors=0 dup=0 agents=2 fleets=v1:14,v2:6$")
        time.sleep(0.3)  # the agents' reports carry the alias back (controller_state)
        killed, killed_wall = time.monotonic(), time.time()
        n2.proc.send_signal(signal.SIGKILL)
        n2.proc.wait(timeout=5)
        first_ok, tries = None, 0
        deadline = killed + scaled(BOUND_MS / 1000.0 + 5)
        while time.monotonic() < deadline:
            tries += 1
            r = self.cmd("alloc arena")
            if r.startswith("ok ") or r.startswith("ticket "):
                first_ok, first = time.monotonic(), r
                break
            self.assertRegex(r, r"^err no_active")
        self.assertIsNotNone(first_ok, "no allocation within the bound after the kill (last: %s)" % r)
        took_ms = (first_ok - killed) * 1000.0
        line = n3.wait_log(r"^.*dscontroller 3: active \(lease epoch 2\).*$", timeout=1)
        self.assertLessEqual(took_ms, scaled(BOUND_MS + 500), "takeover took %d ms" % took_ms)
        self.assertTrue(n3.wait_log(r"dscontroller event=state_restored .* aliases=1", timeout=5))
        wait_until(lambda: self.cmd("aliases") == "aliases arena=v1:70,v2:30", scaled(5), "the alias restored")
        wait_until(lambda: len(re.findall(r"dscontroller event=agent_joined", n3.log())) >= 2, scaled(5),
                   "both agents report to controller 3")
        active_ms = stamp_ms(line.group(0)) - killed_wall * 1000.0
        r = self.cmd("burst 2 10 arena")
        m = re.match(r"^burst ok=(\d+) tickets=(\d+) errors=0 dup=0 agents=2 fleets=v1:(\d+),v2:(\d+)$", r)
        self.assertTrue(m, "%s; the driver's errors: %s" % (r, self.log_lines(r"e2e_dsc burst: ")[-5:]))
        self.assertEqual(int(m.group(1)), 20, r)
        self.assertIn(int(m.group(3)), (13, 14, 15), r)  # 70/30 kept (the probe above took one pick)
        self.assertEqual(self.cmd("dups"), "dups 0")
        self.assertFalse(self.log_lines(r"DUPLICATE"))
        # the killed node comes back: the standby now
        self.cluster_node(2, life=2, start="dscontroller", dscontroller_lease="dscontroller").wait_log(
            r"dscontroller 2: standby \(active: 3, lease epoch 2\)", timeout=15)
        self.assertRegex(self.cmd("burst 1 5 arena"), r"^burst ok=5 tickets=0 errors=0 dup=0 ")
        print("takeover: controller 3 active %d ms after kill -9 of controller 2, first allocation answered after %d ms "
              "(%d tries, answer %r; bound %d ms)" % (active_ms, took_ms, tries, first.split(" ")[0], BOUND_MS))


class StandbyTickets(DsCase):
    """ds.client across a takeover: Standby's three nodes; tickets waiting at the active controller when its node is
    killed -9 are asked again of the new one by the client; no caller waits past its bound, none is stranded."""

    cluster_node = Standby.cluster_node
    driver_node = Standby.driver_node

    def test_tickets_survive_kill9(self):
        # 6 ready at first (3 per agent), the refills READY 1.5 s after their start: most requests wait as tickets
        port = self.driver_node([self.fleet("v1", ["--match-ms", "60000", "--ready-ms", "1500"], pool=3, max=30)])
        keys = dict(start="dscontroller", dscontroller_lease="dscontroller", dscontroller_ticket_timeout_ms=20000)
        n2 = self.cluster_node(2, **keys)
        n2.wait_log(r"dscontroller 2: active \(lease epoch 1\)", timeout=15)
        n3 = self.cluster_node(3, **keys)
        n3.wait_log(r"dscontroller 3: standby \(active: 2, lease epoch 1\)", timeout=15)
        self.conn = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
        self.addCleanup(self.conn.close)
        self.rf = self.conn.makefile("r")
        wait_until(lambda: len(re.findall(r"dscontroller event=agent_joined", n2.log())) >= 2, scaled(10),
                   "both agents report to controller 2")
        self.wait_log_count(r"event=ready ds=3 ", 2, timeout=15)
        time.sleep(0.3)  # the last reports
        bound_ms = int(scaled(15) * 1000)
        c2 = socket.create_connection(("127.0.0.1", port), timeout=bound_ms / 1000.0 + 20)
        self.addCleanup(c2.close)
        c2.sendall(b"dsalloc 40 v1 %d\n" % bound_ms)
        wait_until(lambda: 0 < int(self.cmd("pending").split()[1]) <= 34, scaled(5), "the ready DSs handed out")
        time.sleep(0.2)  # the rest have their tickets
        waiting = int(self.cmd("pending").split()[1])
        self.assertGreater(waiting, 20)  # tickets outstanding at the kill
        killed = time.monotonic()
        n2.proc.send_signal(signal.SIGKILL)
        n2.proc.wait(timeout=5)
        r = c2.makefile("r").readline().rstrip("\n")
        took = time.monotonic() - killed
        m = re.match(r"^dsalloc n=40 ok=(\d+) errors=(\d+) refused=0 dup=0 maxms=(\d+)$", r)
        self.assertTrue(m, "%s; %s" % (r, self.log_lines(r"e2e_dsc dsalloc: ")))
        ok, errors, maxms = (int(x) for x in m.groups())
        self.assertLessEqual(maxms, bound_ms + 300, r)  # no caller past its bound
        self.assertEqual(ok, 40, "every caller got a DS: %s; %s" % (r, self.log_lines(r"e2e_dsc dsalloc: ")))
        self.assertTrue(n3.wait_log(r"dscontroller 3: active \(lease epoch 2\)", timeout=1))
        st = self.cmd("dsstats")
        m2 = re.match(r"^dsstats surplus=(\d+) released=(\d+) orphaned=(\d+) reasked=(\d+) cancelled=\d+ refs=\d+$", st)
        self.assertTrue(m2, st)
        surplus, _, orphaned, reasked = (int(x) for x in m2.groups())
        self.assertGreater(orphaned, 0, st)  # the client saw the controller go and asked again
        self.assertGreaterEqual(reasked, orphaned, st)
        self.wait_log_count(r"ds\.client: dscontroller", 1, timeout=5)
        # no DS twice; none allocated without an owner (a surplus one is given back and ends)
        self.assertEqual(self.cmd("dups"), "dups 0")
        wait_until(lambda: self.cmd("held") == "held n=40 allocated=40", scaled(10),
                   "the agents' allocated DSs are exactly the 40 held (last: %s)" % self.cmd("held"))
        print("tickets across kill -9: %d waiting at the kill, all 40 served %.1f s after it (longest wait %d ms, "
              "bound %d ms); %s" % (waiting, took, maxms, bound_ms, st))


class Console(DsCase):
    def test_console_ds(self):
        self.start([self.fleet("arena", pool=2)], console=True, console_port=0)
        self.wait_ready("arena", 2)
        port = int(self.n.wait_log(r"debug console listening on \S+:(\d+)", timeout=5).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as c:
            f = c.makefile("r")
            c.sendall(b"ds\nds nosuch\nds a b\ndrain 0\ndrain 2000\nexit\n")
            text = ""
            deadline = time.monotonic() + scaled(5)
            while "bye" not in text and time.monotonic() < deadline:
                text += f.readline()
        self.assertRegex(text, r"dsagent :[0-9a-f]{8}: starting=0 ready=2 allocated=0 ending=0")
        self.assertRegex(text, r"fleet arena pool=2 max=4 starting=0 ready=2")
        self.assertRegex(text, r"ds 1 ready pid=\d+ port=40000")
        self.assertIn("no fleet nosuch (fleets: arena)", text)
        self.assertRegex(text, r"error: .*ds")
        self.assertIn("error: bad id '0': a decimal number from 1 to 2^53", text)  # drain 0
        self.assertRegex(text, r"dsagent :[0-9a-f]{8}: draining: no new allocation, allocated DSs reaped after 2000 ms")
        self.assertIn("1 agents from 1 services", text)
        self.wait_log_count(r"dsagent event=drained", 1, timeout=5)

    def test_console_alloc(self):
        self.start([self.fleet("arena", pool=1)], driver="e2e_dsc_driver", dsagent_controller=".dscontroller",
                   dsagent_report_ms=100, console=True, console_port=0)
        self.wait_log_count(r"event=ready ds=1 ", 2, timeout=5)
        time.sleep(0.3)
        port = int(self.n.wait_log(r"debug console listening on \S+:(\d+)", timeout=5).group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=scaled(5)) as c:
            f = c.makefile("r")
            c.sendall(b"alloc arena\nalloc nosuch\nalloc\nexit\n")
            text = ""
            deadline = time.monotonic() + scaled(5)
            while "bye" not in text and time.monotonic() < deadline:
                text += f.readline()
        self.assertRegex(text, r"dscontroller :[0-9a-f]{8}: alloc arena: fleet arena ds \d+ on agent :[0-9a-f]{8} port 400")
        self.assertIn("1 allocations from 1 services", text)
        self.assertIn("alloc nosuch: no agent has fleet nosuch", text)
        self.assertIn("error: usage: alloc NAME", text)

    def test_console_fleet_alias_scale(self):
        """builds in the fleets file; `fleet`, `alias`, `scale` through the controller, each bad argument's error."""
        raw = "return " + lua({"builds": [{"name": "arena", "version": "1.4", "path": EXAMPLE_DS}],
                               "fleets": [self.fleet("arena", pool=1, max=8, build="arena"),
                                          self.fleet("arena2", pool=1, max=8)]}) + "\n"
        self.start(None, raw_fleets=raw, driver="e2e_dsc_driver", dsagent_controller=".dscontroller",
                   dsagent_report_ms=100, console=True, console_port=0)
        self.wait_log_count(r"event=ready ds=2 ", 2, timeout=5)
        time.sleep(0.3)
        text = self.console("fleet\nalias canary arena:90,arena2\nalias main arena\nalias bad/x arena\n"
                            "alias x arena:101,arena2\nalias x arena:b\nalias x\nscale arena 3\nscale arena 99\n"
                            "scale nosuch 1\nscale arena x\nscale arena\nalloc canary")
        self.assertRegex(text, r"dscontroller :[0-9a-f]{8}: 2 agents, 0 tickets waiting")
        self.assertIn("fleet arena build=arena@1.4 agents=2 pool=2 starting=0 ready=2 allocated=0 ending=0", text)
        self.assertIn("fleet arena2 build=- agents=2 pool=2", text)
        self.assertRegex(text, r"agent :[0-9a-f]{8} live report_age_ms=\d+ starting=0 ready=2")
        self.assertIn("alias canary -> arena:90,arena2:10", text)
        self.assertIn("alias main -> arena", text)
        self.assertIn("alias bad/x: an alias name must be 1-64 letters, digits, '_', '.' or '-'", text)
        self.assertIn("alias x: the percentage of arena must be 0..100, not 101", text)
        self.assertIn("alias x: bad target arena:b: FLEET or FLEET:PCT,FLEET2", text)
        self.assertIn("error: usage: alias NAME TARGET", text)
        self.assertRegex(text, r"scale arena to 3\n(.*\n)?\s+agent :[0-9a-f]{8}: fleet arena pool=3")
        self.assertIn("fleet arena: the pool must be an integer 0..8 (its max), not 99", text)
        self.assertIn("scale nosuch: no agent has fleet nosuch", text)
        self.assertIn("error: bad count 'x': a decimal number from 0 to 1000000", text)
        self.assertIn("error: usage: scale NAME N", text)
        self.assertRegex(text, r"alloc canary: fleet arena ds \d+")
        # the pool of 3 on each agent: 6 ready arena DSs (`alloc canary` took one: its 100 ms match ends)
        wait_until(lambda: "fleet arena build=arena@1.4 agents=2 pool=6 starting=0 ready=6 "
                   in self.console("fleet"), scaled(10), "arena scaled to 3 per agent")
        self.assertEqual(len(self.log_lines(r"dsagent event=scale fleet=arena pool=3")), 2)


if __name__ == "__main__":
    nodeutil.main()
