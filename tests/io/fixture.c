/* tests/io/fixture.c - real servers on loopback for the io/ tests; see
 * fixture.h.  Plain C (fork/exec/waitpid), no Criterion, no spindle. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fixture.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FX_NGINX "/usr/sbin/nginx"
#define FX_DNSMASQ "/usr/sbin/dnsmasq"
#define FX_IP "127.0.0.1"
#define FX_MAX_SERVERS 64
#define FX_START_TIMEOUT_MS 10000 /* per start, over all its port retries */
#define FX_STOP_TIMEOUT_MS 5000   /* SIGTERM to SIGKILL */
#define FX_PORT_ATTEMPTS 8        /* fresh ports tried when one is taken */
#define FX_TAIL_BYTES 3000        /* of a log, printed on failure */
#define FX_DIR_MAX 400            /* a server's directory path, with its NUL */

/* One started server, as this process's registry knows it: a copy, so the
 * caller's fx_server may go out of scope before fx_stop_all runs. */
typedef struct fx_entry {
  int used;
  pid_t owner; /* getpid() of the process that started it */
  pid_t pid;   /* 0: none */
  int fd;      /* -1: none */
} fx_entry;

static pthread_mutex_t fx_mu = PTHREAD_MUTEX_INITIALIZER;
static fx_entry fx_servers[FX_MAX_SERVERS];
static char fx_dir[FX_DIR_MAX];
static pid_t fx_dir_owner;
static int fx_lock_fd = -1; /* fx_dir/.lock, flock()ed */
static unsigned fx_seq;
static int fx_atexit_done;

static void fx_err(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fx_err(const char *what, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "fixture: %s: %s\n", what, msg);
}

static int64_t fx_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fx_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Prints the last FX_TAIL_BYTES of the file at path to stderr. */
static void fx_print_tail(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "fixture: (no log %s: %s)\n", path, strerror(errno));
    return;
  }
  struct stat st;
  char buf[FX_TAIL_BYTES + 1];
  ssize_t n = 0;
  if (fstat(fd, &st) == 0) {
    off_t from = st.st_size > FX_TAIL_BYTES ? st.st_size - FX_TAIL_BYTES : 0;
    n = pread(fd, buf, FX_TAIL_BYTES, from);
  }
  close(fd);
  if (n <= 0) {
    fprintf(stderr, "fixture: (log %s is empty)\n", path);
    return;
  }
  buf[n] = '\0';
  fprintf(stderr, "fixture: ---- tail of %s ----\n%s%s", path, buf, buf[n - 1] == '\n' ? "" : "\n");
  fprintf(stderr, "fixture: ---- end of %s ----\n", path);
}

/* Whether the file at path contains needle (in its first 1 MiB). */
static int fx_file_contains(const char *path, const char *needle) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  static const size_t cap = 1 << 20;
  char *buf = malloc(cap + 1);
  ssize_t n = buf ? pread(fd, buf, cap, 0) : -1;
  close(fd);
  int found = 0;
  if (n > 0) {
    buf[n] = '\0';
    found = strstr(buf, needle) != NULL;
  }
  free(buf);
  return found;
}

/* ---- temp directory ---------------------------------------------------- */

static int fx_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  if (remove(path) != 0 && errno != ENOENT) fprintf(stderr, "fixture: cannot remove %s: %s\n", path, strerror(errno));
  return 0;
}

/* Temp directories of processes that ended without fx_stop_all (killed at
 * a timeout, crashed, or left through _exit as tests/tsan/runner.c does):
 * each holds a file .lock that its process keeps flock()ed while it lives.
 * A directory of ours (same user) whose lock is free and older than
 * FX_STALE_S is removed.  The lock, not the pid in the name, tells whether
 * its owner lives: pids are reused, and may belong to another pid
 * namespace.  Directories without a .lock are left alone. */
#ifndef FX_STALE_S
#define FX_STALE_S 30
#endif

static void fx_sweep_stale(const char *base) {
  DIR *d = opendir(base);
  if (d == NULL) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strncmp(e->d_name, "spindle-fx-", 11) != 0) continue;
    char path[FX_DIR_MAX], lock[FX_DIR_MAX + 8];
    if (snprintf(path, sizeof path, "%s/%s", base, e->d_name) >= (int)sizeof path) continue;
    if (strcmp(path, fx_dir) == 0) continue;
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) continue;
    snprintf(lock, sizeof lock, "%s/.lock", path);
    int fd = open(lock, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    if (fstat(fd, &st) == 0 && st.st_mtime + FX_STALE_S < time(NULL) && flock(fd, LOCK_EX | LOCK_NB) == 0)
      nftw(path, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    close(fd);
  }
  closedir(d);
}

/* With fx_mu held. */
static const char *fx_tmpdir_locked(void) {
  if (fx_dir[0] != '\0' && fx_dir_owner == getpid()) return fx_dir;
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  char tmpl[sizeof fx_dir];
  int n = snprintf(tmpl, sizeof tmpl, "%s/spindle-fx-%ld-XXXXXX", base, (long)getpid());
  if (n < 0 || (size_t)n + 8 >= sizeof tmpl) {
    fx_err("tmpdir", "TMPDIR is too long: %s", base);
    return NULL;
  }
  if (mkdtemp(tmpl) == NULL) {
    fx_err("tmpdir", "mkdtemp %s: %s", tmpl, strerror(errno));
    return NULL;
  }
  memcpy(fx_dir, tmpl, sizeof fx_dir);
  fx_dir_owner = getpid();
  /* held until fx_stop_all, or until this process ends; a forked child
   * shares it (and its parent's, inherited: fine, it only delays sweeps) */
  char lock[sizeof fx_dir + 8];
  snprintf(lock, sizeof lock, "%s/.lock", fx_dir);
  fx_lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fx_lock_fd >= 0 && flock(fx_lock_fd, LOCK_EX | LOCK_NB) != 0) {
    close(fx_lock_fd);
    fx_lock_fd = -1;
  }
  if (!fx_atexit_done) { /* a forked child inherits the registration */
    if (atexit(fx_stop_all) == 0) fx_atexit_done = 1;
  }
  fx_sweep_stale(base);
  return fx_dir;
}

const char *fx_tmpdir(void) {
  pthread_mutex_lock(&fx_mu);
  const char *d = fx_tmpdir_locked();
  pthread_mutex_unlock(&fx_mu);
  return d;
}

/* Creates a fresh directory <tmpdir>/<kind>-<seq> into dir. */
static int fx_server_dir(char dir[FX_DIR_MAX], const char *kind) {
  pthread_mutex_lock(&fx_mu);
  const char *tmp = fx_tmpdir_locked();
  unsigned seq = ++fx_seq;
  int n = tmp ? snprintf(dir, FX_DIR_MAX, "%.300s/%.20s-%u", tmp, kind, seq) : -1;
  pthread_mutex_unlock(&fx_mu);
  if (n < 0 || (size_t)n >= FX_DIR_MAX || strlen(tmp) > 300) {
    if (tmp) fx_err(kind, "temp directory path too long");
    return -1;
  }
  if (mkdir(dir, 0755) != 0) {
    fx_err(kind, "mkdir %s: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

static int fx_mkdirs(const char *path, mode_t mode) {
  char buf[4096];
  size_t len = strlen(path);
  if (len == 0 || len >= sizeof buf) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1; *p != '\0'; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
  return 0;
}

int fx_write_file(const char *path, const void *data, size_t len) {
  if (path == NULL || (data == NULL && len > 0)) {
    fx_err("write_file", "NULL argument");
    return -1;
  }
  char parent[4096];
  size_t plen = strlen(path);
  if (plen >= sizeof parent) {
    fx_err("write_file", "path too long: %s", path);
    return -1;
  }
  memcpy(parent, path, plen + 1);
  char *slash = strrchr(parent, '/');
  if (slash != NULL && slash != parent) {
    *slash = '\0';
    if (fx_mkdirs(parent, 0755) != 0) {
      fx_err("write_file", "mkdir -p %s: %s", parent, strerror(errno));
      return -1;
    }
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    fx_err("write_file", "open %s: %s", path, strerror(errno));
    return -1;
  }
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      fx_err("write_file", "write %s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  if (close(fd) != 0) {
    fx_err("write_file", "close %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- registry, processes ------------------------------------------------ */

static void fx_register(pid_t pid, int fd) {
  pthread_mutex_lock(&fx_mu);
  int slot = -1;
  for (int i = 0; i < FX_MAX_SERVERS; i++) {
    if (!fx_servers[i].used) {
      slot = i;
      break;
    }
    /* entries a forked child inherited from its parent: not ours, and the
     * parent's to stop; reuse the slot */
    if (fx_servers[i].owner != getpid()) {
      slot = i;
      break;
    }
  }
  if (slot >= 0) fx_servers[slot] = (fx_entry){1, getpid(), pid, fd};
  pthread_mutex_unlock(&fx_mu);
  if (slot < 0)
    fprintf(stderr, "fixture: more than %d servers at once: pid %ld, fd %d not stopped at exit\n", FX_MAX_SERVERS,
            (long)pid, fd);
}

/* Removes the entry for pid (pid > 0) or fd from the registry; returns
 * whether it was there (and this process's). */
static int fx_unregister(pid_t pid, int fd) {
  int found = 0;
  pthread_mutex_lock(&fx_mu);
  for (int i = 0; i < FX_MAX_SERVERS; i++) {
    fx_entry *e = &fx_servers[i];
    if (!e->used || e->owner != getpid()) continue;
    if ((pid > 0 && e->pid == pid) || (pid <= 0 && fd >= 0 && e->pid == 0 && e->fd == fd)) {
      e->used = 0;
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&fx_mu);
  return found;
}

/* SIGTERM, up to FX_STOP_TIMEOUT_MS, SIGKILL; reaps.  Returns the wait
 * status, or -1 if the process was reaped elsewhere. */
static int fx_kill_wait(pid_t pid) {
  int status = 0;
  pid_t r = waitpid(pid, &status, WNOHANG);
  if (r == pid) return status;
  if (r < 0) return -1;
  kill(pid, SIGTERM);
  int64_t deadline = fx_now_ms() + FX_STOP_TIMEOUT_MS;
  int delay = 1;
  while (fx_now_ms() < deadline) {
    r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    fx_sleep_ms(delay);
    if (delay < 20) delay *= 2;
  }
  fprintf(stderr, "fixture: pid %ld ignored SIGTERM for %d ms: SIGKILL\n", (long)pid, FX_STOP_TIMEOUT_MS);
  kill(pid, SIGKILL);
  while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  return r == pid ? status : -1;
}

static void fx_stop_entry(pid_t pid, int fd) {
  if (pid > 0) fx_kill_wait(pid);
  if (fd >= 0) close(fd);
}

void fx_stop(fx_server *s) {
  if (s == NULL) return;
  if ((s->pid > 0 || s->fd >= 0) && fx_unregister(s->pid, s->fd)) fx_stop_entry(s->pid, s->pid > 0 ? -1 : s->fd);
  s->pid = 0;
  s->fd = -1;
}

void fx_stop_all(void) {
  fx_entry mine[FX_MAX_SERVERS];
  int n = 0;
  char dir[sizeof fx_dir] = "";
  pthread_mutex_lock(&fx_mu);
  for (int i = 0; i < FX_MAX_SERVERS; i++) {
    if (fx_servers[i].used && fx_servers[i].owner == getpid()) {
      mine[n++] = fx_servers[i];
      fx_servers[i].used = 0;
    }
  }
  int lock_fd = -1;
  if (fx_dir[0] != '\0' && fx_dir_owner == getpid()) {
    memcpy(dir, fx_dir, sizeof dir);
    fx_dir[0] = '\0';
    lock_fd = fx_lock_fd;
    fx_lock_fd = -1;
  }
  pthread_mutex_unlock(&fx_mu);
  /* SIGTERM all first, so they shut down in parallel */
  for (int i = 0; i < n; i++)
    if (mine[i].pid > 0) kill(mine[i].pid, SIGTERM);
  for (int i = 0; i < n; i++) fx_stop_entry(mine[i].pid, mine[i].fd);
  if (dir[0] != '\0') nftw(dir, fx_rm_one, 16, FTW_DEPTH | FTW_PHYS);
  if (lock_fd >= 0) close(lock_fd);
}

/* Forks and execs argv[0] with stdin /dev/null, stdout stdout_fd (-1: the
 * log) and stderr appended to log, in a clean signal state and without the
 * parent's other descriptors.  Registers the child; returns its pid or -1. */
static pid_t fx_spawn(const char *what, char *const argv[], int stdout_fd, const char *log) {
  int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) {
    fx_err(what, "open %s: %s", log, strerror(errno));
    return -1;
  }
  int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nullfd < 0) {
    fx_err(what, "open /dev/null: %s", strerror(errno));
    close(logfd);
    return -1;
  }
  /* Only on the main thread: PDEATHSIG fires when the forking *thread*
   * exits, and the main thread lives as long as the process. */
  int pdeath = syscall(SYS_gettid) == getpid();
  pid_t parent = getpid();
  long maxfd = sysconf(_SC_OPEN_MAX);
  if (maxfd < 0 || maxfd > 65536) maxfd = 65536;
  struct rlimit rl;
  int raise_nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max;
  rl.rlim_cur = rl.rlim_max;

  pid_t pid = fork();
  if (pid < 0) {
    fx_err(what, "fork: %s", strerror(errno));
    close(logfd);
    close(nullfd);
    return -1;
  }
  if (pid == 0) { /* child: async-signal-safe calls only */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &dfl, NULL); /* SIGKILL etc. just fail */
    if (pdeath) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
    }
    if (raise_nofile) setrlimit(RLIMIT_NOFILE, &rl);
    if (dup2(nullfd, 0) < 0 || dup2(stdout_fd >= 0 ? stdout_fd : logfd, 1) < 0 || dup2(logfd, 2) < 0) _exit(127);
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
#endif
      for (long fd = 3; fd < maxfd; fd++) close((int)fd);
    execv(argv[0], argv);
    static const char msg[] = "fixture: exec failed\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(127);
  }
  close(logfd);
  close(nullfd);
  fx_register(pid, -1);
  return pid;
}

/* Stops and unregisters a child that a start gave up on. */
static void fx_abandon(pid_t pid) {
  if (pid > 0 && fx_unregister(pid, -1)) fx_kill_wait(pid);
}

/* Whether pid has exited (and is reaped now); *status gets its status. */
static int fx_exited(pid_t pid, int *status) {
  pid_t r = waitpid(pid, status, WNOHANG);
  if (r == pid) {
    fx_unregister(pid, -1);
    return 1;
  }
  if (r < 0 && errno == ECHILD) {
    *status = 0;
    fx_unregister(pid, -1);
    return 1;
  }
  return 0;
}

static void fx_describe_exit(const char *what, int status) {
  if (WIFEXITED(status))
    fx_err(what, "exited with status %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    fx_err(what, "killed by signal %d", WTERMSIG(status));
}

/* A port that is free on 127.0.0.1 for TCP (and for UDP too if udp_too)
 * right now, or -1. */
static int fx_free_port(int udp_too) {
  for (int attempt = 0; attempt < 50; attempt++) {
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, FX_IP, &sa.sin_addr);
    socklen_t len = sizeof sa;
    if (bind(t, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(t, (struct sockaddr *)&sa, &len) != 0) {
      close(t);
      return -1;
    }
    int port = ntohs(sa.sin_port);
    int ok = 1;
    if (udp_too) {
      int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      ok = u >= 0 && bind(u, (struct sockaddr *)&sa, sizeof sa) == 0;
      if (u >= 0) close(u);
    }
    close(t);
    if (ok) return port;
  }
  return -1;
}

static void fx_init_out(fx_server *out) {
  memset(out, 0, sizeof *out);
  out->fd = -1;
  snprintf(out->ip, sizeof out->ip, "%s", FX_IP);
}

char *fx_url(char *buf, size_t n, const fx_server *s, const char *path) {
  if (n == 0) return buf;
  snprintf(buf, n, "http://%s:%d%s", s->ip[0] ? s->ip : FX_IP, s->port, path ? path : "");
  return buf;
}

/* ---- nginx ---------------------------------------------------------------- */

/* GETs /.fx-ready over HTTP/1.0; whether the answer carries token. */
static int fx_http_probe(int port, const char *token) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct timeval tv = {0, 500000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, FX_IP, &sa.sin_addr);
  int ok = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
    static const char req[] = "GET /.fx-ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1)) {
      char buf[2048];
      size_t got = 0;
      ssize_t r;
      while (got < sizeof buf - 1 && (r = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0) got += (size_t)r;
      buf[got] = '\0';
      ok = strncmp(buf, "HTTP/1.1 200", 12) == 0 && strstr(buf, token) != NULL;
    }
  }
  close(fd);
  return ok;
}

static int fx_nginx_conf(const char *path, const char *dir, const char *docroot, int port, const char *token,
                         const char *extra) {
  FILE *f = fopen(path, "we");
  if (f == NULL) {
    fx_err("nginx", "fopen %s: %s", path, strerror(errno));
    return -1;
  }
  fprintf(f,
          "# written by tests/io/fixture.c\n"
          "daemon off;\n"
          "master_process off;\n"
          "worker_processes 1;\n"
          "%s"
          "pid %s/nginx.pid;\n"
          "error_log %s/error.log notice;\n"
          "events {\n"
          "  worker_connections 4096;\n"
          "}\n"
          "http {\n"
          "  access_log %s/access.log;\n"
          "  client_body_temp_path %s/tmp/body;\n"
          "  proxy_temp_path %s/tmp/proxy;\n"
          "  fastcgi_temp_path %s/tmp/fastcgi;\n"
          "  uwsgi_temp_path %s/tmp/uwsgi;\n"
          "  scgi_temp_path %s/tmp/scgi;\n"
          "  types {\n"
          "    text/html html htm;\n"
          "    text/plain txt;\n"
          "    application/json json;\n"
          "  }\n"
          "  default_type application/octet-stream;\n"
          "  sendfile on;\n"
          "  keepalive_requests 100000;\n"
          "  keepalive_timeout 75s;\n"
          "  gzip on;\n"
          "  gzip_types text/plain application/json; # text/html: always\n"
          "  gzip_min_length 0;\n"
          "  server {\n"
          "    listen %s:%d backlog=4096;\n"
          "    server_name localhost;\n"
          "    root %s;\n"
          "    location = /.fx-ready {\n"
          "      access_log off;\n"
          "      default_type text/plain;\n"
          "      return 200 \"%s\\n\";\n"
          "    }\n"
          "    # extra_conf:\n"
          "%s\n"
          "  }\n"
          "}\n",
          geteuid() == 0 ? "user root root;\n" : "", dir, dir, dir, dir, dir, dir, dir, dir, FX_IP, port, docroot,
          token, extra ? extra : "");
  if (fclose(f) != 0) {
    fx_err("nginx", "write %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

int fx_nginx_start(fx_server *out, const char *docroot, const char *extra_conf) {
  fx_init_out(out);
  if (access(FX_NGINX, X_OK) != 0) {
    fx_err("nginx", "%s not found (%s): run tools/setup.sh (Debian package nginx)", FX_NGINX, strerror(errno));
    return -1;
  }
  char dir[FX_DIR_MAX], conf[FX_DIR_MAX + 32], tmp[FX_DIR_MAX + 32], html[FX_DIR_MAX + 32];
  if (fx_server_dir(dir, "nginx") != 0) return -1;
  snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
  snprintf(out->log, sizeof out->log, "%s/error.log", dir);
  snprintf(tmp, sizeof tmp, "%s/tmp", dir);
  if (mkdir(tmp, 0755) != 0) {
    fx_err("nginx", "mkdir %s: %s", tmp, strerror(errno));
    return -1;
  }
  if (docroot == NULL) {
    snprintf(html, sizeof html, "%s/html", dir);
    if (mkdir(html, 0755) != 0) {
      fx_err("nginx", "mkdir %s: %s", html, strerror(errno));
      return -1;
    }
    docroot = html;
  }
  char prefix[FX_DIR_MAX + 2];
  snprintf(prefix, sizeof prefix, "%s/", dir);
  char *argv[] = {FX_NGINX, "-p", prefix, "-c", conf, "-e", out->log, NULL};
  int64_t deadline = fx_now_ms() + FX_START_TIMEOUT_MS;

  for (int attempt = 1; attempt <= FX_PORT_ATTEMPTS; attempt++) {
    int port = fx_free_port(0);
    if (port < 0) {
      fx_err("nginx", "no free port on %s: %s", FX_IP, strerror(errno));
      return -1;
    }
    char token[96];
    snprintf(token, sizeof token, "fx-ready-%ld-%d-%lld", (long)getpid(), port, (long long)fx_now_ms());
    if (fx_nginx_conf(conf, dir, docroot, port, token, extra_conf) != 0) return -1;
    unlink(out->log); /* so "Address already in use" means this attempt */
    pid_t pid = fx_spawn("nginx", argv, -1, out->log);
    if (pid < 0) return -1;
    int status = 0, retry = 0;
    for (;;) {
      if (fx_http_probe(port, token)) {
        out->pid = pid;
        out->port = port;
        snprintf(out->dir, sizeof out->dir, "%s", dir);
        return 0;
      }
      if (fx_exited(pid, &status)) {
        if (fx_file_contains(out->log, "Address already in use")) {
          retry = 1;
          break;
        }
        fx_err("nginx", "failed to start (%s %s %s %s %s %s %s)", argv[0], argv[1], argv[2], argv[3], argv[4],
               argv[5], argv[6]);
        fx_describe_exit("nginx", status);
        fx_print_tail(conf);
        fx_print_tail(out->log);
        return -1;
      }
      if (fx_file_contains(out->log, "Address already in use")) { /* nginx would retry it for 2.5 s */
        fx_abandon(pid);
        retry = 1;
        break;
      }
      if (fx_now_ms() >= deadline) {
        fx_err("nginx", "no answer on %s:%d within %d ms", FX_IP, port, FX_START_TIMEOUT_MS);
        fx_abandon(pid);
        fx_print_tail(out->log);
        return -1;
      }
      fx_sleep_ms(10);
    }
    if (retry) fprintf(stderr, "fixture: nginx: port %d taken meanwhile, trying another\n", port);
  }
  fx_err("nginx", "every port taken after %d attempts", FX_PORT_ATTEMPTS);
  fx_print_tail(out->log);
  return -1;
}

/* ---- dnsmasq ------------------------------------------------------------- */

/* Sends an A query for fx-ready.test to port and waits up to wait_ms for
 * an answer with the same id; whether one came. */
static int fx_dns_probe(int port, int wait_ms) {
  static const unsigned char name[] = "\x08"
                                      "fx-ready"
                                      "\x04"
                                      "test";
  unsigned char q[64];
  uint16_t id = (uint16_t)(getpid() ^ (fx_now_ms() & 0xffff));
  size_t n = 0;
  q[n++] = (unsigned char)(id >> 8);
  q[n++] = (unsigned char)id;
  q[n++] = 0x01; /* RD */
  q[n++] = 0x00;
  q[n++] = 0; /* QDCOUNT 1 */
  q[n++] = 1;
  memset(q + n, 0, 6); /* ANCOUNT, NSCOUNT, ARCOUNT */
  n += 6;
  memcpy(q + n, name, sizeof name); /* with the root label's 0 */
  n += sizeof name;
  q[n++] = 0; /* QTYPE A */
  q[n++] = 1;
  q[n++] = 0; /* QCLASS IN */
  q[n++] = 1;

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, FX_IP, &sa.sin_addr);
  int ok = 0;
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && send(fd, q, n, 0) == (ssize_t)n) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, wait_ms) == 1) {
      unsigned char r[512];
      ssize_t got = recv(fd, r, sizeof r, 0); /* ECONNREFUSED: not bound yet */
      ok = got >= 12 && r[0] == q[0] && r[1] == q[1] && (r[2] & 0x80) != 0;
    }
  }
  close(fd);
  return ok;
}

int fx_dnsmasq_start(fx_server *out, const char *const *records) {
  fx_init_out(out);
  if (access(FX_DNSMASQ, X_OK) != 0) {
    fx_err("dnsmasq", "%s not found (%s): run tools/setup.sh (Debian package dnsmasq-base)", FX_DNSMASQ,
           strerror(errno));
    return -1;
  }
  char dir[FX_DIR_MAX];
  if (fx_server_dir(dir, "dnsmasq") != 0) return -1;
  snprintf(out->log, sizeof out->log, "%s/dnsmasq.log", dir);

  size_t nrec = 0;
  while (records != NULL && records[nrec] != NULL) nrec++;
  enum { FIXED = 16 };
  char **argv = calloc(FIXED + nrec + 1, sizeof *argv);
  char **recargs = calloc(nrec + 1, sizeof *recargs);
  char portarg[32], logarg[sizeof out->log + 32];
  int rc = -1;
  if (argv == NULL || recargs == NULL) {
    fx_err("dnsmasq", "out of memory");
    goto done;
  }
  for (size_t i = 0; i < nrec; i++) {
    size_t len = strlen(records[i]) + 3;
    if ((recargs[i] = malloc(len)) == NULL) {
      fx_err("dnsmasq", "out of memory");
      goto done;
    }
    snprintf(recargs[i], len, "--%s", records[i]);
  }
  snprintf(logarg, sizeof logarg, "--log-facility=%s", out->log);
  size_t a = 0;
  argv[a++] = FX_DNSMASQ;
  argv[a++] = "--keep-in-foreground"; /* our child; -d would also change how TCP is served */
  argv[a++] = "--conf-file=/dev/null"; /* not /etc/dnsmasq.conf */
  argv[a++] = "--no-resolv";           /* no upstream servers from /etc/resolv.conf */
  argv[a++] = "--no-hosts";            /* nor names from /etc/hosts */
  argv[a++] = "--local=/#/";           /* every name no record answers: NXDOMAIN */
  argv[a++] = "--bind-interfaces";     /* bind 127.0.0.1:PORT only, not the wildcard */
  argv[a++] = "--listen-address=" FX_IP;
  argv[a++] = portarg;
  argv[a++] = "--pid-file="; /* none (default: /run/dnsmasq/dnsmasq.pid) */
  argv[a++] = logarg;
  argv[a++] = "--log-queries";
  /* As root, dnsmasq switches to user nobody and group dip after binding.
   * Keep root and its group: it can still reach its files in the mode-0700
   * temp dir, and its credentials do not change, which would clear the
   * PR_SET_PDEATHSIG that fx_spawn sets. */
  if (geteuid() == 0) {
    argv[a++] = "--user=root";
    argv[a++] = "--group=root";
  }
  for (size_t i = 0; i < nrec; i++) argv[a++] = recargs[i];
  argv[a] = NULL;

  int64_t deadline = fx_now_ms() + FX_START_TIMEOUT_MS;
  for (int attempt = 1; attempt <= FX_PORT_ATTEMPTS; attempt++) {
    int port = fx_free_port(1);
    if (port < 0) {
      fx_err("dnsmasq", "no free port on %s: %s", FX_IP, strerror(errno));
      goto done;
    }
    snprintf(portarg, sizeof portarg, "--port=%d", port);
    unlink(out->log);
    pid_t pid = fx_spawn("dnsmasq", argv, -1, out->log);
    if (pid < 0) goto done;
    int status = 0, retry = 0;
    for (;;) {
      if (fx_dns_probe(port, 50)) {
        out->pid = pid;
        out->port = port;
        snprintf(out->dir, sizeof out->dir, "%s", dir);
        rc = 0;
        goto done;
      }
      if (fx_exited(pid, &status)) {
        if (fx_file_contains(out->log, "Address already in use")) {
          retry = 1;
          break;
        }
        fx_err("dnsmasq", "failed to start: %s ... %s", argv[0], portarg);
        fx_describe_exit("dnsmasq", status);
        fx_print_tail(out->log);
        goto done;
      }
      if (fx_now_ms() >= deadline) {
        fx_err("dnsmasq", "no answer on %s:%d within %d ms", FX_IP, port, FX_START_TIMEOUT_MS);
        fx_abandon(pid);
        fx_print_tail(out->log);
        goto done;
      }
      fx_sleep_ms(10);
    }
    if (retry) fprintf(stderr, "fixture: dnsmasq: port %d taken meanwhile, trying another\n", port);
  }
  fx_err("dnsmasq", "every port taken after %d attempts", FX_PORT_ATTEMPTS);
  fx_print_tail(out->log);
done:
  if (recargs != NULL)
    for (size_t i = 0; i < nrec; i++) free(recargs[i]);
  free(recargs);
  free(argv);
  return rc;
}

/* ---- dead UDP port ------------------------------------------------------- */

int fx_dead_udp_port(fx_server *out) {
  fx_init_out(out);
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fx_err("dead_udp_port", "socket: %s", strerror(errno));
    return -1;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
  inet_pton(AF_INET, FX_IP, &sa.sin_addr);
  socklen_t len = sizeof sa;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
    fx_err("dead_udp_port", "bind %s:0: %s", FX_IP, strerror(errno));
    close(fd);
    return -1;
  }
  /* Make sure the registry (and so atexit) knows it before handing it out. */
  pthread_mutex_lock(&fx_mu);
  const char *tmp = fx_tmpdir_locked(); /* registers fx_stop_all */
  pthread_mutex_unlock(&fx_mu);
  (void)tmp;
  fx_register(0, fd);
  out->fd = fd;
  out->port = ntohs(sa.sin_port);
  return 0;
}

/* ---- fault server ------------------------------------------------------ */

/* Runs $SPINDLE_BIN_DIR/fault-server --port 0 plus extra (NULL-terminated)
 * and waits for its "port=N" line. */
static int fx_fault_run(fx_server *out, const char *const *extra) {
  fx_init_out(out);
  const char *bindir = getenv("SPINDLE_BIN_DIR");
  if (bindir == NULL || bindir[0] == '\0') {
    fx_err("fault-server", "SPINDLE_BIN_DIR is not set (ctest sets it to build/bin; "
                           "set it yourself when running a test binary directly)");
    return -1;
  }
  char bin[4096];
  if (snprintf(bin, sizeof bin, "%s/fault-server", bindir) >= (int)sizeof bin) {
    fx_err("fault-server", "SPINDLE_BIN_DIR too long");
    return -1;
  }
  if (access(bin, X_OK) != 0) {
    fx_err("fault-server", "%s: %s (build the fault-server target)", bin, strerror(errno));
    return -1;
  }
  char dir[FX_DIR_MAX];
  if (fx_server_dir(dir, "fault") != 0) return -1;
  snprintf(out->log, sizeof out->log, "%s/fault-server.log", dir);
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    fx_err("fault-server", "pipe: %s", strerror(errno));
    return -1;
  }
  char *argv[8] = {bin, "--port", "0"};
  for (int i = 0; extra && extra[i] && i < 4; i++) argv[3 + i] = (char *)extra[i];
  pid_t pid = fx_spawn("fault-server", argv, pfd[1], out->log);
  close(pfd[1]);
  if (pid < 0) {
    close(pfd[0]);
    return -1;
  }
  char line[128];
  size_t got = 0;
  int port = -1;
  int64_t deadline = fx_now_ms() + FX_START_TIMEOUT_MS;
  for (;;) {
    char *nl = memchr(line, '\n', got);
    if (nl != NULL) {
      *nl = '\0';
      if (sscanf(line, "port=%d", &port) != 1 || port <= 0 || port > 65535) port = -1;
      break;
    }
    int64_t left = deadline - fx_now_ms();
    if (left <= 0 || got >= sizeof line - 1) break;
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    int pr = poll(&p, 1, (int)left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    ssize_t r = read(pfd[0], line + got, sizeof line - 1 - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break; /* it exited (or closed stdout) before printing */
    got += (size_t)r;
  }
  close(pfd[0]);
  if (port < 0) {
    line[got < sizeof line ? got : sizeof line - 1] = '\0';
    fx_err("fault-server", "no \"port=N\" line from %s within %d ms (got \"%s\")", bin, FX_START_TIMEOUT_MS, line);
    int status;
    if (fx_exited(pid, &status))
      fx_describe_exit("fault-server", status);
    else
      fx_abandon(pid);
    fx_print_tail(out->log);
    return -1;
  }
  out->pid = pid;
  out->port = port;
  snprintf(out->dir, sizeof out->dir, "%s", dir);
  return 0;
}

int fx_fault_start(fx_server *out) { return fx_fault_run(out, NULL); }

int fx_dns_rcode_start(fx_server *out, int rcode) {
  char r[16];
  snprintf(r, sizeof r, "%d", rcode);
  const char *extra[] = {"--dns-rcode", r, NULL};
  return fx_fault_run(out, extra);
}

int fx_dns_script_start(fx_server *out, const char *spec) {
  const char *extra[] = {"--dns-script", spec, NULL};
  return fx_fault_run(out, extra);
}
