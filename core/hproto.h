/* Handler protocol v2: msgpack messages between the daemon and a handler
 * container over one persistent stream. The wire format is documented in
 * docs/handler-protocol.md; this is its only encoder and decoder, shared by
 * the daemon and the runtime shims. */
#ifndef TF_HPROTO_H
#define TF_HPROTO_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define HPROTO_VERSION      2
#define HPROTO_MAX_HEADERS  64
#define HPROTO_DEFAULT_PORT 8000
#define HPROTO_NONCE_BYTES  32 /* a CHALLENGE's nonce */
#define HPROTO_MAC_BYTES    32 /* a PROOF's mac: HMAC-SHA256 */

enum hproto_type {
    HPROTO_READY = 0,     /* handler -> daemon, once per connection, when the function is loaded */
    HPROTO_CALL = 1,      /* daemon -> handler: invoke the function */
    HPROTO_REPLY = 2,     /* handler -> daemon: result of one call, matched by id */
    HPROTO_CHALLENGE = 3, /* handler -> daemon, first, when it has a secret: prove you know it */
    HPROTO_PROOF = 4,     /* daemon -> handler: the answer to the challenge */
};

/* A string or byte run; points into the decoder's buffer or the caller's memory. */
struct hproto_bytes {
    const char *ptr;
    size_t len;
};

struct hproto_header {
    struct hproto_bytes key;
    struct hproto_bytes value;
};

struct hproto_ready {
    uint32_t version;            /* HPROTO_VERSION the handler speaks */
    struct hproto_bytes runtime; /* "binary", "c", "python3", "nodejs" */
};

struct hproto_call {
    uint32_t id; /* chosen by the daemon, unique among calls in flight on the connection */
    struct hproto_bytes method; /* "GET", "POST", "PUT" */
    const struct hproto_header *headers;
    size_t n_headers;
    struct hproto_bytes body;
};

struct hproto_reply {
    uint32_t id;                      /* the id of the call this answers */
    uint16_t status;                  /* 200 success, 500 the function failed (body = message) */
    struct hproto_bytes content_type; /* may be empty: text/plain is assumed */
    struct hproto_bytes body;
};

struct hproto_challenge {
    uint32_t version;          /* HPROTO_VERSION the handler speaks */
    struct hproto_bytes nonce; /* HPROTO_NONCE_BYTES random bytes, new for each connection */
};

struct hproto_proof {
    struct hproto_bytes mac; /* HMAC-SHA256(secret, nonce): HPROTO_MAC_BYTES */
};

/* One decoded message. Its pointers stay valid until the next
 * hproto_reader_next() or hproto_reader_free() on the same reader. */
struct hproto_msg {
    enum hproto_type type;
    union {
        struct hproto_ready ready;
        struct hproto_call call;
        struct hproto_reply reply;
        struct hproto_challenge challenge;
        struct hproto_proof proof;
    } u;
    struct hproto_header header_store[HPROTO_MAX_HEADERS];
};

/* Appends one encoded message to buf, or nothing on failure. Return 0,
 * -ENOMEM, or -EINVAL (a call with more than HPROTO_MAX_HEADERS headers, a
 * nonce or mac of another length than HPROTO_NONCE_BYTES, HPROTO_MAC_BYTES). */
int hproto_pack_ready(msgpack_sbuffer *buf, const struct hproto_ready *ready);
int hproto_pack_call(msgpack_sbuffer *buf, const struct hproto_call *call);
int hproto_pack_reply(msgpack_sbuffer *buf, const struct hproto_reply *reply);
int hproto_pack_challenge(msgpack_sbuffer *buf, const struct hproto_challenge *challenge);
int hproto_pack_proof(msgpack_sbuffer *buf, const struct hproto_proof *proof);

/* The bytes hproto_pack_call() appends for call: what a sender can weigh
 * before it packs. */
size_t hproto_call_size(const struct hproto_call *call);

/* Size guard of the reader, private to hproto.c. msgpack-c allocates room for
 * every element a container header announces before the elements arrive, so
 * five hostile bytes could ask for ~100 GB; the guard walks committed bytes
 * ahead of msgpack and refuses a message whose announced contents exceed
 * max_message. It also knows where each message ends, so the size check is exact. */
struct hproto_guard {
    uint64_t items;   /* objects of the current message not yet begun */
    uint64_t skip;    /* bytes of the current object's payload still to come */
    uint64_t acc;     /* length field of the current header, as read so far */
    size_t msg_bytes; /* bytes of the current message seen so far */
    uint8_t need;     /* length-field bytes of the current header still to come */
    uint8_t kind;     /* what the current header introduces */
    uint8_t extra;    /* fixed bytes after the length field (ext type) */
    int error;        /* latched -EPROTO or -EMSGSIZE: the stream is dead */
};

/* Incremental decoder for a byte stream that may split or join messages anywhere. */
struct hproto_reader {
    msgpack_unpacker unpacker;
    msgpack_unpacked unpacked;
    size_t max_message; /* a message larger than this is a protocol error */
    struct hproto_guard guard;
};

/* Prepares a reader; max_message bounds one message's encoded size (0: no
 * bound). Return 0 or -ENOMEM. */
int hproto_reader_init(struct hproto_reader *r, size_t max_message);

/* Releases everything the reader holds. */
void hproto_reader_free(struct hproto_reader *r);

/* Gives a buffer of at least min_space bytes to read() into; call
 * hproto_reader_commit() with the count read. Return 0, -ENOMEM, or
 * -EMSGSIZE when the pending message outgrows max_message. */
int hproto_reader_buffer(struct hproto_reader *r, size_t min_space, void **buf, size_t *space);
void hproto_reader_commit(struct hproto_reader *r, size_t n);

/* Changes the reader's bound to max_message (0: none) from the next message
 * on: a handler holds a stranger to a few bytes until it has authenticated. */
void hproto_reader_limit(struct hproto_reader *r, size_t max_message);

/* Copies len bytes in (for callers that do not read() into the reader). Return as
 * hproto_reader_buffer. */
int hproto_reader_feed(struct hproto_reader *r, const void *data, size_t len);

/* Decodes the next whole message: 1 and *msg filled, 0 when more bytes are
 * needed, -EPROTO on bytes that are not a valid message, -EMSGSIZE on a
 * message larger than max_message (after either the stream is unusable and
 * should be closed; the same error is returned again). */
int hproto_reader_next(struct hproto_reader *r, struct hproto_msg *msg);

#endif
