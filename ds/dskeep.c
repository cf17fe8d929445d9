/*
 * dskeep.c - shoal-dskeep, the keeper between dsagent and one dedicated
 * server (DS) process tree (docs/dsagent.md, "The keeper").
 *
 *   shoal-dskeep [-l LOG] [-m LOG_MAX_BYTES] [-k LOG_KEEP] [-g GRACE_MS]
 *                [-C CWD] [-p PARENT_PID] -- PROGRAM [ARG...]
 *
 * Inherits fd 3 (its control socket to the agent) and fd 4 (the DS's
 * protocol socket, which the DS gets as fd 3 with SHOAL_DS_FD=3). It makes
 * itself a child subreaper and dies with its parent (PR_SET_PDEATHSIG, and
 * EOF on fd 3), starts PROGRAM in a process group of its own with stdin
 * from /dev/null and stdout/stderr into LOG (rotated at LOG_MAX_BYTES:
 * LOG.1 .. LOG.LOG_KEEP), and reaps every descendant: a helper that
 * leaves the group or calls setsid is reparented to the keeper and still
 * found. It writes "PID <pid>\n" once the DS runs and "EXIT <code>\n" or
 * "SIGNAL <sig>\n" when the DS's main process ends. Then, or on SIGTERM or
 * its parent's death, it sends SIGTERM to the DS group and to every
 * remaining descendant, SIGKILL after GRACE_MS, and exits once it has no
 * child left: its exit (EOF on fd 3) means the whole tree is gone.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CTL_FD 3
#define DS_FD 4
#define MAX_DESC 4096

static const char *log_path;
static long log_max = 1 << 20;
static int log_keep = 2;
static long grace_ms = 2000;
static int log_fd = -1;
static long log_size;

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void ctl_line(const char *fmt, long v) {
  char buf[64];
  int n = snprintf(buf, sizeof(buf), fmt, v);
  if (write(CTL_FD, buf, (size_t)n) < 0) { /* the agent is gone: we are ending anyway */
  }
}

static void log_open(void) {
  if (log_path == NULL) return;
  log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  struct stat st;
  log_size = (log_fd >= 0 && fstat(log_fd, &st) == 0) ? st.st_size : 0;
}

/* LOG -> LOG.1 -> ... -> LOG.keep (the oldest dropped), a fresh LOG. */
static void log_rotate(void) {
  close(log_fd);
  char from[4096], to[4096];
  for (int i = log_keep; i >= 1; i--) {
    if (i == 1) snprintf(from, sizeof(from), "%s", log_path);
    else snprintf(from, sizeof(from), "%s.%d", log_path, i - 1);
    snprintf(to, sizeof(to), "%s.%d", log_path, i);
    rename(from, to);
  }
  if (log_keep == 0) unlink(log_path);
  log_open();
}

static void log_write(const char *p, ssize_t n) {
  if (log_fd < 0) return;
  if (write(log_fd, p, (size_t)n) > 0) log_size += n;
  if (log_size >= log_max) log_rotate();
}

/* The parent pid of pid from /proc/PID/stat, or -1. */
static int ppid_of(int pid) {
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  int ppid = -1;
  if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1) return -1;
  return ppid;
}

/* Sends sig to the DS group and to every descendant of this process
 * (found in /proc by their parent chain); returns how many it found. */
static int signal_tree(int pgid, int sig) {
  if (pgid > 0) kill(-pgid, sig);
  static int pids[MAX_DESC], ppids[MAX_DESC];
  int n = 0;
  DIR *d = opendir("/proc");
  if (d == NULL) return 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < MAX_DESC) {
    int pid = atoi(e->d_name);
    if (pid <= 0) continue;
    int pp = ppid_of(pid);
    if (pp > 0) {
      pids[n] = pid;
      ppids[n] = pp;
      n++;
    }
  }
  closedir(d);
  static char mine[MAX_DESC];
  memset(mine, 0, (size_t)n);
  int self = getpid(), found = 0, changed = 1;
  while (changed) { /* bounded: each pass marks at least one more, at most n passes */
    changed = 0;
    for (int i = 0; i < n; i++) {
      if (mine[i]) continue;
      int ok = ppids[i] == self;
      for (int j = 0; !ok && j < n; j++) ok = mine[j] && pids[j] == ppids[i];
      if (ok) {
        mine[i] = 1;
        changed = 1;
        found++;
        kill(pids[i], sig);
      }
    }
  }
  return found;
}

static void usage(void) {
  fprintf(stderr,
          "usage: shoal-dskeep [-l LOG] [-m LOG_MAX_BYTES] [-k LOG_KEEP] [-g GRACE_MS] [-C CWD] [-p PARENT_PID] "
          "-- PROGRAM [ARG...]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *cwd = NULL;
  long parent = 0;
  int opt;
  while ((opt = getopt(argc, argv, "+l:m:k:g:C:p:")) != -1) {
    switch (opt) {
      case 'l': log_path = optarg; break;
      case 'm': log_max = atol(optarg); break;
      case 'k': log_keep = atoi(optarg); break;
      case 'g': grace_ms = atol(optarg); break;
      case 'C': cwd = optarg; break;
      case 'p': parent = atol(optarg); break;
      default: usage();
    }
  }
  if (optind >= argc || log_max < 1024 || log_keep < 0 || log_keep > 99 || grace_ms < 0) usage();
  if (fcntl(CTL_FD, F_GETFD) < 0 || fcntl(DS_FD, F_GETFD) < 0) {
    fprintf(stderr, "shoal-dskeep: fds 3 (control) and 4 (the DS socket) must be open\n");
    return 2;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (parent > 0 && getppid() != parent) return 3; /* the agent died before the death signal was set */
  syscall(SYS_close_range, DS_FD + 1, ~0U, 0);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  int out[2];
  if (sfd < 0 || pipe2(out, O_CLOEXEC) != 0) return 4;
  log_open();

  pid_t ds = fork();
  if (ds < 0) return 4;
  if (ds == 0) {
    setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int nul = open("/dev/null", O_RDONLY);
    dup2(nul, 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    dup2(DS_FD, CTL_FD); /* the DS's protocol socket becomes its fd 3 */
    syscall(SYS_close_range, DS_FD, ~0U, 0);
    setenv("SHOAL_DS_FD", "3", 1);
    if (cwd && chdir(cwd) != 0) {
      fprintf(stderr, "shoal-dskeep: chdir %s: %s\n", cwd, strerror(errno));
      _exit(126);
    }
    execv(argv[optind], argv + optind);
    fprintf(stderr, "shoal-dskeep: exec %s: %s\n", argv[optind], strerror(errno));
    _exit(127);
  }
  setpgid(ds, ds);
  close(out[1]);
  close(DS_FD);
  ctl_line("PID %ld\n", ds);

  int ds_alive = 1, ending = 0, out_open = 1, ctl_open = 1;
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  long kill_at = 0;
  for (;;) {
    /* reap everything that ended */
    for (;;) {
      int st;
      pid_t p = waitpid(-1, &st, WNOHANG);
      if (p <= 0) {
        if (p < 0 && errno == ECHILD && !ds_alive) { /* the whole tree is gone */
          char b[16384];
          ssize_t n;
          while (out_open && (n = read(out[0], b, sizeof(b))) > 0) log_write(b, n);
          return 0;
        }
        break;
      }
      if (p == ds) {
        ds_alive = 0;
        if (WIFEXITED(st)) ctl_line("EXIT %ld\n", WEXITSTATUS(st));
        else ctl_line("SIGNAL %ld\n", WTERMSIG(st));
      }
    }
    if (!ds_alive && !ending) { /* the DS ended: its leftovers go too */
      ending = 1;
      kill_at = now_ms() + grace_ms;
      signal_tree(ds, SIGTERM);
    }
    long wait_ms = -1;
    if (ending) {
      long left = kill_at - now_ms();
      if (left <= 0) {
        signal_tree(ds, SIGKILL);
        wait_ms = 50; /* again until every child is reaped */
      } else {
        wait_ms = left;
      }
    }
    struct pollfd pf[3] = {{sfd, POLLIN, 0}, {ctl_open ? CTL_FD : -1, POLLIN, 0}, {out_open ? out[0] : -1, POLLIN, 0}};
    int r = poll(pf, 3, (int)wait_ms);
    if (r < 0 && errno != EINTR) return 5;
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo != SIGCHLD && !ending) {
          ending = 1;
          kill_at = now_ms() + grace_ms;
          signal_tree(ds, SIGTERM);
        }
      }
    }
    if (pf[1].revents) { /* the agent writes nothing: EOF or an error means it is gone */
      char b[256];
      ssize_t n = read(CTL_FD, b, sizeof(b));
      if (n <= 0 && !(n < 0 && errno == EINTR)) {
        if (!ending) {
          ending = 1;
          kill_at = now_ms() + grace_ms;
          signal_tree(ds, SIGTERM);
        }
        ctl_open = 0; /* fd 3 stays open (writes fail quietly) */
      }
    }
    if (out_open && pf[2].revents) {
      char b[16384];
      ssize_t n = read(out[0], b, sizeof(b));
      if (n > 0) log_write(b, n);
      else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        out_open = 0;
        close(out[0]);
      }
    }
  }
}
