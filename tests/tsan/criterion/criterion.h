/*
 * criterion/criterion.h - a stand-in for the Criterion subset spindle's
 * tests use, for ThreadSanitizer builds only.
 *
 * Criterion cannot start under TSan: its inheritable arena's fixed mapping
 * collides with TSan's shadow memory ("Could not initialize inheritable
 * arena", Snaipe/Criterion#274, open).  The TSan build therefore compiles
 * the very same test files against this header, and runner.c runs each test
 * in its own forked process with its timeout, as Criterion does, and prints
 * Criterion's summary line.  Plain and ASan builds use the real Criterion.
 */
#ifndef SPINDLE_CRITERION_COMPAT_H
#define SPINDLE_CRITERION_COMPAT_H

#include <stdio.h>
#include <string.h>

struct crc_test {
  const char *suite, *name;
  void (*fn)(void);
  double timeout;
  void (*init)(void); /* run before fn, in the test's process */
  void (*fini)(void); /* run after fn, also when an assertion fails */
  struct crc_test *next;
};

void crc_register(struct crc_test *t);
/* No format attribute: the message is optional, so fmt may be "". */
_Noreturn void crc_fail(const char *file, int line, const char *expr, const char *fmt, ...);

#define Test(suite, name, ...)                                                           \
  static void suite##_##name##_impl(void);                                               \
  __attribute__((constructor)) static void suite##_##name##_register(void) {             \
    static struct crc_test t = {#suite, #name, suite##_##name##_impl, __VA_ARGS__};      \
    crc_register(&t);                                                                    \
  }                                                                                      \
  static void suite##_##name##_impl(void)

#define cr_assert(cond, ...)                                                             \
  do {                                                                                   \
    if (!(cond)) crc_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);                    \
  } while (0)
#define cr_assert_eq(a, b, ...) cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...) cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_null(p, ...) cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_not_null(p, ...) cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_log_info(...) (fprintf(stderr, "[----] " __VA_ARGS__), fputc('\n', stderr))

#endif
