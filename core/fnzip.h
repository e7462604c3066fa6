/* Function code archives: a user's zip is checked entry by entry and
 * repacked as the tar build context Docker wants, all in memory, so a
 * rejected upload never touches the disk. */
#ifndef TF_FNZIP_H
#define TF_FNZIP_H

#include <stddef.h>

#include "err.h"

struct archive;

struct fnzip_limits {
    size_t max_entries;     /* most entries a zip may hold */
    size_t max_total_bytes; /* most uncompressed bytes, all entries together */
};

/* A tar archive being assembled in memory (uncompressed ustar/pax). */
struct tarbuf {
    struct archive *a;
    unsigned char *data;
    size_t len, cap;
    /* Set after tarbuf_open to see each regular file as it is added (the
     * daemon looks for a runtime's entry file and dependency list). */
    void (*on_file)(void *ctx, const char *path, const void *data, size_t len);
    void *on_file_ctx;
};

/* Starts an empty tar in memory. */
int tarbuf_open(struct tarbuf *t, tf_err *err);

/* Adds a regular file with mode (for example 0644, 0755). */
int tarbuf_add_file(struct tarbuf *t, const char *path, const void *data, size_t len, int mode,
                    tf_err *err);

/* Adds a regular file of len bytes read from from's current entry, a block at
 * a time, so a large file is never held whole. on_file does not see it. */
int tarbuf_add_file_from(struct tarbuf *t, const char *path, size_t len, int mode,
                         struct archive *from, tf_err *err);

/* Adds a symbolic link path -> target. */
int tarbuf_add_symlink(struct tarbuf *t, const char *path, const char *target, tf_err *err);

/* Adds a directory with mode (for example 01777 for a /tmp). */
int tarbuf_add_dir(struct tarbuf *t, const char *path, int mode, tf_err *err);

/* Finishes the archive: t->data and t->len then hold it. */
int tarbuf_close(struct tarbuf *t, tf_err *err);

/* Frees the buffer (safe after close or on a half-built tarbuf). */
void tarbuf_free(struct tarbuf *t);

/* Adds the tree below dir (files, directories, symbolic links) under prefix. */
int tarbuf_add_tree(struct tarbuf *t, const char *dir, const char *prefix, tf_err *err);

/* Adds the entries of the tar in tar[0..len) whose paths start with strip
 * ("" for all), with strip taken off (files, directories, symbolic links). */
int tarbuf_add_archive(struct tarbuf *t, const void *tar, size_t len, const char *strip,
                       tf_err *err);

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
