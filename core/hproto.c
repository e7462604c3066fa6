/* Handler protocol v2 codec: the only place that knows the wire shape of
 * READY, CALL, REPLY, CHALLENGE and PROOF (docs/handler-protocol.md).
 * msgpack-c does the msgpack; this file checks shapes and bounds. */
#include "hproto.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* ---- encoding ---- */

static int pack_str(msgpack_packer *pk, struct hproto_bytes b)
{
    if (msgpack_pack_str(pk, b.len) != 0)
        return -1;
    /* msgpack copies with memcpy, which must not see a NULL pointer even for 0 bytes. */
    return b.len > 0 ? msgpack_pack_str_body(pk, b.ptr, b.len) : 0;
}

static int pack_bin(msgpack_packer *pk, struct hproto_bytes b)
{
    if (msgpack_pack_bin(pk, b.len) != 0)
        return -1;
    return b.len > 0 ? msgpack_pack_bin_body(pk, b.ptr, b.len) : 0;
}

/* A failed pack leaves half a message behind; cut it off so buf stays a valid stream. */
static int pack_failed(msgpack_sbuffer *buf, size_t mark)
{
    buf->size = mark;
    return -ENOMEM;
}

int hproto_pack_ready(msgpack_sbuffer *buf, const struct hproto_ready *ready)
{
    size_t mark = buf->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    if (msgpack_pack_array(&pk, 3) != 0 || msgpack_pack_uint8(&pk, HPROTO_READY) != 0 ||
        msgpack_pack_uint32(&pk, ready->version) != 0 || pack_str(&pk, ready->runtime) != 0)
        return pack_failed(buf, mark);
    return 0;
}

int hproto_pack_call(msgpack_sbuffer *buf, const struct hproto_call *call)
{
    if (call->n_headers > HPROTO_MAX_HEADERS)
        return -EINVAL;
    size_t mark = buf->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    if (msgpack_pack_array(&pk, 5) != 0 || msgpack_pack_uint8(&pk, HPROTO_CALL) != 0 ||
        msgpack_pack_uint32(&pk, call->id) != 0 || pack_str(&pk, call->method) != 0 ||
        msgpack_pack_map(&pk, call->n_headers) != 0)
        return pack_failed(buf, mark);
    for (size_t i = 0; i < call->n_headers; i++)
        if (pack_str(&pk, call->headers[i].key) != 0 || pack_str(&pk, call->headers[i].value) != 0)
            return pack_failed(buf, mark);
    if (pack_bin(&pk, call->body) != 0)
        return pack_failed(buf, mark);
    return 0;
}

int hproto_pack_reply(msgpack_sbuffer *buf, const struct hproto_reply *reply)
{
    size_t mark = buf->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    if (msgpack_pack_array(&pk, 5) != 0 || msgpack_pack_uint8(&pk, HPROTO_REPLY) != 0 ||
        msgpack_pack_uint32(&pk, reply->id) != 0 || msgpack_pack_uint16(&pk, reply->status) != 0 ||
        pack_str(&pk, reply->content_type) != 0 || pack_bin(&pk, reply->body) != 0)
        return pack_failed(buf, mark);
    return 0;
}

int hproto_pack_challenge(msgpack_sbuffer *buf, const struct hproto_challenge *challenge)
{
    if (challenge->nonce.len != HPROTO_NONCE_BYTES)
        return -EINVAL;
    size_t mark = buf->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    if (msgpack_pack_array(&pk, 3) != 0 || msgpack_pack_uint8(&pk, HPROTO_CHALLENGE) != 0 ||
        msgpack_pack_uint32(&pk, challenge->version) != 0 || pack_bin(&pk, challenge->nonce) != 0)
        return pack_failed(buf, mark);
    return 0;
}

int hproto_pack_proof(msgpack_sbuffer *buf, const struct hproto_proof *proof)
{
    if (proof->mac.len != HPROTO_MAC_BYTES)
        return -EINVAL;
    size_t mark = buf->size;
    msgpack_packer pk;
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    if (msgpack_pack_array(&pk, 2) != 0 || msgpack_pack_uint8(&pk, HPROTO_PROOF) != 0 ||
        pack_bin(&pk, proof->mac) != 0)
        return pack_failed(buf, mark);
    return 0;
}

/* msgpack-c packs each length in the smallest form the msgpack spec allows. */
static size_t str_size(size_t len)
{
    return len + (len < 32 ? 1 : len < 256 ? 2 : len < 65536 ? 3 : 5);
}

static size_t bin_size(size_t len)
{
    return len + (len < 256 ? 2 : len < 65536 ? 3 : 5);
}

size_t hproto_call_size(const struct hproto_call *call)
{
    uint32_t id = call->id;
    size_t n = call->n_headers;
    size_t size = 1 + 1 +
                  (id < 128     ? 1
                   : id < 256   ? 2
                   : id < 65536 ? 3
                                : 5) +
                  str_size(call->method.len) +
                  (n < 16      ? 1
                   : n < 65536 ? 3
                               : 5) +
                  bin_size(call->body.len);
    for (size_t i = 0; i < n; i++)
        size += str_size(call->headers[i].key.len) + str_size(call->headers[i].value.len);
    return size;
}

/* ---- size guard: a walk over msgpack headers, no values decoded ---- */

enum { G_SCALAR, G_RAW, G_ARRAY, G_MAP };

/* Classifies the first byte of a msgpack object (the msgpack spec's format
 * table): how many length bytes follow, what fixed bytes follow them, and for
 * fix* formats the count in the byte itself. Returns false on 0xc1 (never used). */
static bool guard_classify(uint8_t b, uint8_t *len_bytes, uint8_t *extra, uint8_t *kind,
                           uint64_t *count)
{
    static const uint8_t scalar_extra[] = {
        [0xca] = 4, [0xcb] = 8, [0xcc] = 1, [0xcd] = 2, [0xce] = 4,
        [0xcf] = 8, [0xd0] = 1, [0xd1] = 2, [0xd2] = 4, [0xd3] = 8,
        [0xd4] = 2, [0xd5] = 3, [0xd6] = 5, [0xd7] = 9, [0xd8] = 17, /* fixext: type + data */
    };
    *len_bytes = 0;
    *extra = 0;
    *count = 0;
    *kind = G_SCALAR;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return true;
    if (b <= 0x8f) {
        *kind = G_MAP;
        *count = b & 0x0f;
    } else if (b <= 0x9f) {
        *kind = G_ARRAY;
        *count = b & 0x0f;
    } else if (b <= 0xbf) {
        *kind = G_RAW;
        *count = b & 0x1f;
    } else if (b == 0xc1) {
        return false;
    } else if (b >= 0xc4 && b <= 0xc6) { /* bin 8/16/32 */
        *kind = G_RAW;
        *len_bytes = (uint8_t)(1u << (b - 0xc4));
    } else if (b >= 0xc7 && b <= 0xc9) { /* ext 8/16/32: length, then a type byte */
        *kind = G_RAW;
        *len_bytes = (uint8_t)(1u << (b - 0xc7));
        *extra = 1;
    } else if (b >= 0xd9 && b <= 0xdb) { /* str 8/16/32 */
        *kind = G_RAW;
        *len_bytes = (uint8_t)(1u << (b - 0xd9));
    } else if (b == 0xdc || b == 0xdd) {
        *kind = G_ARRAY;
        *len_bytes = b == 0xdc ? 2 : 4;
    } else if (b == 0xde || b == 0xdf) {
        *kind = G_MAP;
        *len_bytes = b == 0xde ? 2 : 4;
    } else {
        *extra = scalar_extra[b];
    }
    return true;
}

/* The current header is complete: account for what it announces. */
static void guard_head_done(struct hproto_guard *g, size_t max)
{
    if (g->kind == G_ARRAY)
        g->items += g->acc;
    else if (g->kind == G_MAP)
        g->items += 2 * g->acc;
    else if (g->kind == G_RAW)
        g->skip = g->acc + g->extra;
    else
        g->skip = g->extra;
    /* Every announced object takes at least one byte, so this bounds what
     * msgpack will allocate by the message budget. */
    if (g->items + g->skip > max - g->msg_bytes)
        g->error = -EMSGSIZE;
}

/* Walks n newly committed bytes, tracking message boundaries. */
static void guard_scan(struct hproto_guard *g, size_t max, const uint8_t *p, size_t n)
{
    while (n > 0 && g->error == 0) {
        if (g->skip > 0) {
            size_t take = g->skip < n ? (size_t)g->skip : n;
            g->skip -= take;
            g->msg_bytes += take;
            p += take;
            n -= take;
        } else if (g->need > 0) {
            g->acc = (g->acc << 8) | *p++;
            n--;
            g->msg_bytes++;
            if (--g->need == 0)
                guard_head_done(g, max);
        } else {
            uint8_t b = *p++;
            n--;
            if (g->items == 0) { /* a new message begins */
                g->items = 1;
                g->msg_bytes = 0;
            }
            g->items--;
            g->msg_bytes++;
            if (!guard_classify(b, &g->need, &g->extra, &g->kind, &g->acc)) {
                g->error = -EPROTO;
                break;
            }
            if (g->need == 0)
                guard_head_done(g, max);
        }
        if (g->error == 0 && g->msg_bytes > max)
            g->error = -EMSGSIZE;
    }
}

/* ---- reader ---- */

int hproto_reader_init(struct hproto_reader *r, size_t max_message)
{
    memset(r, 0, sizeof *r);
    /* Start small: most messages are a few hundred bytes, and a daemon holds
     * one reader per handler connection. */
    if (!msgpack_unpacker_init(&r->unpacker, 4096))
        return -ENOMEM;
    msgpack_unpacked_init(&r->unpacked);
    /* Halved so that guard arithmetic (items + skip) can never wrap. */
    hproto_reader_limit(r, max_message);
    return 0;
}

void hproto_reader_free(struct hproto_reader *r)
{
    msgpack_unpacked_destroy(&r->unpacked);
    msgpack_unpacker_destroy(&r->unpacker);
}

void hproto_reader_limit(struct hproto_reader *r, size_t max_message)
{
    r->max_message = max_message == 0 ? SIZE_MAX / 2 : max_message;
}

int hproto_reader_buffer(struct hproto_reader *r, size_t min_space, void **buf, size_t *space)
{
    if (r->guard.error != 0)
        return r->guard.error;
    if (min_space == 0)
        min_space = 1;
    if (!msgpack_unpacker_reserve_buffer(&r->unpacker, min_space))
        return -ENOMEM;
    *buf = msgpack_unpacker_buffer(&r->unpacker);
    *space = msgpack_unpacker_buffer_capacity(&r->unpacker);
    return 0;
}

void hproto_reader_commit(struct hproto_reader *r, size_t n)
{
    guard_scan(&r->guard, r->max_message, (const uint8_t *)msgpack_unpacker_buffer(&r->unpacker),
               n);
    msgpack_unpacker_buffer_consumed(&r->unpacker, n);
}

int hproto_reader_feed(struct hproto_reader *r, const void *data, size_t len)
{
    void *buf;
    size_t space;
    int rc = hproto_reader_buffer(r, len, &buf, &space);
    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(buf, data, len);
    hproto_reader_commit(r, len);
    return r->guard.error;
}

static bool get_bytes(const msgpack_object *o, struct hproto_bytes *out)
{
    /* Liberal in what we accept: some msgpack libraries cannot tell str from bin. */
    if (o->type == MSGPACK_OBJECT_STR) {
        out->ptr = o->via.str.ptr;
        out->len = o->via.str.size;
    } else if (o->type == MSGPACK_OBJECT_BIN) {
        out->ptr = o->via.bin.ptr;
        out->len = o->via.bin.size;
    } else {
        return false;
    }
    return true;
}

static bool get_uint(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return false;
    *out = o->via.u64;
    return true;
}

static bool decode_call(const msgpack_object *a, struct hproto_msg *msg)
{
    struct hproto_call *c = &msg->u.call;
    uint64_t id;
    if (!get_uint(&a[1], UINT32_MAX, &id) || !get_bytes(&a[2], &c->method) ||
        a[3].type != MSGPACK_OBJECT_MAP || a[3].via.map.size > HPROTO_MAX_HEADERS ||
        !get_bytes(&a[4], &c->body))
        return false;
    c->id = (uint32_t)id;
    const msgpack_object_map *m = &a[3].via.map;
    for (uint32_t i = 0; i < m->size; i++)
        if (!get_bytes(&m->ptr[i].key, &msg->header_store[i].key) ||
            !get_bytes(&m->ptr[i].val, &msg->header_store[i].value))
            return false;
    c->headers = msg->header_store;
    c->n_headers = m->size;
    return true;
}

/* A str or bin of exactly len bytes. */
static bool get_bytes_of(const msgpack_object *o, size_t len, struct hproto_bytes *out)
{
    return get_bytes(o, out) && out->len == len;
}

/* Checks one whole msgpack object against the v2 message table. */
static bool decode(const msgpack_object *o, struct hproto_msg *msg)
{
    uint64_t type, v;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 1)
        return false;
    const msgpack_object *a = o->via.array.ptr;
    uint32_t n = o->via.array.size;
    if (!get_uint(&a[0], HPROTO_PROOF, &type))
        return false;
    /* Elements past the ones v2 defines are ignored: later versions may append. */
    switch (type) {
    case HPROTO_READY:
        if (n < 3 || !get_uint(&a[1], UINT32_MAX, &v) || !get_bytes(&a[2], &msg->u.ready.runtime))
            return false;
        msg->u.ready.version = (uint32_t)v;
        break;
    case HPROTO_CALL:
        if (n < 5 || !decode_call(a, msg))
            return false;
        break;
    case HPROTO_CHALLENGE:
        if (n < 3 || !get_uint(&a[1], UINT32_MAX, &v) ||
            !get_bytes_of(&a[2], HPROTO_NONCE_BYTES, &msg->u.challenge.nonce))
            return false;
        msg->u.challenge.version = (uint32_t)v;
        break;
    case HPROTO_PROOF:
        if (n < 2 || !get_bytes_of(&a[1], HPROTO_MAC_BYTES, &msg->u.proof.mac))
            return false;
        break;
    default: /* HPROTO_REPLY */
        if (n < 5 || !get_uint(&a[1], UINT32_MAX, &v))
            return false;
        msg->u.reply.id = (uint32_t)v;
        if (!get_uint(&a[2], UINT16_MAX, &v) || !get_bytes(&a[3], &msg->u.reply.content_type) ||
            !get_bytes(&a[4], &msg->u.reply.body))
            return false;
        msg->u.reply.status = (uint16_t)v;
        break;
    }
    msg->type = (enum hproto_type)type;
    return true;
}

int hproto_reader_next(struct hproto_reader *r, struct hproto_msg *msg)
{
    /* The guard has seen every committed byte; msgpack must not parse past a bad one. */
    if (r->guard.error != 0)
        return r->guard.error;
    /* msgpack_unpacker_next() overwrites the zone without freeing it. */
    msgpack_unpacked_destroy(&r->unpacked);
    msgpack_unpack_return ret = msgpack_unpacker_next(&r->unpacker, &r->unpacked);
    if (ret == MSGPACK_UNPACK_CONTINUE)
        return 0;
    if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
        return -ENOMEM;
    if (ret != MSGPACK_UNPACK_SUCCESS || !decode(&r->unpacked.data, msg)) {
        r->guard.error = -EPROTO;
        return -EPROTO;
    }
    return 1;
}
