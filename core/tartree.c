/* A directory tree into a tarbuf, through libarchive's disk reader (the
 * build contexts that runtime recipes write to disk), and one tar into
 * another (a compiled function's image, core/compile.c). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnzip.h"

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
