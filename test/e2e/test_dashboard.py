"""e2e: the web dashboard (lualib/shoal/dashboard.lua, web/dashboard/) in a
real browser against the world cluster.

The eight nodes of examples/world/layout.lua run with metrics_listen = 0
and dashboard = true (WORLD_METRICS_LISTEN, WORLD_DASHBOARD). The test
checks node 1's GET /api/cluster directly (every node alive with its
services, the registry's baseapps and cellapps, the leases), hostile HTTP
(an unknown path, another method, a bad request line, an oversized head)
and a SIGSTOPped node (its parts unavailable within metrics_timeout_ms,
the rest shown), then plays three players (worldbot.py, through the loginapps) and has
headless Chromium (Debian's chromium over its DevTools protocol, as
chromium.py drives it) load /dashboard/. It waits for the DOM to
show every node alive, the baseapps' players online adding up to the three
playing, the space `world` on a cellapp; then SIGKILLs a baseapp's node and
waits, without reloading the page, for the node's row to say dead and for a
baseapp_dead failover event. A screenshot of the page is kept in the build
dir (test/e2e/artifacts/dashboard.png).

Alone: one node without a cluster (the API says the registry is
unavailable and shows the node), the dashboard off (404 naming the config
key), a dashboard_dir without the files (the node exits 1 naming it).

Fleets: a dscontroller and two dsagents on one node: the JSON carries the
fleets with their processes, the controller's report and the alerts.

A machine without chromium FAILS this test (scripts/deps.sh installs it).
"""

import json
import os
import re
import signal
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, scaled  # noqa: E402
from chromium import Chromium, find_chromium  # noqa: E402
from test_web_client import ARTIFACTS  # noqa: E402
from test_world import BASEAPPS, NODES, WorldCluster  # noqa: E402
from test_dsagent import DsCase  # noqa: E402


def get(port, path, method="GET"):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=scaled(10)) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def raw(port, data):
    """Sends data as is; -> the status line and the body of the answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=scaled(10))
    try:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + scaled(10)
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    head, _, body = got.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body.decode()


class Dashboard(WorldCluster):
    def setUp(self):
        self.chromium = find_chromium()
        if self.chromium is None:
            self.fail("chromium not found on PATH: the dashboard test needs Debian's chromium "
                      "(bash scripts/deps.sh installs it)")
        self.browser = None
        os.environ["WORLD_METRICS_LISTEN"] = "0"
        os.environ["WORLD_DASHBOARD"] = "1"
        super().setUp()
        self.addCleanup(self.stop_browser)
        self.port = int(self.wait_log(1, r"metrics listening on http://127\.0\.0\.1:(\d+)/metrics").group(1))

    def stop_browser(self):
        if self.browser:
            self.browser.stop()

    def api(self):
        status, headers, body = get(self.port, "/api/cluster")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["Content-Type"].startswith("application/json"), headers["Content-Type"])
        return json.loads(body)

    def dom(self, expr, what, timeout=20):
        """Waits until the page's expr is truthy; -> its value."""
        got = []

        def ok():
            got[:] = [self.cdp.eval(expr)]
            return bool(got[0])
        try:
            nodeutil.wait_until(ok, scaled(timeout), what)
        except AssertionError:
            self.screenshot()
            raise AssertionError("%s; the page's status: %r; last value %r" % (
                what, self.cdp.eval("document.getElementById('status').textContent"), got))
        return got[0]

    def screenshot(self):
        self.browser.screenshot(os.path.join(ARTIFACTS, "dashboard.png"))

    def test_api_and_hostile_http(self):
        """The JSON the page reads, and what bad requests get."""
        d = self.api()
        self.assertEqual(d["node"], 1)
        self.assertEqual([n["node"] for n in d["nodes"]], list(range(1, NODES + 1)))
        for n in d["nodes"]:
            self.assertEqual(n["state"], "alive", n)
            self.assertGreater(len(n["services"]), 3, n)  # from that node's .metrics
            self.assertNotIn("unavailable", n, n)
            self.assertTrue(all(re.match(r"^:[0-9a-f]{8}$", s["handle"]) and s["module"] for s in n["services"]))
        types = sorted(c["type"] for c in d["components"] if c["type"] in ("baseapp", "cellapp"))
        self.assertEqual(types, ["baseapp", "baseapp", "cellapp", "cellapp"])
        self.assertEqual(sorted(lease["name"] for lease in d["leases"]), ["baseappmgr", "cellappmgr"])
        self.assertTrue(any(n.get("failovers") for n in d["nodes"]), "the managers' nodes' .failover events")
        self.assertLess(d["took_ms"], 2000)

        status, headers, body = get(self.port, "/dashboard/")
        self.assertEqual(status, 200)
        self.assertIn(b'<script src="dashboard.js">', body)
        self.assertTrue(headers["Content-Type"].startswith("text/html"))
        status, headers, _ = get(self.port, "/dashboard/dashboard.js")
        self.assertEqual((status, headers["Content-Type"]), (200, "text/javascript; charset=utf-8"))
        status, headers, _ = get(self.port, "/dashboard/dashboard.css")
        self.assertEqual((status, headers["Content-Type"]), (200, "text/css; charset=utf-8"))
        line, _ = raw(self.port, b"GET /dashboard HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(line, "HTTP/1.1 301 Moved Permanently")
        self.assertEqual(get(self.port, "/metrics")[0], 200)  # the metrics stay where they were

        for path in ("/nope", "/dashboard/../../etc/passwd", "/dashboard/x.js", "/api/clusterx", "/api/"):
            status, _, body = get(self.port, path)
            self.assertEqual(status, 404, path)
            self.assertIn(b"serves GET /metrics, /dashboard/ and /api/cluster", body)
        status, headers, body = get(self.port, "/api/cluster", method="POST")
        self.assertEqual((status, headers["Allow"]), (405, "GET"))
        self.assertEqual(raw(self.port, b"BREW /api/cluster\r\n\r\n")[0], "HTTP/1.1 400 Bad Request")
        line, body = raw(self.port, b"GET /api/cluster HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertEqual(line, "HTTP/1.1 431 Request Header Fields Too Large")
        line, _ = raw(self.port, b"GET /" + b"d" * 9000 + b" HTTP/1.1\r\n\r\n")
        self.assertEqual(line, "HTTP/1.1 431 Request Header Fields Too Large")
        self.assertEqual(self.api()["node"], 1)  # and it serves on

        # A node that does not answer (SIGSTOP) is shown with its parts
        # unavailable, within the bound (metrics_timeout_ms, 1 s here)
        stopped = NODES
        self.signal(stopped, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            d = self.api()
            took = time.monotonic() - t0
        finally:
            self.signal(stopped, signal.SIGCONT)
        row = [n for n in d["nodes"] if n["node"] == stopped][0]
        print("dashboard: /api/cluster with node %d stopped: %.2f s, unavailable %r" % (stopped, took, row.get("unavailable")),
              file=sys.stderr)
        self.assertLess(took, scaled(3))
        self.assertNotIn("services", row)
        self.assertTrue(any(u.startswith("services: ") for u in row["unavailable"]), row)
        self.assertTrue(all("services" in n for n in d["nodes"] if n["node"] != stopped), d["nodes"])

    def test_page_shows_the_cluster_live(self):
        """Chromium renders nodes, players, a space; then a SIGKILLed
        baseapp node shows dead and a failover event, without a reload."""
        players = [self.player("dash%d" % i, i) for i in range(3)]
        self.browser = Chromium(self, window="1280,1100")
        self.cdp = self.browser.cdp
        self.cdp.call("Page.navigate", url="http://127.0.0.1:%d/dashboard/" % self.port)
        rows = self.dom("document.querySelectorAll('#nodes tr.node').length === %d && "
                        "Array.from(document.querySelectorAll('#nodes tr.node')).map(r => "
                        "r.dataset.node + ' ' + r.children[1].textContent + ' ' + r.children[4].textContent)"
                        % NODES, "the page's %d node rows" % NODES)
        for i, r in enumerate(rows):
            node, st, services = r.split(" ")
            self.assertEqual((int(node), st), (i + 1, "alive"), rows)
            self.assertGreater(int(services), 3, rows)
        online = self.dom("(() => { const r = Array.from(document.querySelectorAll('#baseapps tr.baseapp'));"
                          " const n = r.reduce((a, x) => a + Number(x.children[3].textContent), 0);"
                          " return r.length === 2 && n === %d && r.map(x => x.dataset.id + '=' + x.children[3]"
                          ".textContent).join(' '); })()" % len(players),
                          "two baseapps with %d players online in all" % len(players))
        print("dashboard: players online per baseapp: %s" % online, file=sys.stderr)
        api_online = sum(c["status"]["online"] for c in self.api()["components"] if c["type"] == "baseapp")
        self.assertEqual(api_online, len(players))
        space = self.dom("(() => { const r = document.querySelector('#spaces tr.space[data-space=\"world\"]');"
                         " return r && r.dataset.cellapp; })()", "the space world on a cellapp")
        cellapps = self.cdp.eval("Array.from(document.querySelectorAll('#cellapps tr.cellapp')).map(r => r.dataset.id)")
        self.assertIn(space, cellapps)
        self.assertIn("services", self.cdp.eval("document.querySelector('#services details').textContent"))
        before = self.cdp.eval("Number(document.getElementById('status').dataset.refreshes)")

        victim = BASEAPPS[0]
        self.signal(victim, signal.SIGKILL)
        t0 = time.monotonic()
        self.dom("(() => { const r = document.querySelector('#nodes tr.node[data-node=\"%d\"]');"
                 " return r && r.children[1].textContent === 'dead'; })()" % victim,
                 "node %d's row says dead" % victim, timeout=30)
        event = self.dom("(() => { const e = Array.from(document.querySelectorAll('#failovers li.failover'))"
                         ".find(li => li.dataset.event === 'baseapp_dead'); return e && e.textContent; })()",
                         "a baseapp_dead failover event", timeout=30)
        print("dashboard: node %d dead and %r shown %.1f s after the SIGKILL" % (victim, event, time.monotonic() - t0),
              file=sys.stderr)
        self.assertIn("id=%02x" % victim, event)
        after = self.cdp.eval("Number(document.getElementById('status').dataset.refreshes)")
        self.assertGreater(after, before)  # the same page, polled on
        self.assertEqual(self.cdp.eval("document.getElementById('status').className"), "ok")
        self.screenshot()
        self.assertTrue(os.path.getsize(os.path.join(ARTIFACTS, "dashboard.png")) > 1000)


class Alone(NodeTestCase):
    """One node, no cluster: the dashboard shows it; off, it is not served;
    a dashboard_dir without the files stops the node with a clear error."""

    def start(self, name, **kw):
        log = self.path(name + ".log")
        cfg = self.config(name + ".lua", start="e2e_echo", luaservice=nodeutil.e2e_luaservice(), metrics_listen="0",
                          logfile=log, **kw)
        return self.node(cfg, name=name, logfile=log)

    def test_alone_and_off(self):
        n = self.start("alone", dashboard=True)
        port = int(n.wait_log(r"metrics listening on http://127\.0\.0\.1:(\d+)/metrics", timeout=scaled(10)).group(1))
        status, _, body = get(port, "/api/cluster")
        self.assertEqual(status, 200, body)
        d = json.loads(body)
        self.assertEqual(d["unavailable"], ["registry: this node is not in a cluster"])
        self.assertEqual([(x["node"], x["state"]) for x in d["nodes"]], [(1, "alive")])
        self.assertTrue(any(s["module"] == "snlua" for s in d["nodes"][0]["services"]))
        self.assertEqual(get(port, "/dashboard/")[0], 200)
        n.stop(signal.SIGTERM, timeout=20)
        off = self.start("off")
        port = int(off.wait_log(r"metrics listening on http://127\.0\.0\.1:(\d+)/metrics", timeout=scaled(10)).group(1))
        for path in ("/dashboard/", "/api/cluster"):
            status, _, body = get(port, path)
            self.assertEqual(status, 404)
            self.assertIn(b"the dashboard is off: config dashboard", body)
        self.assertEqual(get(port, "/metrics")[0], 200)

    def test_bad_dashboard_dir_stops_the_node(self):
        empty = self.path("empty")
        os.makedirs(empty, exist_ok=True)
        n = self.start("bad", dashboard=True, dashboard_dir=empty)
        self.assertEqual(n.wait(15), 1, n.describe())
        self.assertIn("dashboard: cannot read index.html (config dashboard_dir)", n.log())


class Fleets(DsCase):
    """A node with a dscontroller and two dsagents (test_dsagent.py's
    driver): the API carries the fleets, their processes and the alerts."""

    def test_fleets_processes_and_alerts(self):
        self.start([self.fleet("arena", pool=2), self.fleet("broken", ["--exit-code-ms", "0"], pool=1, backoff_ms=20,
                                                              crash_count=3)],
                   driver="e2e_dsc_driver", dsagent_controller=".dscontroller", dsagent_report_ms=100,
                   metrics_listen="0", dashboard=True)
        port = int(self.n.wait_log(r"metrics listening on http://127\.0\.0\.1:(\d+)/metrics", timeout=scaled(10)).group(1))
        self.wait_log_count(r"alert=crash_loop fleet=broken", 1, timeout=10)
        got = {}

        def shown():
            status, _, body = get(port, "/api/cluster")
            self.assertEqual(status, 200, body)
            got["d"] = json.loads(body)["nodes"][0]
            agent = "\n".join(got["d"].get("ds_agent", []))
            # the driver's two agents crash-loop each in its own time: .dsagent is the first
            return (len(re.findall(r"^    ds \d+ ready ", agent, re.M)) >= 2 and "CRASH-LOOPING" in agent
                    and got["d"].get("ds_controller"))
        nodeutil.wait_until(shown, scaled(10), "two ready DSs of arena and broken crash-looping in the JSON")
        node = got["d"]
        agent = "\n".join(node["ds_agent"])
        self.assertRegex(agent, r"fleet arena pool=2 ")
        self.assertRegex(agent, r"fleet broken pool=1 .* CRASH-LOOPING")
        self.assertRegex("\n".join(node["ds_controller"]), r"dscontroller :[0-9a-f]{8}:")
        self.assertTrue(any("dsagent alert=crash_loop fleet=broken" in a for a in node["ds_alerts"]), node["ds_alerts"])
        self.assertNotIn("unavailable", node)
        # the controller's allocation metrics on the same endpoint (docs/operations.md, "Metrics")
        self.assertRegex(self.cmd("burst 2 1 arena"), r"^burst ok=2 tickets=0 errors=0 dup=0 ")
        self.assertRegex(self.cmd("burst 1 1 nosuch"), r"^burst ok=0 tickets=0 errors=1 ")
        status, _, raw = get(port, "/metrics")
        body = raw.decode()
        self.assertEqual(status, 200, body[:300])
        self.assertIn('shoal_ds_allocations_total{fleet="arena",result="allocated"} 2\n', body)
        self.assertIn('shoal_ds_allocations_total{fleet="nosuch",result="refused"} 1\n', body)
        self.assertIn('shoal_ds_allocation_seconds_count{fleet="arena"} 2\n', body)


if __name__ == "__main__":
    nodeutil.main()
