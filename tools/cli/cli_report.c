/* What the user is told: a failure's one-line reason on stderr, or an
 * answer's body on stdout, and the exit status that goes with it. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cli_err_set(struct cli_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int cli_report(const struct cli_err *e)
{
    fprintf(stderr, "tinyfaas-cli: %s\n", e->msg[0] ? e->msg : "failed");
    return CLI_EXIT_FAIL;
}

int cli_answer_print(const struct cli_answer *a)
{
    if (a->ok) {
        /* The exact bytes: an invocation's answer may be binary. */
        if (a->len > 0 && fwrite(a->body, 1, a->len, stdout) != a->len)
            return CLI_EXIT_FAIL;
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    }
    size_t len = a->len;
    while (len > 0 && (a->body[len - 1] == '\n' || a->body[len - 1] == '\r'))
        len--;
    if (len > 0)
        fprintf(stderr, "tinyfaas-cli: %s: %.*s\n", a->status, (int)len, a->body);
    else if (a->phrase[0])
        fprintf(stderr, "tinyfaas-cli: %s: %s\n", a->status, a->phrase);
    else
        fprintf(stderr, "tinyfaas-cli: %s\n", a->status);
    return CLI_EXIT_FAIL;
}

void cli_answer_free(struct cli_answer *a)
{
    free(a->body);
    a->body = NULL;
    a->len = 0;
}
