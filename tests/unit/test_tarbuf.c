/* Unit test for core/tarbuf.c: tars are built in memory and read back
 * with libarchive. What the build sandbox relies on: the owner written on
 * entries, folders added above an entry, times kept from another tar, hard
 * links carried over with their paths stripped, and no set-id bits. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarbuf.h"

#include "check.h"

/* One line per entry of a tar: "TYPE PATH UID:GID MODE MTIME [-> LINK]". */
static char *listing(const struct tarbuf *t)
{
    static char out[4096];
    size_t n = 0;
    out[0] = '\0';
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, t->data, t->len) != ARCHIVE_OK) {
        archive_read_free(a);
        return "unreadable";
    }
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK && n < sizeof out - 256) {
        mode_t type = archive_entry_filetype(e);
        const char *hard = archive_entry_hardlink(e), *sym = archive_entry_symlink(e);
        n += (size_t)snprintf(out + n, sizeof out - n, "%c %s %ld:%ld %04o %ld%s%s\n",
                              hard               ? 'h'
                              : type == AE_IFDIR ? 'd'
                              : type == AE_IFLNK ? 'l'
                                                 : 'f',
                              archive_entry_pathname(e), (long)archive_entry_uid(e),
                              (long)archive_entry_gid(e), (unsigned)archive_entry_perm(e),
                              (long)archive_entry_mtime(e), hard || sym ? " -> " : "",
                              hard  ? hard
                              : sym ? sym
                                    : "");
    }
    archive_read_free(a);
    return out;
}

static void test_defaults_root_and_time_zero(void)
{
    struct tarbuf t;
    CHECK(tarbuf_open(&t, NULL) == 0);
    CHECK(tarbuf_add_file(&t, "fn/a/x", "x", 1, 0644, NULL) == 0);
    CHECK(tarbuf_close(&t, NULL) == 0);
    const char *got = listing(&t);
    CHECKF(strcmp(got, "f fn/a/x 0:0 0644 0\n") == 0, "%s", got);
    tarbuf_free(&t);
}

static void test_owner_and_parents(void)
{
    struct tarbuf t;
    CHECK(tarbuf_open(&t, NULL) == 0);
    t.uid = t.gid = 65534;
    t.parents = true;
    CHECK(tarbuf_add_dir(&t, "fn", 0755, NULL) == 0);
    CHECK(tarbuf_add_file(&t, "fn/pkg/sub/x.py", "x", 1, 0644, NULL) == 0);
    CHECK(tarbuf_add_file(&t, "fn/pkg/sub/y.py", "y", 1, 0600, NULL) == 0); /* same folder */
    CHECK(tarbuf_add_dir(&t, "fn/pkg/other/", 0700, NULL) == 0);
    CHECK(tarbuf_add_file(&t, "fn/pkg/other/z", "z", 1, 0755, NULL) == 0);
    CHECK(tarbuf_add_file(&t, "fn/pkgs/w", "w", 1, 0644, NULL) == 0); /* not in fn/pkg */
    CHECK(tarbuf_add_file(&t, "top", "t", 1, 0644, NULL) == 0);
    CHECK(tarbuf_close(&t, NULL) == 0);
    const char *got = listing(&t);
    const char *want = "d fn/ 65534:65534 0755 0\n"
                       "d fn/pkg/ 65534:65534 0755 0\n"
                       "d fn/pkg/sub/ 65534:65534 0755 0\n"
                       "f fn/pkg/sub/x.py 65534:65534 0644 0\n"
                       "f fn/pkg/sub/y.py 65534:65534 0600 0\n"
                       "d fn/pkg/other/ 65534:65534 0700 0\n"
                       "f fn/pkg/other/z 65534:65534 0755 0\n"
                       "d fn/pkgs/ 65534:65534 0755 0\n"
                       "f fn/pkgs/w 65534:65534 0644 0\n"
                       "f top 65534:65534 0644 0\n";
    CHECKF(strcmp(got, want) == 0, "\n%s", got);
    tarbuf_free(&t);
}

/* A tar as the engine's archive API gives one: times, owners and a hard link. */
static void engine_tar(struct tarbuf *src)
{
    tarbuf_open(src, NULL);
    src->uid = src->gid = 65534;
    struct archive_entry *e = archive_entry_new();
    const char *names[] = {"out/", "out/deps/", "out/deps/m.py", "out/deps/twin.py"};
    for (int i = 0; i < 4; i++) {
        archive_entry_clear(e);
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_filetype(e, i < 2 ? AE_IFDIR : AE_IFREG);
        archive_entry_set_perm(e, i == 0 ? 0755 : i == 1 ? 01777 : 06755);
        archive_entry_set_uid(e, 65534);
        archive_entry_set_mtime(e, 1700000000 + i, 0);
        archive_entry_set_size(e, i == 2 ? 2 : 0);
        if (i == 3)
            archive_entry_set_hardlink(e, "out/deps/m.py");
        archive_write_header(src->a, e);
        if (i == 2)
            archive_write_data(src->a, "m\n", 2);
        archive_write_finish_entry(src->a);
    }
    archive_entry_free(e);
    tarbuf_close(src, NULL);
}

static void test_archive_times_owner_and_hard_links(void)
{
    struct tarbuf src, t;
    engine_tar(&src);
    CHECK(tarbuf_open(&t, NULL) == 0);
    t.keep_times = true;
    CHECK(tarbuf_add_archive(&t, src.data, src.len, "out/", NULL) == 0);
    CHECK(tarbuf_close(&t, NULL) == 0);
    const char *got = listing(&t);
    /* No set-user-ID or set-group-ID bit survives a copy that makes it root's. */
    const char *want = "d deps/ 0:0 1777 1700000001\n"
                       "f deps/m.py 0:0 0755 1700000002\n"
                       "h deps/twin.py 0:0 0755 1700000003 -> deps/m.py\n";
    CHECKF(strcmp(got, want) == 0, "\n%s", got);
    tarbuf_free(&t);

    /* Times not kept unless asked: the same input, the same bytes. */
    CHECK(tarbuf_open(&t, NULL) == 0);
    CHECK(tarbuf_add_archive(&t, src.data, src.len, "out/deps/", NULL) == 0);
    CHECK(tarbuf_close(&t, NULL) == 0);
    got = listing(&t);
    CHECKF(strcmp(got, "f m.py 0:0 0755 0\nh twin.py 0:0 0755 0 -> m.py\n") == 0, "\n%s", got);
    tarbuf_free(&t);
    tarbuf_free(&src);
}

int main(void)
{
    test_defaults_root_and_time_zero();
    test_owner_and_parents();
    test_archive_times_owner_and_hard_links();
    return check_summary();
}
