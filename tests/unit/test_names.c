/* Unit test for core/names.c: the one rule for function names. */
#include <stdio.h>
#include <string.h>

#include "names.h"

#include "check.h"

/* Checks a NUL-terminated name; the length is strlen. */
#define VALID(s)   CHECK(name_is_valid((s), strlen(s)))
#define INVALID(s) CHECK(!name_is_valid((s), strlen(s)))

int main(void)
{
    char max[NAME_MAX_LEN + 2];
    memset(max, 'a', sizeof max);
    max[NAME_MAX_LEN] = '\0';

    VALID("a");
    VALID("Z");
    VALID("0");
    VALID("echo");
    VALID("A-b_9");
    VALID("sieve-of-eratosthenes");
    VALID(max); /* 63 characters */
    CHECK(strlen(max) == 63);

    INVALID("");
    INVALID("-a");
    INVALID("_a");
    INVALID("a b");
    INVALID("a/b");
    INVALID("../x");
    INVALID(".");
    INVALID("a.b");
    INVALID("\xc3\xa9");  /* é in UTF-8 */
    INVALID("a\xc3\xa9"); /* a non-ASCII byte after a good start */
    INVALID("a\n");
    INVALID("a:b");

    max[NAME_MAX_LEN] = 'a';
    max[NAME_MAX_LEN + 1] = '\0';
    CHECK(strlen(max) == 64);
    INVALID(max); /* 64 characters */

    /* The length is what counts, not the NUL: a NUL inside is refused, and
     * a name is judged only on its first len bytes. */
    CHECK(!name_is_valid("a\0b", 3));
    CHECK(!name_is_valid("ab\0", 3));
    CHECK(name_is_valid("ab/c", 2));
    CHECK(!name_is_valid(NULL, 0));
    CHECK(!name_is_valid(NULL, 3));
    CHECK(!name_is_valid("abc", 0));

    return check_summary();
}
