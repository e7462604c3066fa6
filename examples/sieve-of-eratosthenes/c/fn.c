/* Counts the primes up to N, where N is the body as an integer (10000 when
 * the body is empty), with the sieve of Eratosthenes; replies the count in
 * decimal ("1229" for 10000). */
#include <tinyfaas.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One byte per number: bound N so one call cannot take the handler's memory. */
#define SIEVE_MAX 100000000L

int tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)
{
    const char *s = req->body; /* always NUL-terminated */
    char *end;
    long n = 10000;
    while (isspace((unsigned char)*s))
        s++;
    if (*s != '\0') {
        errno = 0;
        n = strtol(s, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (errno != 0 || *end != '\0' || n > SIEVE_MAX) {
            tinyfaas_printf(res, "N must be an integer up to %ld", SIEVE_MAX);
            return 1;
        }
    }
    if (n < 2)
        return tinyfaas_set_string(res, "0");
    /* Per call, not static: calls run on several threads at once. */
    char *composite = calloc((size_t)n + 1, 1);
    if (composite == NULL) {
        tinyfaas_set_string(res, "out of memory");
        return 1;
    }
    long count = 0;
    for (long i = 2; i <= n; i++) {
        if (composite[i])
            continue;
        count++;
        for (long j = i * i; j <= n; j += i) /* i * i <= SIEVE_MAX^2 fits a long */
            composite[j] = 1;
    }
    free(composite);
    return tinyfaas_printf(res, "%ld", count);
}
