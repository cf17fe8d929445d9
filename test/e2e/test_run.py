"""e2e: nodes that run to completion by themselves."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase  # noqa: E402


class Hello(NodeTestCase):
    def test_hello_example(self):
        """examples/hello runs, talks to its counter and stops with 0."""
        cfg = os.path.join(nodeutil.SOURCE_DIR, "examples", "hello", "config.lua")
        n = self.node(cfg)
        code = n.wait(30)
        self.assertEqual(code, 0, n.describe())
        out = n.stdout()
        self.assertIn("counter says: greetings 6", out, n.describe())
        self.assertIn("counter exploded on purpose", out, n.describe())
        self.assertIn("node stopped", out, n.describe())
        self.assertEqual(n.stderr(), "", n.describe())


class StartFailure(NodeTestCase):
    def test_start_service_raises(self):
        """A start service that raises in its start function stops the node
        with exit code 1, and the error is in the log."""
        log = self.path("node.log")
        cfg = self.config(start="e2e_start_fail", luaservice=nodeutil.e2e_luaservice(), logfile=log)
        n = self.node(cfg, logfile=log)
        code = n.wait(30)
        self.assertEqual(code, 1, n.describe())
        text = n.log()
        self.assertIn("e2e start failure on purpose", text, n.describe())
        self.assertRegex(text, r"ERROR .*e2e_start_fail", n.describe())
        self.assertIn("node stopped", text, n.describe())
        self.assertEqual(n.stdout(), "", "with a logfile nothing goes to stdout\n" + n.describe())


if __name__ == "__main__":
    nodeutil.main()
