/* Each function's own bridge network, on a /25 of the subnet pool when the
 * operator gave one. It stays while the function is deployed, across its
 * versions and the daemon's restarts: a restart makes no network. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lifecycle_internal.h"
#include "log.h"

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

/* Creates r's network on a /25 of the pool no other network of the engine's
 * overlaps: the engine refuses one that does. The search starts past the
 * last /25 given, so a deploy usually needs one try. */
static int create_in_pool(struct lifecycle *lc, struct function_record *r, json_t *labels,
                          tf_err *err)
{
    uint32_t base, count;
    if (parse_pool(lc->cfg.subnet_pool, &base, &count) < 0)
        return tf_err_set(err, TF_ERR_INVALID,
                          "subnet pool '%s' is not A.B.C.D/N with N at most 25",
                          lc->cfg.subnet_pool);
    char net_id[DOCKER_ID_MAX];
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i = (lc->next_subnet + k) % count;
        uint32_t net = base + (i << 7);
        char subnet[32];
        snprintf(subnet, sizeof subnet, "%u.%u.%u.%u/25", net >> 24, (net >> 16) & 255,
                 (net >> 8) & 255, net & 255);
        tf_err e = {0};
        if (docker_network_create(lc->cfg.docker, r->network, subnet, labels, net_id, &e) == 0) {
            lc->next_subnet = (i + 1) % count;
            return 0;
        }
        if (e.kind != TF_ERR_CONFLICT)
            return tf_err_set(err, e.kind, "%s", e.msg);
    }
    return tf_err_set(err, TF_ERR_UNAVAILABLE, "no free /25 left in the subnet pool %s",
                      lc->cfg.subnet_pool);
}

static int create_network(struct lifecycle *lc, struct function_record *r, tf_err *err)
{
    json_t *labels = lifecycle_labels(lc, r->name, r->version);
    if (labels == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    char net_id[DOCKER_ID_MAX];
    /* One at a time: the /25 search sees the networks made before it. */
    pthread_mutex_lock(&lc->net_lock);
    /* On Swarm, an overlay from the swarm's own address pool, spanning the
     * nodes its tasks run on. */
    int rc = lc->cfg.swarm ? docker_overlay_create(lc->cfg.docker, r->network, labels, net_id, err)
             : lc->cfg.subnet_pool == NULL
                 ? docker_network_create(lc->cfg.docker, r->network, NULL, labels, net_id, err)
                 : create_in_pool(lc, r, labels, err);
    pthread_mutex_unlock(&lc->net_lock);
    json_decref(labels);
    return rc;
}

static void network_name(const struct lifecycle *lc, const char *name, char *out, size_t size)
{
    snprintf(out, size, "tinyfaas-%s-%s", lc->cfg.instance_id, name);
}

int lifecycle_ensure_network(struct lifecycle *lc, struct function_record *r, tf_err *err)
{
    network_name(lc, r->name, r->network, sizeof r->network);
    int rc = docker_network_exists(lc->cfg.docker, r->network, err);
    if (rc < 0 || rc == 1)
        return rc < 0 ? rc : 0; /* an earlier version's, or kept from before a restart */
    return create_network(lc, r, err);
}

void lifecycle_remove_network(struct lifecycle *lc, const char *name)
{
    char net[128];
    network_name(lc, name, net, sizeof net);
    tf_err e;
    if (docker_network_remove(lc->cfg.docker, net, &e) < 0)
        log_warn("function %s: %s", name, e.msg);
}
