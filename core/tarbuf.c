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

/* Writes one header; the caller checks the path. target is a symbolic
 * link's, or for a regular file, the entry it is a hard link to (or NULL). */
static int tarbuf_write_header(struct tarbuf *t, const char *path, unsigned type, int mode,
                               size_t len, const char *target, long long mtime, tf_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (e == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, (mode_t)mode & 07777);
    archive_entry_set_uid(e, t->uid);
    archive_entry_set_gid(e, t->gid);
    archive_entry_set_mtime(e, (time_t)mtime, 0);
    archive_entry_set_size(e, (la_int64_t)len);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, target);
    else if (type == AE_IFREG && target != NULL)
        archive_entry_set_hardlink(e, target);
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

/* Whether n bytes into both names is a folder boundary of each. */
static bool name_boundary(const char *a, size_t alen, const char *b, size_t blen, size_t n)
{
    return (n == alen || a[n] == '/') && (n == blen || b[n] == '/');
}

/* With t->parents: the folders above path that the entries before did not
 * add. Every folder above t->last_dir, and itself, was added already. */
static int tarbuf_add_parents(struct tarbuf *t, const char *path, unsigned type, tf_err *err)
{
    size_t n = strlen(path);
    while (n > 0 && path[n - 1] == '/')
        n--; /* "fn/a/" is the folder "fn/a" */
    size_t self = n;
    while (n > 0 && path[n - 1] != '/')
        n--;
    while (n > 0 && path[n - 1] == '/')
        n--; /* n: the length of the parent's name, 0 at the top */
    const char *last = t->last_dir != NULL ? t->last_dir : "";
    size_t last_len = strlen(last), have = 0;
    while (have < n && have < last_len && path[have] == last[have])
        have++;
    while (have > 0 && !name_boundary(path, n, last, last_len, have))
        have--;
    int rc = 0;
    char name[4096];
    for (size_t i = have + 1; rc == 0 && i <= n; i++) {
        if ((i < n && path[i] != '/') || path[i - 1] == '/')
            continue; /* not the end of a name ("a//b" names "a" once) */
        if (i >= sizeof name)
            return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: '%.64s...' is too long", path);
        memcpy(name, path, i);
        name[i] = '\0';
        rc = tarbuf_write_header(t, name, AE_IFDIR, 0755, 0, NULL, 0, err);
        if (rc == 0 && archive_write_finish_entry(t->a) != ARCHIVE_OK)
            rc = tarbuf_fail(t, name, err);
    }
    size_t keep = type == AE_IFDIR ? self : n; /* a folder is the next entries' parent */
    if (rc == 0 && (keep != last_len || memcmp(path, last, keep) != 0)) {
        char *dir = strndup(path, keep);
        if (dir == NULL)
            return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
        free(t->last_dir);
        t->last_dir = dir;
    }
    return rc;
}

/* The one place a tar header is written: files, folders and symlinks. Owner
 * and time are fixed (t->uid, t->gid; mtime 0 unless the caller keeps the
 * source's) so the same zip always gives the same bytes, which keeps
 * Docker's build cache useful across redeploys. */
static int tarbuf_header(struct tarbuf *t, const char *path, unsigned type, int mode, size_t len,
                         const char *target, long long mtime, tf_err *err)
{
    if (t == NULL || t->a == NULL || path == NULL || *path == '\0')
        return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: not open, or no path");
    int rc = t->parents ? tarbuf_add_parents(t, path, type, err) : 0;
    if (rc == 0)
        rc = tarbuf_write_header(t, path, type, mode, len, target, mtime, err);
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
                      size_t len, const char *target, long long mtime, tf_err *err)
{
    if (t != NULL && t->on_file != NULL && type == AE_IFREG && target == NULL)
        t->on_file(t->on_file_ctx, path, data, len);
    int rc = tarbuf_header(t, path, type, mode, len, target, mtime, err);
    if (rc == 0 && type == AE_IFREG)
        rc = tarbuf_data(t, path, data, len, err);
    return rc == 0 ? tarbuf_finish(t, path, err) : rc;
}

/* tarbuf_add_file_from, with the entry's time. */
static int tarbuf_copy_file(struct tarbuf *t, const char *path, size_t len, int mode,
                            long long mtime, struct archive *from, tf_err *err)
{
    int rc = tarbuf_header(t, path, AE_IFREG, mode, len, NULL, mtime, err);
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

int tarbuf_add_file_from(struct tarbuf *t, const char *path, size_t len, int mode,
                         struct archive *from, tf_err *err)
{
    return tarbuf_copy_file(t, path, len, mode, 0, from, err);
}

int tarbuf_add_file(struct tarbuf *t, const char *path, const void *data, size_t len, int mode,
                    tf_err *err)
{
    return tarbuf_add(t, path, AE_IFREG, mode, data, len, NULL, 0, err);
}

int tarbuf_add_symlink(struct tarbuf *t, const char *path, const char *target, tf_err *err)
{
    if (target == NULL || *target == '\0')
        return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: symlink '%s' has no target", path);
    return tarbuf_add(t, path, AE_IFLNK, 0777, NULL, 0, target, 0, err);
}

int tarbuf_add_dir(struct tarbuf *t, const char *path, int mode, tf_err *err)
{
    return tarbuf_add(t, path, AE_IFDIR, mode, NULL, 0, NULL, 0, err);
}

int tarbuf_close(struct tarbuf *t, tf_err *err)
{
    if (t->a == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: not open");
    int r = archive_write_close(t->a);
    int rc = r == ARCHIVE_OK ? 0 : tarbuf_fail(t, "the end", err);
    archive_write_free(t->a);
    t->a = NULL;
    free(t->last_dir);
    t->last_dir = NULL;
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
    free(t->last_dir);
    memset(t, 0, sizeof *t);
}

/* Copies the entry e read from src; mtime is its time, or 0, and perms the
 * mode bits kept. */
static int add_entry(struct tarbuf *t, struct archive *src, struct archive_entry *e,
                     const char *path, long long mtime, int perms, tf_err *err)
{
    mode_t type = archive_entry_filetype(e);
    int mode = (int)archive_entry_perm(e) & perms;
    if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (target == NULL || *target == '\0')
            return tf_err_set(err, TF_ERR_INTERNAL, "tarbuf: symlink '%s' has no target", path);
        return tarbuf_add(t, path, AE_IFLNK, 0777, NULL, 0, target, mtime, err);
    }
    if (type == AE_IFDIR) /* empty ones and modes such as /tmp's 1777 count */
        return tarbuf_add(t, path, AE_IFDIR, mode, NULL, 0, NULL, mtime, err);
    if (type != AE_IFREG)
        return 0; /* devices and fifos have no place in an image */
    int rc = tarbuf_copy_file(t, path, (size_t)archive_entry_size(e), mode, mtime, src, err);
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
        rc = add_entry(t, disk, e, path, 0, 07777, err);
    }
    archive_entry_free(e);
out:
    archive_read_close(disk);
    archive_read_free(disk);
    return rc;
}

/* What a copied tar keeps of its entries' modes: no set-user-ID or
 * set-group-ID bit, since the copy may well give the entry a more
 * privileged owner (root) than the one who made it. */
#define ARCHIVE_PERMS 01777

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
        const char *link = archive_entry_hardlink(e);
        if (strncmp(path, strip, skip) != 0 || path[skip] == '\0')
            continue; /* outside strip, or strip's directory itself */
        long long mtime = t->keep_times ? (long long)archive_entry_mtime(e) : 0;
        if (link == NULL)
            rc = add_entry(t, in, e, path + skip, mtime, ARCHIVE_PERMS, err);
        else if (strncmp(link, strip, skip) == 0 && link[skip] != '\0') /* a file seen before */
            rc = tarbuf_add(t, path + skip, AE_IFREG, (int)archive_entry_perm(e) & ARCHIVE_PERMS,
                            NULL, 0, link + skip, mtime, err);
    }
    if (rc == 0 && got != ARCHIVE_EOF)
        rc = tf_err_set(err, TF_ERR_INTERNAL, "cannot read a tar: %s", archive_error_string(in));
out:
    archive_read_free(in);
    return rc;
}
