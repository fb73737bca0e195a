/* test_buf.c - sp_buf, the growable buffer: appends, the cap, a sticky
 * failure, handing over, reuse. */
#define _GNU_SOURCE
#include "spt.h"

#include <spindle/buf.h>

Test(buf, appends_and_takes, .timeout = 10) {
  sp_buf b;
  sp_buf_init(&b, SP_BUF_NO_MAX);
  cr_assert_eq(sp_buf_adds(&b, "GET "), 0);
  cr_assert_eq(sp_buf_printf(&b, "%s HTTP/1.%d", "/x", 1), 0);
  cr_assert_eq(sp_buf_addc(&b, '!'), 0);
  cr_assert_eq(sp_buf_add(&b, "\0z", 2), 0, "bytes, NULs included");
  cr_assert_eq(b.len, 18);
  cr_assert_eq(b.data[b.len], '\0', "always NUL-terminated");
  size_t len = 0;
  char *s = sp_buf_take(&b, &len);
  cr_assert_eq(len, 18);
  cr_assert(memcmp(s, "GET /x HTTP/1.1!\0z", 18) == 0);
  free(s);
  cr_assert(b.len == 0 && b.data == NULL && b.err == 0, "taking empties the buffer");
  s = sp_buf_take(&b, &len);
  cr_assert(s && s[0] == '\0' && len == 0, "an empty buffer hands over \"\"");
  free(s);
  sp_buf_free(&b);
}

/* Many byte appends cross many growths; the inline path and the slow one
 * agree. */
Test(buf, grows, .timeout = 10) {
  sp_buf b;
  sp_buf_init(&b, SP_BUF_NO_MAX);
  for (int i = 0; i < 100000; i++) cr_assert_eq(sp_buf_addc(&b, (char)('a' + i % 26)), 0);
  cr_assert_eq(b.len, 100000);
  for (int i = 0; i < 100000; i++) cr_assert_eq(b.data[i], 'a' + i % 26, "byte %d", i);
  cr_assert_eq(b.data[100000], '\0');
  sp_buf_free(&b);
}

/* Past the cap an append fails, appends nothing, and the failure sticks
 * until the buffer is reset or taken. */
Test(buf, cap_is_exact_and_sticky, .timeout = 10) {
  sp_buf b;
  sp_buf_init(&b, 10);
  cr_assert_eq(sp_buf_add(&b, "0123456789", 10), 0, "exactly max fits");
  cr_assert(b.cap <= 11, "never more than max + 1 allocated: %zu", b.cap);
  cr_assert_eq(sp_buf_addc(&b, 'x'), SP_ETOOBIG);
  cr_assert_eq(b.len, 10, "a failed append appends nothing");
  cr_assert_eq(sp_buf_add(&b, "", 0), SP_ETOOBIG, "the failure sticks");
  cr_assert_eq(sp_buf_printf(&b, "%d", 1), SP_ETOOBIG);
  cr_assert_null(sp_buf_take(&b, NULL), "a failed buffer hands over nothing");
  cr_assert_eq(b.err, 0, "taking clears the failure");
  cr_assert_eq(sp_buf_printf(&b, "%s", "0123456789x"), SP_ETOOBIG, "printf past the cap");
  sp_buf_reset(&b);
  cr_assert(b.err == 0 && b.len == 0);
  cr_assert_eq(sp_buf_adds(&b, "ok"), 0);
  cr_assert_str_eq(b.data, "ok");
  sp_buf_free(&b);
  sp_buf_init(&b, 0);
  cr_assert_eq(sp_buf_addc(&b, 'x'), SP_ETOOBIG, "a cap of 0 holds nothing");
  char *s = sp_buf_take(&b, NULL);
  cr_assert_null(s);
  s = sp_buf_take(&b, NULL);
  cr_assert(s && !*s, "but hands over \"\"");
  free(s);
}
