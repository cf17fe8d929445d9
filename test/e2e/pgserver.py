"""pgserver - a throwaway PostgreSQL server for the tests and benchmarks.

    with PgServer(tmpdir) as pg:          # or pg = PgServer(d); pg.start() ... pg.destroy()
        conninfo = pg.conninfo            # host=<socket dir> port=5432 user=shoal dbname=postgres
        pg.stop("fast"); pg.start()       # stop it mid-run, start it again
        pg.sql("SELECT count(*) FROM entities")

Debian's initdb and pg_ctl (/usr/lib/postgresql/<version>/bin, the newest
version found; SHOAL_PG_BIN overrides) make a cluster in a fresh temp dir
that listens only on a unix socket in that dir (listen_addresses = ''), so
nothing on the machine can reach it and tests never share a port. initdb
refuses to run as root: as root the server runs as the system user
'shoaltest' (created with useradd -r when missing) through runuser.

PostgreSQL missing is an error with the fix in its text (scripts/deps.sh),
never a silent skip. A watcher process stops the server (immediate) and
removes its dir if the process that started it dies without doing so.
Every wait is bounded.
"""

import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

PG_USER = "shoaltest"  # the system user the server runs as when we are root
DB_USER = "shoal"      # the database superuser initdb makes


class PgMissing(RuntimeError):
    pass


def find_bindir():
    """The directory of initdb, pg_ctl and postgres (the newest version)."""
    env = os.environ.get("SHOAL_PG_BIN")

    def version(path):
        m = re.search(r"/postgresql/(\d+)/bin$", path)
        return int(m.group(1)) if m else 0

    cands = [env] if env else sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for d in cands:
        if all(os.access(os.path.join(d, t), os.X_OK) for t in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PgMissing(
        "PostgreSQL server binaries not found (looked for initdb, pg_ctl and postgres in %s): "
        "install Debian's postgresql package (scripts/deps.sh) or set SHOAL_PG_BIN" % (cands or "/usr/lib/postgresql/*/bin")
    )


def find_psql(bindir):
    for d in (bindir, "/usr/bin"):
        p = os.path.join(d, "psql")
        if os.access(p, os.X_OK):
            return p
    raise PgMissing("psql not found (Debian's postgresql-client, pulled by postgresql; scripts/deps.sh)")


def ensure_user():
    """As root: the system user the server runs as (made once)."""
    try:
        pwd.getpwnam(PG_USER)
        return
    except KeyError:
        pass
    r = subprocess.run(
        ["useradd", "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", PG_USER],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30,
    )
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        raise RuntimeError("cannot create the system user %s for PostgreSQL: %s" % (PG_USER, r.stdout.decode(errors="replace")))


class PgServer:
    def __init__(self, parent=None, port=5432, timeout=60):
        self.bindir = find_bindir()
        self.psql = find_psql(self.bindir)
        self.root = os.geteuid() == 0
        if self.root:
            ensure_user()
        self.dir = tempfile.mkdtemp(prefix="shoal-pg-", dir=parent)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = port
        self.timeout = timeout
        self.watcher = None
        self.running = False
        if self.root:
            pw = pwd.getpwnam(PG_USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            # The server's user must reach its dir through the parents.
            d = os.path.dirname(self.dir)
            while d not in ("/", ""):
                st = os.stat(d)
                if not st.st_mode & 0o001:
                    os.chmod(d, st.st_mode | 0o001)
                d = os.path.dirname(d)
        self.conninfo = "host=%s port=%d user=%s dbname=postgres" % (self.dir, port, DB_USER)
        self._run([os.path.join(self.bindir, "initdb"), "-D", self.data, "-U", DB_USER, "-A", "trust",
                   "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n# shoal test server: a unix socket in its own dir only\n")
            f.write("listen_addresses = ''\n")
            f.write("unix_socket_directories = '%s'\n" % self.dir)
            f.write("port = %d\n" % port)
            f.write("max_connections = 20\nshared_buffers = 16MB\n")
            f.write("logging_collector = off\n")
        self._watch()

    def _cmd(self, argv):
        if self.root:
            return ["runuser", "-u", PG_USER, "--"] + argv
        return argv

    def _run(self, argv, what, check=True):
        try:
            r = subprocess.run(self._cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=self.timeout, cwd=self.dir)
        except subprocess.TimeoutExpired:
            raise RuntimeError("%s did not finish in %d s" % (what, self.timeout))
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d): %s%s" % (what, r.returncode, r.stdout.decode(errors="replace"),
                                                         self.server_log()))
        return r

    def _watch(self):
        """A watcher that cleans up if this process dies first (kill -9)."""
        script = (
            "while kill -0 %d 2>/dev/null; do sleep 1; done; "
            "%s %s -D %s -m immediate -w -t 20 stop >/dev/null 2>&1; rm -rf %s"
            % (os.getpid(), " ".join(self._cmd([])), os.path.join(self.bindir, "pg_ctl"), self.data, self.dir)
        )
        self.watcher = subprocess.Popen(["sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)

    def server_log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return "\n--- server log (tail) ---\n" + "".join(f.readlines()[-20:])
        except OSError:
            return ""

    def start(self):
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-l", self.logfile, "-w",
                   "-t", str(self.timeout), "start"], "pg_ctl start")
        self.running = True
        return self

    def stop(self, mode="fast"):
        """mode: smart, fast (sessions cut, a clean shutdown) or immediate (a crash)."""
        self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", mode, "-w",
                   "-t", str(self.timeout), "stop"], "pg_ctl stop")
        self.running = False

    def sql(self, query):
        """Runs one query with psql; its rows as lists of strings."""
        r = subprocess.run([self.psql, "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query, self.conninfo],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=self.timeout)
        if r.returncode != 0:
            raise RuntimeError("psql %r failed: %s" % (query, r.stderr.decode(errors="replace")))
        return [line.split("\t") for line in r.stdout.decode().splitlines() if line != ""]

    def destroy(self):
        """Stops the server (immediate: nothing to keep) and removes its dir."""
        try:
            if self.running or os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self._run([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w",
                           "-t", str(self.timeout), "stop"], "pg_ctl stop", check=False)
            self.running = False
        finally:
            if self.watcher is not None:
                self.watcher.kill()
                self.watcher.wait(10)
                self.watcher = None
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.destroy()


def main(argv):
    """python3 pgserver.py                  a smoke run: start, query, stop
    python3 pgserver.py run -- CMD ARGS...  CMD with a server (its conninfo
                                          in SHOAL_PG_CONNINFO), then stops it;
                                          exits with CMD's code (bench/run db)"""
    if not argv:
        with PgServer() as pg:
            print(pg.conninfo)
            print(pg.sql("SELECT version()"))
        return 0
    if argv[0] != "run" or "--" not in argv or argv.index("--") + 1 >= len(argv):
        print(main.__doc__, file=sys.stderr)
        return 2
    cmd = argv[argv.index("--") + 1:]
    with PgServer() as pg:
        env = dict(os.environ, SHOAL_PG_CONNINFO=pg.conninfo)
        return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except PgMissing as e:
        print("pgserver: %s" % e, file=sys.stderr)
        sys.exit(2)
