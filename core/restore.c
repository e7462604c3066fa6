#include "restore.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "log.h"
#include "store.h"

struct restorer {
    struct lifecycle *lc;
    const char *state_dir;
    pthread_t thread;
    atomic_bool stopping;
    unsigned back;
};

static void restore_one(void *ctx, const struct deploy_spec *kept)
{
    struct restorer *r = ctx;
    if (atomic_load(&r->stopping))
        return;
    struct deploy_spec s = *kept;
    s.restoring = true;
    tf_err err = {0};
    if (lifecycle_deploy(r->lc, &s, &err) < 0) {
        log_warn("function %s did not come back: %s", s.name, err.msg);
    } else {
        r->back++;
    }
}

static void *run(void *arg)
{
    struct restorer *r = arg;
    int n = store_load_all(r->state_dir, restore_one, r);
    if (n > 0)
        log_info("%u of %d kept function(s) back%s", r->back, n,
                 r->back < (unsigned)n ? "; see the warnings above" : "");
    return NULL;
}

int restore_start(struct lifecycle *lc, const char *state_dir, struct restorer **out)
{
    struct restorer *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->lc = lc;
    r->state_dir = state_dir;
    atomic_init(&r->stopping, false);
    int rc = pthread_create(&r->thread, NULL, run, r);
    if (rc != 0) {
        free(r);
        return -rc;
    }
    *out = r;
    return 0;
}

void restore_stop(struct restorer *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->stopping, true);
    pthread_join(r->thread, NULL);
    free(r);
}
