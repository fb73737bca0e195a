/*
 * echo-server [--port P] [--ip A] [--max-clients N] - sends back every byte
 * it receives, one task per connection.
 *
 * Listens on A:P (default 127.0.0.1:7007; port 0 picks a free one), prints
 * "listening on A:P" and serves until killed.  With --max-clients N > 0 at
 * most N connections are served at once; later ones wait in the listen
 * queue until one ends.  0, the default, sets no limit.
 *
 *   echo-server --port 9000 &
 *   printf 'hello\n' | nc -q1 127.0.0.1 9000
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spindle/spindle.h>

static sp_sem slots; /* free connection slots, when limited */
static int limited;

static void *serve_client(void *arg) {
  int fd = (int)(intptr_t)arg;
  char buf[16384];
  for (;;) {
    ssize_t n = sp_read(fd, buf, sizeof buf, UINT64_MAX);
    if (n <= 0) break; /* end of file, or the connection failed */
    if (sp_write(fd, buf, (size_t)n, UINT64_MAX) < 0) break;
  }
  close(fd);
  if (limited) sp_sem_release(&slots);
  return NULL;
}

/* Out of fds or memory is a passing state: pause and accept again, rather
 * than spin on the same error or give up on the clients already served. */
static int accept_error_is_passing(int err) {
  return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

static void *accept_loop(void *arg) {
  int lfd = (int)(intptr_t)arg;
  for (;;) {
    /* Taking the slot before accepting leaves excess clients in the
     * kernel's listen queue instead of accepting and dropping them. */
    if (limited && sp_sem_acquire(&slots) != 0) return (void *)1;
    int fd = sp_accept(lfd, NULL, NULL, UINT64_MAX);
    if (fd < 0) {
      if (limited) sp_sem_release(&slots);
      if (!accept_error_is_passing(fd)) {
        fprintf(stderr, "echo-server: accept: %s\n", sp_strerror(fd));
        return (void *)1;
      }
      sp_sleep(100000000u);
      continue;
    }
    sp_task *t;
    if (sp_spawn(&t, serve_client, (void *)(intptr_t)fd) != 0) {
      close(fd);
      if (limited) sp_sem_release(&slots);
      continue;
    }
    sp_detach(t);
  }
}

static int usage(const char *why) {
  if (why) fprintf(stderr, "echo-server: %s\n", why);
  fprintf(stderr, "usage: echo-server [--port P] [--ip A] [--max-clients N]\n");
  return 1;
}

/* Parses a decimal in [0, max] into *out.  Returns 0, or -1 if it is not one. */
static int parse_num(const char *s, long max, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > max) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  const char *ip = "127.0.0.1";
  long port = 7007, max_clients = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(NULL);
      return 0;
    }
    if (i + 1 >= argc) return usage("missing value");
    const char *v = argv[++i];
    if (!strcmp(a, "--port")) {
      if (parse_num(v, 65535, &port)) return usage("--port takes 0..65535");
    } else if (!strcmp(a, "--ip")) {
      ip = v;
    } else if (!strcmp(a, "--max-clients")) {
      if (parse_num(v, 1000000, &max_clients)) return usage("--max-clients takes 0..1000000");
    } else {
      return usage("unknown option");
    }
  }

  uint16_t bound = 0;
  int lfd = sp_listen_tcp(ip, (uint16_t)port, 0, &bound);
  if (lfd < 0) {
    fprintf(stderr, "echo-server: cannot listen on %s port %ld: %s\n", ip, port,
            lfd == SP_EINVAL ? "not a literal IPv4 or IPv6 address" : sp_strerror(lfd));
    return 1;
  }
  limited = max_clients > 0;
  sp_sem_init(&slots, max_clients);
  /* IPv6 addresses are bracketed so that the port stays readable. */
  int bracket = strchr(ip, ':') != NULL && ip[0] != '[';
  printf("listening on %s%s%s:%u\n", bracket ? "[" : "", ip, bracket ? "]" : "", bound);
  fflush(stdout);

  void *res = NULL;
  int rc = sp_run(accept_loop, (void *)(intptr_t)lfd, &res);
  close(lfd);
  if (rc != 0) {
    fprintf(stderr, "echo-server: runtime: %s\n", sp_strerror(rc));
    return 1;
  }
  return res == NULL ? 0 : 1;
}
