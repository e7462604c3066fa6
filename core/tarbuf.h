/* A tar archive assembled in memory: the build contexts the daemon sends
 * to Docker (a function's code, a runtime's recipe output) and the image a
 * compiled function becomes. */
#ifndef TF_TARBUF_H
#define TF_TARBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct archive;

/* A tar archive being assembled in memory (uncompressed ustar/pax). */
struct tarbuf {
    struct archive *a;
    unsigned char *data;
    size_t len, cap;
    /* Set after tarbuf_open to see each regular file as it is added (the
     * daemon looks for a runtime's entry file and dependency list). */
    void (*on_file)(void *ctx, const char *path, const void *data, size_t len);
    void *on_file_ctx;
    /* Set after tarbuf_open, for entries added from then on: their owner
     * (0:0 unless set); whether tarbuf_add_archive keeps each entry's time
     * (else 0, so the same input gives the same bytes); and whether the
     * folders above an entry that no entry before added come first (mode
     * 0755), so that whoever unpacks the tar makes no folder itself, with
     * an owner of its choosing (the engine's is root). */
    unsigned uid, gid;
    bool keep_times;
    bool parents;
    char *last_dir; /* with parents: the last entry's folder, or the last folder added */
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
 * ("" for all), with strip taken off: files, directories, symbolic links,
 * and hard links to files among them; the owner is t's, and no entry keeps
 * a set-user-ID or set-group-ID bit. */
int tarbuf_add_archive(struct tarbuf *t, const void *tar, size_t len, const char *strip,
                       tf_err *err);

#endif
