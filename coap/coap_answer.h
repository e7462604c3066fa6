/* A CoAP call's answer as it went out, kept to repeat it to a duplicate of
 * the request (RFC 7252 4.5). Up to two per remembered client endpoint, so
 * it is packed: a body of up to TF_COAP_ANSWER_INLINE bytes (most CoAP
 * answers) sits in the record itself; a larger one, with the function's
 * name and the query (needed only to serve it block-wise again), in one
 * allocation of its own. */
#ifndef TF_COAP_ANSWER_H
#define TF_COAP_ANSWER_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TF_COAP_ANSWER_INLINE 16

struct tf_coap_answer {
    union {
        unsigned char *blob; /* body, then name, then query */
        unsigned char inline_body[TF_COAP_ANSWER_INLINE];
    } u;
    uint32_t body_len;
    uint16_t mid;
    uint16_t code; /* e.g. 205, 404 */
    uint16_t format;
    uint16_t query_len;
    uint8_t name_len;
    uint8_t no_response; /* RFC 7967 bits of classes not to answer */
    bool has_format : 1;
    bool con : 1;           /* the request was CON (else NON) */
    bool piggybacked : 1;   /* the answer rode on the ACK */
    bool on_heap : 1;       /* u.blob holds the body */
    bool dropped : 1;       /* the body was too large to keep, or evicted for newer ones */
    bool held_for_echo : 1; /* not sent yet: the endpoint was challenged (RFC 9175) */
    bool small_blocks : 1;  /* sent to an endpoint not verified: small blocks, no ETag */
};

/* Heap bytes an answer holds (what counts against the byte budget). */
static inline size_t tf_coap_answer_bytes(const struct tf_coap_answer *a)
{
    return a->on_heap ? (size_t)a->body_len + a->name_len + a->query_len : 0;
}

static inline const unsigned char *tf_coap_answer_body(const struct tf_coap_answer *a)
{
    return a->on_heap ? a->u.blob : a->u.inline_body;
}

static inline const char *tf_coap_answer_name(const struct tf_coap_answer *a)
{
    return (const char *)tf_coap_answer_body(a) + a->body_len;
}

static inline const uint8_t *tf_coap_answer_query(const struct tf_coap_answer *a)
{
    return tf_coap_answer_body(a) + a->body_len + a->name_len;
}

/* Records body (len bytes), and with a name the name and query, replacing
 * what a held; on no memory the answer is marked dropped. Returns 0 or -1. */
int tf_coap_answer_set(struct tf_coap_answer *a, const void *body, size_t len, const char *name,
                       const coap_string_t *query);

/* Frees what the answer holds on the heap; its code and flags stay, and it
 * is marked dropped if that lost its body. */
void tf_coap_answer_drop(struct tf_coap_answer *a);

/* RFC 7967: the client asked not to get answers of this one's class. */
static inline bool tf_coap_answer_suppressed(const struct tf_coap_answer *a)
{
    unsigned cls = a->code / 100u;
    return cls >= 1 && cls <= 5 && (a->no_response & (1u << (cls - 1))) != 0;
}

#endif
