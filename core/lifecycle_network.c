/* Each function version's own bridge network, on a /25 of the subnet pool
 * when the operator gave one. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lifecycle_internal.h"

static bool subnet_taken(struct lifecycle *lc, int index)
{
    bool taken = false;
    pthread_mutex_lock(&lc->table_lock);
    for (struct function_record *x = lc->records; x != NULL && !taken; x = x->next)
        taken = x->subnet == index;
    pthread_mutex_unlock(&lc->table_lock);
    return taken;
}

/* The pool as its first address and its number of /25s, or -1 when it is
 * not A.B.C.D/N with N at most 25. */
static int parse_pool(const char *pool, uint32_t *base, uint32_t *count)
{
    unsigned a, b, c, d, prefix;
    if (sscanf(pool, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &prefix) != 5 || prefix > 25 ||
        (a | b | c | d) > 255)
        return -1;
    *base = (a << 24) | (b << 16) | (c << 8) | d;
    *count = 1u << (25 - prefix);
    return 0;
}

/* Creates r's network on the first /25 of the pool that no function of ours
 * holds and no other network of the engine's overlaps. */
static int create_in_pool(struct lifecycle *lc, struct function_record *r, json_t *labels,
                          tf_err *err)
{
    uint32_t base, count;
    if (parse_pool(lc->cfg.subnet_pool, &base, &count) < 0)
        return tf_err_set(err, TF_ERR_INVALID,
                          "subnet pool '%s' is not A.B.C.D/N with N at most 25",
                          lc->cfg.subnet_pool);
    char net_id[DOCKER_ID_MAX];
    for (uint32_t i = 0; i < count; i++) {
        if (subnet_taken(lc, (int)i))
            continue;
        uint32_t net = base + (i << 7);
        char subnet[32];
        snprintf(subnet, sizeof subnet, "%u.%u.%u.%u/25", net >> 24, (net >> 16) & 255,
                 (net >> 8) & 255, net & 255);
        tf_err e = {0};
        if (docker_network_create(lc->cfg.docker, r->network, subnet, labels, net_id, &e) == 0) {
            r->subnet = (int)i;
            return 0;
        }
        if (e.kind != TF_ERR_CONFLICT)
            return tf_err_set(err, e.kind, "%s", e.msg);
    }
    return tf_err_set(err, TF_ERR_UNAVAILABLE, "no free /25 left in the subnet pool %s",
                      lc->cfg.subnet_pool);
}

int lifecycle_create_network(struct lifecycle *lc, const struct deploy_spec *s,
                             struct function_record *r, tf_err *err)
{
    json_t *labels = lifecycle_labels(lc, s->name, r->version);
    if (labels == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    char net_id[DOCKER_ID_MAX];
    /* One at a time: a network made meanwhile is then one the engine knows,
     * and a /25 it holds is refused, not given twice. */
    pthread_mutex_lock(&lc->net_lock);
    int rc = lc->cfg.subnet_pool == NULL
                 ? docker_network_create(lc->cfg.docker, r->network, NULL, labels, net_id, err)
                 : create_in_pool(lc, r, labels, err);
    pthread_mutex_unlock(&lc->net_lock);
    json_decref(labels);
    return rc;
}
