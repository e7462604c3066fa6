#include "err.h"

#include <stdio.h>
#include <string.h>

int tf_err_set(tf_err *err, enum tf_err_kind kind, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->kind = kind;
    /* The reason is sent as one line: fold any newline a library gave us. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return -1;
}

void tf_err_clear(tf_err *err)
{
    if (err == NULL)
        return;
    err->kind = TF_ERR_NONE;
    err->msg[0] = '\0';
}
