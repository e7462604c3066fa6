/* Handler protocol codec: round trips, streaming splits, hostile input, size bounds. */
#include "hproto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define BIG 100000

static struct hproto_bytes B(const char *s) {
    return (struct hproto_bytes){s, strlen(s)};
}

static bool
same(struct hproto_bytes a, const void *p, size_t len)
{
    return a.len == len && (len == 0 || memcmp(a.ptr, p, len) == 0);
}

static void fill_random(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)(rand() & 0xff);
}

/* Decodes exactly one message from buf into msg through reader r. */
static int decode_one(struct hproto_reader *r, const msgpack_sbuffer *buf, struct hproto_msg *msg)
{
    int rc = hproto_reader_feed(r, buf->data, buf->size);
    if (rc != 0)
        return rc;
    return hproto_reader_next(r, msg);
}

static void test_ready(void)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    struct hproto_ready ready = {HPROTO_VERSION, B("binary")};
    CHECK(hproto_pack_ready(&buf, &ready) == 0);
    struct hproto_reader r;
    CHECK(hproto_reader_init(&r, 1 << 20) == 0);
    static struct hproto_msg msg;
    CHECK(decode_one(&r, &buf, &msg) == 1);
    CHECK(msg.type == HPROTO_READY);
    CHECK(msg.u.ready.version == HPROTO_VERSION);
    CHECK(same(msg.u.ready.runtime, "binary", 6));
    CHECK(hproto_reader_next(&r, &msg) == 0);
    hproto_reader_free(&r);
    msgpack_sbuffer_destroy(&buf);
}

static void check_call(uint32_t id, const char *body, size_t body_len)
{
    struct hproto_header hs[3] = {
        {B("X-Foo"), B("bar")},
        {B("Content-Type"), B("text/plain")},
        {B("Empty"), B("")},
    };
    struct hproto_call call = {id, B("POST"), hs, 3, {body, body_len}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    CHECK(hproto_pack_call(&buf, &call) == 0);
    struct hproto_reader r;
    CHECK(hproto_reader_init(&r, 1 << 20) == 0);
    static struct hproto_msg msg;
    CHECK(decode_one(&r, &buf, &msg) == 1);
    CHECK(msg.type == HPROTO_CALL);
    CHECK(msg.u.call.id == id);
    CHECK(same(msg.u.call.method, "POST", 4));
    CHECK(msg.u.call.n_headers == 3);
    for (size_t i = 0; i < 3 && i < msg.u.call.n_headers; i++) {
        CHECK(same(msg.u.call.headers[i].key, hs[i].key.ptr, hs[i].key.len));
        CHECK(same(msg.u.call.headers[i].value, hs[i].value.ptr, hs[i].value.len));
    }
    CHECK(same(msg.u.call.body, body, body_len));
    hproto_reader_free(&r);
    msgpack_sbuffer_destroy(&buf);
}

static void check_reply(uint32_t id, uint16_t status, const char *body, size_t body_len)
{
    struct hproto_reply reply = {id, status, B("application/octet-stream"), {body, body_len}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    CHECK(hproto_pack_reply(&buf, &reply) == 0);
    struct hproto_reader r;
    CHECK(hproto_reader_init(&r, 1 << 20) == 0);
    static struct hproto_msg msg;
    CHECK(decode_one(&r, &buf, &msg) == 1);
    CHECK(msg.type == HPROTO_REPLY);
    CHECK(msg.u.reply.id == id);
    CHECK(msg.u.reply.status == status);
    CHECK(same(msg.u.reply.content_type, "application/octet-stream", 24));
    CHECK(same(msg.u.reply.body, body, body_len));
    hproto_reader_free(&r);
    msgpack_sbuffer_destroy(&buf);
}

static void test_round_trips(void)
{
    static char big[BIG];
    fill_random(big, sizeof big);
    big[0] = '\0'; /* NUL bytes must survive */
    check_call(0, "", 0);
    check_call(1, "hello", 5);
    check_call(UINT32_MAX, big, sizeof big);
    check_call(42, "a\0b\xff", 4);
    check_reply(0, 200, "", 0);
    check_reply(7, 500, "oops\n", 5);
    check_reply(UINT32_MAX, 200, big, sizeof big);
    check_reply(9, 65535, "\0\0\0", 3);
    /* No headers, NULL pointers for empty runs. */
    struct hproto_call call = {3, B("GET"), NULL, 0, {NULL, 0}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    CHECK(hproto_pack_call(&buf, &call) == 0);
    struct hproto_reader r;
    CHECK(hproto_reader_init(&r, 0) == 0);
    static struct hproto_msg msg;
    CHECK(decode_one(&r, &buf, &msg) == 1);
    CHECK(msg.type == HPROTO_CALL && msg.u.call.n_headers == 0 && msg.u.call.body.len == 0);
    hproto_reader_free(&r);
    /* Too many headers is refused and leaves the buffer as it was. */
    static struct hproto_header many[HPROTO_MAX_HEADERS + 1];
    for (size_t i = 0; i < HPROTO_MAX_HEADERS + 1; i++)
        many[i] = (struct hproto_header){B("k"), B("v")};
    size_t before = buf.size;
    call.headers = many;
    call.n_headers = HPROTO_MAX_HEADERS + 1;
    CHECK(hproto_pack_call(&buf, &call) == -EINVAL);
    CHECK(buf.size == before);
    call.n_headers = HPROTO_MAX_HEADERS;
    CHECK(hproto_pack_call(&buf, &call) == 0);
    msgpack_sbuffer_destroy(&buf);
}

/* hproto_call_size is what packing appends, at every width a length or an
 * id can take: a sender weighs a call by it before packing. */
static void test_call_size(void)
{
    static const size_t lens[] = {0, 1, 31, 32, 255, 256, 65535, 65536, 70000};
    static const uint32_t ids[] = {0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX};
    static struct hproto_header hs[20];
    char *bytes = calloc(1, 70000);
    int wrong = 0, tried = 0;
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    for (size_t a = 0; a < sizeof lens / sizeof lens[0]; a++)
        for (size_t b = 0; b < sizeof ids / sizeof ids[0]; b++) {
            size_t n = (a * 7 + b) % 20; /* 15 and 16 headers: both map widths */
            for (size_t i = 0; i < n; i++)
                hs[i] = (struct hproto_header){{bytes, lens[(a + i) % 9]}, {bytes, lens[b]}};
            struct hproto_call call = {ids[b], {bytes, lens[b]}, hs, n, {bytes, lens[a]}};
            size_t before = buf.size;
            CHECK(hproto_pack_call(&buf, &call) == 0);
            wrong += buf.size - before != hproto_call_size(&call);
            tried++;
            buf.size = 0;
        }
    CHECKF(wrong == 0, "%d of %d sizes wrong", wrong, tried);
    msgpack_sbuffer_destroy(&buf);
    free(bytes);
}

/* Three messages back to back, as a handler connection carries them. */
static void make_stream(msgpack_sbuffer *buf, const char *big)
{
    struct hproto_ready ready = {1, B("c")};
    struct hproto_header h = {B("a"), B("b")};
    struct hproto_call call = {5, B("PUT"), &h, 1, {big, BIG}};
    struct hproto_reply reply = {6, 200, B(""), B("done")};
    hproto_pack_ready(buf, &ready);
    hproto_pack_call(buf, &call);
    hproto_pack_reply(buf, &reply);
}

static bool check_stream_msg(int i, const struct hproto_msg *m, const char *big)
{
    switch (i) {
    case 0:
        return m->type == HPROTO_READY && m->u.ready.version == 1 &&
               same(m->u.ready.runtime, "c", 1);
    case 1:
        return m->type == HPROTO_CALL && m->u.call.id == 5 && same(m->u.call.method, "PUT", 3) &&
               m->u.call.n_headers == 1 && same(m->u.call.headers[0].key, "a", 1) &&
               same(m->u.call.headers[0].value, "b", 1) && same(m->u.call.body, big, BIG);
    default:
        return m->type == HPROTO_REPLY && m->u.reply.id == 6 && m->u.reply.status == 200 &&
               m->u.reply.content_type.len == 0 && same(m->u.reply.body, "done", 4);
    }
}

/* Feeds the stream in chunks of random size up to max_chunk (1: byte by byte)
 * through buffer/commit, decoding as it goes; returns messages decoded correctly. */
static int run_split(const msgpack_sbuffer *buf, size_t max_chunk, const char *big)
{
    struct hproto_reader r;
    if (hproto_reader_init(&r, 1 << 20) != 0)
        return -1;
    static struct hproto_msg msg;
    int good = 0, got = 0;
    size_t off = 0;
    while (off < buf->size) {
        size_t n = max_chunk == 1 ? 1 : 1 + (size_t)rand() % max_chunk;
        if (n > buf->size - off)
            n = buf->size - off;
        void *dst;
        size_t space;
        if (hproto_reader_buffer(&r, n, &dst, &space) != 0 || space < n)
            break;
        memcpy(dst, buf->data + off, n);
        hproto_reader_commit(&r, n);
        off += n;
        int rc;
        while ((rc = hproto_reader_next(&r, &msg)) == 1)
            good += check_stream_msg(got++, &msg, big);
        if (rc < 0)
            break;
    }
    hproto_reader_free(&r);
    return got == 3 ? good : -1;
}

static void test_stream(void)
{
    static char big[BIG];
    fill_random(big, sizeof big);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    make_stream(&buf, big);
    CHECK(run_split(&buf, 1, big) == 3);
    for (int i = 0; i < 20; i++)
        CHECK(run_split(&buf, i < 10 ? 7 : 70000, big) == 3);
    CHECK(run_split(&buf, buf.size, big) == 3);
    msgpack_sbuffer_destroy(&buf);
}

/* Feeds bytes and decodes until the reader wants more or fails. */
static int drain(const void *p, size_t n, size_t max)
{
    struct hproto_reader r;
    if (hproto_reader_init(&r, max) != 0)
        return -ENOMEM;
    static struct hproto_msg msg;
    int rc = hproto_reader_feed(&r, p, n);
    if (rc == 0)
        while ((rc = hproto_reader_next(&r, &msg)) == 1)
            ;
    /* A dead stream stays dead. */
    if (rc < 0 && hproto_reader_next(&r, &msg) != rc)
        rc = 99;
    hproto_reader_free(&r);
    return rc;
}

/* Packs the msgpack object described by fmt with a packer, for shapes the codec never emits. */
static int drain_packed(void (*build)(msgpack_packer *))
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    build(&pk);
    int rc = drain(buf.data, buf.size, 1 << 20);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

static void pk_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void shape_map(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    pk_str(pk, "a");
    msgpack_pack_int(pk, 1);
}
static void shape_type7(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, 7);
    for (int i = 0; i < 4; i++)
        msgpack_pack_int(pk, i);
}
static void shape_call_str_id(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, 1);
    pk_str(pk, "x");
    pk_str(pk, "GET");
    msgpack_pack_map(pk, 0);
    msgpack_pack_bin_with_body(pk, "b", 1);
}
static void shape_call_short(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
    pk_str(pk, "GET");
    msgpack_pack_map(pk, 0);
}
static void shape_call_int_header(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
    pk_str(pk, "GET");
    msgpack_pack_map(pk, 1);
    pk_str(pk, "a");
    msgpack_pack_int(pk, 5);
    msgpack_pack_bin_with_body(pk, "b", 1);
}
static void shape_call_big_id(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, 1);
    msgpack_pack_uint64(pk, (uint64_t)UINT32_MAX + 1);
    pk_str(pk, "GET");
    msgpack_pack_map(pk, 0);
    msgpack_pack_bin_with_body(pk, "b", 1);
}
static void shape_call_many_headers(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
    pk_str(pk, "GET");
    msgpack_pack_map(pk, HPROTO_MAX_HEADERS + 1);
    for (int i = 0; i < HPROTO_MAX_HEADERS + 1; i++) {
        pk_str(pk, "k");
        pk_str(pk, "v");
    }
    msgpack_pack_bin_with_body(pk, "b", 1);
}
static void shape_reply_big_status(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_int(pk, 2);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 70000);
    pk_str(pk, "");
    msgpack_pack_bin_with_body(pk, "b", 1);
}
static void shape_ready_negative(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, 0);
    msgpack_pack_int(pk, -1);
    pk_str(pk, "binary");
}
static void shape_empty_array(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 0);
}
static void shape_int(msgpack_packer *pk)
{
    msgpack_pack_int(pk, 1);
}
/* Liberal decoding: str body, and elements a later version might append. */
static void shape_call_future(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 7);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 9);
    msgpack_pack_bin_with_body(pk, "GET", 3);
    msgpack_pack_map(pk, 0);
    pk_str(pk, "body as str");
    pk_str(pk, "future");
    shape_map(pk);
}

static void test_shapes(void)
{
    CHECK(drain_packed(shape_map) == -EPROTO);
    CHECK(drain_packed(shape_type7) == -EPROTO);
    CHECK(drain_packed(shape_call_str_id) == -EPROTO);
    CHECK(drain_packed(shape_call_short) == -EPROTO);
    CHECK(drain_packed(shape_call_int_header) == -EPROTO);
    CHECK(drain_packed(shape_call_big_id) == -EPROTO);
    CHECK(drain_packed(shape_call_many_headers) == -EPROTO);
    CHECK(drain_packed(shape_reply_big_status) == -EPROTO);
    CHECK(drain_packed(shape_ready_negative) == -EPROTO);
    CHECK(drain_packed(shape_empty_array) == -EPROTO);
    CHECK(drain_packed(shape_int) == -EPROTO);
    CHECK(drain_packed(shape_call_future) == 0);
    CHECK(drain("\xc1", 1, 1 << 20) == -EPROTO);

    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    shape_call_future(&pk);
    struct hproto_reader r;
    hproto_reader_init(&r, 1 << 20);
    static struct hproto_msg msg;
    CHECK(decode_one(&r, &buf, &msg) == 1);
    CHECK(msg.type == HPROTO_CALL && msg.u.call.id == 9 && same(msg.u.call.method, "GET", 3));
    CHECK(same(msg.u.call.body, "body as str", 11));
    hproto_reader_free(&r);
    msgpack_sbuffer_destroy(&buf);

    /* Every proper prefix of a valid message just asks for more. */
    struct hproto_reply reply = {1, 200, B("text/plain"), B("truncated")};
    msgpack_sbuffer_init(&buf);
    hproto_pack_reply(&buf, &reply);
    int bad = 0;
    for (size_t n = 0; n < buf.size; n++)
        bad += drain(buf.data, n, 1 << 20) != 0;
    CHECK(bad == 0);
    msgpack_sbuffer_destroy(&buf);
}

/* ---- CHALLENGE and PROOF ---- */

static void shape_challenge_nonce(msgpack_packer *pk, size_t len)
{
    static const char nonce[64];
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, HPROTO_CHALLENGE);
    msgpack_pack_int(pk, 2);
    msgpack_pack_bin_with_body(pk, nonce, len);
}
static void shape_challenge_short_nonce(msgpack_packer *pk)
{
    shape_challenge_nonce(pk, HPROTO_NONCE_BYTES - 1);
}
static void shape_challenge_long_nonce(msgpack_packer *pk)
{
    shape_challenge_nonce(pk, HPROTO_NONCE_BYTES + 1);
}
static void shape_challenge_no_nonce(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, HPROTO_CHALLENGE);
    msgpack_pack_int(pk, 2);
}
static void shape_challenge_int_nonce(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, HPROTO_CHALLENGE);
    msgpack_pack_int(pk, 2);
    msgpack_pack_int(pk, 7);
}
static void shape_proof_mac(msgpack_packer *pk, size_t len)
{
    static const char mac[64];
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, HPROTO_PROOF);
    msgpack_pack_bin_with_body(pk, mac, len);
}
static void shape_proof_short_mac(msgpack_packer *pk)
{
    shape_proof_mac(pk, HPROTO_MAC_BYTES - 1);
}
static void shape_proof_empty_mac(msgpack_packer *pk)
{
    shape_proof_mac(pk, 0);
}
static void shape_proof_alone(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 1);
    msgpack_pack_int(pk, HPROTO_PROOF);
}
static void shape_type5(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, 5);
    msgpack_pack_int(pk, 0);
}
/* Liberal decoding: a mac as str, and an element a later version might append. */
static void shape_proof_future(msgpack_packer *pk)
{
    static const char mac[HPROTO_MAC_BYTES];
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, HPROTO_PROOF);
    msgpack_pack_str_with_body(pk, mac, sizeof mac);
    pk_str(pk, "future");
}

/* The bytes of docs/handler-protocol.md's examples, and back. */
static void test_challenge_and_proof(void)
{
    char nonce[HPROTO_NONCE_BYTES], mac[HPROTO_MAC_BYTES];
    for (int i = 0; i < HPROTO_NONCE_BYTES; i++)
        nonce[i] = (char)i;
    for (int i = 0; i < HPROTO_MAC_BYTES; i++)
        mac[i] = (char)(0xff - i);
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    struct hproto_challenge ch = {HPROTO_VERSION, {nonce, sizeof nonce}};
    CHECK(hproto_pack_challenge(&buf, &ch) == 0);
    static const char want_ch[] = "\x93\x03\x02\xc4\x20";
    CHECK(buf.size == 5 + sizeof nonce && memcmp(buf.data, want_ch, 5) == 0 &&
          memcmp(buf.data + 5, nonce, sizeof nonce) == 0);
    size_t ch_size = buf.size;
    struct hproto_proof proof = {{mac, sizeof mac}};
    CHECK(hproto_pack_proof(&buf, &proof) == 0);
    static const char want_proof[] = "\x92\x04\xc4\x20";
    CHECK(buf.size == ch_size + 4 + sizeof mac && memcmp(buf.data + ch_size, want_proof, 4) == 0 &&
          memcmp(buf.data + ch_size + 4, mac, sizeof mac) == 0);

    struct hproto_reader r;
    CHECK(hproto_reader_init(&r, 1 << 20) == 0);
    static struct hproto_msg msg;
    CHECK(decode_one(&r, &buf, &msg) == 1);
    CHECK(msg.type == HPROTO_CHALLENGE && msg.u.challenge.version == HPROTO_VERSION &&
          same(msg.u.challenge.nonce, nonce, sizeof nonce));
    CHECK(hproto_reader_next(&r, &msg) == 1);
    CHECK(msg.type == HPROTO_PROOF && same(msg.u.proof.mac, mac, sizeof mac));
    CHECK(hproto_reader_next(&r, &msg) == 0);
    hproto_reader_free(&r);

    /* A nonce or mac of another length is not packed, and buf is left as it was. */
    size_t before = buf.size;
    struct hproto_challenge short_ch = {HPROTO_VERSION, {nonce, sizeof nonce - 1}};
    struct hproto_proof long_proof = {{mac, sizeof mac + 1}};
    CHECK(hproto_pack_challenge(&buf, &short_ch) == -EINVAL);
    CHECK(hproto_pack_proof(&buf, &long_proof) == -EINVAL);
    CHECK(buf.size == before);
    msgpack_sbuffer_destroy(&buf);

    CHECK(drain_packed(shape_challenge_short_nonce) == -EPROTO);
    CHECK(drain_packed(shape_challenge_long_nonce) == -EPROTO);
    CHECK(drain_packed(shape_challenge_no_nonce) == -EPROTO);
    CHECK(drain_packed(shape_challenge_int_nonce) == -EPROTO);
    CHECK(drain_packed(shape_proof_short_mac) == -EPROTO);
    CHECK(drain_packed(shape_proof_empty_mac) == -EPROTO);
    CHECK(drain_packed(shape_proof_alone) == -EPROTO);
    CHECK(drain_packed(shape_type5) == -EPROTO);
    CHECK(drain_packed(shape_proof_future) == 0);
}

/* A reader's bound can change between messages: a handler holds a stranger
 * to a few bytes, and lifts the bound once it authenticated. */
static void test_reader_limit(void)
{
    static char body[1000];
    struct hproto_reply reply = {1, 200, B(""), {body, sizeof body}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    hproto_pack_reply(&buf, &reply);
    struct hproto_reader r;
    static struct hproto_msg msg;
    CHECK(hproto_reader_init(&r, 256) == 0);
    CHECK(hproto_reader_feed(&r, buf.data, buf.size) == -EMSGSIZE);
    hproto_reader_free(&r);
    CHECK(hproto_reader_init(&r, 256) == 0);
    hproto_reader_limit(&r, 1 << 20);
    CHECK(decode_one(&r, &buf, &msg) == 1 && same(msg.u.reply.body, body, sizeof body));
    hproto_reader_free(&r);
    msgpack_sbuffer_destroy(&buf);
}

static void test_garbage(void)
{
    static char junk[4096];
    int bad = 0;
    for (int i = 0; i < 20000; i++) {
        size_t n = 1 + (size_t)rand() % sizeof junk;
        fill_random(junk, n);
        /* Make most inputs start like a message so the decoder gets past the first byte. */
        if (i % 2 == 0)
            junk[0] = (char)(0x90 | (rand() % 16));
        int rc = drain(junk, n, i % 3 == 0 ? 512 : 1 << 20);
        /* -EMSGSIZE: random length fields announce more than the bound allows. */
        if (rc != 0 && rc != -EPROTO && rc != -EMSGSIZE)
            bad++;
    }
    CHECK(bad == 0);
}

static void test_max_message(void)
{
    static char body[2000];
    fill_random(body, sizeof body);
    struct hproto_reply reply = {1, 200, B(""), {body, sizeof body}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    hproto_pack_reply(&buf, &reply);
    CHECK(drain(buf.data, buf.size, 1000) == -EMSGSIZE);
    CHECK(drain(buf.data, buf.size, buf.size) == 0); /* exactly at the bound: fine */
    CHECK(drain(buf.data, buf.size, buf.size - 1) == -EMSGSIZE);

    /* Reported while the message is still arriving, not after all of it. */
    struct hproto_reader r;
    hproto_reader_init(&r, 1000);
    static struct hproto_msg msg;
    int rc = hproto_reader_feed(&r, buf.data, 500);
    if (rc == 0)
        rc = hproto_reader_next(&r, &msg);
    CHECK(rc == -EMSGSIZE);
    void *p;
    size_t space;
    CHECK(hproto_reader_buffer(&r, 10, &p, &space) == -EMSGSIZE);
    hproto_reader_free(&r);

    /* A five-byte header announcing four billion elements never reaches malloc. */
    CHECK(drain("\xdd\xff\xff\xff\xff", 5, 1 << 20) == -EMSGSIZE);
    CHECK(drain("\x95\x01\x01\xa3GET\xdf\xff\xff\xff\xff", 12, 1 << 20) == -EMSGSIZE);
    msgpack_sbuffer_destroy(&buf);
}

int main(void)
{
    srand(12345);
    test_ready();
    test_round_trips();
    test_stream();
    test_shapes();
    test_call_size();
    test_challenge_and_proof();
    test_reader_limit();
    test_garbage();
    test_max_message();
    return check_summary();
}
