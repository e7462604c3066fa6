/* Unit test for core/fnzip.c: zips are built in memory with libarchive's
 * own zip writer, run through fnzip_to_tar, and the tar is read back. */
#include <archive.h>
#include <archive_entry.h>
#include <nettle/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fnzip.h"

#include "check.h"

static const struct fnzip_limits big = {.max_entries = 1000, .max_total_bytes = 64 << 20};

/* ---- building zips ---- */

#define ZIP_CAP (8u << 20)

struct zip {
    struct archive *a;
    unsigned char *buf;
    size_t len;
};

static void zip_begin(struct zip *z)
{
    z->buf = malloc(ZIP_CAP);
    z->len = 0;
    z->a = archive_write_new();
    archive_write_set_format_zip(z->a);
    if (archive_write_open_memory(z->a, z->buf, ZIP_CAP, &z->len) != ARCHIVE_OK) {
        fprintf(stderr, "zip writer: %s\n", archive_error_string(z->a));
        exit(2);
    }
}

/* Adds an entry of any kind; data is the file's bytes or the link target. */
static void zip_add(struct zip *z, const char *name, unsigned type, int mode, const void *data,
                    size_t len, const char *hardlink)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, data);
    if (hardlink != NULL)
        archive_entry_set_hardlink(e, hardlink);
    archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
    if (archive_write_header(z->a, e) < ARCHIVE_WARN) {
        fprintf(stderr, "zip writer, '%s': %s\n", name, archive_error_string(z->a));
        exit(2);
    }
    if (type == AE_IFREG && len > 0 && archive_write_data(z->a, data, len) != (la_ssize_t)len) {
        fprintf(stderr, "zip writer data, '%s': %s\n", name, archive_error_string(z->a));
        exit(2);
    }
    archive_entry_free(e);
}

static void zip_file(struct zip *z, const char *name, const char *text, int mode)
{
    zip_add(z, name, AE_IFREG, mode, text, strlen(text), NULL);
}

static void zip_dir(struct zip *z, const char *name)
{
    zip_add(z, name, AE_IFDIR, 0755, NULL, 0, NULL);
}

static void zip_end(struct zip *z)
{
    archive_write_close(z->a);
    archive_write_free(z->a);
    z->a = NULL;
}

/* ---- converting and reading tars back ---- */

/* Runs fnzip_to_tar into a fresh, closed tarbuf; returns its result. */
static int convert(const struct zip *z, const char *sub, const struct fnzip_limits *lim,
                   struct tarbuf *t, tf_err *err)
{
    tf_err_clear(err);
    if (tarbuf_open(t, err) != 0)
        return -1;
    int rc = fnzip_to_tar(z->buf, z->len, sub, "fn/", lim, t, err);
    if (rc == 0)
        rc = tarbuf_close(t, err);
    return rc;
}

struct tent {
    unsigned type;
    int mode;
    long long uid, gid, mtime;
    char link[256];
    unsigned char *data;
    size_t len;
};

/* Finds path in the finished tar t; returns 1 and fills out when found. */
static int tar_find(const struct tarbuf *t, const char *path, struct tent *out)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    int found = 0;
    memset(out, 0, sizeof *out);
    if (archive_read_open_memory(a, t->data, t->len) == ARCHIVE_OK) {
        struct archive_entry *e;
        while (!found && archive_read_next_header(a, &e) == ARCHIVE_OK) {
            if (strcmp(archive_entry_pathname(e), path) != 0)
                continue;
            found = 1;
            out->type = archive_entry_filetype(e);
            out->mode = archive_entry_perm(e);
            out->uid = archive_entry_uid(e);
            out->gid = archive_entry_gid(e);
            out->mtime = archive_entry_mtime(e);
            if (archive_entry_symlink(e))
                snprintf(out->link, sizeof out->link, "%s", archive_entry_symlink(e));
            out->len = (size_t)archive_entry_size(e);
            out->data = malloc(out->len + 1);
            la_ssize_t n = archive_read_data(a, out->data, out->len + 1);
            if (n != (la_ssize_t)out->len)
                out->type = 0; /* short or long read: make every CHECK fail */
        }
    }
    archive_read_free(a);
    return found;
}

/* Counts the entries of the finished tar t. */
static int tar_count(const struct tarbuf *t)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    int n = -1;
    if (archive_read_open_memory(a, t->data, t->len) == ARCHIVE_OK) {
        struct archive_entry *e;
        for (n = 0; archive_read_next_header(a, &e) == ARCHIVE_OK; n++)
            ;
    }
    archive_read_free(a);
    return n;
}

/* True when t holds path as a regular file with exactly these bytes. */
static int tar_has_file(const struct tarbuf *t, const char *path, const char *text, int mode)
{
    struct tent te;
    int ok = tar_find(t, path, &te) && te.type == AE_IFREG && te.mode == mode &&
             te.len == strlen(text) && memcmp(te.data, text, te.len) == 0;
    free(te.data);
    return ok;
}

/* A refusal: the kind, one line, and the offending name in it. */
static int refused(int rc, const tf_err *err, enum tf_err_kind kind, const char *needle)
{
    int ok = rc < 0 && err->kind == kind && err->msg[0] != '\0' && strchr(err->msg, '\n') == NULL &&
             strstr(err->msg, needle) != NULL;
    if (!ok)
        fprintf(stderr, "  refusal: rc=%d kind=%d msg='%s' wanted %d '%s'\n", rc, (int)err->kind,
                err->msg, (int)kind, needle);
    return ok;
}

/* Builds a zip holding one entry with a hostile name, and expects a 400
 * naming it (libarchive itself may turn '\' into '/', so the caller says
 * which part of the name must show). */
static void check_bad_name(const char *name, const char *needle)
{
    struct zip z;
    struct tarbuf t;
    tf_err err;
    zip_begin(&z);
    zip_file(&z, "fn.sh", "ok\n", 0755);
    zip_file(&z, name, "evil\n", 0644);
    zip_end(&z);
    CHECK(refused(convert(&z, NULL, &big, &t, &err), &err, TF_ERR_INVALID, needle));
    tarbuf_free(&t);
    free(z.buf);
}

static const char fn_sh[] = "#!/bin/sh\ncat\n";

static void test_good_zip(void)
{
    struct zip z;
    struct tarbuf t, t2;
    tf_err err;
    zip_begin(&z);
    zip_file(&z, "fn.sh", fn_sh, 0755);
    zip_dir(&z, "sub/");
    zip_file(&z, "sub/data.txt", "data\n", 0600);
    zip_file(&z, "tool", "x", 0700);
    zip_file(&z, "empty", "", 0644);
    zip_end(&z);
    CHECK(convert(&z, NULL, &big, &t, &err) == 0);
    CHECK(err.kind == TF_ERR_NONE);
    CHECK(tar_has_file(&t, "fn/fn.sh", fn_sh, 0755));
    CHECK(tar_has_file(&t, "fn/sub/data.txt", "data\n", 0644));
    CHECK(tar_has_file(&t, "fn/tool", "x", 0755));
    CHECK(tar_has_file(&t, "fn/empty", "", 0644));
    CHECK(tar_count(&t) == 5);
    struct tent te;
    CHECK(tar_find(&t, "fn/sub/", &te) || tar_find(&t, "fn/sub", &te));
    CHECK(te.type == AE_IFDIR && te.mode == 0755);
    free(te.data);
    CHECK(tar_find(&t, "fn/fn.sh", &te) && te.uid == 0 && te.gid == 0 && te.mtime == 0);
    free(te.data);
    /* Same zip, same bytes: Docker's build cache depends on it. */
    CHECK(convert(&z, NULL, &big, &t2, &err) == 0);
    CHECK(t.len == t2.len && memcmp(t.data, t2.data, t.len) == 0);
    CHECK(t.a == NULL);
    tarbuf_free(&t);
    tarbuf_free(&t2);
    tarbuf_free(&t); /* twice is harmless */
    free(z.buf);

    /* "./" prefixes are fine and stripped; '\' written by Windows tools is
     * a separator; a "./" directory entry is the root itself. */
    zip_begin(&z);
    zip_dir(&z, "./");
    zip_file(&z, "./fn.sh", fn_sh, 0755);
    zip_file(&z, "lib\\util.sh", "u\n", 0644);
    zip_file(&z, "a//b/./c", "c\n", 0644);
    zip_file(&z,
             "donn\xc3\xa9"
             "es.txt",
             "d\n", 0644);
    zip_end(&z);
    CHECK(convert(&z, NULL, &big, &t, &err) == 0);
    if (err.kind != TF_ERR_NONE)
        fprintf(stderr, "  %s\n", err.msg);
    CHECK(tar_has_file(&t, "fn/fn.sh", fn_sh, 0755));
    CHECK(tar_has_file(&t, "fn/lib/util.sh", "u\n", 0644));
    CHECK(tar_has_file(&t, "fn/a/b/c", "c\n", 0644));
    CHECK(tar_has_file(&t,
                       "fn/donn\xc3\xa9"
                       "es.txt",
                       "d\n", 0644));
    CHECK(tar_count(&t) == 4);
    tarbuf_free(&t);
    free(z.buf);
}

static void test_bad_names(void)
{
    check_bad_name("../evil", "'../evil' escapes the function folder");
    check_bad_name("a/../../evil", "'a/../../evil' escapes");
    check_bad_name("a/..", "'a/..' escapes");
    check_bad_name("/etc/passwd", "'/etc/passwd' is an absolute path");
    check_bad_name("a\\..\\..\\x", "x' escapes the function folder");
    check_bad_name("\\windows\\x", "windows");
    check_bad_name(".", "'.' has an empty name");
}

static void test_links_and_types(void)
{
    struct zip z;
    struct tarbuf t;
    tf_err err;
    zip_begin(&z);
    zip_file(&z, "fn.sh", fn_sh, 0755);
    zip_add(&z, "passwd", AE_IFLNK, 0777, "/etc/passwd", 0, NULL);
    zip_end(&z);
    CHECK(refused(convert(&z, NULL, &big, &t, &err), &err, TF_ERR_INVALID, "passwd"));
    CHECK(strstr(err.msg, "symbolic link") != NULL);
    tarbuf_free(&t);
    free(z.buf);

    /* A zip cannot hold a hard link: libarchive's zip writer stores one as
     * a plain empty file. It must arrive as that, never as a link (the
     * refusal of hard links in fnzip.c guards against readers that could). */
    zip_begin(&z);
    zip_file(&z, "fn.sh", fn_sh, 0755);
    zip_add(&z, "hard", AE_IFREG, 0644, NULL, 0, "fn.sh");
    zip_end(&z);
    CHECK(convert(&z, NULL, &big, &t, &err) == 0);
    struct tent te;
    CHECK(tar_find(&t, "fn/hard", &te) && te.type == AE_IFREG && te.len == 0 && te.link[0] == '\0');
    free(te.data);
    CHECK(tar_count(&t) == 2);
    tarbuf_free(&t);
    free(z.buf);
}

static void test_subfolder(void)
{
    struct zip z;
    struct tarbuf t;
    tf_err err;
    zip_begin(&z);
    zip_dir(&z, "repo-main/");
    zip_dir(&z, "repo-main/fns/echo/");
    zip_file(&z, "repo-main/fns/echo/fn.sh", fn_sh, 0755);
    zip_file(&z, "repo-main/fns/echo/lib/x.sh", "x\n", 0644);
    zip_file(&z, "repo-main/fns/echoes/no", "no\n", 0644);
    zip_file(&z, "repo-main/README", "readme\n", 0644);
    /* A symlink elsewhere in a repository does not spoil the subfolder. */
    zip_add(&z, "repo-main/other/link", AE_IFLNK, 0777, "../README", 0, NULL);
    zip_end(&z);

    const char *ok[] = {"repo-main/fns/echo", "repo-main/fns/echo/", "./repo-main/fns/echo",
                        "repo-main\\fns\\echo"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK(convert(&z, ok[i], &big, &t, &err) == 0);
        CHECK(tar_has_file(&t, "fn/fn.sh", fn_sh, 0755));
        CHECK(tar_has_file(&t, "fn/lib/x.sh", "x\n", 0644));
        CHECK(tar_count(&t) == 2);
        tarbuf_free(&t);
    }
    CHECK(refused(convert(&z, "repo-main/fns/ech", &big, &t, &err), &err, TF_ERR_INVALID,
                  "subfolder 'repo-main/fns/ech' not found in the zip"));
    tarbuf_free(&t);
    CHECK(refused(convert(&z, "nope", &big, &t, &err), &err, TF_ERR_INVALID, "nope"));
    tarbuf_free(&t);
    CHECK(
        refused(convert(&z, "../repo-main", &big, &t, &err), &err, TF_ERR_INVALID, "../repo-main"));
    tarbuf_free(&t);
    CHECK(refused(convert(&z, "/repo-main", &big, &t, &err), &err, TF_ERR_INVALID, "/repo-main"));
    tarbuf_free(&t);
    CHECK(refused(convert(&z, "repo-main/other", &big, &t, &err), &err, TF_ERR_INVALID, "link"));
    tarbuf_free(&t);
    /* The whole zip includes the symlink, so it is refused. */
    CHECK(refused(convert(&z, "", &big, &t, &err), &err, TF_ERR_INVALID, "repo-main/other/link"));
    tarbuf_free(&t);
    CHECK(refused(convert(&z, "repo-main/README", &big, &t, &err), &err, TF_ERR_INVALID, "README"));
    tarbuf_free(&t);
    free(z.buf);
}

static void test_limits(void)
{
    struct zip z;
    struct tarbuf t;
    tf_err err;
    zip_begin(&z);
    zip_dir(&z, "d/");
    zip_file(&z, "a", "aaaaaaaaaa", 0644);
    zip_file(&z, "d/b", "bbbbbbbbbb", 0644);
    zip_end(&z);
    struct fnzip_limits lim = {.max_entries = 3, .max_total_bytes = 20};
    CHECK(convert(&z, NULL, &lim, &t, &err) == 0); /* exactly at both limits */
    tarbuf_free(&t);
    lim.max_entries = 2;
    CHECK(
        refused(convert(&z, NULL, &lim, &t, &err), &err, TF_ERR_TOO_LARGE, "more than 2 entries"));
    tarbuf_free(&t);
    lim.max_entries = 3;
    lim.max_total_bytes = 19;
    CHECK(refused(convert(&z, NULL, &lim, &t, &err), &err, TF_ERR_TOO_LARGE, "more than 19 bytes"));
    tarbuf_free(&t);
    free(z.buf);

    /* A zip bomb: 4 MiB of zeros deflate to a few KiB. */
    size_t n = 4u << 20;
    char *zeros = calloc(1, n);
    zip_begin(&z);
    zip_add(&z, "bomb", AE_IFREG, 0644, zeros, n, NULL);
    zip_end(&z);
    free(zeros);
    CHECK(z.len < 64 * 1024);
    lim.max_total_bytes = 1 << 20;
    CHECK(refused(convert(&z, NULL, &lim, &t, &err), &err, TF_ERR_TOO_LARGE, "bomb"));
    tarbuf_free(&t);

    /* The same bomb claiming to be 10 bytes in its central directory: the
     * bytes inflated are counted, not the claim. */
    for (size_t i = 0; i + 46 <= z.len; i++) {
        if (memcmp(z.buf + i, "PK\1\2", 4) == 0) {
            unsigned char *u = z.buf + i + 24; /* uncompressed size, LE */
            u[0] = 10, u[1] = u[2] = u[3] = 0;
        }
    }
    CHECK(refused(convert(&z, NULL, &lim, &t, &err), &err, TF_ERR_TOO_LARGE, "bomb"));
    tarbuf_free(&t);
    free(z.buf);
}

static void test_not_a_zip(void)
{
    struct zip z = {0};
    struct tarbuf t;
    tf_err err;
    z.buf = malloc(4096);
    z.len = 4096;
    srand(42);
    for (size_t i = 0; i < z.len; i++)
        z.buf[i] = (unsigned char)rand();
    CHECK(refused(convert(&z, NULL, &big, &t, &err), &err, TF_ERR_INVALID,
                  "the zip is not a valid zip archive: "));
    tarbuf_free(&t);
    z.len = 0;
    CHECK(refused(convert(&z, NULL, &big, &t, &err), &err, TF_ERR_INVALID, "not a valid zip"));
    tarbuf_free(&t);
    free(z.buf);

    /* A zip cut short loses its central directory. */
    zip_begin(&z);
    zip_file(&z, "fn.sh", fn_sh, 0755);
    zip_end(&z);
    z.len /= 2;
    CHECK(refused(convert(&z, NULL, &big, &t, &err), &err, TF_ERR_INVALID, "not a valid zip"));
    tarbuf_free(&t);
    free(z.buf);

    zip_begin(&z);
    zip_end(&z);
    CHECK(
        refused(convert(&z, NULL, &big, &t, &err), &err, TF_ERR_INVALID, "the zip holds no files"));
    tarbuf_free(&t);
    free(z.buf);
    zip_begin(&z);
    zip_dir(&z, "only/");
    zip_dir(&z, "dirs/");
    zip_end(&z);
    CHECK(
        refused(convert(&z, NULL, &big, &t, &err), &err, TF_ERR_INVALID, "the zip holds no files"));
    tarbuf_free(&t);
    free(z.buf);
}

static void test_base64(void)
{
    struct zip z;
    tf_err err;
    zip_begin(&z);
    zip_file(&z, "fn.sh", fn_sh, 0755);
    zip_file(&z, "big", "some more bytes so the base64 text wraps several times over", 0644);
    zip_end(&z);

    char *flat = malloc(z.len * 2 + 8), *wrapped = malloc(z.len * 2 + 8);
    int flen = (int)BASE64_ENCODE_RAW_LENGTH(z.len);
    base64_encode_raw(flat, z.len, z.buf);
    flat[flen] = '\0';
    size_t wlen = 0; /* as coreutils base64 writes it: 76 columns, final newline */
    for (int i = 0; i < flen; i++) {
        wrapped[wlen++] = flat[i];
        if (i % 76 == 75 || i == flen - 1)
            wrapped[wlen++] = '\n';
    }
    CHECK(flen > 200);

    unsigned char *a = NULL, *b = NULL, *c = NULL;
    size_t alen = 0, blen = 0, clen = 0;
    CHECK(fnzip_base64_decode(flat, (size_t)flen, &a, &alen, &err) == 0);
    CHECK(fnzip_base64_decode(wrapped, wlen, &b, &blen, &err) == 0);
    CHECK(alen == z.len && a && memcmp(a, z.buf, alen) == 0);
    CHECK(blen == z.len && b && memcmp(b, z.buf, blen) == 0);
    /* CRLF line ends, as a Windows client might send. */
    char *crlf = malloc(wlen * 2);
    size_t cl = 0;
    for (size_t i = 0; i < wlen; i++) {
        if (wrapped[i] == '\n')
            crlf[cl++] = '\r';
        crlf[cl++] = wrapped[i];
    }
    CHECK(fnzip_base64_decode(crlf, cl, &c, &clen, &err) == 0);
    CHECK(clen == z.len && c && memcmp(c, z.buf, clen) == 0);
    free(a);
    free(b);
    free(c);
    free(crlf);

    const char *bad[] = {"!!!!", "UEsD-abc", "UEsDBA", "QQ==QUJD", "QUJD====", "UEs\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *o = (unsigned char *)"x";
        size_t olen = 99;
        tf_err_clear(&err);
        CHECK(refused(fnzip_base64_decode(bad[i], strlen(bad[i]), &o, &olen, &err), &err,
                      TF_ERR_INVALID, "zip is not valid base64"));
        CHECK(o == NULL && olen == 0);
    }
    /* A NUL inside the text is not base64 either. */
    CHECK(fnzip_base64_decode("QUJD\0QUJD", 9, &a, &alen, &err) < 0 && err.kind == TF_ERR_INVALID);
    CHECK(fnzip_base64_decode("", 0, &a, &alen, &err) < 0 && err.kind == TF_ERR_INVALID);
    CHECK(fnzip_base64_decode("\n\n", 2, &a, &alen, &err) < 0 && err.kind == TF_ERR_INVALID);
    CHECK(fnzip_base64_decode("QUJD", 4, &a, &alen, &err) == 0 && alen == 3 &&
          memcmp(a, "ABC", 3) == 0);
    free(a);
    free(flat);
    free(wrapped);
    free(z.buf);
}

static void test_tarbuf(void)
{
    struct tarbuf t = {0};
    tf_err err;
    tarbuf_free(&t); /* zeroed: harmless */

    static const char dockerfile[] = "FROM scratch\nCOPY fn/ /fn/\n";
    CHECK(tarbuf_open(&t, &err) == 0);
    CHECK(tarbuf_add_file(&t, "Dockerfile", dockerfile, strlen(dockerfile), 0644, &err) == 0);
    CHECK(tarbuf_add_file(&t, "fn/fn.sh", fn_sh, strlen(fn_sh), 0755, &err) == 0);
    CHECK(tarbuf_add_symlink(&t, "bin/sh", "busybox", &err) == 0);
    CHECK(tarbuf_close(&t, &err) == 0);
    CHECK(t.len > 0 && t.len % 512 == 0);
    CHECK(tar_has_file(&t, "Dockerfile", dockerfile, 0644));
    CHECK(tar_has_file(&t, "fn/fn.sh", fn_sh, 0755));
    struct tent te;
    CHECK(tar_find(&t, "bin/sh", &te) && te.type == AE_IFLNK && strcmp(te.link, "busybox") == 0);
    free(te.data);
    CHECK(tar_count(&t) == 3);
    /* A closed tarbuf refuses more entries instead of crashing. */
    CHECK(tarbuf_add_file(&t, "late", "x", 1, 0644, &err) < 0 && err.kind == TF_ERR_INTERNAL);
    tarbuf_free(&t);
    CHECK(t.data == NULL && t.a == NULL && t.len == 0);

    /* Freed half-built, without close: nothing may leak (valgrind). */
    CHECK(tarbuf_open(&t, &err) == 0);
    CHECK(tarbuf_add_file(&t, "a", "a", 1, 0644, &err) == 0);
    tarbuf_free(&t);
}

/* A file bigger than tarbuf_add_file_from's block, with bytes that show
 * any block out of place. */
#define BIG_LEN 100003
static unsigned char *big_bytes(void)
{
    unsigned char *b = malloc(BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        b[i] = (unsigned char)(i * 7 + i / 251);
    return b;
}

static int tar_has_bytes(const struct tarbuf *t, const char *path, const unsigned char *want,
                         size_t len, int mode)
{
    struct tent te;
    int ok = tar_find(t, path, &te) && te.type == AE_IFREG && te.mode == mode && te.len == len &&
             memcmp(te.data, want, len) == 0;
    free(te.data);
    return ok;
}

/* A folder on disk and a tar within a tar, copied a block at a time. */
static void test_tree_and_archive(void)
{
    char dir[] = "/tmp/tinyfaas-test-tree.XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL);
    unsigned char *b = big_bytes();
    snprintf(path, sizeof path, "%s/big", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL && fwrite(b, 1, BIG_LEN, f) == BIG_LEN);
    fclose(f);
    chmod(path, 0750);
    snprintf(path, sizeof path, "%s/sub", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/sub/empty", dir);
    fclose(fopen(path, "wb"));
    chmod(path, 0600);
    snprintf(path, sizeof path, "%s/link", dir);
    CHECK(symlink("big", path) == 0);

    struct tarbuf t, out;
    tf_err err;
    CHECK(tarbuf_open(&t, &err) == 0);
    CHECK(tarbuf_add_tree(&t, dir, "out/", &err) == 0);
    CHECK(tarbuf_add_file(&t, "elsewhere", "x", 1, 0644, &err) == 0);
    CHECK(tarbuf_close(&t, &err) == 0);
    CHECK(tar_has_bytes(&t, "out/big", b, BIG_LEN, 0750));
    CHECK(tar_has_bytes(&t, "out/sub/empty", b, 0, 0600));
    struct tent te;
    CHECK(tar_find(&t, "out/link", &te) && te.type == AE_IFLNK && strcmp(te.link, "big") == 0);
    free(te.data);
    CHECK(tar_count(&t) == 5); /* out/big, out/sub, out/sub/empty, out/link, elsewhere */

    /* Only what lies under out/, with out/ taken off. */
    CHECK(tarbuf_open(&out, &err) == 0);
    CHECK(tarbuf_add_archive(&out, t.data, t.len, "out/", &err) == 0);
    CHECK(tarbuf_close(&out, &err) == 0);
    CHECK(tar_has_bytes(&out, "big", b, BIG_LEN, 0750));
    CHECK(tar_has_bytes(&out, "sub/empty", b, 0, 0600));
    CHECK(tar_count(&out) == 4);
    tarbuf_free(&out);

    tarbuf_free(&t);

    /* A tar cut inside a file's bytes: an error naming the file, not a short file. */
    CHECK(tarbuf_open(&t, &err) == 0);
    CHECK(tarbuf_add_file(&t, "out/big", b, BIG_LEN, 0644, &err) == 0);
    CHECK(tarbuf_close(&t, &err) == 0);
    CHECK(tarbuf_open(&out, &err) == 0);
    CHECK(tarbuf_add_archive(&out, t.data, 512 + 40000, "out/", &err) < 0 &&
          err.kind == TF_ERR_INTERNAL && strstr(err.msg, "big") != NULL);
    tarbuf_free(&out);
    tarbuf_free(&t);
    free(b);

    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0);
}

int main(void)
{
    test_good_zip();
    test_bad_names();
    test_links_and_types();
    test_subfolder();
    test_limits();
    test_not_a_zip();
    test_base64();
    test_tarbuf();
    test_tree_and_archive();
    return check_summary();
}
