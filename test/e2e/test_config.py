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


class BadValues(BadConfig):
    """Hardening: every bad value of a schema key exits 1 with one line
    naming the key (before, a table value aborted the node, and 0 or
    negative limits were taken as they were)."""

    def raw(self, name, text):
        return nodeutil.write_file(self.path(name), text)

    def test_table_for_a_known_key(self):
        self.refused(self.raw("t1.lua", "thread = {port = 1}\n"), "t1.lua", "thread", "a table")
        self.refused(self.raw("t2.lua", "start = {}\n"), "t2.lua", "start", "a table")

    def test_socket_limits(self):
        for key, value in (("socket_limit_kb", 0), ("socket_limit_kb", -1), ("socket_warn_kb", 0),
                           ("max_sockets", 0)):
            self.refused(self.config("%s%d.lua" % (key, value), **{key: value}), key, "'%d'" % value)
        self.refused(self.config("warn_over_limit.lua", socket_warn_kb=2048, socket_limit_kb=1024),
                     "socket_warn_kb", "socket_limit_kb")
        self.refused(self.config("harbor_over_limit.lua", cluster="1@127.0.0.1:7001", socket_limit_kb=1024),
                     "harbor_queue_kb", "socket_limit_kb")

    def test_weight_is_a_shift(self):
        for value in (32, 100, -2):
            self.refused(self.config("weight%d.lua" % value, weight=value), "weight", "'%d'" % value)

    def test_booleans_and_strings(self):
        self.refused(self.config("b.lua", monitor_interrupt="maybe"), "monitor_interrupt", "true or false")
        self.refused(self.raw("s.lua", "loglevel = true\n"), "loglevel", "string")

    def test_a_table_for_an_unknown_key_is_kept(self):
        """The example of the issue: `gate = {port = 1}` aborted the node
        (lua_pushfstring has no %q). Now it is a game setting like any
        other, kept as a Lua constructor, with a warning naming the
        closest known key."""
        log = self.path("node.log")
        cfg = self.raw("gate.lua", 'gate = {port = 1, ["a b"] = "c"}\nthraed = 2\nstart = "hello_main"\n'
                       'luaservice = "%s/examples/hello/?.lua;%s/service/?.lua"\nlogfile = "%s"\n'
                       % (nodeutil.SOURCE_DIR, nodeutil.SOURCE_DIR, log))
        r = run_shoal([cfg], timeout=20, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = nodeutil.read_text(log)
        self.assertIn("unknown key 'thraed' (the closest known key is 'thread')", text)
        self.assertIn("unknown key 'gate'", text)


class Schema(NodeTestCase):
    def test_readme_table_is_the_schema(self):
        """The README's table of keys is `shoal --config-keys`: regenerate
        it with scripts/config_keys.sh when a key changes."""
        r = run_shoal(["--config-keys"], timeout=CONFIG_TIMEOUT, cwd=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        readme = nodeutil.read_text(os.path.join(nodeutil.SOURCE_DIR, "README.md"))
        begin, end = "<!-- config-keys: begin -->\n", "<!-- config-keys: end -->"
        self.assertIn(begin, readme)
        table = readme.split(begin, 1)[1].split(end, 1)[0]
        self.assertEqual(table, r.stdout, "README.md's table of config keys differs from the schema: "
                         "run scripts/config_keys.sh")
        self.assertGreater(r.stdout.count("\n| `"), 30)


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
