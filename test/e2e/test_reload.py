"""e2e: hot reload of the game's logic under load (docs/game-guide.md
section 6, docs/console.md "reload"). The world cluster with 500 C bots
playing (test_chaos.py's setUp: they walk and chat); on every baseapp
node the logic services (game_demo) are reloaded from the console:

- with a patched copy that also counts each line said in the player's
  data (`v2`): the new code runs (bots' entities get `v2=`), their state
  stays (`said` goes on from where it was);
- with a file that does not compile, then with one that raises at its top
  level: the console says why, the running code (the patched one) goes
  on, and the services still answer.

Meanwhile nobody is lost: no bot loses its session, every bot keeps
playing, and at the end every one logs out cleanly.

    test_reload.py --bot BOT --shoal SHOAL --source SRC [Case ...]
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
import test_chaos as tc  # noqa: E402  (takes --bot)
import test_world as tw  # noqa: E402


class Reload(tc.Chaos):
    ROLE = "reload"
    SIGNAL = None

    def logic_services(self, n):
        hs = re.findall(r"(?m)^(:[0-9a-f]{8}) +snlua +game_demo", self.console(n, "list"))
        self.assertTrue(hs, "no game_demo on node %d" % n)
        return hs

    def entity_data(self, n, account):
        m = re.search(r"data=\{([^}]*)\}", self.console(n, "entity %d" % account))
        return dict(kv.split("=", 1) for kv in m.group(1).split(",")) if m and m.group(1) else {}

    def some_accounts(self, n, most=10):
        return [int(a) for a in re.findall(r"(?m)^  account (\d+) ", self.console(n, "players"))[:most]]

    def v2_counts(self):
        """{(node, account): v2} of a few players per baseapp."""
        out = {}
        for n in tw.BASEAPPS:
            for a in self.some_accounts(n):
                d = self.entity_data(n, a)
                if "v2" in d:
                    out[(n, a)] = int(d["v2"])
        return out

    def reload_all(self, path):
        return {(n, h): self.console(n, "reload %s %s" % (h, path)) for n in tw.BASEAPPS for h in self.logic_services(n)}

    def plays_on(self, what):
        rounds = self.bots.rounds()
        nodeutil.wait_until(lambda: self.bots.rounds() > rounds + tc.BOTS, nodeutil.scaled(10),
                            "the bots play on %s" % what)

    def test_reload_under_load(self):
        with open(os.path.join(nodeutil.SOURCE_DIR, "service", "game_demo.lua")) as f:
            src = f.read()
        old = "data.said = (data.said or 0) + 1"
        self.assertIn(old, src)
        v2 = self.path("game_demo_v2.lua")
        with open(v2, "w") as f:
            f.write(src.replace(old, old + "\n\tdata.v2 = (data.v2 or 0) + 1"))
        broken, raising = self.path("game_demo_broken.lua"), self.path("game_demo_raising.lua")
        with open(broken, "w") as f:
            f.write(src + "\nlocal x = = 1\n")
        with open(raising, "w") as f:
            f.write('error("boom at the top of the file")\n' + src)
        t_ms = time.time() * 1000
        said_before = {(n, a): int(self.entity_data(n, a).get("said", "0")) for n in tw.BASEAPPS
                       for a in self.some_accounts(n)}

        for (n, h), out in self.reload_all(v2).items():
            # the handlers live in the router's table (router.serve): replaced there, in place
            self.assertRegex(out, r"^reloaded %s from \S+: \d+ handler\(s\) set, [1-9]\d* code value\(s\) replaced" % h,
                             "node %d: %s" % (n, out))
        # the new code runs: bots that chat since get v2; their old count stayed
        nodeutil.wait_until(lambda: len(self.v2_counts()) >= 1, nodeutil.scaled(30),
                            "players' data counted by the reloaded code (v2)")
        for key, said in said_before.items():
            d = self.entity_data(*key)
            if "said" in d:
                self.assertGreaterEqual(int(d["said"]), said, "%r: the state stayed" % (key,))
        self.plays_on("after the reload")

        for path, why in ((broken, r"unexpected symbol|syntax|expected"), (raising, r"boom at the top of the file")):
            for (n, h), out in self.reload_all(path).items():
                self.assertNotRegex(out, r"^reloaded", "node %d: %s" % (n, out))
                self.assertRegex(out, why, "node %d: the console says why: %s" % (n, out))
            self.plays_on("after a failed reload")
        # the patched code still runs: v2 goes on growing
        seen = self.v2_counts()
        nodeutil.wait_until(lambda: any(self.v2_counts().get(k, 0) > v for k, v in seen.items()),
                            nodeutil.scaled(30), "v2 still counting after the failed reloads")
        self.assertEqual(self.bots.events(t_ms, "lost"), [], "nobody lost a session")
        r = self.bots.end(nodeutil.scaled(60))
        self.assertEqual((r["failed"], r["completed"], r["stranded"], r["relogged"], r["lost"]),
                         (0, tc.BOTS, 0, 0, 0), r)


if __name__ == "__main__":
    nodeutil.main()
