/* A function folder as the upload wants it: its contents zipped in memory
 * (libarchive), entries named relative to the folder, then base64 (OpenSSL). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <nettle/base64.h>

#include "cli.h"

struct zip_job {
    struct archive *disk, *zip;
    size_t prefix_len; /* of "DIR/", cut from every path the disk reader gives */
};

static int archive_fail(struct cli_err *e, const char *dir, struct archive *a)
{
    const char *why = archive_error_string(a);
    return cli_err_set(e, "%s: %s", dir, why != NULL ? why : "cannot zip");
}

static int copy_data(struct zip_job *j, const char *dir, struct cli_err *e)
{
    char buf[16384];
    la_ssize_t n;
    while ((n = archive_read_data(j->disk, buf, sizeof buf)) > 0)
        if (archive_write_data(j->zip, buf, (size_t)n) != n)
            return archive_fail(e, dir, j->zip);
    return n < 0 ? archive_fail(e, dir, j->disk) : 0;
}

/* Writes one entry the disk reader found, renamed relative to dir; the
 * folder itself is skipped: its contents go at the zip's root. */
static int add_entry(struct zip_job *j, struct archive_entry *entry, const char *dir,
                     struct cli_err *e)
{
    const char *path = archive_entry_pathname(entry);
    if (path == NULL || strlen(path) <= j->prefix_len)
        return 0;
    /* A copy: setting the name frees the string it would be read from. */
    char *rel = strdup(path + j->prefix_len);
    if (rel == NULL)
        return cli_err_set(e, "out of memory");
    archive_entry_set_pathname(entry, rel);
    free(rel);
    if (archive_write_header(j->zip, entry) < ARCHIVE_WARN)
        return archive_fail(e, dir, j->zip);
    if (archive_entry_filetype(entry) == AE_IFREG && archive_entry_size(entry) > 0)
        return copy_data(j, dir, e);
    return 0;
}

static int walk(struct zip_job *j, const char *dir, struct cli_err *e)
{
    int rc = 0;
    while (rc == 0) {
        struct archive_entry *entry = archive_entry_new();
        if (entry == NULL)
            return cli_err_set(e, "out of memory");
        int r = archive_read_next_header2(j->disk, entry);
        if (r == ARCHIVE_EOF) {
            archive_entry_free(entry);
            break;
        }
        if (r < ARCHIVE_WARN)
            rc = archive_fail(e, dir, j->disk);
        else {
            archive_read_disk_descend(j->disk);
            rc = add_entry(j, entry, dir, e);
        }
        archive_entry_free(entry);
    }
    return rc;
}

/* The zip's bytes in *out (malloc'd), *len long. */
static int zip_dir(const char *dir, char **out, size_t *len, struct cli_err *e)
{
    struct zip_job j = {archive_read_disk_new(), archive_write_new(), 0};
    FILE *mem = open_memstream(out, len);
    int rc = -1;
    if (j.disk == NULL || j.zip == NULL || mem == NULL) {
        cli_err_set(e, "out of memory");
        goto out;
    }
    /* Links are followed, as `zip -r` does: the daemon refuses links in a zip. */
    archive_read_disk_set_symlink_logical(j.disk);
    if (archive_write_set_format_zip(j.zip) != ARCHIVE_OK ||
        archive_write_open_FILE(j.zip, mem) != ARCHIVE_OK) {
        archive_fail(e, dir, j.zip);
        goto out;
    }
    if (archive_read_disk_open(j.disk, dir) != ARCHIVE_OK) {
        archive_fail(e, dir, j.disk);
        goto out;
    }
    j.prefix_len = strlen(dir) + (dir[strlen(dir) - 1] == '/' ? 0 : 1);
    rc = walk(&j, dir, e);
    /* Closing writes the zip's central directory. */
    if (archive_write_close(j.zip) != ARCHIVE_OK && rc == 0)
        rc = archive_fail(e, dir, j.zip);
out:
    archive_read_free(j.disk);
    archive_write_free(j.zip);
    if (mem != NULL && fclose(mem) != 0 && rc == 0)
        rc = cli_err_set(e, "out of memory");
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

static char *base64(const char *data, size_t len, struct cli_err *e)
{
    if (len > SIZE_MAX / 4 * 3 - 3) {
        cli_err_set(e, "the zip is too large (%zu bytes)", len);
        return NULL;
    }
    char *text = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
    if (text == NULL) {
        cli_err_set(e, "out of memory");
        return NULL;
    }
    /* One block, no line breaks: the daemon wants a single JSON string. */
    base64_encode_raw(text, len, (const uint8_t *)data);
    text[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
    return text;
}

/* Strips trailing slashes, so that every path the disk reader gives starts
 * with exactly "DIR/". */
static char *folder_path(const char *dir, struct cli_err *e)
{
    struct stat st;
    if (stat(dir, &st) < 0) {
        cli_err_set(e, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        cli_err_set(e, "%s: not a folder", dir);
        return NULL;
    }
    char *d = strdup(dir);
    if (d == NULL) {
        cli_err_set(e, "out of memory");
        return NULL;
    }
    for (size_t n = strlen(d); n > 1 && d[n - 1] == '/'; n--)
        d[n - 1] = '\0';
    return d;
}

char *cli_zip_base64(const char *dir, struct cli_err *e)
{
    char *folder = folder_path(dir, e);
    if (folder == NULL)
        return NULL;
    char *zip = NULL, *text = NULL;
    size_t len = 0;
    if (zip_dir(folder, &zip, &len, e) == 0)
        text = base64(zip, len, e);
    free(zip);
    free(folder);
    return text;
}
