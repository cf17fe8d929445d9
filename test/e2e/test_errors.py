"""e2e: error codes (include/shoal.h, SHOAL_ERRNO_LIST). An ERROR message
carries a code byte before its text, so nobody reads a text as if it were a
code: a service's own error may say "no such service" or "timed out", and
is shown as what it is.

Covers: the debug console shows a service's raised text instead of mapping
it to "no such service" / "timeout" (real node, real TCP session); codes
cross nodes unchanged through the harbors (RAISED from a remote handler,
NOSERVICE from the remote node's harbor, NODEDOWN for an unknown node and
for a call pending on a node killed with SIGKILL)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import scaled, wait_until  # noqa: E402
from test_cluster import ClusterCase  # noqa: E402
from test_console import Console, ConsoleTestCase  # noqa: E402

# A service whose debug protocol raises texts that look like the runtime's
# own errors (what a handler echoing client data could raise).
LIAR = """\
local shoal = require "shoal"
require "shoal.debug"
local lies = {
\tping = "player 7: no such service",
\tmem = "db: timed out after 5 ms",
\tgc = "no such service",
}
shoal.start(function()
\tshoal.dispatch("debug", function(_, _, cmd)
\t\terror(lies[cmd] or "no such service", 0)
\tend)
end)
"""


class ConsoleShowsServiceErrors(ConsoleTestCase):
    def test_a_raised_text_is_shown_not_read_as_a_code(self):
        self.file("liar.lua", LIAR)
        n, port = self.start_node()
        s = self.session(port)
        h = self.handle(s.cmd("start liar"))
        self.assertEqual(s.cmd("ping " + h), "error: player 7: no such service\n")
        self.assertEqual(s.cmd("mem " + h), "error: db: timed out after 5 ms\n")
        self.assertIn("  %s failed: no such service\n" % h, s.cmd("gc"))
        # the runtime's own no such service is still named so
        s.cmd("kill " + h)
        self.assertError(s.cmd("ping " + h), "no such service " + h)
        self.assertUsable(s)


# Injected into node 1's probe: the codes of calls to node 2, by name.
CODES = """\
local shoal = require "shoal"
local cluster = require "cluster"
local function code(...)
\tlocal ok, c = shoal.trycalltimeout(5000, ...)
\treturn ok and "ok" or (shoal.errname(c) or tostring(c))
end
local probe2 = cluster.query(2, ".probe")
return code(probe2, "lua", "ping"), code(probe2, "lua", "no such service"),
\tcode(shoal.makehandle(2, 0xfffff0), "lua", "ping"), code(shoal.makehandle(9, 1), "lua", "ping")
"""

# Starts a call to node 2 that stays pending; its result lands in a global.
PENDING = """\
local shoal = require "shoal"
local cluster = require "cluster"
local probe2 = cluster.query(2, ".probe")
shoal.fork(function()
\tlocal ok, c, text = shoal.trycalltimeout(60000, probe2, "lua", "sleep", 60000)
\tpending_result = (ok and "ok" or (shoal.errname(c) or tostring(c))) .. " " .. tostring(text)
end)
return "sent"
"""


class CodesCrossNodes(ClusterCase):
    NODES = (1, 2)

    def test_codes_cross_nodes_unchanged(self):
        s = Console(self.console_port)
        try:
            self.assertIn("Shoal debug console", s.banner)
            nodeutil.write_file(self.path("codes.lua"), CODES)
            self.assertEqual(s.cmd("inject .probe %s" % self.path("codes.lua")), "ok\tRAISED\tNOSERVICE\tNODEDOWN\n")
            nodeutil.write_file(self.path("pending.lua"), PENDING)
            self.assertEqual(s.cmd("inject .probe %s" % self.path("pending.lua")), "sent\n")
            nodeutil.write_file(self.path("result.lua"), "return pending_result\n")
            self.running[2].kill()
            wait_until(lambda: s.cmd("inject .probe %s" % self.path("result.lua")) != "nil\n", scaled(10),
                       "the pending call failed")
            out = s.cmd("inject .probe %s" % self.path("result.lua"))
            self.assertTrue(out.startswith("NODEDOWN node 2 "), out)
        finally:
            s.close()


if __name__ == "__main__":
    nodeutil.main()
