/* The state dir read back at start: a good copy comes back with every
 * field, and a copy with a field of the wrong type, or a file missing, is
 * skipped with one warning naming the file and the field while the others
 * still load; one deleted meanwhile is passed over in silence. */
#include "store.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "log_capture.h"

static char state_dir[256];

static void write_text(const char *folder, const char *file, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/functions/%s", state_dir, folder);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/functions/%s/%s", state_dir, folder, file);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* A kept function as a test saw it: copies of the strings store_load_all lent. */
struct seen {
    char name[64], env[32], subfolder[32], envs[4][32], constraints[2][40];
    size_t n_envs, n_constraints, zip_len;
    unsigned char zip[16];
    long long threads, memory_mb, timeout_s, concurrency;
    double cpus;
};

struct seen_list {
    struct seen items[32];
    int n;
};

static void collect(void *ctx, const struct deploy_spec *s)
{
    struct seen_list *l = ctx;
    if (l->n == 32)
        abort();
    struct seen *o = &l->items[l->n++];
    snprintf(o->name, sizeof o->name, "%s", s->name);
    snprintf(o->env, sizeof o->env, "%s", s->env);
    snprintf(o->subfolder, sizeof o->subfolder, "%s", s->subfolder ? s->subfolder : "(null)");
    o->n_envs = s->n_envs;
    for (size_t i = 0; i < s->n_envs && i < 4; i++)
        snprintf(o->envs[i], sizeof o->envs[i], "%s", s->envs[i]);
    o->n_constraints = s->n_constraints;
    for (size_t i = 0; i < s->n_constraints && i < 2; i++)
        snprintf(o->constraints[i], sizeof o->constraints[i], "%s", s->constraints[i]);
    o->zip_len = s->zip_len;
    memcpy(o->zip, s->zip, s->zip_len < sizeof o->zip ? s->zip_len : sizeof o->zip);
    o->threads = s->threads;
    o->memory_mb = s->memory_mb;
    o->timeout_s = s->timeout_s;
    o->concurrency = s->concurrency;
    o->cpus = s->cpus;
}

static const struct seen *find(const struct seen_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    return NULL;
}

static void save_good(const char *name)
{
    static const char *const envs[] = {"A=1", "B=x=y"};
    static const char *const constraints[] = {"node.labels.site==north", "node.role!=manager"};
    static const unsigned char zip[] = {'P', 'K', 5, 6, 0, 1};
    struct deploy_spec s = {.name = name,
                            .env = "python3",
                            .threads = 3,
                            .zip = zip,
                            .zip_len = sizeof zip,
                            .subfolder = "src",
                            .envs = envs,
                            .n_envs = 2,
                            .memory_mb = 64,
                            .cpus = 0.5,
                            .timeout_s = 9,
                            .concurrency = 4,
                            .constraints = constraints,
                            .n_constraints = 2};
    tf_err err = {0};
    CHECKF(store_save(state_dir, &s, &err) == 0, "%s", err.msg);
}

/* What store_save writes comes back, every field of it. */
static void test_good_copy_loads_every_field(void)
{
    save_good("good");
    struct seen_list l = {0};
    CHECK(store_load_all(state_dir, collect, &l) == 1);
    CHECK(l.n == 1);
    const struct seen *s = find(&l, "good");
    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(strcmp(s->env, "python3") == 0);
    CHECK(s->threads == 3);
    CHECK(s->n_envs == 2 && strcmp(s->envs[0], "A=1") == 0 && strcmp(s->envs[1], "B=x=y") == 0);
    CHECK(s->memory_mb == 64);
    CHECK(s->cpus == 0.5);
    CHECK(s->timeout_s == 9);
    CHECK(s->concurrency == 4);
    CHECK(s->n_constraints == 2 && strcmp(s->constraints[0], "node.labels.site==north") == 0 &&
          strcmp(s->constraints[1], "node.role!=manager") == 0);
    CHECK(strcmp(s->subfolder, "src") == 0);
    CHECK(s->zip_len == 6 && memcmp(s->zip, "PK\5\6\0\1", 6) == 0);
    char *log = log_take();
    CHECKF(log_count(log, " warn ") == 0, "%s", log);
    free(log);
}

/* Only name and env are needed; the rest take an upload's defaults, and
 * fields this daemon does not know are no error. */
static void test_missing_fields_take_defaults(void)
{
    static const char text[] = "{\"name\": \"fn\", \"env\": \"c\", \"cpus\": 2, \"threads\": null,"
                               " \"from_a_newer_daemon\": {\"x\": [1]}}";
    struct store_spec k;
    tf_err err = {0};
    CHECKF(store_spec_parse(text, strlen(text), "fn", &k, &err) == 0, "%s", err.msg);
    CHECK(strcmp(k.spec.name, "fn") == 0 && strcmp(k.spec.env, "c") == 0);
    CHECK(k.spec.threads == 1);
    CHECK(k.spec.n_envs == 0 && k.spec.envs == k.envs);
    CHECK(k.spec.n_constraints == 0 && k.spec.constraints == k.constraints);
    CHECK(k.spec.memory_mb == 0 && k.spec.timeout_s == 0 && k.spec.concurrency == 0);
    CHECK(k.spec.cpus == 2.0);
    CHECK(k.spec.subfolder == NULL);
    CHECK(k.spec.zip == NULL && k.spec.zip_len == 0);
    store_spec_free(&k);
}

static const struct {
    const char *folder, *text, *reason;
} bad[] = {
    {"name-number", "{\"name\": 7, \"env\": \"c\"}", "field \"name\" is not a string"},
    {"name-missing", "{\"env\": \"c\"}", "field \"name\" is missing"},
    {"name-invalid", "{\"name\": \"../x\", \"env\": \"c\"}",
     "field \"name\" is not a valid function name"},
    {"name-other", "{\"name\": \"good\", \"env\": \"c\"}",
     "field \"name\" is \"good\", not the folder's name"},
    {"env-array", "{\"name\": \"env-array\", \"env\": [\"c\"]}", "field \"env\" is not a string"},
    {"env-missing", "{\"name\": \"env-missing\"}", "field \"env\" is missing"},
    {"threads-string", "{\"name\": \"threads-string\", \"env\": \"c\", \"threads\": \"2\"}",
     "field \"threads\" is not a whole number"},
    {"threads-real", "{\"name\": \"threads-real\", \"env\": \"c\", \"threads\": 2.0}",
     "field \"threads\" is not a whole number"},
    {"threads-zero", "{\"name\": \"threads-zero\", \"env\": \"c\", \"threads\": 0}",
     "field \"threads\" is 0, less than 1"},
    {"threads-many", "{\"name\": \"threads-many\", \"env\": \"c\", \"threads\": 65}",
     "field \"threads\" is 65, more than 64"},
    {"envs-number", "{\"name\": \"envs-number\", \"env\": \"c\", \"envs\": [\"A=1\", 1]}",
     "field \"envs\"[1] is not a string"},
    {"envs-object", "{\"name\": \"envs-object\", \"env\": \"c\", \"envs\": {\"A\": \"1\"}}",
     "field \"envs\" is not an array"},
    {"envs-no-eq", "{\"name\": \"envs-no-eq\", \"env\": \"c\", \"envs\": [\"A\"]}",
     "field \"envs\"[0] is not KEY=VALUE"},
    {"constraints-string",
     "{\"name\": \"constraints-string\", \"env\": \"c\", \"constraints\": \"a==b\"}",
     "field \"constraints\" is not an array"},
    {"constraints-no-eq",
     "{\"name\": \"constraints-no-eq\", \"env\": \"c\", \"constraints\": [\"a\"]}",
     "field \"constraints\"[0] is not NAME==VALUE"},
    {"memory-string", "{\"name\": \"memory-string\", \"env\": \"c\", \"memory_mb\": \"64\"}",
     "field \"memory_mb\" is not a whole number"},
    {"cpus-string", "{\"name\": \"cpus-string\", \"env\": \"c\", \"cpus\": \"0.5\"}",
     "field \"cpus\" is not a number"},
    {"cpus-negative", "{\"name\": \"cpus-negative\", \"env\": \"c\", \"cpus\": -0.5}",
     "field \"cpus\" is negative"},
    {"timeout-negative", "{\"name\": \"timeout-negative\", \"env\": \"c\", \"timeout_s\": -1}",
     "field \"timeout_s\" is -1, less than 0"},
    {"concurrency-bool", "{\"name\": \"concurrency-bool\", \"env\": \"c\", \"concurrency\": true}",
     "field \"concurrency\" is not a whole number"},
    {"subfolder-number", "{\"name\": \"subfolder-number\", \"env\": \"c\", \"subfolder\": 1}",
     "field \"subfolder\" is not a string"},
    {"truncated", "{\"name\": \"truncated\", \"env\": \"c\", \"thr", "not JSON: "},
    {"not-object", "[\"truncated\"]", "not a JSON object"},
    {"empty", "", "not JSON: "},
};

/* Each wrong field is refused by the parser with its name in the reason. */
static void test_parse_names_the_wrong_field(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct store_spec k;
        tf_err err = {0};
        int rc = store_spec_parse(bad[i].text, strlen(bad[i].text), bad[i].folder, &k, &err);
        CHECKF(rc < 0 && err.kind == TF_ERR_INVALID, "%s", bad[i].folder);
        CHECKF(strstr(err.msg, bad[i].reason) == err.msg, "%s: '%s'", bad[i].folder, err.msg);
        store_spec_free(&k);
    }
}

/* More entries than an upload may carry. */
static void test_parse_refuses_too_many_envs(void)
{
    size_t size = 64 + (STORE_MAX_ENVS + 1) * 8;
    char *text = malloc(size);
    if (text == NULL)
        abort();
    int n = snprintf(text, size, "{\"name\": \"fn\", \"env\": \"c\", \"envs\": [");
    for (int i = 0; i <= STORE_MAX_ENVS; i++)
        n += snprintf(text + n, size - (size_t)n, "%s\"A=1\"", i ? "," : "");
    snprintf(text + n, size - (size_t)n, "]}");
    struct store_spec k;
    tf_err err = {0};
    CHECK(store_spec_parse(text, strlen(text), "fn", &k, &err) < 0);
    CHECKF(strcmp(err.msg, "field \"envs\" has more than 256 entries") == 0, "%s", err.msg);
    store_spec_free(&k);
    free(text);
}

/* Every bad copy is skipped with one warning naming its spec.json and the
 * field; the good ones beside them load. */
static void test_bad_copies_skipped_good_ones_load(void)
{
    save_good("good");
    save_good("zz-good");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(bad[i].folder, "spec.json", bad[i].text);
        write_text(bad[i].folder, "code.zip", "PK\5\6");
    }
    struct seen_list l = {0};
    int n = store_load_all(state_dir, collect, &l);
    CHECKF(n == 2 + (int)(sizeof bad / sizeof bad[0]), "%d", n);
    CHECKF(l.n == 2, "%d", l.n);
    CHECK(find(&l, "good") != NULL && find(&l, "zz-good") != NULL);
    char *log = log_take();
    CHECKF(log_count(log, " warn ") == (int)(sizeof bad / sizeof bad[0]), "%s", log);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[1024];
        snprintf(line, sizeof line, " warn kept function in %s/functions/%s/spec.json: %s",
                 state_dir, bad[i].folder, bad[i].reason);
        CHECKF(log_count(log, line) == 1, "%s", line);
    }
    CHECK(log_count(log, "; skipped\n") == (int)(sizeof bad / sizeof bad[0]));
    free(log);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        store_remove(state_dir, bad[i].folder);
    store_remove(state_dir, "zz-good");
}

/* A missing code.zip, one too large to be a deploy's, or a FIFO where a
 * file should be: skipped, named, and nothing blocks. */
static void test_unreadable_files_skipped(void)
{
    char path[1024];
    write_text("no-zip", "spec.json", "{\"name\": \"no-zip\", \"env\": \"c\"}");
    write_text("huge-zip", "spec.json", "{\"name\": \"huge-zip\", \"env\": \"c\"}");
    write_text("huge-zip", "code.zip", "");
    snprintf(path, sizeof path, "%s/functions/huge-zip/code.zip", state_dir);
    CHECK(truncate(path, (off_t)STORE_MAX_FILE_BYTES + 1) == 0); /* sparse: costs no disk */
    write_text("fifo", "code.zip", "PK\5\6");
    snprintf(path, sizeof path, "%s/functions/fifo/spec.json", state_dir);
    CHECK(mkfifo(path, 0600) == 0);
    snprintf(path, sizeof path, "%s/functions/no-spec", state_dir);
    CHECK(mkdir(path, 0700) == 0);

    struct seen_list l = {0};
    CHECK(store_load_all(state_dir, collect, &l) == 5);
    CHECK(l.n == 1 && find(&l, "good") != NULL);
    char *log = log_take();
    char line[1024];
    snprintf(line, sizeof line,
             " warn kept function in %s/functions/no-zip/code.zip: cannot read it: No such file "
             "or directory; skipped\n",
             state_dir);
    CHECKF(log_count(log, line) == 1, "%s", log);
    snprintf(line, sizeof line,
             " warn kept function in %s/functions/huge-zip/code.zip: larger than 67108864 "
             "bytes; skipped\n",
             state_dir);
    CHECKF(log_count(log, line) == 1, "%s", log);
    snprintf(line, sizeof line,
             " warn kept function in %s/functions/fifo/spec.json: not a regular file; skipped\n",
             state_dir);
    CHECKF(log_count(log, line) == 1, "%s", log);
    snprintf(line, sizeof line,
             " warn kept function in %s/functions/no-spec/spec.json: cannot read it: No such "
             "file or directory; skipped\n",
             state_dir);
    CHECKF(log_count(log, line) == 1, "%s", log);
    CHECK(log_count(log, " warn ") == 4);
    free(log);
    store_remove(state_dir, "no-zip");
    store_remove(state_dir, "huge-zip");
    store_remove(state_dir, "fifo");
    store_remove(state_dir, "no-spec");
}

/* What a wipe during the restore does: the copy of a function not yet
 * loaded is removed while the load goes on. */
static void remove_the_next(void *ctx, const struct deploy_spec *s)
{
    collect(ctx, s);
    if (strcmp(s->name, "first") == 0)
        store_remove(state_dir, "second");
}

static void count_name(void *ctx, const char *name)
{
    (void)name;
    ++*(int *)ctx;
}

/* A copy deleted after the folder was listed is passed over, not warned
 * about nor counted; store_each_name lists what is kept. */
static void test_copy_deleted_meanwhile_passed_over(void)
{
    save_good("first");
    save_good("second");
    int named = 0;
    CHECK(store_each_name(state_dir, count_name, &named) == 3 && named == 3); /* and "good" */
    struct seen_list l = {0};
    int n = store_load_all(state_dir, remove_the_next, &l);
    CHECKF(n == 2, "%d", n);
    CHECK(l.n == 2 && find(&l, "first") != NULL && find(&l, "good") != NULL);
    char *log = log_take();
    CHECKF(log_count(log, " warn ") == 0, "%s", log);
    free(log);
    store_remove(state_dir, "first");
}

int main(void)
{
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : P_tmpdir;
    snprintf(state_dir, sizeof state_dir, "%s/tf-test-store.XXXXXX", tmp);
    if (log_capture_start() < 0 || mkdtemp(state_dir) == NULL)
        return 2;
    test_good_copy_loads_every_field();
    test_missing_fields_take_defaults();
    test_parse_names_the_wrong_field();
    test_parse_refuses_too_many_envs();
    test_bad_copies_skipped_good_ones_load();
    test_unreadable_files_skipped();
    test_copy_deleted_meanwhile_passed_over();
    store_remove(state_dir, "good");
    char path[1024];
    snprintf(path, sizeof path, "%s/functions", state_dir);
    rmdir(path);
    CHECKF(rmdir(state_dir) == 0, "%s is not empty", state_dir);
    log_capture_stop();
    return check_summary();
}
