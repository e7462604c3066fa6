/* A tar archive assembled in memory (see tarbuf.h), written through
 * libarchive; also a folder on disk, or another tar, copied into one. */
#include "tarbuf.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TARBUF_FIRST_CAP ((size_t)64 * 1024) /* the buffer's first size, doubled as it fills */

/* libarchive's last error text, never NULL (it goes into a printf). */
static const char *aerr(struct archive *a)
{
    const char *s = a ? archive_error_string(a) : NULL;
    return s ? s : "unknown error";
}

/* libarchive's write callback: appends to the buffer the tarbuf owns. */
static la_ssize_t tarbuf_write_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
    struct tarbuf *t = ctx;
    if (n > SIZE_MAX - t->len) {
        archive_set_error(a, ENOMEM, "tar too large");
        return -1;
    }
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : TARBUF_FIRST_CAP;
        while (cap < t->len + n)
            cap = cap > SIZE_MAX / 2 ? t->len + n : cap * 2;
        unsigned char *p = realloc(t->data, cap);
        if (p == NULL) {
            archive_set_error(a, ENOMEM, "out of memory");
            return -1;
        }
        t->data = p;
        t->cap = cap;
    }
    memcpy(t->data + t->len, buf, n);
    t->len += n;
    return (la_ssize_t)n;
}

int tarbuf_open(struct tarbuf *t, tf_err *err)
{
    memset(t, 0, sizeof *t);
    t->a = archive_write_new();
    if (t->a == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    /* pax_restricted writes plain ustar headers unless a name or size needs
     * an extension, which Docker's tar reader understands either way. The
     * last block is not padded to 10 KiB: nobody reads this from tape. */
    if (archive_write_set_format_pax_restricted(t->a) != ARCHIVE_OK ||
        archive_write_add_filter_none(t->a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(t->a, 1) != ARCHIVE_OK ||
        archive_write_open2(t->a, t, NULL, tarbuf_write_cb, NULL, NULL) != ARCHIVE_OK) {
        tf_err_set(err, TF_ERR_INTERNAL, "cannot start a tar: %s", aerr(t->a));
        tarbuf_free(t);
        return -ENOMEM;
    }
    return 0;
}

/* Reports a libarchive write failure; ENOMEM from our callback stays ENOMEM. */
static int tarbuf_fail(struct tarbuf *t, const char *path, tf_err *err)
{
    tf_err_set(err, TF_ERR_INTERNAL, "cannot add '%s' to the tar: %s", path, aerr(t->a));
    return archive_errno(t->a) == ENOMEM ? -ENOMEM : -EIO;
}

/* The one place a tar header is written: files, folders and symlinks. Owner
 * and time are fixed so the same zip always gives the same bytes, which
 * keeps Docker's build cache useful across redeploys. */
static int tarbuf_header(struct tarbuf *t, const char *path, unsigned type, int mode, size_t len,
                         const char *target, tf_err *err)
{
    if (t == NULL || t->a == NULL || path == NULL || *path == '\0')
        return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: not open, or no path");
    struct archive_entry *e = archive_entry_new();
    if (e == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, (mode_t)mode & 07777);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    archive_entry_set_mtime(e, 0, 0);
    archive_entry_set_size(e, (la_int64_t)len);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, target);
    int rc = 0;
    /* A non-ASCII name the "C" locale cannot convert gives ARCHIVE_WARN and
     * is stored as raw bytes (hdrcharset=BINARY): zip names are already
     * UTF-8, so that is the right outcome. (Setting names with the _utf8
     * setters instead crashes libarchive 3.6 in that locale.) */
    if (archive_write_header(t->a, e) < ARCHIVE_WARN)
        rc = tarbuf_fail(t, path, err);
    archive_entry_free(e);
    return rc;
}

/* Appends len bytes of the current entry's data. */
static int tarbuf_data(struct tarbuf *t, const char *path, const void *data, size_t len,
                       tf_err *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        la_ssize_t n = archive_write_data(t->a, p, len);
        if (n <= 0)
            return tarbuf_fail(t, path, err);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int tarbuf_finish(struct tarbuf *t, const char *path, tf_err *err)
{
    return archive_write_finish_entry(t->a) == ARCHIVE_OK ? 0 : tarbuf_fail(t, path, err);
}

static int tarbuf_add(struct tarbuf *t, const char *path, unsigned type, int mode, const void *data,
                      size_t len, const char *target, tf_err *err)
{
    if (t != NULL && t->on_file != NULL && type == AE_IFREG)
        t->on_file(t->on_file_ctx, path, data, len);
    int rc = tarbuf_header(t, path, type, mode, len, target, err);
    if (rc == 0 && type == AE_IFREG)
        rc = tarbuf_data(t, path, data, len, err);
    return rc == 0 ? tarbuf_finish(t, path, err) : rc;
}

int tarbuf_add_file_from(struct tarbuf *t, const char *path, size_t len, int mode,
                         struct archive *from, tf_err *err)
{
    int rc = tarbuf_header(t, path, AE_IFREG, mode, len, NULL, err);
    unsigned char block[16384];
    for (size_t left = len; rc == 0 && left > 0;) {
        la_ssize_t n = archive_read_data(from, block, left < sizeof block ? left : sizeof block);
        if (n <= 0)
            return tf_err_set(err, TF_ERR_INTERNAL, "cannot read %s", path);
        rc = tarbuf_data(t, path, block, (size_t)n, err);
        left -= (size_t)n;
    }
    return rc == 0 ? tarbuf_finish(t, path, err) : rc;
}

int tarbuf_add_file(struct tarbuf *t, const char *path, const void *data, size_t len, int mode,
                    tf_err *err)
{
    return tarbuf_add(t, path, AE_IFREG, mode, data, len, NULL, err);
}

int tarbuf_add_symlink(struct tarbuf *t, const char *path, const char *target, tf_err *err)
{
    if (target == NULL || *target == '\0')
        return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: symlink '%s' has no target", path);
    return tarbuf_add(t, path, AE_IFLNK, 0777, NULL, 0, target, err);
}

int tarbuf_add_dir(struct tarbuf *t, const char *path, int mode, tf_err *err)
{
    return tarbuf_add(t, path, AE_IFDIR, mode, NULL, 0, NULL, err);
}

int tarbuf_close(struct tarbuf *t, tf_err *err)
{
    if (t->a == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: not open");
    int r = archive_write_close(t->a);
    int rc = r == ARCHIVE_OK ? 0 : tarbuf_fail(t, "the end", err);
    archive_write_free(t->a);
    t->a = NULL;
    return rc;
}

void tarbuf_free(struct tarbuf *t)
{
    if (t == NULL)
        return;
    /* Freeing an open writer flushes through our callback, so the writer
     * goes before the buffer it writes into. */
    if (t->a != NULL)
        archive_write_free(t->a);
    free(t->data);
    memset(t, 0, sizeof *t);
}

static int add_entry(struct tarbuf *t, struct archive *disk, struct archive_entry *e,
                     const char *path, tf_err *err)
{
    mode_t type = archive_entry_filetype(e);
    int mode = (int)(archive_entry_perm(e) & 07777);
    if (type == AE_IFLNK)
        return tarbuf_add_symlink(t, path, archive_entry_symlink(e), err);
    if (type == AE_IFDIR)
        return tarbuf_add_dir(t, path, mode,
                              err); /* empty ones and modes such as /tmp's 1777 count */
    if (type != AE_IFREG)
        return 0; /* devices and fifos have no place in an image */
    int rc = tarbuf_add_file_from(t, path, (size_t)archive_entry_size(e), mode, disk, err);
    return rc < 0 ? -EIO : 0;
}

int tarbuf_add_tree(struct tarbuf *t, const char *dir, const char *prefix, tf_err *err)
{
    struct archive *disk = archive_read_disk_new();
    if (disk == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    /* Links stay links: recipes use them for busybox applets and library sonames. */
    archive_read_disk_set_symlink_physical(disk);
    int rc = 0;
    if (archive_read_disk_open(disk, dir) != ARCHIVE_OK) {
        rc =
            tf_err_set(err, TF_ERR_INTERNAL, "cannot read %s: %s", dir, archive_error_string(disk));
        goto out;
    }
    size_t skip = strlen(dir);
    struct archive_entry *e = archive_entry_new();
    while (rc == 0 && archive_read_next_header2(disk, e) == ARCHIVE_OK) {
        archive_read_disk_descend(disk);
        const char *full = archive_entry_pathname(e);
        const char *rel = full + skip;
        while (*rel == '/')
            rel++;
        if (*rel == '\0')
            continue; /* the top directory itself */
        char path[4096];
        snprintf(path, sizeof path, "%s%s", prefix, rel);
        rc = add_entry(t, disk, e, path, err);
    }
    archive_entry_free(e);
out:
    archive_read_close(disk);
    archive_read_free(disk);
    return rc;
}

int tarbuf_add_archive(struct tarbuf *t, const void *tar, size_t len, const char *strip,
                       tf_err *err)
{
    struct archive *in = archive_read_new();
    if (in == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    archive_read_support_format_tar(in);
    int rc = 0;
    if (archive_read_open_memory(in, tar, len) != ARCHIVE_OK) {
        rc = tf_err_set(err, TF_ERR_INTERNAL, "cannot read a tar: %s", archive_error_string(in));
        goto out;
    }
    size_t skip = strlen(strip);
    struct archive_entry *e;
    int got;
    while (rc == 0 && (got = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
        const char *path = archive_entry_pathname(e);
        if (strncmp(path, strip, skip) != 0 || path[skip] == '\0')
            continue; /* outside strip, or strip's directory itself */
        rc = add_entry(t, in, e, path + skip, err);
    }
    if (rc == 0 && got != ARCHIVE_EOF)
        rc = tf_err_set(err, TF_ERR_INTERNAL, "cannot read a tar: %s", archive_error_string(in));
out:
    archive_read_free(in);
    return rc;
}
