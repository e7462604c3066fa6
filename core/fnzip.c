/* Function code archives: zip in, tar out, all in memory (see fnzip.h).
 * A zip entry is checked before anything of it is copied; nothing is
 * ever extracted to disk, so there is no path on disk to escape to, but
 * Docker extracts the tar we produce, so the tar must be clean. */
#include "fnzip.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <nettle/base64.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FNZIP_PATH_MAX 4096                /* longest entry name we accept, bytes */
#define FNZIP_CHUNK    ((size_t)64 * 1024) /* first buffer for an entry's data */

/* libarchive's last error text, never NULL (it goes into a printf). */
static const char *aerr(struct archive *a)
{
    const char *s = a ? archive_error_string(a) : NULL;
    return s ? s : "unknown error";
}

/* Rewrites a zip path into out as a clean relative path: '\' counts as a
 * separator (Windows tools write them, and some unzippers honour them, so
 * "a\..\x" must be judged as "a/../x"), "." and empty components vanish.
 * Returns 0, or -1 with *why naming the fault. out may end up empty. */
static int clean_path(const char *in, char *out, size_t cap, const char **why)
{
    size_t n = strlen(in), o = 0;
    if (n >= cap)
        return *why = "has a name that is too long", -1;
    if (in[0] == '/' || in[0] == '\\')
        return *why = "is an absolute path", -1;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && in[j] != '/' && in[j] != '\\')
            j++;
        size_t clen = j - i;
        if (clen == 2 && in[i] == '.' && in[i + 1] == '.')
            return *why = "escapes the function folder", -1;
        if (clen > 0 && !(clen == 1 && in[i] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, in + i, clen);
            o += clen;
        }
        i = j + 1;
    }
    out[o] = '\0';
    return 0;
}

/* Reads the current entry's data into a new buffer, counting the bytes
 * actually inflated against room, what is left of the zip's unpacked size
 * limit: a zip's declared sizes are the attacker's to choose, so they only
 * size the first buffer. */
static int read_entry(struct archive *a, struct archive_entry *e, const char *name, size_t room,
                      size_t limit, unsigned char **out, size_t *out_len, tf_err *err)
{
    size_t cap = FNZIP_CHUNK, len = 0;
    if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0 &&
        (uint64_t)archive_entry_size(e) < room)
        cap = (size_t)archive_entry_size(e) + 1; /* +1 so EOF needs no regrow */
    if (cap > room && room < SIZE_MAX)
        cap = room + 1; /* one byte past the limit is enough to see it crossed */
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    for (;;) {
        if (len == cap) {
            size_t ncap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
            if (room < SIZE_MAX && ncap > room + 1)
                ncap = room + 1;
            unsigned char *p = ncap > cap ? realloc(buf, ncap) : NULL;
            if (p == NULL) {
                free(buf);
                return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
            }
            buf = p;
            cap = ncap;
        }
        la_ssize_t n = archive_read_data(a, buf + len, cap - len);
        if (n < 0) {
            free(buf);
            return tf_err_set(err, TF_ERR_INVALID, "cannot unpack zip entry '%s': %s", name,
                              aerr(a));
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > room) {
            free(buf);
            return tf_err_set(err, TF_ERR_TOO_LARGE,
                              "the zip unpacks to more than %zu bytes (at entry '%s')", limit,
                              name);
        }
    }
    *out = buf;
    *out_len = len;
    return 0;
}

/* Everything fnzip_to_tar needs while walking the zip. */
struct walk {
    const struct fnzip_limits *lim;
    char sub[FNZIP_PATH_MAX];
    size_t sub_len; /* 0: the whole zip */
    const char *prefix;
    size_t entries, bytes, files;
    int sub_seen;
};

/* Checks one zip entry and, when it lies under the subfolder, copies it. */
static int copy_entry(struct walk *w, struct archive *a, struct archive_entry *e, struct tarbuf *t,
                      tf_err *err)
{
    const char *name = archive_entry_pathname_utf8(e);
    if (name == NULL)
        name = archive_entry_pathname(e);
    if (name == NULL || *name == '\0')
        return tf_err_set(err, TF_ERR_INVALID, "zip entry %zu has an empty name", w->entries);
    char clean[FNZIP_PATH_MAX];
    const char *why = NULL;
    /* Path faults are refused anywhere in the zip, even outside the
     * subfolder: no honest zip holds them. */
    if (clean_path(name, clean, sizeof clean, &why) < 0)
        return tf_err_set(err, TF_ERR_INVALID, "zip entry '%s' %s", name, why);

    const char *rel = clean;
    if (w->sub_len > 0) {
        if (strncmp(clean, w->sub, w->sub_len) != 0 ||
            (clean[w->sub_len] != '/' && clean[w->sub_len] != '\0'))
            return 0;
        w->sub_seen = 1;
        rel = clean + w->sub_len + (clean[w->sub_len] == '/');
    }
    /* Types are judged only on what we copy: a repository zip may well
     * hold a symlink in some folder the user did not ask for. */
    unsigned type = archive_entry_filetype(e);
    const char *bad = type == AE_IFLNK                       ? "a symbolic link"
                      : archive_entry_hardlink(e) != NULL    ? "a hard link"
                      : type != AE_IFREG && type != AE_IFDIR ? "a device, fifo or socket"
                                                             : NULL;
    if (bad != NULL)
        return tf_err_set(err, TF_ERR_INVALID, "zip entry '%s' is %s, which is not allowed", name,
                          bad);
    if (*rel == '\0') {
        if (type == AE_IFDIR)
            return 0; /* "./" or the subfolder itself: the root we copy into */
        if (w->sub_len > 0)
            return tf_err_set(err, TF_ERR_INVALID, "subfolder '%s' is a file in the zip", name);
        return tf_err_set(err, TF_ERR_INVALID, "zip entry '%s' has an empty name", name);
    }

    char path[FNZIP_PATH_MAX + 256];
    int n = snprintf(path, sizeof path, "%s%s", w->prefix, rel);
    if (n < 0 || (size_t)n >= sizeof path)
        return tf_err_set(err, TF_ERR_INVALID, "zip entry '%s' has a name that is too long", name);
    if (type == AE_IFDIR)
        return tarbuf_add_dir(t, path, 0755, err);

    unsigned char *data = NULL;
    size_t len = 0;
    int rc = read_entry(a, e, name, w->lim->max_total_bytes - w->bytes, w->lim->max_total_bytes,
                        &data, &len, err);
    if (rc < 0)
        return rc;
    w->bytes += len;
    w->files++;
    int mode = (archive_entry_perm(e) & 0111) ? 0755 : 0644;
    rc = tarbuf_add_file(t, path, data, len, mode, err);
    free(data);
    return rc;
}

int fnzip_to_tar(const void *zip, size_t len, const char *subfolder, const char *prefix,
                 const struct fnzip_limits *limits, struct tarbuf *t, tf_err *err)
{
    if (limits == NULL || t == NULL || t->a == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "fnzip_to_tar: no limits or tar not open");
    struct walk w = {.lim = limits, .prefix = prefix ? prefix : ""};
    if (subfolder != NULL && *subfolder != '\0') {
        const char *why = NULL;
        if (clean_path(subfolder, w.sub, sizeof w.sub, &why) < 0)
            return tf_err_set(err, TF_ERR_INVALID, "subfolder '%s' %s", subfolder, why);
        w.sub_len = strlen(w.sub); /* "." or "./" clean to "": the whole zip */
    }

    if (zip == NULL)
        len = 0;
    struct archive *a = archive_read_new();
    if (a == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    /* The seekable reader trusts the central directory, as unzip does: only
     * there do the Unix mode bits live that mark an entry as a symlink; the
     * streaming reader would take a symlink for a file holding its target. */
    archive_read_support_format_zip_seekable(a);
    int rc = 0;
    if (archive_read_open_memory(a, zip, len) != ARCHIVE_OK) {
        /* The seekable reader does not bid on a zip of no entries, which is
         * nothing but its end record: name the real fault. */
        if (len >= 22 && memcmp(zip, "PK\5\6", 4) == 0)
            tf_err_set(err, TF_ERR_INVALID, "the zip holds no files");
        else
            tf_err_set(err, TF_ERR_INVALID, "the zip is not a valid zip archive: %s", aerr(a));
        rc = -EINVAL;
        goto out;
    }
    for (;;) {
        struct archive_entry *e = NULL;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        /* ARCHIVE_WARN is only a name the locale cannot show; go on. */
        if (r < ARCHIVE_WARN) {
            rc = tf_err_set(err, TF_ERR_INVALID, "the zip is not a valid zip archive: %s", aerr(a));
            goto out;
        }
        if (++w.entries > limits->max_entries) {
            rc = tf_err_set(err, TF_ERR_TOO_LARGE, "the zip holds more than %zu entries",
                            limits->max_entries);
            goto out;
        }
        rc = copy_entry(&w, a, e, t, err);
        if (rc < 0)
            goto out;
    }
    if (w.sub_len > 0 && !w.sub_seen) {
        rc = tf_err_set(err, TF_ERR_INVALID, "subfolder '%s' not found in the zip", subfolder);
    } else if (w.files == 0) {
        rc = tf_err_set(err, TF_ERR_INVALID, "the zip holds no files%s%s%s",
                        w.sub_len ? " under '" : "", w.sub_len ? subfolder : "",
                        w.sub_len ? "'" : "");
    }
out:
    archive_read_free(a);
    return rc;
}

/* True when every byte is a base64 letter, padding or white space. OpenSSL
 * on its own stops quietly at '-' (a PEM trailer) and would take
 * "UEsD-garbage" for valid, so we vet the alphabet first. */
static int b64_alphabet_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t'))
            return 0;
    }
    return 1;
}

int fnzip_base64_decode(const char *text, size_t len, unsigned char **out, size_t *out_len,
                        tf_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (text == NULL || len == 0)
        return tf_err_set(err, TF_ERR_INVALID, "zip is empty");
    if (len > SIZE_MAX / 8 || !b64_alphabet_ok(text, len))
        return tf_err_set(err, TF_ERR_INVALID, "zip is not valid base64");
    unsigned char *buf = malloc(BASE64_DECODE_LENGTH(len) + 1);
    int rc = 0;
    if (buf == NULL) {
        rc = tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
        goto out;
    }
    /* Nettle skips the line breaks of wrapped text and checks the padding. */
    struct base64_decode_ctx ctx;
    base64_decode_init(&ctx);
    size_t o = 0;
    if (!base64_decode_update(&ctx, &o, buf, len, text) || !base64_decode_final(&ctx))
        goto bad;
    if (o == 0) {
        rc = tf_err_set(err, TF_ERR_INVALID, "zip is empty");
        goto out;
    }
    *out = buf;
    *out_len = o;
    buf = NULL;
    goto out;
bad:
    rc = tf_err_set(err, TF_ERR_INVALID, "zip is not valid base64");
out:
    free(buf);
    return rc;
}
