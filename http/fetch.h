/* Downloads of function code for /uploadURL (libcurl). */
#ifndef TF_FETCH_H
#define TF_FETCH_H

#include <stddef.h>

#include "err.h"

/* GETs an http:// or https:// url into a new buffer of at most max bytes.
 * Other schemes, unreachable hosts and non-2xx answers are TF_ERR_INVALID. */
int fetch_url(const char *url, size_t max, unsigned char **out, size_t *out_len, tf_err *err);

#endif
