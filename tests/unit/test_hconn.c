/* Unit tests for core/hconn.c: one connection to a fake handler, driven by
 * running the loop on the test's own thread until what the test waits for
 * has happened (or a bound has passed). The test links with
 * -Wl,--wrap=send so it can count the send() calls hconn makes: a flush of
 * many calls must cost one. */
#include "hconn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "check.h"
#include "fake_handler.h"
#include "hauth.h"

#define BIG_REPLY (1u << 20)
#define PIECE     1000 /* bytes the fake writes per loop iteration */

#define REPLIES_MAX 4

/* A reply as the connection reported it, its bytes copied. */
struct got_reply {
    uint32_t id;
    uint16_t status;
    char type[32];
    char *body;
    size_t len;
};

/* What the connection reported, and how the loop is driven. */
struct fixture {
    struct loop *loop;
    struct hconn_set set;
    struct hconn *h; /* NULL once closed */
    struct fake_handler fake;
    int readies, replies, closes;
    int err; /* on_closed's errno */
    char why[160];
    void (*on_close)(struct hconn *h); /* run in on_closed, while h is still readable */
    struct got_reply got[REPLIES_MAX]; /* the first replies, copied */
    bool (*until)(void);               /* the loop stops once this holds */
    int64_t deadline;
    const char *feed; /* bytes the fake writes PIECE by PIECE, one piece an iteration */
    size_t feed_len, feed_off;
    int pieces;
    bool drain;     /* the fake reads what came, each iteration, into its reader */
    size_t drained; /* bytes it read so */
};

static struct fixture fx;
static int sends; /* send() calls made by hconn */

ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags);

/* Every send() of the linked objects comes here; the fake writes with write(). */
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
    sends++;
    return __real_send(fd, buf, len, flags);
}

/* ---- the connection's events ---- */

static void on_ready(void *owner, struct hconn *h)
{
    (void)owner;
    (void)h;
    fx.readies++;
}

static void on_reply(void *owner, struct hconn *h, const struct hproto_reply *reply)
{
    (void)owner;
    (void)h;
    if (fx.replies < REPLIES_MAX) {
        struct got_reply *r = &fx.got[fx.replies];
        r->id = reply->id;
        r->status = reply->status;
        copy_bytes(r->type, sizeof r->type, reply->content_type);
        r->body = malloc(reply->body.len + 1);
        memcpy(r->body, reply->body.ptr, reply->body.len);
        r->len = reply->body.len;
    }
    fx.replies++;
}

/* Whether reply k is id with status and body. */
static bool reply_is(int k, uint32_t id, uint16_t status, const void *body, size_t len)
{
    const struct got_reply *r = &fx.got[k];
    bool ok = k < fx.replies && r->id == id && r->status == status && r->len == len &&
              memcmp(r->body, body, len) == 0;
    if (!ok && k < fx.replies)
        printf("reply %d: id %u status %u, %zu bytes\n", k, r->id, r->status, r->len);
    return ok;
}

static void on_closed(void *owner, struct hconn *h, int err, const char *why)
{
    (void)owner;
    (void)h;
    fx.closes++;
    fx.err = err;
    if (fx.on_close != NULL)
        fx.on_close(h);
    fx.h = NULL;
    snprintf(fx.why, sizeof fx.why, "%s", why);
}

static const struct hconn_events events = {on_ready, on_reply, on_closed};

/* ---- driving the loop ---- */

/* Writes the next piece of the feed, if the socket takes it now. */
static void feed_piece(void)
{
    size_t n = fx.feed_len - fx.feed_off < PIECE ? fx.feed_len - fx.feed_off : PIECE;
    ssize_t w = write(fx.fake.fd, fx.feed + fx.feed_off, n);
    if (w > 0) {
        fx.feed_off += (size_t)w;
        fx.pieces++;
    }
}

/* Reads, without waiting, what the connection wrote to the fake. */
static void drain_fake(void)
{
    for (;;) {
        void *buf;
        size_t space;
        if (hproto_reader_buffer(&fx.fake.reader, 65536, &buf, &space) < 0)
            return;
        ssize_t n = recv(fx.fake.fd, buf, space, MSG_DONTWAIT);
        if (n <= 0)
            return;
        hproto_reader_commit(&fx.fake.reader, (size_t)n);
        fx.drained += (size_t)n;
    }
}

/* Stops the loop once fx.until holds or the deadline passed. */
static int tick(void *ctx)
{
    (void)ctx;
    if (fx.feed != NULL && fx.feed_off < fx.feed_len)
        feed_piece();
    if (fx.drain)
        drain_fake();
    int64_t now = loop_now_ms();
    if (fx.until() || now >= fx.deadline) {
        loop_stop(fx.loop);
        return 0;
    }
    if (fx.drain)
        return 1; /* the fake reads as the loop writes */
    return fx.feed != NULL && fx.feed_off < fx.feed_len ? 0 : (int)(fx.deadline - now);
}

/* As the dispatcher does: send what the iteration queued, then free the closed. */
static void flush(void *ctx)
{
    (void)ctx;
    hconn_set_flush(&fx.set);
    hconn_set_reap(&fx.set);
}

/* Runs the loop until holds() is true, at most FAKE_WAIT_MS; whether it is. */
static bool run_until(bool (*holds)(void))
{
    fx.until = holds;
    fx.deadline = loop_now_ms() + FAKE_WAIT_MS;
    loop_run(fx.loop);
    return holds();
}

static bool is_ready(void)
{
    return fx.readies > 0;
}

static bool is_closed(void)
{
    return fx.closes > 0;
}

static bool has_reply(void)
{
    return fx.replies > 0;
}

static bool has_two_replies(void)
{
    return fx.replies >= 2;
}

/* ---- the fixture ---- */

static void setup_fake(bool tcp)
{
    memset(&fx, 0, sizeof fx);
    if (loop_create(&fx.loop) < 0 || loop_add_ticker(fx.loop, tick, NULL) < 0 ||
        !(tcp ? fake_listen_tcp(&fx.fake) : fake_listen_unix(&fx.fake))) {
        printf("FAIL cannot set up the loop and the fake handler\n");
        exit(1);
    }
    loop_set_flush(fx.loop, flush, NULL);
}

/* A connection to the fake, with secret (NULL: none), accepted there; the
 * fake has said nothing yet. */
static void setup_secret(bool tcp, const char *secret)
{
    setup_fake(tcp);
    int rc = hconn_open(&fx.set, fx.loop, "127.0.0.1", fx.fake.port, fx.fake.path, secret, &events,
                        NULL, &fx.h);
    if (rc < 0 || !fake_accept(&fx.fake)) {
        printf("FAIL cannot connect to the fake handler: %s\n", strerror(-rc));
        exit(1);
    }
}

static void setup_with(bool tcp)
{
    setup_secret(tcp, NULL);
}

static void setup(void)
{
    setup_with(false);
}

/* A connection whose handler said READY. */
static void setup_ready(void)
{
    setup();
    CHECK(fake_send_ready(&fx.fake, HPROTO_VERSION));
    CHECK(run_until(is_ready));
}

static void teardown(void)
{
    hconn_close(fx.h); /* no callback; NULL when it closed itself */
    hconn_set_reap(&fx.set);
    loop_destroy(fx.loop);
    fake_free(&fx.fake);
    for (int k = 0; k < fx.replies && k < REPLIES_MAX; k++)
        free(fx.got[k].body);
}

static struct hproto_call call_with(uint32_t id, const char *body)
{
    static const struct hproto_header header = {{"K", 1}, {"v", 1}};
    return (struct hproto_call){id, {"PUT", 3}, &header, 1, {body, strlen(body)}};
}

/* ==== the tests ==== */

/* Until the handler says READY nothing may be sent; after it, a call goes
 * out as packed, and the handler's reply comes back with its bytes. */
static void test_ready_then_a_call_and_its_reply(void)
{
    setup();
    struct hproto_call c = call_with(7, "hello");
    CHECK(hconn_send_call(fx.h, &c, NULL) == -ENOTCONN);
    CHECK(fake_send_ready(&fx.fake, HPROTO_VERSION));
    CHECK(run_until(is_ready));
    CHECK(fx.readies == 1 && fx.closes == 0);

    CHECK(hconn_send_call(fx.h, &c, NULL) == 0);
    hconn_set_flush(&fx.set);
    struct fake_call got;
    CHECK(fake_recv_call(&fx.fake, &got));
    CHECK(got.id == 7 && strcmp(got.method, "PUT") == 0 && strcmp(got.header, "K: v") == 0 &&
          strcmp(got.body, "hello") == 0);

    CHECK(fake_reply_full(&fx.fake, 7, 201, "text/x-test", "a\0b", 3));
    CHECK(run_until(has_reply));
    CHECK(fx.replies == 1 && reply_is(0, 7, 201, "a\0b", 3));
    CHECK(strcmp(fx.got[0].type, "text/x-test") == 0);
    CHECK(fx.closes == 0);
    teardown();
}

/* The same over TCP on loopback, where the connect completes later. */
static void test_tcp_connection_serves(void)
{
    setup_with(true);
    CHECK(fake_send_ready(&fx.fake, HPROTO_VERSION));
    CHECK(run_until(is_ready));
    struct hproto_call c = call_with(9, "tcp");
    CHECK(hconn_send_call(fx.h, &c, NULL) == 0);
    hconn_set_flush(&fx.set);
    struct fake_call got;
    CHECK(fake_recv_call(&fx.fake, &got) && got.id == 9 && strcmp(got.body, "tcp") == 0);
    CHECK(fake_reply(&fx.fake, 9, "ok"));
    CHECK(run_until(has_reply));
    CHECK(fx.replies == 1 && reply_is(0, 9, 200, "ok", 2));
    teardown();
}

/* Calls queued in one iteration stay in memory until the set's flush, which
 * writes them all with one send(), in the order they were queued. */
static void test_calls_of_an_iteration_go_out_in_one_write(void)
{
    setup_ready();
    for (uint32_t i = 0; i < 100; i++) {
        char body[16];
        snprintf(body, sizeof body, "call %u", i);
        struct hproto_call c = call_with(i, body);
        CHECK(hconn_send_call(fx.h, &c, NULL) == 0);
    }
    struct hproto_call c = call_with(100, "packed");
    msgpack_sbuffer packed;
    msgpack_sbuffer_init(&packed);
    CHECK(hproto_pack_call(&packed, &c) == 0);
    CHECK(hconn_send_packed(fx.h, packed.data, packed.size, NULL) == 0);
    msgpack_sbuffer_destroy(&packed);
    CHECKF(!fake_pending(&fx.fake), "bytes went out before the flush");

    sends = 0;
    hconn_set_flush(&fx.set);
    CHECKF(sends == 1, "%d sends", sends);
    int in_order = 0;
    for (uint32_t i = 0; i <= 100; i++) {
        struct fake_call got;
        char body[16];
        snprintf(body, sizeof body, i < 100 ? "call %u" : "packed", i);
        in_order += fake_recv_call(&fx.fake, &got) && got.id == i && strcmp(got.body, body) == 0;
    }
    CHECKF(in_order == 101, "%d of 101 calls came in order", in_order);
    CHECK(!fake_pending(&fx.fake));

    sends = 0;
    hconn_set_flush(&fx.set); /* nothing queued: no write */
    CHECK(sends == 0);
    teardown();
}

/* A reply larger than the reader's chunk, arriving a piece per loop
 * iteration, is delivered once and whole; the next one is framed right. */
static void test_large_reply_arrives_in_pieces(void)
{
    setup_ready();
    char *body = malloc(BIG_REPLY);
    for (size_t i = 0; i < BIG_REPLY; i++)
        body[i] = (char)(i * 7 + i / 251);
    struct hproto_reply reply = {3, 200, {"application/octet-stream", 24}, {body, BIG_REPLY}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    CHECK(hproto_pack_reply(&buf, &reply) == 0);
    struct hproto_reply second = {4, 200, {"", 0}, {"after", 5}};
    CHECK(hproto_pack_reply(&buf, &second) == 0);
    fcntl(fx.fake.fd, F_SETFL, fcntl(fx.fake.fd, F_GETFL) | O_NONBLOCK);
    fx.feed = buf.data;
    fx.feed_len = buf.size;

    CHECK(run_until(has_two_replies));
    CHECKF(fx.pieces > 100, "the replies came in %d pieces", fx.pieces);
    CHECK(fx.replies == 2 && reply_is(0, 3, 200, body, BIG_REPLY) &&
          reply_is(1, 4, 200, "after", 5));
    CHECK(strcmp(fx.got[0].type, "application/octet-stream") == 0);
    CHECK(fx.closes == 0);
    fx.feed = NULL;
    msgpack_sbuffer_destroy(&buf);
    free(body);
    teardown();
}

/* Bytes that are not the protocol close the connection, with the reason. */
static void test_garbage_closes_with_a_reason(void)
{
    setup_ready();
    CHECK(fake_send_all(&fx.fake, "\xc1\xc1\xc1\xc1", 4)); /* 0xc1: never used in msgpack */
    CHECK(run_until(is_closed));
    CHECK(fx.closes == 1 && fx.h == NULL);
    CHECKF(strstr(fx.why, "not the handler protocol") != NULL, "why: %s", fx.why);
    CHECK(fx.err == EPROTO);
    CHECK(fake_sees_eof(&fx.fake));
    teardown();
}

/* A handler that speaks another protocol version is closed, saying which;
 * version 1 (a handler of an older image, without authentication) serves. */
static void test_wrong_protocol_version_closes_with_a_reason(void)
{
    setup();
    CHECK(fake_send_ready(&fx.fake, 3));
    CHECK(run_until(is_closed));
    CHECK(fx.readies == 0 && fx.closes == 1 && fx.err == EPROTO);
    CHECKF(strstr(fx.why, "protocol version 3") != NULL, "why: %s", fx.why);
    CHECK(fake_sees_eof(&fx.fake));
    teardown();

    setup();
    CHECK(fake_send_ready(&fx.fake, 1));
    CHECK(run_until(is_ready));
    CHECK(fx.closes == 0);
    teardown();
}

/* A valid message out of place closes too: a REPLY before READY, a CALL
 * (the daemon's message) from the handler, a second READY. */
static void test_unexpected_message_closes(void)
{
    setup();
    CHECK(fake_reply(&fx.fake, 1, "too early"));
    CHECK(run_until(is_closed));
    CHECK(fx.readies == 0 && fx.replies == 0);
    CHECKF(strstr(fx.why, "unexpected message") != NULL, "why: %s", fx.why);
    teardown();

    setup_ready();
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    struct hproto_call c = call_with(1, "backwards");
    CHECK(hproto_pack_call(&buf, &c) == 0);
    CHECK(fake_send_all(&fx.fake, buf.data, buf.size));
    msgpack_sbuffer_destroy(&buf);
    CHECK(run_until(is_closed));
    CHECKF(strstr(fx.why, "unexpected message") != NULL, "why: %s", fx.why);
    teardown();

    setup_ready();
    CHECK(fake_send_ready(&fx.fake, HPROTO_VERSION));
    CHECK(run_until(is_closed));
    CHECK(fx.readies == 1);
    CHECKF(strstr(fx.why, "unexpected message") != NULL, "why: %s", fx.why);
    teardown();
}

/* The handler hanging up closes the connection, saying so. */
static void test_handler_hang_up_closes_with_a_reason(void)
{
    setup_ready();
    fake_hang_up(&fx.fake);
    CHECK(run_until(is_closed));
    CHECK(fx.closes == 1);
    CHECKF(strstr(fx.why, "closed the connection") != NULL, "why: %s", fx.why);
    CHECK(fx.err == ECONNRESET);
    teardown();
}

/* Replies in one read are each delivered, and a reply cut short by the
 * handler's end is not: the connection closes instead. */
static void test_reply_cut_short_is_not_delivered(void)
{
    setup_ready();
    struct hproto_reply reply = {5, 200, {"", 0}, {"whole", 5}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    CHECK(hproto_pack_reply(&buf, &reply) == 0);
    CHECK(hproto_pack_reply(&buf, &reply) == 0);
    CHECK(fake_send_all(&fx.fake, buf.data, buf.size - 1)); /* the second lacks a byte */
    msgpack_sbuffer_destroy(&buf);
    fake_hang_up(&fx.fake);
    CHECK(run_until(is_closed));
    CHECK(fx.replies == 1 && reply_is(0, 5, 200, "whole", 5));
    CHECKF(strstr(fx.why, "closed the connection") != NULL, "why: %s", fx.why);
    teardown();
}

/* Closing with calls queued drops them without a callback: the handler
 * sees the end of the stream and nothing else. */
static void test_close_drops_queued_calls_without_a_callback(void)
{
    setup_ready();
    struct hproto_call c = call_with(1, "never sent");
    CHECK(hconn_send_call(fx.h, &c, NULL) == 0);
    hconn_close(fx.h);
    fx.h = NULL;
    hconn_set_reap(&fx.set); /* frees it though it is on the dirty list */
    sends = 0;
    hconn_set_flush(&fx.set);
    CHECK(sends == 0);
    CHECK(fx.closes == 0);
    CHECK(fake_sees_eof(&fx.fake));
    teardown();
}

/* A call of len body bytes with id, each byte telling its id and place. */
static struct hproto_call big_call(uint32_t id, char *body, size_t len)
{
    for (size_t i = 0; i < len; i++)
        body[i] = (char)(id * 31 + i / 7);
    return (struct hproto_call){id, {"POST", 4}, NULL, 0, {body, len}};
}

/* Whether the fake's next message is the CALL big_call(id, ..., len) made. */
static bool fake_gets_big(uint32_t id, size_t len)
{
    if (fake_recv(&fx.fake) != 1 || fx.fake.msg.type != HPROTO_CALL)
        return false;
    const struct hproto_call *c = &fx.fake.msg.u.call;
    bool ok = c->id == id && c->body.len == len;
    for (size_t i = 0; ok && i < len; i++)
        ok = c->body.ptr[i] == (char)(id * 31 + i / 7);
    if (!ok)
        printf("got call %u of %zu bytes, wanted %u of %zu\n", c->id, c->body.len, id, len);
    return ok;
}

static size_t want_drained;

static bool drained_enough(void)
{
    return fx.drained >= want_drained;
}

/* Past max_unsent a call is refused with -ENOBUFS, and nothing of it is
 * queued; a connection holding nothing takes even a call larger than the
 * cap, so a function cannot be wedged by it; once the socket took the bytes
 * there is room again. */
static void test_cap_on_unsent_bytes(void)
{
    static char body[8192];
    setup_ready();
    fx.set.max_unsent = 1024;
    struct hproto_call c1 = big_call(1, body, sizeof body);
    size_t size = hproto_call_size(&c1);
    CHECK(hconn_unsent(fx.h) == 0 && hconn_has_room(fx.h, size));
    CHECK(hconn_send_call(fx.h, &c1, NULL) == 0);
    CHECK(hconn_unsent(fx.h) == size);
    struct hproto_call small = call_with(2, "small");
    CHECK(!hconn_has_room(fx.h, hproto_call_size(&small)));
    CHECK(hconn_send_call(fx.h, &small, NULL) == -ENOBUFS);
    CHECK(hconn_unsent(fx.h) == size);
    hconn_set_flush(&fx.set); /* the socket takes 8 KiB whole */
    CHECK(hconn_unsent(fx.h) == 0);
    CHECK(hconn_send_call(fx.h, &small, NULL) == 0);
    CHECK(fake_gets_big(1, sizeof body));
    hconn_set_flush(&fx.set);
    struct fake_call got;
    CHECK(fake_recv_call(&fx.fake, &got) && got.id == 2 && strcmp(got.body, "small") == 0);
    CHECK(!fake_pending(&fx.fake));
    teardown();
}

/* A call none of whose bytes went out is taken back whole, and the bytes
 * queued shrink by its size; one partly written is not: it goes on whole,
 * and so does the call after the taken-back one. The handler reads a valid
 * stream without the taken-back call. */
static void test_drop_takes_back_only_unsent_calls(void)
{
    enum { BIG = 1 << 20 };
    char *a = malloc(BIG), *b = malloc(BIG);
    uint64_t sa, sb, sc;
    setup_ready();
    struct hproto_call ca = big_call(1, a, BIG), cb = big_call(2, b, BIG);
    struct hproto_call cc = call_with(3, "after");
    CHECK(hconn_send_call(fx.h, &ca, &sa) == 0);
    CHECK(hconn_send_call(fx.h, &cb, &sb) == 0);
    CHECK(hconn_send_call(fx.h, &cc, &sc) == 0);
    hconn_set_flush(&fx.set); /* a unix socket takes far less than 1 MiB */
    size_t unsent = hconn_unsent(fx.h);
    CHECKF(unsent > hproto_call_size(&cb) + hproto_call_size(&cc) &&
               unsent < hproto_call_size(&ca) + hproto_call_size(&cb) + hproto_call_size(&cc),
           "%zu unsent: the first call is not partly written", unsent);

    CHECK(!hconn_drop(fx.h, sa)); /* begun */
    CHECK(hconn_drop(fx.h, sb));
    CHECK(hconn_drop(fx.h, sb)); /* once taken back, it stays so */
    CHECK(hconn_unsent(fx.h) == unsent - hproto_call_size(&cb));
    hconn_set_flush(&fx.set); /* compacts: what was written and b's bytes go */
    CHECK(hconn_unsent(fx.h) == unsent - hproto_call_size(&cb));
    CHECK(!hconn_drop(fx.h, sa));     /* still begun, though moved */
    CHECK(!hconn_drop(fx.h, sc + 1)); /* never queued */

    want_drained = hproto_call_size(&ca) + hproto_call_size(&cc);
    fx.drain = true;
    CHECK(run_until(drained_enough));
    fx.drain = false;
    CHECKF(fx.drained == want_drained, "%zu bytes came, %zu expected", fx.drained, want_drained);
    CHECK(hconn_unsent(fx.h) == 0);
    CHECK(!hconn_drop(fx.h, sc)); /* written */
    CHECK(fake_gets_big(1, BIG));
    struct fake_call got;
    CHECK(fake_recv_call(&fx.fake, &got) && got.id == 3 && strcmp(got.body, "after") == 0);
    CHECK(!fake_pending(&fx.fake));
    CHECK(fx.closes == 0);
    free(a);
    free(b);
    teardown();
}

static uint64_t seq_begun, seq_whole;
static struct hproto_call *call_whole;
static int unsent_seen; /* 1: the begun call was not given, the whole one was, as packed */

static void look_at_unsent(struct hconn *h)
{
    const void *data;
    size_t len;
    msgpack_sbuffer want;
    msgpack_sbuffer_init(&want);
    hproto_pack_call(&want, call_whole);
    unsent_seen = !hconn_unsent_call(h, seq_begun, &data, &len) &&
                  hconn_unsent_call(h, seq_whole, &data, &len) && len == want.size &&
                  memcmp(data, want.data, len) == 0;
    msgpack_sbuffer_destroy(&want);
}

/* Once the connection is lost, a call none of whose bytes went out can be
 * read back whole, to be sent elsewhere; one begun cannot. */
static void test_unsent_call_is_readable_after_a_loss(void)
{
    enum { BIG = 1 << 20 };
    char *a = malloc(BIG);
    setup_ready();
    struct hproto_call ca = big_call(1, a, BIG), cb = call_with(2, "whole");
    CHECK(hconn_send_call(fx.h, &ca, &seq_begun) == 0);
    CHECK(hconn_send_call(fx.h, &cb, &seq_whole) == 0);
    hconn_set_flush(&fx.set); /* a unix socket takes far less than 1 MiB */
    CHECK(hconn_unsent(fx.h) > hproto_call_size(&cb));
    call_whole = &cb;
    fx.on_close = look_at_unsent;
    fake_hang_up(&fx.fake);
    CHECK(run_until(is_closed));
    CHECK(unsent_seen == 1);
    free(a);
    teardown();
}

/* ---- authentication ---- */

/* The fake sends a CHALLENGE of version with a random nonce (kept in *nonce). */
static bool fake_challenge(uint32_t version, uint8_t nonce[HPROTO_NONCE_BYTES])
{
    if (hauth_random(nonce, HPROTO_NONCE_BYTES) < 0)
        return false;
    struct hproto_challenge ch = {version, {(const char *)nonce, HPROTO_NONCE_BYTES}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    bool ok = hproto_pack_challenge(&buf, &ch) == 0 && fake_send_all(&fx.fake, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return ok;
}

/* With a secret, the handler's CHALLENGE is answered with its PROOF,
 * HMAC-SHA256(secret, nonce), and nothing else; READY then serves. */
static void test_challenge_is_answered_with_the_proof(void)
{
    static const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    uint8_t nonce[HPROTO_NONCE_BYTES], want[HPROTO_MAC_BYTES];
    setup_secret(true, secret);
    CHECK(fake_challenge(HPROTO_VERSION, nonce));
    want_drained = 4 + HPROTO_MAC_BYTES; /* [4, bin 32] */
    fx.drain = true;
    CHECK(run_until(drained_enough));
    fx.drain = false;
    CHECK(fx.drained == want_drained);
    CHECK(hproto_reader_next(&fx.fake.reader, &fx.fake.msg) == 1 &&
          fx.fake.msg.type == HPROTO_PROOF);
    hauth_proof(secret, strlen(secret), nonce, want);
    CHECK(memcmp(fx.fake.msg.u.proof.mac.ptr, want, sizeof want) == 0);
    CHECK(hauth_check(secret, strlen(secret), nonce, (const uint8_t *)fx.fake.msg.u.proof.mac.ptr));
    CHECK(fx.readies == 0 && fx.closes == 0);

    CHECK(fake_send_ready(&fx.fake, HPROTO_VERSION));
    CHECK(run_until(is_ready));
    struct hproto_call c = call_with(5, "authed");
    CHECK(hconn_send_call(fx.h, &c, NULL) == 0);
    hconn_set_flush(&fx.set);
    struct fake_call got;
    CHECK(fake_recv_call(&fx.fake, &got) && got.id == 5 && strcmp(got.body, "authed") == 0);
    teardown();
}

/* With a secret, a handler that says READY without a CHALLENGE is not
 * served: an impostor, or a handler not given the secret. */
static void test_ready_without_a_challenge_is_refused(void)
{
    setup_secret(false, "the secret");
    CHECK(fake_send_ready(&fx.fake, HPROTO_VERSION));
    CHECK(run_until(is_closed));
    CHECK(fx.readies == 0 && fx.err == EACCES);
    CHECKF(strstr(fx.why, "did not authenticate") != NULL, "why: %s", fx.why);
    CHECK(fake_sees_eof(&fx.fake));
    teardown();

    setup_secret(false, "the secret"); /* nor a version 1 handler */
    CHECK(fake_send_ready(&fx.fake, 1));
    CHECK(run_until(is_closed));
    CHECK(fx.readies == 0 && fx.err == EACCES);
    teardown();
}

/* Without a secret, a CHALLENGE cannot be answered: the connection closes
 * with nothing sent. So does a CHALLENGE of another version, or a second one. */
static void test_a_challenge_that_cannot_be_answered_closes(void)
{
    uint8_t nonce[HPROTO_NONCE_BYTES];
    setup();
    CHECK(fake_challenge(HPROTO_VERSION, nonce));
    CHECK(run_until(is_closed));
    CHECK(fx.err == EACCES);
    CHECKF(strstr(fx.why, "no secret") != NULL, "why: %s", fx.why);
    CHECK(fake_sees_eof(&fx.fake));
    teardown();

    setup_secret(false, "the secret");
    CHECK(fake_challenge(HPROTO_VERSION + 1, nonce));
    CHECK(run_until(is_closed));
    CHECK(fx.err == EPROTO);
    CHECKF(strstr(fx.why, "protocol version 3") != NULL, "why: %s", fx.why);
    CHECK(fake_sees_eof(&fx.fake));
    teardown();

    setup_secret(false, "the secret");
    CHECK(fake_challenge(HPROTO_VERSION, nonce) && fake_challenge(HPROTO_VERSION, nonce));
    CHECK(run_until(is_closed));
    CHECK(fx.err == EPROTO);
    CHECKF(strstr(fx.why, "unexpected message") != NULL, "why: %s", fx.why);
    teardown();

    struct hconn *h = NULL;
    char long_secret[HCONN_SECRET_MAX + 2];
    memset(long_secret, 'x', sizeof long_secret - 1);
    long_secret[sizeof long_secret - 1] = '\0';
    setup_fake(false);
    CHECK(hconn_open(&fx.set, fx.loop, "", 0, fx.fake.path, long_secret, &events, NULL, &h) ==
          -EINVAL);
    teardown();
}

/* A unix socket that does not exist fails at once: nothing listens yet. */
static void test_connect_to_a_missing_socket_fails_at_once(void)
{
    setup_fake(false);
    char path[sizeof fx.fake.path + 8];
    snprintf(path, sizeof path, "%s.none", fx.fake.path);
    struct hconn *h = NULL;
    CHECK(hconn_open(&fx.set, fx.loop, "", 0, path, NULL, &events, NULL, &h) == -ENOENT);
    CHECK(h == NULL);
    CHECK(hconn_open(&fx.set, fx.loop, "not-an-address", 1, NULL, NULL, &events, NULL, &h) ==
          -EINVAL);
    CHECK(fx.set.dirty == NULL && fx.set.dead == NULL);
    teardown();
}

int main(void)
{
    test_ready_then_a_call_and_its_reply();
    test_tcp_connection_serves();
    test_calls_of_an_iteration_go_out_in_one_write();
    test_large_reply_arrives_in_pieces();
    test_garbage_closes_with_a_reason();
    test_wrong_protocol_version_closes_with_a_reason();
    test_unexpected_message_closes();
    test_handler_hang_up_closes_with_a_reason();
    test_reply_cut_short_is_not_delivered();
    test_close_drops_queued_calls_without_a_callback();
    test_cap_on_unsent_bytes();
    test_drop_takes_back_only_unsent_calls();
    test_unsent_call_is_readable_after_a_loss();
    test_challenge_is_answered_with_the_proof();
    test_ready_without_a_challenge_is_refused();
    test_a_challenge_that_cannot_be_answered_closes();
    test_connect_to_a_missing_socket_fails_at_once();
    return check_summary();
}
