/* Function code archives: a user's zip is checked entry by entry and
 * repacked as the tar build context Docker wants, all in memory, so a
 * rejected upload never touches the disk. */
#ifndef TF_FNZIP_H
#define TF_FNZIP_H

#include <stddef.h>

#include "err.h"
#include "tarbuf.h"

struct fnzip_limits {
    size_t max_entries;     /* most entries a zip may hold */
    size_t max_total_bytes; /* most uncompressed bytes, all entries together */
};

/* Copies the entries of the zip in zip[0..len) that lie under subfolder
 * (NULL or "" for the whole zip; the prefix is stripped) into t below
 * prefix (such as "fn/"). Refuses (TF_ERR_INVALID, with a one-line reason)
 * data that is not a zip, an absolute path, a ".." component, a symbolic
 * or hard link, a device or fifo; TF_ERR_TOO_LARGE a zip over the limits (bytes
 * are counted as inflated, not as declared). On failure t holds part of
 * the zip: the caller frees it. */
int fnzip_to_tar(const void *zip, size_t len, const char *subfolder, const char *prefix,
                 const struct fnzip_limits *limits, struct tarbuf *t, tf_err *err);

/* Decodes base64 (line breaks allowed) into a new buffer; bad input is TF_ERR_INVALID. */
int fnzip_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
                        tf_err *err);

#endif
