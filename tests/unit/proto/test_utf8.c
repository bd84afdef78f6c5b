/* Unit tests of proto/utf8.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

#define OK(lit)  assert_true(utf8_valid(lit, sizeof(lit) - 1))
#define BAD(lit) assert_false(utf8_valid(lit, sizeof(lit) - 1))

static void
test_valid(void **state)
{
    OK("");
    OK("plain ascii {\"a\":1}");
    OK("\xc3\xa9");         /* U+00E9 */
    OK("\xe2\x82\xac");     /* U+20AC */
    OK("\xf0\x9f\x98\x80"); /* U+1F600 */
    OK("\xef\xbf\xbf");     /* U+FFFF */
    OK("\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last */
    OK("\xed\x9f\xbf");     /* U+D7FF, just below the surrogates */
    OK("a\0b");             /* NUL is valid UTF-8 */
}

static void
test_invalid(void **state)
{
    BAD("\x80");             /* lone continuation */
    BAD("\xc0\xaf");         /* overlong '/' */
    BAD("\xc1\xbf");         /* overlong */
    BAD("\xe0\x80\xaf");     /* overlong 3-byte */
    BAD("\xf0\x80\x80\xaf"); /* overlong 4-byte */
    BAD("\xed\xa0\x80");     /* U+D800 surrogate */
    BAD("\xed\xbf\xbf");     /* U+DFFF surrogate */
    BAD("\xf4\x90\x80\x80"); /* U+110000 */
    BAD("\xf5\x80\x80\x80"); /* lead byte out of range */
    BAD("\xff");
    BAD("\xc3"); /* truncated at the end */
    BAD("\xe2\x82");
    BAD("\xf0\x9f\x98");
    BAD("\xc3\x28"); /* bad continuation */
    BAD("\xe2\x28\xac");
    BAD("\xf0\x9f\x28\x80");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
