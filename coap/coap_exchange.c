#include "coap_exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 4096 /* power of two; calls in flight are bounded by the dispatcher's queues */

struct tf_coap_exchanges {
    struct tf_coap_exchange *buckets[BUCKETS];
    struct dlist unacked; /* waiting CON exchanges in arrival order: ACK deadlines in order */
};

static size_t bucket_of(coap_session_t *s, uint16_t mid)
{
    uintptr_t h = (uintptr_t)s;
    h ^= h >> 17;
    return (h * 31 + (unsigned)mid) & (BUCKETS - 1);
}

int tf_coap_exchanges_create(struct tf_coap_exchanges **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -1;
}

static void unhash(struct tf_coap_exchanges *xs, struct tf_coap_exchange *x)
{
    for (struct tf_coap_exchange **p = &xs->buckets[bucket_of(x->session, x->answer.mid)]; *p;
         p = &(*p)->hnext)
        if (*p == x) {
            *p = x->hnext;
            return;
        }
}

static void destroy(struct tf_coap_exchange *x)
{
    if (x->call != NULL)
        dispatch_detach(x->call);
    if (x->request != NULL)
        coap_delete_pdu(x->request);
    coap_delete_string(x->query);
    coap_session_release(x->session);
    tf_coap_answer_drop(&x->answer);
    free(x);
}

void tf_coap_exchange_end(struct tf_coap_exchanges *xs, struct tf_coap_exchange *x)
{
    if (x->answer.con && !x->acked)
        dlist_unlink(&xs->unacked, &x->ack_link);
    unhash(xs, x);
    destroy(x);
}

void tf_coap_exchanges_free(struct tf_coap_exchanges *xs)
{
    if (xs == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (xs->buckets[i] != NULL)
            tf_coap_exchange_end(xs, xs->buckets[i]);
    free(xs);
}

struct tf_coap_exchange *tf_coap_exchange_find(struct tf_coap_exchanges *xs, coap_session_t *s,
                                               coap_mid_t mid)
{
    for (struct tf_coap_exchange *x = xs->buckets[bucket_of(s, mid)]; x; x = x->hnext)
        if (x->session == s && x->answer.mid == (uint16_t)mid)
            return x;
    return NULL;
}

struct tf_coap_exchange *tf_coap_exchange_start(struct tf_coap_exchanges *xs, coap_session_t *s,
                                                const coap_pdu_t *req, const char *name,
                                                const coap_string_t *query, int64_t now_ms)
{
    size_t name_len = strnlen(name, EXCHANGE_NAME_MAX);
    struct tf_coap_exchange *x = calloc(1, sizeof *x + name_len + 1);
    if (x == NULL)
        return NULL;
    coap_bin_const_t token = coap_pdu_get_token(req);
    x->token_len = token.length <= sizeof x->token ? token.length : sizeof x->token;
    memcpy(x->token, token.s, x->token_len);
    x->request = coap_pdu_duplicate(req, s, token.length, token.s, NULL);
    x->query = query != NULL ? coap_new_string(query->length) : NULL;
    if (x->request == NULL || (query != NULL && x->query == NULL)) {
        if (x->request != NULL)
            coap_delete_pdu(x->request);
        coap_delete_string(x->query);
        free(x);
        return NULL;
    }
    if (query != NULL)
        memcpy(x->query->s, query->s, query->length);
    x->session = coap_session_reference(s);
    x->answer.mid = (uint16_t)coap_pdu_get_mid(req);
    x->answer.con = coap_pdu_get_type(req) == COAP_MESSAGE_CON;
    memcpy(x->name, name, name_len); /* calloc gave the NUL */
    x->created_ms = now_ms;
    size_t b = bucket_of(s, x->answer.mid);
    x->hnext = xs->buckets[b];
    xs->buckets[b] = x;
    if (x->answer.con)
        dlist_push_tail(&xs->unacked, &x->ack_link);
    return x;
}

void tf_coap_exchange_acked(struct tf_coap_exchanges *xs, struct tf_coap_exchange *x)
{
    if (x->answer.con && !x->acked)
        dlist_unlink(&xs->unacked, &x->ack_link);
    x->acked = true;
}

struct tf_coap_exchange *tf_coap_exchange_oldest_unacked(struct tf_coap_exchanges *xs)
{
    return dlist_entry(xs->unacked.head, struct tf_coap_exchange, ack_link);
}
