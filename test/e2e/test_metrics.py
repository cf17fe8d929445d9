"""e2e: the Prometheus endpoint (service/metrics.lua, docs/operations.md).

Two real nodes in a cluster (node 1 runs the registry), each serving
GET /metrics on 127.0.0.1. The output passes `promtool check metrics`; a
real Prometheus server (Debian's package) started here on 127.0.0.1 scrapes
both and answers a Shoal metric through /api/v1/query; the counters move
with real traffic (N messages: the counter rises by at least N); hostile
HTTP input gets a clear status and close, and the node goes on serving.
A missing promtool or prometheus is a failure, never a skip."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, free_ports, scaled, wait_until  # noqa: E402
from test_cluster import READY, SECRET, ask  # noqa: E402

MAX_CONNS = 4
READ_MS = int(scaled(1000))  # the read deadline; stretched with every other wait
MAX_REQUEST = 4096
INSTALL = "install Debian's prometheus package (bash scripts/deps.sh)"


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError("%s not found: %s" % (name, INSTALL))
    return path


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def parse(text):
    """Exposition text -> {(name, frozenset(labels.items())): float}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = {}
        if m.group(3):
            rest = m.group(3)
            for lm in LABEL.finditer(rest):
                labels[lm.group(1)] = unescape(lm.group(2))
        key = (m.group(1), frozenset(labels.items()))
        assert key not in out, "a series twice: %r" % line
        out[key] = float(m.group(4))
    return out


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def find(samples, name, **labels):
    """Samples of name whose labels include labels: [(labels dict, value)]."""
    want = set(labels.items())
    return [(dict(k[1]), v) for k, v in samples.items() if k[0] == name and want <= set(k[1])]


def http(port, data, timeout=10):
    """Sends raw bytes, returns (status or None, headers text, body, seconds
    until the server closed)."""
    t0 = time.monotonic()
    c = socket.create_connection(("127.0.0.1", port), timeout=scaled(timeout))
    try:
        if data:
            c.sendall(data)
        got = b""
        while True:
            try:
                chunk = c.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            got += chunk
    finally:
        c.close()
    took = time.monotonic() - t0
    head, _, body = got.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
    return (int(m.group(1)) if m else None), head.decode("latin-1"), body.decode("utf-8", "replace"), took


class MetricsCase(NodeTestCase):
    NODES = (1, 2)

    def setUp(self):
        super().setUp()
        ports = free_ports(3 * len(self.NODES))
        n = len(self.NODES)
        self.harbor_port = {x: ports[i] for i, x in enumerate(self.NODES)}
        self.probe_port = {x: ports[n + i] for i, x in enumerate(self.NODES)}
        self.metrics_port = {x: ports[2 * n + i] for i, x in enumerate(self.NODES)}
        self.running = {}
        spec = ",".join("%d@127.0.0.1:%d" % (x, self.harbor_port[x]) for x in self.NODES)
        for x in self.NODES:
            keys = dict(node=x, thread=2, start="metrics_main", luaservice=nodeutil.e2e_luaservice(), cluster=spec,
                        heartbeat_ms=200, heartbeat_misses=3, registry_suspect=4, registry_dead=8,
                        probe_port=self.probe_port[x], probe_metrics="1",
                        metrics_listen="127.0.0.1:%d" % self.metrics_port[x], metrics_max_conns=MAX_CONNS,
                        metrics_read_ms=READ_MS, metrics_max_request=MAX_REQUEST,
                        logfile=self.path("node%d.log" % x))
            if x == 1:
                keys["registry"] = True
            cfg = self.config("node%d.lua" % x, **keys)
            self.running[x] = self.node(cfg, name="node%d" % x, logfile=keys["logfile"],
                                        env={"SHOAL_CLUSTER_SECRET": SECRET})
        for x in self.NODES:
            self.running[x].wait_log(READY, timeout=15)
            self.running[x].wait_log("metrics main ready", timeout=15)
        wait_until(lambda: ask(self.probe_port[1], "ping 2 .probe").startswith("ok pong"), scaled(15),
                   "node 1 reaching node 2", interval=0.1)

    def scrape_text(self, x):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port[x],
                                    timeout=scaled(10)) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["Content-Type"], "text/plain; version=0.0.4; charset=utf-8")
            return r.read().decode("utf-8")

    def scrape(self, x):
        return parse(self.scrape_text(x))

    def assert_running(self):
        for x in self.NODES:
            self.assertTrue(self.running[x].running(), self.running[x].describe())


class Exposition(MetricsCase):
    def test_promtool_passes_on_both_nodes(self):
        promtool = tool("promtool")
        for x in self.NODES:
            text = self.scrape_text(x)
            r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                               timeout=scaled(30))
            self.assertEqual(r.returncode, 0, "promtool on node %d:\n%s%s" % (x, r.stdout, r.stderr))
            self.assertEqual(r.stdout + r.stderr, "", "promtool lint on node %d" % x)
            s = parse(text)
            self.assertEqual(value(s, "shoal_node_info", node=str(x)), 1)
            self.assertEqual(value(s, "shoal_harbor_links_up"), 1)
            self.assertEqual(value(s, "shoal_harbor_link_up", peer=str(3 - x)), 1)
            self.assertGreater(value(s, "shoal_harbor_sent_bytes_total", peer=str(3 - x)), 0)
            self.assertGreater(value(s, "shoal_harbor_received_bytes_total", peer=str(3 - x)), 0)
            self.assertGreater(value(s, "shoal_services"), 3)
            probe = find(s, "shoal_service_messages_total", service="cluster_probe")
            self.assertEqual(len(probe), 1, probe)
            # The Lua metrics, with their escapes undone by the parser.
            self.assertEqual(value(s, "e2e_weird", v='quote " backslash \\ newline \n end'), 1)
            self.assertEqual(value(s, "e2e_weird", v="unicode \u00e9"), -2.5)
            self.assertEqual(value(s, "e2e_latency_seconds_bucket", kind="a", le="0.1"), 1)
            self.assertEqual(value(s, "e2e_latency_seconds_bucket", kind="a", le="1.0"), 2)
            self.assertEqual(value(s, "e2e_latency_seconds_bucket", kind="a", le="+Inf"), 3)
            self.assertEqual(value(s, "e2e_latency_seconds_count", kind="a"), 3)
            self.assertAlmostEqual(value(s, "e2e_latency_seconds_sum", kind="a"), 50.55)
            self.assertEqual(value(s, "e2e_things_total", a="x", b="7"), 2)
            # A Lua gauge named like a built-in family is left out, and counted.
            self.assertEqual(value(s, "shoal_metrics_conflicts"), 1)
            self.assertEqual(value(s, "shoal_metrics_sources_failed"), 0)
            self.assertGreaterEqual(value(s, "shoal_metrics_sources"), 2)
        # Heartbeats every 200 ms: the first ones may be still to come on a slow (sanitizer) build.
        s1 = wait_until(lambda: (lambda s: s if (value(s, "shoal_registry_requests_total", verb="heartbeat") or 0) > 0
                                 else None)(self.scrape(1)), scaled(10), "a registry heartbeat", interval=0.1)
        self.assertEqual(value(s1, "shoal_registry_up"), 1)
        self.assertGreater(value(s1, "shoal_registry_requests_total", verb="register"), 0)
        self.assertGreaterEqual(value(s1, "shoal_registry_components"), 2)
        # Both nodes' registry clients time their requests (clusterd: register, heartbeats).
        for x in self.NODES:
            s = self.scrape(x)
            self.assertGreaterEqual(value(s, "shoal_registry_client_duration_seconds_count", verb="register"), 1)
            self.assertGreaterEqual(value(s, "shoal_registry_client_duration_seconds_bucket", verb="register",
                                          le="+Inf"), 1)
        self.assertEqual(value(self.scrape(2), "shoal_registry_up"), 0)

    def test_api_refusals_are_clear(self):
        log = self.running[1].log()
        for what, why in (("bad name", "bad metric name 1bad"), ("bad label", "bad label name __reserved"),
                          ("le on a histogram", "a histogram cannot have a label named le"),
                          ("buckets out of order", "buckets must be finite numbers in increasing order"),
                          ("a counter going down", "a counter only goes up"),
                          ("wrong label count", "e2e_things_total takes 2 label values, got 1"),
                          ("a name of another type", "e2e_things_total is already a counter with labels {a,b}"),
                          ("a non-number value", "the value must be a number, not high")):
            self.assertRegex(log, r"metrics api: %s: [^\n]*%s" % (re.escape(what), re.escape(why)))

    def test_counters_move(self):
        N, CALLS = 2000, 50
        before1, before2 = self.scrape(1), self.scrape(2)
        self.assertEqual(ask(self.probe_port[1], "sends 2 %d" % N, timeout=30), "counted %d" % N)
        ok, rest = ask(self.probe_port[1], "call 2 .probe %d 1" % CALLS).split(" ", 1)
        self.assertEqual(ok, "done")
        self.assertIn("ok=%d err=0" % CALLS, rest)
        ok, rest = ask(self.probe_port[1], "call 1 .probe %d 1" % CALLS).split(" ", 1)
        self.assertIn("ok=%d err=0" % CALLS, rest)
        after1, after2 = self.scrape(1), self.scrape(2)

        def moved(before, after, name, **labels):
            b = find(before, name, **labels)
            a = find(after, name, **labels)
            self.assertEqual(len(a), 1, (name, labels, a))
            return a[0][1] - (b[0][1] if b else 0)

        self.assertGreaterEqual(moved(before2, after2, "shoal_service_messages_total", service="cluster_probe"), N)
        self.assertEqual(moved(before2, after2, "e2e_probe_counted_total"), N)
        self.assertGreaterEqual(moved(before1, after1, "shoal_call_duration_seconds_count", scope="remote"), CALLS)
        self.assertGreaterEqual(moved(before1, after1, "shoal_call_duration_seconds_count", scope="local"), CALLS)
        self.assertGreater(moved(before1, after1, "shoal_call_duration_seconds_sum", scope="remote"), 0)
        self.assertGreaterEqual(moved(before1, after1, "shoal_harbor_sent_bytes_total", peer="2"), N * 8)
        self.assertGreaterEqual(moved(before2, after2, "shoal_harbor_received_bytes_total", peer="1"), N * 8)
        self.assertGreater(moved(before1, after1, "shoal_service_cpu_seconds_total", service="cluster_probe"), 0)


class Prometheus(MetricsCase):
    def test_a_real_prometheus_scrapes_both_nodes(self):
        binary = tool("prometheus")
        port = free_ports(1)[0]
        cfg = nodeutil.write_file(self.path("prometheus.yml"), (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: shoal\n    static_configs:\n      - targets: [%s]\n"
        ) % ", ".join('"127.0.0.1:%d"' % self.metrics_port[x] for x in self.NODES))
        out = open(self.path("prometheus.log"), "wb")
        proc = subprocess.Popen(nodeutil.owned([binary, "--config.file=" + cfg, "--storage.tsdb.path=" + self.path("tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"]),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            out.close()
        self.addCleanup(stop)

        def query(q):
            if proc.poll() is not None:
                raise AssertionError("prometheus exited with %s:\n%s" % (proc.returncode,
                                     nodeutil.tail(nodeutil.read_text(self.path("prometheus.log")))))
            url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.request.quote(q))
            try:
                with urllib.request.urlopen(url, timeout=scaled(5)) as r:
                    data = json.loads(r.read().decode())
            except OSError:
                return None  # not listening yet
            self.assertEqual(data["status"], "success", data)
            return data["data"]["result"]

        def both(q):
            r = query(q)
            return r if r and len(r) == 2 else None

        up = wait_until(lambda: both('up{job="shoal"} == 1'), scaled(60), "prometheus scraping both nodes",
                        interval=0.5)
        self.assertEqual(sorted(x["metric"]["instance"] for x in up),
                         sorted("127.0.0.1:%d" % self.metrics_port[x] for x in self.NODES))
        info = wait_until(lambda: both("shoal_node_info"), scaled(30), "shoal_node_info of both nodes", interval=0.5)
        self.assertEqual(sorted(x["metric"]["node"] for x in info), ["1", "2"])
        links = wait_until(lambda: both("shoal_harbor_links_up"), scaled(30), "harbor links", interval=0.5)
        self.assertEqual([x["value"][1] for x in links], ["1", "1"])
        stop()
        self.assertIsNotNone(proc.returncode)
        self.assert_running()


class Hostile(MetricsCase):
    """Each bad request gets a clear status (or a close) and the node goes on."""

    def test_wrong_method_and_path(self):
        p = self.metrics_port[1]
        for req, status in ((b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405),
                            (b"DELETE /metrics HTTP/1.0\r\n\r\n", 405),
                            (b"GET / HTTP/1.1\r\n\r\n", 404),
                            (b"GET /metricsX HTTP/1.1\r\n\r\n", 404),
                            (b"GET /../metrics HTTP/1.1\r\n\r\n", 404),
                            (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
                            (b"\x00\xff\xfe garbage \x01\r\n\r\n", 400),
                            (b"hello\n\n", 400)):
            got, head, body, _ = http(p, req)
            self.assertEqual(got, status, "%r -> %r %r" % (req, head, body))
            self.assertIn("Connection: close", head)
            if status == 405:
                self.assertIn("Allow: GET", head)
        got, _, body, _ = http(p, b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(got, 200)
        self.assertIn("shoal_node_info", body)
        self.assert_running()

    def test_oversized_request(self):
        got, head, _, _ = http(self.metrics_port[1], b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * (4 * MAX_REQUEST))
        self.assertEqual(got, 431, head)
        # Even a head that does end, when it is too big.
        got, head, _, _ = http(self.metrics_port[1],
                               b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * (2 * MAX_REQUEST) + b"\r\n\r\n")
        self.assertEqual(got, 431, head)
        # A head just inside the bound is served.
        line = b"GET /metrics HTTP/1.1\r\nX-Pad: "
        pad = MAX_REQUEST - len(line) - 2
        got, head, body, _ = http(self.metrics_port[1], line + b"p" * pad + b"\r\n\r\n")
        self.assertEqual(got, 200, head)
        self.assertIn("shoal_node_info", body)
        self.assert_running()

    def test_slowloris_and_idle_connections(self):
        p = self.metrics_port[1]
        # A client that sends a header line every 200 ms and never ends the head.
        c = socket.create_connection(("127.0.0.1", p), timeout=scaled(10))
        t0 = time.monotonic()
        got = b""
        try:
            c.sendall(b"GET /metrics HTTP/1.1\r\n")
            c.settimeout(0.2)
            for i in range(int(scaled(30) / 0.2)):
                try:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    break
                try:
                    c.sendall(b"X-%d: y\r\n" % i)
                except (BrokenPipeError, ConnectionResetError):
                    break
                # The node serves others meanwhile.
                if i == 1:
                    self.assertIn("shoal_node_info", self.scrape_text(1))
        finally:
            c.close()
        took = time.monotonic() - t0
        self.assertTrue(got.startswith(b"HTTP/1.1 408 "), got[:200])
        self.assertGreaterEqual(took, READ_MS / 1000 * 0.9)
        self.assertLess(took, READ_MS / 1000 + scaled(5))
        # A connection that sends nothing at all.
        got, head, _, took = http(p, b"")
        self.assertEqual(got, 408, head)
        self.assertLess(took, READ_MS / 1000 + scaled(5))
        self.assert_running()

    def test_too_many_connections(self):
        p = self.metrics_port[1]
        idle = [socket.create_connection(("127.0.0.1", p), timeout=scaled(10)) for _ in range(MAX_CONNS)]
        try:
            time.sleep(0.2)  # accepted: the node holds MAX_CONNS connections reading their heads
            got, head, _, took = http(p, b"GET /metrics HTTP/1.1\r\n\r\n")
            self.assertEqual(got, 503, head)
            self.assertLess(took, READ_MS / 1000)  # refused at once, not after the read deadline
        finally:
            for c in idle:
                c.close()
        # Once they are gone, scrapes work again.
        wait_until(lambda: http(p, b"GET /metrics HTTP/1.1\r\n\r\n")[0] == 200, scaled(10), "a scrape after the flood",
                   interval=0.1)
        self.assert_running()


class BadConfig(NodeTestCase):
    def test_bad_metrics_listen_stops_the_node_with_a_clear_error(self):
        for spec, why in (("nonsense", 'metrics_listen "nonsense" is not HOST:PORT or PORT'),
                          ("127.0.0.1:99999", 'metrics_listen "127.0.0.1:99999" is not HOST:PORT or PORT')):
            log = self.path("bad.log")
            if os.path.exists(log):
                os.unlink(log)
            cfg = self.config("bad.lua", start="e2e_echo", luaservice=nodeutil.e2e_luaservice(), metrics_listen=spec,
                              logfile=log)
            n = self.node(cfg, name="bad", logfile=log)
            self.assertEqual(n.wait(15), 1, n.describe())
            self.assertIn(why, n.log())


if __name__ == "__main__":
    nodeutil.main()
