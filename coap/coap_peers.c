#include "coap_peers.h"

#include "dlist.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define BUCKETS TF_COAP_PEERS_MAX /* a power of two: chains stay short at the cap */

struct peer {
    struct peer *hnext;
    struct dlist_link age; /* in the order of their last answers */
    uint32_t last_ms;      /* of the loop's clock, wrapping: only differences count */
    struct tf_coap_peer_key key;
    uint32_t echo; /* an address's record (port 0): the Echo value it was given, 0 for none */
    bool verified; /* an address's record: RFC 9175 2.4, an Echo value came back from it */
    struct tf_coap_answer answers[TF_COAP_PEER_ANSWERS]; /* [0] the newest */
};

_Static_assert(sizeof(struct peer) + 8 <= TF_COAP_PEER_BYTES, "TF_COAP_PEER_BYTES documents this");

struct tf_coap_peers {
    struct peer *buckets[BUCKETS];
    struct dlist by_age;
    /* Peers older than this one hold no body: eviction starts here. */
    struct dlist_link *evict_from;
    size_t bytes, budget;
};

void tf_coap_peer_key_of(const coap_address_t *a, coap_proto_t proto, struct tf_coap_peer_key *k)
{
    memset(k, 0, sizeof *k);
    k->proto = (uint8_t)proto;
    k->family = (uint8_t)a->addr.sa.sa_family;
    if (k->family == AF_INET) {
        memcpy(k->addr, &a->addr.sin.sin_addr, 4);
        k->port = a->addr.sin.sin_port;
    } else if (k->family == AF_INET6) {
        memcpy(k->addr, &a->addr.sin6.sin6_addr, 16);
        k->port = a->addr.sin6.sin6_port;
    }
}

void tf_coap_peer_key_of_session(const coap_session_t *s, struct tf_coap_peer_key *out)
{
    tf_coap_peer_key_of(coap_session_get_addr_remote(s), coap_session_get_proto(s), out);
}

static size_t bucket_of(const struct tf_coap_peer_key *k)
{
    uint64_t a, b;
    memcpy(&a, k->addr, 8);
    memcpy(&b, k->addr + 8, 8);
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15u) ^
                  ((uint64_t)k->port << 16 | (uint64_t)k->family << 8 | k->proto)) *
                 0xff51afd7ed558ccdu;
    return (size_t)(h >> 32) & (BUCKETS - 1);
}

int tf_coap_peers_create(size_t answer_bytes, struct tf_coap_peers **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return -1;
    (*out)->budget = answer_bytes;
    return 0;
}

static void drop_body(struct tf_coap_peers *ps, struct tf_coap_answer *a)
{
    ps->bytes -= tf_coap_answer_bytes(a);
    tf_coap_answer_drop(a);
}

static struct peer *oldest(const struct tf_coap_peers *ps)
{
    return dlist_entry(ps->by_age.head, struct peer, age);
}

static void unlink_age(struct tf_coap_peers *ps, struct peer *p)
{
    if (ps->evict_from == &p->age)
        ps->evict_from = p->age.next;
    dlist_unlink(&ps->by_age, &p->age);
}

static void push_newest(struct tf_coap_peers *ps, struct peer *p)
{
    dlist_push_tail(&ps->by_age, &p->age);
    if (ps->evict_from == NULL)
        ps->evict_from = &p->age;
}

static void forget(struct tf_coap_peers *ps, struct peer *p)
{
    for (struct peer **q = &ps->buckets[bucket_of(&p->key)]; *q; q = &(*q)->hnext)
        if (*q == p) {
            *q = p->hnext;
            break;
        }
    unlink_age(ps, p);
    for (int i = 0; i < TF_COAP_PEER_ANSWERS; i++)
        drop_body(ps, &p->answers[i]);
    free(p);
}

void tf_coap_peers_free(struct tf_coap_peers *ps)
{
    if (ps == NULL)
        return;
    while (ps->by_age.head != NULL)
        forget(ps, oldest(ps));
    free(ps);
}

static struct peer *lookup(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k)
{
    for (struct peer *p = ps->buckets[bucket_of(k)]; p; p = p->hnext)
        if (memcmp(&p->key, k, sizeof *k) == 0)
            return p;
    return NULL;
}

const struct tf_coap_answer *tf_coap_peers_find(struct tf_coap_peers *ps,
                                                const struct tf_coap_peer_key *k, uint16_t mid)
{
    struct peer *p = lookup(ps, k);
    for (int i = 0; p != NULL && i < TF_COAP_PEER_ANSWERS; i++)
        if (p->answers[i].code != 0 && p->answers[i].mid == mid)
            return &p->answers[i];
    return NULL;
}

const struct tf_coap_answer *tf_coap_peers_find_large(struct tf_coap_peers *ps,
                                                      const struct tf_coap_peer_key *k,
                                                      const char *name, const coap_string_t *query)
{
    struct peer *p = lookup(ps, k);
    size_t name_len = strlen(name), query_len = query != NULL ? query->length : 0;
    for (int i = 0; p != NULL && i < TF_COAP_PEER_ANSWERS; i++) {
        const struct tf_coap_answer *a = &p->answers[i];
        if (a->on_heap && a->name_len == name_len && a->query_len == query_len &&
            memcmp(tf_coap_answer_name(a), name, name_len) == 0 &&
            (query_len == 0 || memcmp(tf_coap_answer_query(a), query->s, query_len) == 0))
            return a;
    }
    return NULL;
}

/* Drops kept bodies, the oldest endpoints' first, until n more bytes fit. */
static bool make_room(struct tf_coap_peers *ps, size_t n)
{
    while (ps->bytes + n > ps->budget && ps->evict_from != NULL) {
        struct peer *p = dlist_entry(ps->evict_from, struct peer, age);
        for (int i = TF_COAP_PEER_ANSWERS - 1; i >= 0; i--)
            drop_body(ps, &p->answers[i]);
        ps->evict_from = p->age.next;
    }
    return ps->bytes + n <= ps->budget;
}

static struct peer *peer_for(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k)
{
    struct peer *p = lookup(ps, k);
    if (p != NULL) {
        unlink_age(ps, p);
        return p;
    }
    if (ps->by_age.n >= TF_COAP_PEERS_MAX) {
        metrics_limit_hit(METRICS_LIMIT_COAP_ENDPOINTS);
        forget(ps, oldest(ps));
    }
    if ((p = calloc(1, sizeof *p)) == NULL)
        return NULL;
    p->key = *k;
    size_t b = bucket_of(k);
    p->hnext = ps->buckets[b];
    ps->buckets[b] = p;
    return p;
}

void tf_coap_peers_remember(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                            struct tf_coap_answer *a, int64_t now_ms)
{
    size_t n = tf_coap_answer_bytes(a);
    if (n > 0 && !make_room(ps, n)) {
        metrics_limit_hit(METRICS_LIMIT_COAP_ANSWER_BYTES);
        tf_coap_answer_drop(a);
    }
    struct peer *p = peer_for(ps, k);
    if (p == NULL) {
        tf_coap_answer_drop(a);
        return;
    }
    drop_body(ps, &p->answers[TF_COAP_PEER_ANSWERS - 1]);
    memmove(&p->answers[1], &p->answers[0], sizeof p->answers[0] * (TF_COAP_PEER_ANSWERS - 1));
    p->answers[0] = *a;
    a->on_heap = false; /* the peer's now */
    a->u.blob = NULL;
    ps->bytes += tf_coap_answer_bytes(&p->answers[0]);
    p->last_ms = (uint32_t)now_ms;
    push_newest(ps, p);
}

static int64_t quiet_ms(const struct peer *p, int64_t now_ms)
{
    return (uint32_t)((uint32_t)now_ms - p->last_ms);
}

/* Verification is by address: the key of k's address record. */
static struct tf_coap_peer_key address_of(const struct tf_coap_peer_key *k)
{
    struct tf_coap_peer_key a = *k;
    a.port = 0;
    return a;
}

bool tf_coap_peers_verified(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                            int64_t now_ms)
{
    struct tf_coap_peer_key ak = address_of(k);
    struct peer *p = lookup(ps, &ak);
    if (p == NULL || !p->verified)
        return false;
    p->last_ms = (uint32_t)now_ms; /* in use: kept as long as an endpoint's answers */
    unlink_age(ps, p);
    push_newest(ps, p);
    return true;
}

int tf_coap_peers_challenge(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                            int64_t now_ms, uint32_t *echo)
{
    struct tf_coap_peer_key ak = address_of(k);
    struct peer *p = lookup(ps, &ak);
    if (p == NULL) {
        if ((p = peer_for(ps, &ak)) == NULL)
            return -1;
        p->last_ms = (uint32_t)now_ms;
        push_newest(ps, p);
    }
    /* Unguessable to whoever spoofs the address: the value goes to it. */
    while (p->echo == 0)
        if (getrandom(&p->echo, sizeof p->echo, 0) != sizeof p->echo)
            return -1;
    *echo = p->echo;
    return 0;
}

bool tf_coap_peers_echoed(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k, uint32_t echo)
{
    struct tf_coap_peer_key ak = address_of(k);
    struct peer *p = lookup(ps, &ak);
    if (p == NULL || p->echo == 0 || p->echo != echo)
        return false;
    p->verified = true;
    return true;
}

const struct tf_coap_answer *tf_coap_peers_take_held(struct tf_coap_peers *ps,
                                                     const struct tf_coap_peer_key *k,
                                                     const char *name, const coap_string_t *query)
{
    struct tf_coap_answer *a =
        (struct tf_coap_answer *)tf_coap_peers_find_large(ps, k, name, query);
    if (a == NULL || !a->held_for_echo)
        return NULL;
    a->held_for_echo = false;
    return a;
}

int64_t tf_coap_peers_expire(struct tf_coap_peers *ps, int64_t now_ms)
{
    struct peer *p;
    while ((p = oldest(ps)) != NULL && quiet_ms(p, now_ms) >= TF_COAP_PEER_KEEP_MS)
        forget(ps, p);
    return p != NULL ? TF_COAP_PEER_KEEP_MS - quiet_ms(p, now_ms) : -1;
}

size_t tf_coap_peers_count(const struct tf_coap_peers *ps)
{
    return ps->by_age.n;
}

size_t tf_coap_peers_bytes(const struct tf_coap_peers *ps)
{
    return ps->bytes;
}
