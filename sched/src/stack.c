/*
 * stack.c - task stacks: pooled slabs with guard regions, and the stack
 * overflow report.
 *
 * A slab is one mmap of many equal slots; a slot is [guard][usable stack].
 * Slots are carved lazily and recycled through per-worker caches and a
 * per-class free list, so attaching a stack costs no system call once the
 * pool is warm.
 *
 * Guards.  One mprotect'ed guard per stack splits the mapping into extra
 * VMAs, and vm.max_map_count (65530 by default) then caps a process at
 * ~32k stacks (libdill#130 and friends).  So, in order of preference:
 *   madvise  - MADV_GUARD_INSTALL (Linux >= 6.13): guard pages that cost no
 *              VMA, probed at start-up;
 *   mprotect - PROT_NONE guards while a budget of VMAs lasts (half of what
 *              vm.max_map_count leaves after a reserve), then
 *   canary   - a pattern at the bottom of the stack, checked every time the
 *              task switches out; catches overflows that reach it, later.
 * SPINDLE_STACK_GUARD=madvise|mprotect|canary forces a mode (for tests).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#ifdef SP_ASAN
#include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; glibc 2.36 headers predate it */
#endif

#define NCLASSES 17                       /* 16 KiB << 0..16 */
#define GUARD_SIZE ((size_t)16 * 1024)    /* catches frames up to 16 KiB past the end */
#define SLAB_BYTES ((size_t)256 << 20)    /* virtual size of a slab */
#define CANARY_WORDS 8
#define CANARY 0x5350494E444C45ull        /* "SPINDLE" */
#define KEEP_HOT 256                      /* free slots per class kept resident */
#define TRIM_BATCH 1024                   /* slots released per idle trim */

typedef struct sp_slab {
  struct sp_slab *next;
  char *base;
  size_t slot_size; /* guard + usable */
  uint32_t nslots, ncarved;
  unsigned char *mode;     /* sp_guard_mode per carved slot */
} sp_slab;

typedef struct {
  pthread_mutex_t lock;
  sp_slab *slabs; /* newest first; carving happens in the newest */
  sp__slotref *free; /* [0, clean) were trimmed */
  size_t nfree, capfree, clean;
} sp_class;

struct sp_stack_pool {
  sp_class cls[NCLASSES];
  sp_guard_mode mode;
  long mprotect_budget; /* guarded slots left in mprotect mode */
  bool warned_budget;
};

static size_t page_size(void) {
  static size_t ps;
  if (!ps) ps = (size_t)sysconf(_SC_PAGESIZE);
  return ps;
}

const char *sp__guard_mode_name(sp_guard_mode m) {
  switch (m) {
  case SP_GUARD_MADVISE: return "madvise";
  case SP_GUARD_MPROTECT: return "mprotect";
  case SP_GUARD_CANARY: return "canary";
  }
  return "?";
}

/*
 * Installs a guard on a scratch page and checks that it really guards: the
 * kernel must refuse to read it (write() from it fails with EFAULT).  An
 * emulator such as qemu-user accepts the madvise but ignores it.
 */
static bool probe_guard_install(void) {
  size_t ps = page_size();
  char *p = mmap(NULL, 2 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  bool ok = false;
  int fds[2];
  if (madvise(p, ps, MADV_GUARD_INSTALL) == 0 && pipe(fds) == 0) {
    ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
    close(fds[0]);
    close(fds[1]);
  }
  munmap(p, 2 * ps);
  return ok;
}

static long read_max_map_count(void) {
  long v = 65530;
  FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
  if (f) {
    if (fscanf(f, "%ld", &v) != 1) v = 65530;
    fclose(f);
  }
  return v;
}

int sp__stacks_init(sp_runtime *rt) {
  struct sp_stack_pool *p = calloc(1, sizeof *p);
  if (!p) return SP_ENOMEM;
  for (int i = 0; i < NCLASSES; i++) pthread_mutex_init(&p->cls[i].lock, NULL);
  const char *env = getenv("SPINDLE_STACK_GUARD");
  bool madv = probe_guard_install();
  if (env && !strcmp(env, "canary"))
    p->mode = SP_GUARD_CANARY;
  else if (env && !strcmp(env, "mprotect"))
    p->mode = SP_GUARD_MPROTECT;
  else
    p->mode = madv ? SP_GUARD_MADVISE : SP_GUARD_MPROTECT;
  long budget = (read_max_map_count() - 8192) / 2;
  p->mprotect_budget = budget > 0 ? budget : 0;
  rt->stacks = p;
  return 0;
}

void sp__stacks_destroy(sp_runtime *rt) {
  struct sp_stack_pool *p = rt->stacks;
  if (!p) return;
  for (int i = 0; i < NCLASSES; i++) {
    sp_class *c = &p->cls[i];
    for (sp_slab *s = c->slabs, *n; s; s = n) {
      n = s->next;
      munmap(s->base, (size_t)s->nslots * s->slot_size);
      free(s->mode);
      free(s);
    }
    free(c->free);
    pthread_mutex_destroy(&c->lock);
  }
  free(p);
  rt->stacks = NULL;
}

static int class_of(size_t size) {
  int c = 0;
  while (((size_t)16384 << c) < size) c++;
  return c;
}

static sp_slab *slab_new(int c) {
  size_t usable = (size_t)16384 << c;
  size_t slot = GUARD_SIZE + usable;
  size_t n = SLAB_BYTES / slot;
  if (n < 4) n = 4;
  if (n > 4096) n = 4096;
  sp_slab *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->mode = calloc(n, 1);
  s->base = mmap(NULL, n * slot, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (!s->mode || s->base == MAP_FAILED) {
    if (s->base != MAP_FAILED && s->base) munmap(s->base, n * slot);
    free(s->mode);
    free(s);
    return NULL;
  }
  /* A touched stack must cost one page, not a transparent huge page. */
  madvise(s->base, n * slot, MADV_NOHUGEPAGE);
  s->slot_size = slot;
  s->nslots = (uint32_t)n;
  return s;
}

/* Installs the guard of a fresh slot.  Called without the class lock: the
 * system call would hold up every other worker attaching a stack of the
 * class.  Two workers may both take the mprotect budget's last unit, so it
 * can overshoot by a slot or two: it is a reserve, not a hard limit. */
static sp_guard_mode guard_slot(struct sp_stack_pool *p, char *base) {
  sp_guard_mode m = p->mode;
  if (m == SP_GUARD_MADVISE && madvise(base, GUARD_SIZE, MADV_GUARD_INSTALL) == 0) return m;
  if (m != SP_GUARD_CANARY) {
    if (__atomic_load_n(&p->mprotect_budget, __ATOMIC_RELAXED) > 0 &&
        mprotect(base, GUARD_SIZE, PROT_NONE) == 0) {
      __atomic_fetch_sub(&p->mprotect_budget, 1, __ATOMIC_RELAXED);
      return SP_GUARD_MPROTECT;
    }
    if (!__atomic_exchange_n(&p->warned_budget, true, __ATOMIC_RELAXED))
      fprintf(stderr, "spindle: guard-page budget of vm.max_map_count used up; further task "
                      "stacks are protected by canaries only\n");
  }
  return SP_GUARD_CANARY;
}

static inline char *slot_base(sp__slotref r) { return r.slab->base + (size_t)r.idx * r.slab->slot_size; }

/* Lock held.  Reserves a fresh slot, its guard not yet installed (the
 * caller does that once the lock is released: guard_slot); false when
 * out of address space. */
static bool carve(sp_class *c, int ci, sp__slotref *out) {
  sp_slab *s = c->slabs;
  if (!s || s->ncarved == s->nslots) {
    s = slab_new(ci);
    if (!s) return false;
    s->next = c->slabs;
    c->slabs = s;
  }
  out->slab = s;
  out->idx = s->ncarved++;
  return true;
}

static bool free_push(sp_class *c, sp__slotref slot) {
  if (c->nfree == c->capfree) {
    size_t cap = c->capfree ? c->capfree * 2 : 256;
    sp__slotref *f = realloc(c->free, cap * sizeof *f);
    if (!f) return false;
    c->free = f;
    c->capfree = cap;
  }
  c->free[c->nfree++] = slot;
  return true;
}

static bool free_pop(sp_class *c, sp__slotref *out) {
  if (!c->nfree) return false;
  *out = c->free[--c->nfree];
  if (c->clean > c->nfree) c->clean = c->nfree;
  return true;
}

bool sp__stack_attach(sp_runtime *rt, sp_worker *w, sp_task *t) {
  struct sp_stack_pool *p = rt->stacks;
  int ci = class_of(t->stack_req);
  if (ci >= NCLASSES) return false;
  sp_class *c = &p->cls[ci];
  sp__slotref slot;
  if (w && ci < SP_CACHED_CLASSES && w->nstack_cache[ci]) {
    slot = w->stack_cache[ci][--w->nstack_cache[ci]];
  } else {
    pthread_mutex_lock(&c->lock);
    bool fresh = false;
    bool ok = free_pop(c, &slot) || (fresh = carve(c, ci, &slot));
    /* Refill the worker's cache while we hold the lock. */
    if (ok && w && ci < SP_CACHED_CLASSES) {
      while (w->nstack_cache[ci] < SP_STACK_CACHE / 2 &&
             free_pop(c, &w->stack_cache[ci][w->nstack_cache[ci]]))
        w->nstack_cache[ci]++;
    }
    pthread_mutex_unlock(&c->lock);
    if (!ok) return false;
    /* Nobody else knows of a fresh slot yet: whoever reads its mode later
     * gets the slot through this task or a free list, and either hand-over
     * orders this write before that read. */
    if (fresh) slot.slab->mode[slot.idx] = (unsigned char)guard_slot(p, slot_base(slot));
  }
  size_t usable = (size_t)16384 << ci;
  char *lo = slot_base(slot) + GUARD_SIZE;
#ifdef SP_ASAN
  ASAN_UNPOISON_MEMORY_REGION(lo, usable);
#endif
  t->slab = slot.slab;
  t->slot = slot.idx;
  t->stack_lo = lo;
  t->stack_size = usable;
  /* Only a slot without a guard page carries a canary: writing one would
   * touch the stack's lowest page, doubling what an idle task costs. */
  t->canary = slot.slab->mode[slot.idx] == SP_GUARD_CANARY;
  if (t->canary) {
    uint64_t *can = (uint64_t *)lo;
    for (int i = 0; i < CANARY_WORDS; i++) can[i] = CANARY ^ (uint64_t)i;
  }
  return true;
}

void sp__stack_detach(sp_runtime *rt, sp_worker *w, sp_task *t) {
  struct sp_stack_pool *p = rt->stacks;
  if (!t->slab) return;
  int ci = class_of(t->stack_size);
  sp_class *c = &p->cls[ci];
  sp__slotref slot = {t->slab, t->slot};
  t->slab = NULL;
  if (w && w->rt == rt && ci < SP_CACHED_CLASSES) {
    if (w->nstack_cache[ci] < SP_STACK_CACHE) {
      w->stack_cache[ci][w->nstack_cache[ci]++] = slot;
      return;
    }
    /* Full: hand half of the cache back to the shared list. */
    pthread_mutex_lock(&c->lock);
    while (w->nstack_cache[ci] > SP_STACK_CACHE / 2)
      if (!free_push(c, w->stack_cache[ci][--w->nstack_cache[ci]])) break;
    bool ok = free_push(c, slot);
    pthread_mutex_unlock(&c->lock);
    if (ok) return;
  } else {
    pthread_mutex_lock(&c->lock);
    bool ok = free_push(c, slot);
    pthread_mutex_unlock(&c->lock);
    if (ok) return;
  }
  /* No memory even for the free list: give the pages back, leak the slot. */
  madvise(t->stack_lo, t->stack_size, MADV_DONTNEED);
}

/* Releases the pages of free slots beyond the KEEP_HOT most recently used. */
void sp__stacks_trim(sp_runtime *rt, sp_worker *w) {
  (void)w;
  struct sp_stack_pool *p = rt->stacks;
  for (int ci = 0; ci < NCLASSES; ci++) {
    sp_class *c = &p->cls[ci];
    size_t usable = (size_t)16384 << ci;
    pthread_mutex_lock(&c->lock);
    size_t budget = TRIM_BATCH;
    while (budget-- && c->nfree > c->clean + KEEP_HOT) {
      char *base = slot_base(c->free[c->clean++]);
      madvise(base + GUARD_SIZE, usable, MADV_DONTNEED);
    }
    pthread_mutex_unlock(&c->lock);
  }
}

bool sp__stack_canary_ok(const sp_task *t) {
  if (!t->canary) return true;
  const uint64_t *can = (const uint64_t *)t->stack_lo;
  return can[0] == CANARY && can[CANARY_WORDS - 1] == (CANARY ^ (CANARY_WORDS - 1));
}

/* ------------------------------------------------- stack overflow report */

static struct sigaction old_segv, old_bus;
static int handlers_installed;

/* Async-signal-safe formatting into a fixed buffer. */
static size_t put_str(char *b, size_t at, size_t cap, const char *s) {
  while (*s && at + 1 < cap) b[at++] = *s++;
  return at;
}
static size_t put_num(char *b, size_t at, size_t cap, uint64_t v, int base) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[v % (unsigned)base];
    v /= (unsigned)base;
  } while (v);
  if (base == 16) at = put_str(b, at, cap, "0x");
  while (n && at + 1 < cap) b[at++] = tmp[--n];
  return at;
}

static void fault_handler(int sig, siginfo_t *si, void *uctx) {
  sp_worker *w = sp__cur_worker();
  sp_task *t = w ? w->current : NULL;
  uintptr_t a = (uintptr_t)si->si_addr, lo = t ? (uintptr_t)t->stack_lo : 0;
  if (t && a < lo && a + GUARD_SIZE + 65536 >= lo) {
    char m[512];
    size_t k = 0;
    k = put_str(m, k, sizeof m, "spindle: stack overflow in task \"");
    k = put_str(m, k, sizeof m, t->name);
    k = put_str(m, k, sizeof m, "\" (id ");
    k = put_num(m, k, sizeof m, t->id, 10);
    k = put_str(m, k, sizeof m, "): fault at ");
    k = put_num(m, k, sizeof m, a, 16);
    k = put_str(m, k, sizeof m, " below its ");
    k = put_num(m, k, sizeof m, t->stack_size, 10);
    k = put_str(m, k, sizeof m, "-byte stack at ");
    k = put_num(m, k, sizeof m, lo, 16);
    k = put_str(m, k, sizeof m, "; spawn it with a larger sp_spawn_opts.stack_size\n");
    ssize_t r = write(2, m, k);
    (void)r;
    abort();
  }
  struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
  if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
    old->sa_sigaction(sig, si, uctx);
  } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
    /* Restore the default and return: the fault recurs and kills us. */
    signal(sig, SIG_DFL);
  } else {
    old->sa_handler(sig);
  }
}

int sp__signals_install(void) {
  static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&lock);
  if (!handlers_installed) {
    /* Writes to a closed socket must return EPIPE, not kill the process. */
    struct sigaction ign, cur;
    if (sigaction(SIGPIPE, NULL, &cur) == 0 && cur.sa_handler == SIG_DFL) {
      memset(&ign, 0, sizeof ign);
      ign.sa_handler = SIG_IGN;
      sigaction(SIGPIPE, &ign, NULL);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    handlers_installed = 1;
  }
  pthread_mutex_unlock(&lock);
  return 0;
}

static __thread void *altstack;
static __thread size_t altstack_size;

void sp__signals_thread_init(void) {
  size_t sz = 256 * 1024;
  void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  stack_t ss = {.ss_sp = p, .ss_size = sz, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) < 0) {
    munmap(p, sz);
    return;
  }
  altstack = p;
  altstack_size = sz;
}

void sp__signals_thread_fini(void) {
  if (!altstack) return;
  stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
  sigaltstack(&ss, NULL);
  munmap(altstack, altstack_size);
  altstack = NULL;
}
