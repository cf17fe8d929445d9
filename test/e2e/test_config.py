"""e2e: the node refuses bad command lines and bad configs.

Each bad config must make `shoal CONFIG` exit non-zero within a few seconds,
start nothing (empty stdout), and print exactly one line on stderr that
starts with "shoal: " and names the problem.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeutil  # noqa: E402
from nodeutil import NodeTestCase, run_shoal  # noqa: E402

CONFIG_TIMEOUT = 5  # s: "within a few seconds"


class BadConfig(NodeTestCase):
    def refused(self, config, *needles):
        """Runs shoal on config; asserts the refusal and that the single
        stderr line contains every needle."""
        r = run_shoal([config], timeout=CONFIG_TIMEOUT, cwd=self.tmp)
        what = "config %s\nexit %s\nstdout:\n%s\nstderr:\n%s" % (config, r.returncode, r.stdout, r.stderr)
        self.assertGreater(r.returncode, 0, "must exit non-zero (and not die of a signal)\n" + what)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, "exactly one line on stderr\n" + what)
        self.assertTrue(lines[0].startswith("shoal: "), "stderr line starts with 'shoal: '\n" + what)
        for n in needles:
            self.assertIn(str(n), lines[0], "the message names %r\n%s" % (n, what))
        self.assertEqual(r.stdout, "", "nothing runs, so nothing is logged\n" + what)
        return lines[0]

    def test_missing_file(self):
        missing = self.path("no_such_config.lua")
        self.refused(missing, "no_such_config.lua")

    def test_lua_syntax_error(self):
        cfg = nodeutil.write_file(self.path("syntax.lua"), "thread = 2\nstart = \n")
        self.refused(cfg, "syntax.lua")

    def test_lua_runtime_error(self):
        cfg = nodeutil.write_file(self.path("runtime.lua"), 'thread = 2\nerror("config exploded here")\n')
        self.refused(cfg, "runtime.lua", "config exploded here")

    def test_runtime_error_calling_nil(self):
        cfg = nodeutil.write_file(self.path("callnil.lua"), "thread = no_such_function(2)\n")
        self.refused(cfg, "callnil.lua", "no_such_function")

    def test_thread_zero(self):
        self.refused(self.config("thread0.lua", thread=0), "thread0.lua", "thread", "'0'")

    def test_thread_not_a_number(self):
        self.refused(self.config("threadabc.lua", thread="abc"), "threadabc.lua", "thread", "abc")

    def test_node_out_of_range(self):
        self.refused(self.config("node300.lua", node=300), "node300.lua", "node", "300")

    def test_bad_loglevel(self):
        self.refused(self.config("loud.lua", loglevel="loud"), "loud.lua", "loglevel", "loud")

    def test_unknown_start_service(self):
        cfg = self.config("nostart.lua", start="no_such_service_xyz")
        self.refused(cfg, "nostart.lua", "no_such_service_xyz")

    def test_unknown_start_service_with_args(self):
        cfg = self.config("nostart2.lua", start="no_such_service_xyz some args")
        self.refused(cfg, "nostart2.lua", "no_such_service_xyz")

    def test_cpath_empty_dir(self):
        empty = self.path("empty_cservice")
        os.mkdir(empty)
        cfg = self.config("emptycpath.lua", cpath=empty + "/?.so")
        self.refused(cfg, "emptycpath.lua", "cpath", empty)


    def test_unreadable_config_is_a_directory(self):
        d = self.path("configdir.lua")
        os.mkdir(d)
        self.refused(d, "configdir.lua")

    def test_float_thread(self):
        self.refused(self.config("threadf.lua", thread=1.5), "threadf.lua", "thread", "1.5")

    def test_negative_shutdown_timeout(self):
        self.refused(self.config("sdt.lua", shutdown_timeout=-1), "sdt.lua", "shutdown_timeout", "-1")

    # -- bugs found by these tests, fixed

    def test_unopenable_logfile(self):
        """Was a bug: the logger printed "shoal: cannot open log file ..." and
        start.c then prints "shoal: cannot start the logger: ..." (2 lines)."""
        bad = self.path("no_such_dir", "node.log")
        cfg = self.config("badlog.lua", logfile=bad, start="e2e_ticker", luaservice=nodeutil.e2e_luaservice())
        self.refused(cfg, bad)

    def test_config_raises_non_string(self):
        """Was a bug: error({}) in a config printed "shoal: config error: (null)"
        (lua_tostring -> NULL passed to %s) and does not name the file."""
        cfg = nodeutil.write_file(self.path("errtable.lua"), "error({})\n")
        self.refused(cfg, "errtable.lua")

    def test_binary_config(self):
        """Was a bug: a binary chunk was refused with "attempt to load a binary
        chunk (mode is 't')", which does not name the file."""
        cfg = nodeutil.write_file(self.path("binary.lua"), "\x1bLua")
        self.refused(cfg, "binary.lua")


class CommandLine(NodeTestCase):
    def test_no_args_prints_usage(self):
        r = run_shoal([], timeout=CONFIG_TIMEOUT, cwd=self.tmp)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("usage", r.stderr.lower())
        self.assertEqual(r.stdout, "")

    def test_two_args_prints_usage(self):
        cfg = self.config(thread=1)
        r = run_shoal([cfg, cfg], timeout=CONFIG_TIMEOUT, cwd=self.tmp)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("usage", r.stderr.lower())


if __name__ == "__main__":
    nodeutil.main()
