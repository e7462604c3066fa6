/* libFuzzer: a kept function's spec.json, as the daemon reads it back at
 * start: every field type-checked (store.h), then the checks a deploy
 * applies before it makes anything (lifecycle_validate), against the
 * runtimes of this tree. The folder is "echo", as in the seeds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lifecycle_internal.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lifecycle *lc;

/* The lifecycle makes nothing until a deploy passes validation, so it needs
 * no engine here: only the runtimes, read from their folders. */
static struct lifecycle *make_lifecycle(void)
{
    struct runtimes_config rc = {
        .runtime_dir = TF_FUZZ_RUNTIME_DIR, .shim_dir = "", .cache_dir = ""};
    struct runtimes *rs = NULL;
    struct lifecycle *out = NULL;
    tf_err err = {0};
    if (runtimes_load(&rc, &rs, &err) < 0) {
        fprintf(stderr, "fuzz_state: %s\n", err.msg);
        abort();
    }
    struct lifecycle_config cfg = {.runtimes = rs, .instance_id = "fuzz"};
    if (lifecycle_create(&cfg, &out) < 0)
        abort();
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (lc == NULL)
        lc = make_lifecycle();
    struct store_spec k;
    tf_err err = {0};
    if (store_spec_parse((const char *)data, size, "echo", &k, &err) == 0)
        lifecycle_validate(lc, &k.spec, &err);
    store_spec_free(&k);
    return 0;
}
