/* The Docker backend against the real engine: build, network, containers,
 * logs, listing by label and removal. Every object carries the label
 * tinyfaas.test=docker-<pid>, and only objects with it are ever touched. */
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "docker.h"
#include "fnzip.h"

#include "check.h"

static char label_value[64], label[96];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (f == NULL || fstat(fileno(f), &st) < 0) {
        if (f)
            fclose(f);
        return -1;
    }
    *len = (size_t)st.st_size;
    *out = malloc(*len ? *len : 1);
    int ok = *out && fread(*out, 1, *len, f) == *len;
    fclose(f);
    return ok ? 0 : -1;
}

static int tar_add(struct archive *a, const char *name, const void *data, size_t len, int mode)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, mode);
    int ok = archive_write_header(a, e) == ARCHIVE_OK &&
             archive_write_data(a, data, len) == (la_ssize_t)len;
    archive_entry_free(e);
    return ok ? 0 : -1;
}

/* A build context: the Dockerfile, and /bin/busybox when asked. */
static unsigned char *make_tar(const char *dockerfile, int with_busybox, size_t *len)
{
    unsigned char *bb = NULL, *buf = NULL;
    size_t bb_len = 0, cap, used = 0;
    struct archive *a = NULL;

    if (with_busybox && read_file("/bin/busybox", &bb, &bb_len) < 0) {
        printf("cannot read /bin/busybox\n");
        return NULL;
    }
    cap = bb_len + strlen(dockerfile) + 64 * 1024;
    buf = malloc(cap);
    a = archive_write_new();
    if (buf == NULL || a == NULL || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_memory(a, buf, cap, &used) != ARCHIVE_OK ||
        tar_add(a, "Dockerfile", dockerfile, strlen(dockerfile), 0644) < 0 ||
        (with_busybox && tar_add(a, "busybox", bb, bb_len, 0755) < 0) ||
        archive_write_close(a) != ARCHIVE_OK) {
        printf("tar: %s\n", a ? archive_error_string(a) : "out of memory");
        free(buf);
        buf = NULL;
    }
    archive_write_free(a);
    free(bb);
    *len = used;
    return buf;
}

static json_t *test_labels(void)
{
    return json_pack("{s:s}", "tinyfaas.test", label_value);
}

static void on_progress(void *ctx, const char *line)
{
    int *n = ctx;
    (*n)++;
    printf("  build: %s\n", line);
}

struct lines {
    char *text[64];
    size_t len[64];
    int n;
};

static void on_line(void *ctx, const char *line, size_t len)
{
    struct lines *l = ctx;
    if (l->n < 64) {
        l->text[l->n] = strndup(line, len);
        l->len[l->n++] = len;
    }
}

static void lines_free(struct lines *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->text[i]);
    l->n = 0;
}

static int lines_has(const struct lines *l, const char *s)
{
    for (int i = 0; i < l->n; i++)
        if (l->text[i] && strcmp(l->text[i], s) == 0)
            return 1;
    return 0;
}

/* Polls the logs until every wanted line is there, for up to ~60 s. */
static void wait_logs(struct docker *d, const char *id, struct lines *l, const char *const *want,
                      int n_want)
{
    tf_err err;
    for (int tries = 0; tries < 600; tries++) {
        lines_free(l);
        if (docker_container_logs(d, id, 0, false, on_line, l, &err) < 0) {
            printf("  logs: %s\n", err.msg);
            return;
        }
        int all = 1;
        for (int i = 0; i < n_want; i++)
            all = all && lines_has(l, want[i]);
        if (all)
            return;
        sleep_ms(100);
    }
}

struct found {
    int n;
    char id[DOCKER_ID_MAX];
    int labelled; /* the labels object handed over carried our value */
};

static void on_found(void *ctx, const char *id, json_t *labels)
{
    struct found *f = ctx;
    f->n++;
    snprintf(f->id, sizeof f->id, "%s", id);
    f->labelled =
        json_is_object(labels) &&
        strcmp(json_string_value(json_object_get(labels, "tinyfaas.test")) ?: "", label_value) == 0;
}

static int count(struct docker *d, enum docker_kind kind, struct found *f)
{
    tf_err err;
    memset(f, 0, sizeof *f);
    if (docker_list(d, kind, label, on_found, f, &err) < 0) {
        printf("  list: %s\n", err.msg);
        return -1;
    }
    return f->n;
}

/* Collects ids to remove after a list, not during it. */
struct ids {
    char id[16][DOCKER_ID_MAX];
    int n;
};

static void on_collect(void *ctx, const char *id, json_t *labels)
{
    struct ids *ids = ctx;
    (void)labels;
    if (ids->n < 16)
        snprintf(ids->id[ids->n++], DOCKER_ID_MAX, "%s", id);
}

/* Removes whatever carries our label, whatever state a failed check left. */
static void cleanup(struct docker *d)
{
    static const enum docker_kind order[] = {DOCKER_CONTAINERS, DOCKER_NETWORKS, DOCKER_IMAGES};
    int (*rm[])(struct docker *, const char *,
                tf_err *) = {docker_container_remove, docker_network_remove, docker_image_remove};
    tf_err err;

    if (d == NULL)
        return;
    for (int k = 0; k < 3; k++) {
        struct ids ids = {0};
        if (docker_list(d, order[k], label, on_collect, &ids, &err) < 0)
            printf("  cleanup list: %s\n", err.msg);
        for (int i = 0; i < ids.n; i++)
            if (rm[k](d, ids.id[i], &err) < 0)
                printf("  cleanup %s: %s\n", ids.id[i], err.msg);
    }
}

static int is_ipv4(const char *s)
{
    struct in_addr a;
    return inet_pton(AF_INET, s, &a) == 1;
}

struct shared {
    struct docker *d;
    const char *tag;
    int ok;
};

static void *exists_thread(void *arg)
{
    struct shared *s = arg;
    tf_err err;
    for (int i = 0; i < 20; i++)
        if (docker_image_exists(s->d, s->tag, &err) != 1)
            return NULL;
    s->ok = 1;
    return NULL;
}

/* Prints to stdout and stderr; with MODE=exit also a 40000-byte line (longer
 * than one log frame) and a last line without a newline, then exits 3. */
#define BUSYBOX_CMD                                                                                \
    "CMD [\"/bin/busybox\", \"sh\", \"-c\", \"echo hi $FOO; echo err >&2; "                        \
    "if [ x$MODE = xexit ]; then /bin/busybox head -c 40000 /dev/zero | /bin/busybox tr -c x x; "  \
    "echo; printf tail; exit 3; fi; exec /bin/busybox sleep 1000\"]\n"

/* The tar of one file, or NULL. */
static struct tarbuf one_file_tar(const char *path, const char *text)
{
    struct tarbuf t = {0};
    tf_err err;
    if (tarbuf_open(&t, &err) < 0 ||
        tarbuf_add_file(&t, path, text, strlen(text), 0644, &err) < 0 || tarbuf_close(&t, &err) < 0)
        printf("  tar: %s\n", err.msg);
    return t;
}

/* What a function's build in the sandbox does (core/buildbox.c,
 * core/lifecycle_build.c), call by call: files into a container that has
 * not started, a command with an entrypoint of its own and no network, its
 * exit status, files back out (within a bound), an image imported from
 * them with Dockerfile changes, and one committed from a container that
 * never ran. */
static void test_compile_calls(struct docker *d, const char *tag, json_t *labels,
                               const char *imptag)
{
    tf_err err;
    char id[DOCKER_ID_MAX];
    const char *script = "/bin/busybox mkdir -p /out && /bin/busybox tr a-z A-Z < /in/data > "
                         "/out/result && exit 3";
    const char *argv[] = {"/bin/busybox", "sh", "-c", script};
    struct docker_container_spec spec = {
        .image = tag, .network = "none", .labels = labels, .entrypoint = argv, .n_entrypoint = 4};
    CHECKF(docker_container_create(d, &spec, id, &err) == 0, "create compile: %s", err.msg);
    struct tarbuf in = one_file_tar("in/data", "compiled\n");
    /* The engine needs the directory to exist: "/" always does. */
    CHECKF(docker_container_put_archive(d, id, "/", in.data, in.len, &err) == 0, "put: %s",
           err.msg);
    tarbuf_free(&in);
    int code = -1;
    CHECKF(docker_container_start(d, id, &err) == 0, "start compile: %s", err.msg);
    CHECKF(docker_container_wait(d, id, 30, &code, &err) == 0 && code == 3, "wait: %d %s", code,
           err.msg);
    void *out = NULL;
    size_t out_len = 0;
    CHECKF(docker_container_get_archive(d, id, "/out", 1 << 20, &out, &out_len, &err) == 0,
           "get: %s", err.msg);
    void *big = NULL;
    size_t big_len = 0;
    CHECKF(docker_container_get_archive(d, id, "/out", 100, &big, &big_len, &err) < 0 &&
               err.kind == TF_ERR_TOO_LARGE && big == NULL,
           "get past the bound: %d %s", (int)err.kind, err.msg);
    CHECKF(docker_container_get_archive(d, id, "/nothing", 1 << 20, &big, &big_len, &err) < 0 &&
               err.kind == TF_ERR_NOT_FOUND,
           "get missing: %d %s", (int)err.kind, err.msg);
    CHECKF(docker_container_remove(d, id, &err) == 0, "remove compile: %s", err.msg);

    /* The image: busybox from the test image's container, and the result. */
    struct tarbuf root = {0};
    void *bb = NULL;
    size_t bb_len = 0;
    struct docker_container_spec holder = {.image = tag, .network = "none", .labels = labels};
    CHECKF(docker_container_create(d, &holder, id, &err) == 0, "create holder: %s", err.msg);
    CHECKF(docker_container_get_archive(d, id, "/bin", 8 << 20, &bb, &bb_len, &err) == 0,
           "get bin: %s", err.msg);
    /* Committed without running: the holder's image and the result. */
    char comtag[128];
    snprintf(comtag, sizeof comtag, "tinyfaas-test/committed-%s:latest", label_value);
    CHECKF(docker_container_put_archive(d, id, "/", out, out_len, &err) == 0 &&
               docker_container_commit(d, id, comtag, NULL, 0, &err) == 0,
           "commit: %s", err.msg);
    docker_container_remove(d, id, &err);
    const char *cat[] = {"/bin/busybox", "cat", "/out/result"};
    struct docker_container_spec com = {
        .image = comtag, .network = "none", .labels = labels, .entrypoint = cat, .n_entrypoint = 3};
    CHECKF(docker_container_create(d, &com, id, &err) == 0 &&
               docker_container_start(d, id, &err) == 0 &&
               docker_container_wait(d, id, 30, &code, &err) == 0 && code == 0,
           "run committed: %d %s", code, err.msg);
    struct lines cl = {0};
    docker_container_logs(d, id, 0, false, on_line, &cl, &err);
    CHECKF(cl.n == 1 && lines_has(&cl, "COMPILED"), "committed image's output: %d lines", cl.n);
    lines_free(&cl);
    docker_container_remove(d, id, &err);
    CHECKF(docker_image_remove(d, comtag, &err) == 0, "remove committed: %s", err.msg);

    /* A user and a working directory of the caller's. */
    const char *who[] = {"/bin/busybox", "sh", "-c", "echo $(/bin/busybox id -u) $PWD"};
    struct docker_container_spec as = {.image = tag,
                                       .network = "none",
                                       .labels = labels,
                                       .user = "65534:65534",
                                       .workdir = "/bin",
                                       .entrypoint = who,
                                       .n_entrypoint = 4};
    CHECKF(docker_container_create(d, &as, id, &err) == 0 &&
               docker_container_start(d, id, &err) == 0 &&
               docker_container_wait(d, id, 30, &code, &err) == 0 && code == 0,
           "run as nobody: %d %s", code, err.msg);
    struct lines wl = {0};
    docker_container_logs(d, id, 0, false, on_line, &wl, &err);
    CHECKF(wl.n == 1 && lines_has(&wl, "65534 /bin"), "user and workdir: %d lines", wl.n);
    lines_free(&wl);
    docker_container_remove(d, id, &err);
    CHECKF(tarbuf_open(&root, &err) == 0 && tarbuf_add_archive(&root, bb, bb_len, "", &err) == 0 &&
               tarbuf_add_archive(&root, out, out_len, "out/", &err) == 0 &&
               tarbuf_close(&root, &err) == 0,
           "root tar: %s", err.msg);
    char label_line[128];
    snprintf(label_line, sizeof label_line, "LABEL tinyfaas.test=\"%s\"", label_value);
    const char *changes[] = {"ENTRYPOINT [\"/bin/busybox\", \"cat\"]", "CMD [\"result\"]",
                             "WORKDIR /", label_line};
    CHECKF(docker_image_import(d, root.data, root.len, imptag, changes, 4, &err) == 0, "import: %s",
           err.msg);
    struct docker_container_spec run = {.image = imptag, .network = "none", .labels = labels};
    CHECKF(docker_container_create(d, &run, id, &err) == 0 &&
               docker_container_start(d, id, &err) == 0 &&
               docker_container_wait(d, id, 30, &code, &err) == 0 && code == 0,
           "run imported: %d %s", code, err.msg);
    struct lines l = {0};
    docker_container_logs(d, id, 0, false, on_line, &l, &err);
    CHECKF(l.n == 1 && lines_has(&l, "COMPILED"), "imported image's output: %d lines", l.n);
    lines_free(&l);
    docker_container_remove(d, id, &err);

    /* A command that outlives the wait is a 504. */
    const char *sleeper[] = {"/bin/busybox", "sleep", "30"};
    struct docker_container_spec slow = {.image = tag,
                                         .network = "none",
                                         .labels = labels,
                                         .entrypoint = sleeper,
                                         .n_entrypoint = 3};
    CHECKF(docker_container_create(d, &slow, id, &err) == 0 &&
               docker_container_start(d, id, &err) == 0,
           "start sleeper: %s", err.msg);
    int rc = docker_container_wait(d, id, 1, &code, &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_TIMEOUT, "wait timeout: %d %d %s", rc, (int)err.kind,
           err.msg);
    docker_container_remove(d, id, &err);
    CHECKF(docker_image_remove(d, imptag, &err) == 0, "remove imported: %s", err.msg);
    tarbuf_free(&root);
    free(bb);
    free(out);
}

int main(void)
{
    struct docker *d = NULL, *bad = NULL;
    tf_err err;
    char tag[128], badtag[128], nonetag[128], netname[64], cname[64], cname2[64];
    char net_id[DOCKER_ID_MAX] = "", cid[DOCKER_ID_MAX] = "", cid2[DOCKER_ID_MAX] = "";
    char dup_id[DOCKER_ID_MAX], ip[64];
    unsigned char *tar = NULL;
    size_t tar_len = 0;
    json_t *labels = NULL;
    int rc, pid = (int)getpid();

    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(label_value, sizeof label_value, "docker-%d", pid);
    snprintf(label, sizeof label, "tinyfaas.test=%s", label_value);
    /* A slash and a colon in the tag exercise escaping in paths. */
    snprintf(tag, sizeof tag, "tinyfaas-test/docker:%d", pid);
    snprintf(badtag, sizeof badtag, "tinyfaas-test/docker-bad:%d", pid);
    snprintf(nonetag, sizeof nonetag, "tinyfaas-test/docker-none:%d", pid);
    snprintf(netname, sizeof netname, "tinyfaas-test-%d", pid);
    snprintf(cname, sizeof cname, "tinyfaas-test-%d-a", pid);
    snprintf(cname2, sizeof cname2, "tinyfaas-test-%d-b", pid);
    labels = test_labels();

    /* An engine that is not there is a 503 with the reason. */
    rc = docker_open(&bad, "unix:///nonexistent.sock", &err);
    CHECKF(rc < 0 && bad == NULL, "rc %d", rc);
    CHECKF(err.kind == TF_ERR_UNAVAILABLE && strstr(err.msg, "cannot reach the Docker engine") &&
               strstr(err.msg, "/nonexistent.sock"),
           "%d %s", (int)err.kind, err.msg);
    printf("unreachable: %d %s\n", (int)err.kind, err.msg);
    rc = docker_open(&bad, "tcp://127.0.0.1:1", &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_UNAVAILABLE && strstr(err.msg, "tcp://127.0.0.1:1"),
           "%d %s", (int)err.kind, err.msg);
    rc = docker_open(&bad, "ftp://example", &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_INVALID, "%d %s", (int)err.kind, err.msg);
    /* NULL means $DOCKER_HOST; put it back for the real engine below. */
    char *saved = getenv("DOCKER_HOST") ? strdup(getenv("DOCKER_HOST")) : NULL;
    setenv("DOCKER_HOST", "unix:///nonexistent.sock", 1);
    rc = docker_open(&bad, NULL, &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_UNAVAILABLE && strstr(err.msg, "/nonexistent.sock"),
           "%d %s", (int)err.kind, err.msg);
    if (saved)
        setenv("DOCKER_HOST", saved, 1);
    else
        unsetenv("DOCKER_HOST");
    free(saved);

    rc = docker_open(&d, NULL, &err);
    CHECKF(rc == 0 && d != NULL, "open: %s", err.msg);
    if (d == NULL)
        goto done;
    const char *v = docker_api_version(d);
    unsigned major = 0, minor = 0;
    CHECKF(sscanf(v, "%u.%u", &major, &minor) == 2 && major == 1 && minor >= 24 && minor <= 41,
           "version %s", v);
    printf("api version %s\n", v);

    /* Build from scratch with busybox. */
    tar = make_tar("FROM scratch\nCOPY busybox /bin/busybox\n" BUSYBOX_CMD, 1, &tar_len);
    CHECKF(tar != NULL, "tar");
    if (tar == NULL)
        goto done;
    int progress = 0;
    rc = docker_image_build(d, tar, tar_len, tag, labels, on_progress, &progress, &err);
    CHECKF(rc == 0, "build: %d %s", (int)err.kind, err.msg);
    CHECKF(progress >= 3, "progress lines %d", progress);
    free(tar);
    tar = NULL;
    CHECKF(docker_image_exists(d, tag, &err) == 1, "exists: %s", err.msg);
    CHECKF(docker_image_exists(d, nonetag, &err) == 0, "not exists: %s", err.msg);

    /* Several threads share one struct docker. */
    struct shared sh[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        sh[i] = (struct shared){d, tag, 0};
        pthread_create(&th[i], NULL, exists_thread, &sh[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECKF(sh[i].ok, "thread %d", i);
    }

    /* A failing build step is a build error with the builder's message. */
    progress = 0;
    tar = make_tar("FROM scratch\nCOPY missing-file /x\n", 0, &tar_len);
    rc = docker_image_build(d, tar, tar_len, badtag, labels, on_progress, &progress, &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_BUILD && strstr(err.msg, "missing-file"), "%d %d %s", rc,
           (int)err.kind, err.msg);
    printf("bad build: %d %s\n", (int)err.kind, err.msg);
    free(tar);
    /* So is a Dockerfile the engine cannot parse (its own HTTP 400). */
    tar = make_tar("FROMM scratch\n", 0, &tar_len);
    rc = docker_image_build(d, tar, tar_len, badtag, labels, NULL, NULL, &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_BUILD && strstr(err.msg, "FROMM"), "%d %d %s", rc,
           (int)err.kind, err.msg);
    printf("bad Dockerfile: %d %s\n", (int)err.kind, err.msg);
    free(tar);
    tar = NULL;

    /* Network. */
    rc = docker_network_create(d, netname, NULL, labels, net_id, &err);
    CHECKF(rc == 0 && strlen(net_id) == 64, "network: %s", err.msg);
    rc = docker_network_create(d, netname, NULL, labels, dup_id, &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_CONFLICT, "duplicate network: %d %s", (int)err.kind,
           err.msg);

    /* A missing image names itself. */
    const char *env[] = {"FOO=bar"};
    struct docker_container_spec spec = {.name = cname,
                                         .image = nonetag,
                                         .network = netname,
                                         .labels = labels,
                                         .env = env,
                                         .n_env = 1};
    rc = docker_container_create(d, &spec, cid, &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_NOT_FOUND && strstr(err.msg, "No such image"), "%d %s",
           (int)err.kind, err.msg);
    printf("missing image: %d %s\n", (int)err.kind, err.msg);

    /* A long-running container. */
    spec.image = tag;
    rc = docker_container_create(d, &spec, cid, &err);
    CHECKF(rc == 0 && strlen(cid) == 64, "create: %s", err.msg);
    rc = docker_container_start(d, cid, &err);
    CHECKF(rc == 0, "start: %s", err.msg);
    CHECKF(docker_container_start(d, cid, &err) == 0, "start again (304): %s", err.msg);
    rc = docker_container_ip(d, cid, netname, ip, &err);
    CHECKF(rc == 0 && is_ipv4(ip), "ip by name: %s '%s'", err.msg, ip);
    printf("container ip %s\n", ip);
    rc = docker_container_ip(d, cid, net_id, ip, &err);
    CHECKF(rc == 0 && is_ipv4(ip), "ip by id: %s '%s'", err.msg, ip);
    int code = -1;
    CHECKF(docker_container_running(d, cid, &code, &err) == 1, "running: %s", err.msg);
    struct lines l = {0};
    const char *want[] = {"hi bar", "err"};
    wait_logs(d, cid, &l, want, 2);
    CHECKF(lines_has(&l, "hi bar") && lines_has(&l, "err"), "logs: %d lines", l.n);
    lines_free(&l);

    /* One that exits 3, after a line longer than a log frame and a last
     * line without a newline. */
    const char *env2[] = {"FOO=bar", "MODE=exit"};
    struct docker_container_spec spec2 = {
        .name = cname2, .image = tag, .network = net_id, .labels = labels, .env = env2, .n_env = 2};
    rc = docker_container_create(d, &spec2, cid2, &err);
    CHECKF(rc == 0, "create 2: %s", err.msg);
    CHECKF(docker_container_start(d, cid2, &err) == 0, "start 2: %s", err.msg);
    int running = 1;
    for (int i = 0; i < 50 && running == 1; i++) {
        running = docker_container_running(d, cid2, &code, &err);
        if (running == 1)
            sleep_ms(100);
    }
    CHECKF(running == 0 && code == 3, "exited: %d code %d %s", running, code, err.msg);
    const char *want2[] = {"hi bar", "err", "tail"};
    wait_logs(d, cid2, &l, want2, 3);
    int long_ok = 0;
    for (int i = 0; i < l.n; i++)
        if (l.len[i] == 40000 && strspn(l.text[i], "x") == 40000)
            long_ok = 1;
    CHECKF(lines_has(&l, "hi bar") && lines_has(&l, "err") && lines_has(&l, "tail") && long_ok,
           "logs 2: %d lines, long line %d", l.n, long_ok);
    lines_free(&l);
    CHECKF(docker_container_remove(d, cid2, &err) == 0, "remove 2: %s", err.msg);

    char imptag[160];
    snprintf(imptag, sizeof imptag, "%s-imported", tag);
    test_compile_calls(d, tag, labels, imptag);

    /* Found again by label, exactly once each. */
    struct found f;
    CHECKF(count(d, DOCKER_CONTAINERS, &f) == 1 && strcmp(f.id, cid) == 0 && f.labelled,
           "containers %d", f.n);
    CHECKF(count(d, DOCKER_NETWORKS, &f) == 1 && strcmp(f.id, net_id) == 0 && f.labelled,
           "networks %d", f.n);
    CHECKF(count(d, DOCKER_IMAGES, &f) == 1 && strncmp(f.id, "sha256:", 7) == 0 && f.labelled,
           "images %d", f.n);

    /* Removal, twice: the second finds nothing and is still success. */
    CHECKF(docker_container_remove(d, cid, &err) == 0, "remove container: %s", err.msg);
    CHECKF(docker_container_remove(d, cid, &err) == 0, "remove container again: %s", err.msg);
    CHECKF(docker_network_remove(d, net_id, &err) == 0, "remove network: %s", err.msg);
    CHECKF(docker_network_remove(d, net_id, &err) == 0, "remove network again: %s", err.msg);
    CHECKF(docker_image_remove(d, tag, &err) == 0, "remove image: %s", err.msg);
    CHECKF(docker_image_remove(d, tag, &err) == 0, "remove image again: %s", err.msg);
    rc = docker_container_running(d, cid, &code, &err);
    CHECKF(rc < 0 && err.kind == TF_ERR_NOT_FOUND, "running after remove: %d %d %s", rc,
           (int)err.kind, err.msg);
    CHECKF(count(d, DOCKER_CONTAINERS, &f) == 0, "containers left %d", f.n);
    CHECKF(count(d, DOCKER_NETWORKS, &f) == 0, "networks left %d", f.n);
    CHECKF(count(d, DOCKER_IMAGES, &f) == 0, "images left %d", f.n);

done:
    cleanup(d);
    docker_close(d);
    json_decref(labels);
    free(tar);
    return check_summary();
}
