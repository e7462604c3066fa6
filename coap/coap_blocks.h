/* Block-wise transfers (RFC 7959), done by the daemon rather than libcoap
 * so that what a client makes it hold is bounded before anything is
 * reserved: a request body arrives in Block1 pieces into an upload of its
 * own (checked against the body limit at the first block that shows it,
 * grown as blocks arrive, capped per endpoint and in all, forgotten when
 * abandoned); an answer body goes out in Block2 pieces, sliced from the
 * answer kept for the endpoint (coap_peers.h), so no second copy is made.
 * Loop thread only. */
#ifndef TF_COAP_BLOCKS_H
#define TF_COAP_BLOCKS_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coap_peers.h"

/* Uploads in progress at most: per endpoint (a new one replaces its
 * oldest), and in all (past it, 5.03). */
#define TF_COAP_UPLOADS_PER_PEER 2
#define TF_COAP_UPLOADS_MAX      64
/* Bytes all uploads in progress hold at most (past it, 5.03). */
#define TF_COAP_UPLOAD_BYTES_MAX (16u << 20)
/* An upload with no block for this long is forgotten (RFC 7252's
 * MAX_TRANSMIT_SPAN, 45 s, is a CON's whole retransmission; a block's
 * first retransmission comes within 3 s). */
#define TF_COAP_UPLOAD_IDLE_MS 15000

struct tf_coap_uploads;

int tf_coap_uploads_create(size_t max_body, struct tf_coap_uploads **out);
void tf_coap_uploads_free(struct tf_coap_uploads *ups);

/* What a request carrying Block1 comes to. */
struct tf_coap_upload_step {
    int code; /* 0: the body is complete (below); 231: ask for the next block; else an error */
    const char *reason;  /* with an error: one line for the client */
    const uint8_t *body; /* when complete: the whole body, valid until tf_coap_upload_finish */
    size_t len;
    struct tf_coap_upload *upload; /* when complete */
};

/* Takes the Block1 piece in req from endpoint k for function name. An
 * error answer of 4.13 carries Size1 (the limit) as RFC 7959 asks; the
 * caller adds it. */
void tf_coap_upload_take(struct tf_coap_uploads *ups, const struct tf_coap_peer_key *k,
                         const char *name, const coap_pdu_t *req, int64_t now_ms,
                         struct tf_coap_upload_step *out);

/* Frees a completed upload once its body has gone into a call. */
void tf_coap_upload_finish(struct tf_coap_uploads *ups, struct tf_coap_upload *u);

/* Forgets uploads idle for TF_COAP_UPLOAD_IDLE_MS. Returns the ms until the
 * next is due, or -1 when none is in progress. */
int64_t tf_coap_uploads_expire(struct tf_coap_uploads *ups, int64_t now_ms);

size_t tf_coap_uploads_count(const struct tf_coap_uploads *ups);

/* The Block2 piece of an answer body a response carries. */
struct tf_coap_block2 {
    unsigned num;
    unsigned szx; /* block size 2^(szx+4) */
};

/* The piece req asks for (its Block2 option), or the first 1024 bytes. */
struct tf_coap_block2 tf_coap_block2_asked(const coap_pdu_t *req);

/* Puts piece b of body (len bytes) into pdu with its Block2 option and,
 * given an ETag naming this answer, that and Size2; false when b lies past
 * the body's end. */
bool tf_coap_block2_add(coap_pdu_t *pdu, const uint8_t *body, size_t len, struct tf_coap_block2 b,
                        const uint32_t *etag);

#endif
