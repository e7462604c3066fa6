/* Probes one handler listening on 127.0.0.1:PORT for the handler link's
 * authentication (docs/handler-protocol.md), as test_handler_auth.sh runs
 * it against each runtime's handler:
 *
 *   hauth_probe PORT SECRET_FILE     the handler was given that secret
 *   hauth_probe PORT --no-secret     the handler was given none
 *
 * With a secret, strangers get a CHALLENGE and nothing else: one that sends
 * a CALL, a wrong PROOF, a proof replayed from another connection, bytes
 * that are not the protocol, a large message, or nothing at all is closed
 * with no READY and no REPLY; of too many waiting at once the oldest is
 * closed; and the daemon's own dispatcher, given the secret in the
 * endpoint, gets READY and its calls answered, while one given another
 * secret gets nothing. Without a secret the handler says READY version 2 at
 * once, and a dispatcher that expects a secret refuses it. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "dispatch.h"
#include "hauth.h"
#include "invoke.h"
#include "unit/handler_client.h"

#define WAITING_MAX   16    /* the handlers' bound on connections waiting for a proof */
#define NO_PROOF_MS   5000  /* how long they wait for one */
#define CLOSE_WAIT_MS 15000 /* a generous bound on that wait, for a loaded machine */

static int port;
static uint8_t key[HAUTH_KEY_MAX];
static size_t key_len;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connection with its reader. */
struct peer {
    int fd;
    struct hproto_reader r;
    uint8_t nonce[HPROTO_NONCE_BYTES];
};

static bool peer_open(struct peer *p)
{
    p->fd = connect_handler(port);
    return p->fd >= 0 && hproto_reader_init(&p->r, 1u << 20) == 0;
}

static void peer_close(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    hproto_reader_free(&p->r);
}

/* Reads the CHALLENGE every connection gets first; keeps its nonce. */
static bool challenged(struct peer *p)
{
    if (recv_msg(p->fd, &p->r) != 1 || msg.type != HPROTO_CHALLENGE)
        return false;
    memcpy(p->nonce, msg.u.challenge.nonce.ptr, sizeof p->nonce);
    return msg.u.challenge.version == HPROTO_VERSION;
}

/* Whether the handler closes p with nothing more sent (recv_msg waits at
 * most 20 s for a message or the end). */
static bool closed_silently(struct peer *p)
{
    int rc = recv_msg(p->fd, &p->r);
    if (rc == 1)
        printf("# the handler sent message type %d\n", msg.type);
    return rc == -ECONNRESET;
}

static bool send_proof(struct peer *p, const uint8_t mac[HPROTO_MAC_BYTES])
{
    struct hproto_proof proof = {{(const char *)mac, HPROTO_MAC_BYTES}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    bool ok = hproto_pack_proof(&buf, &proof) == 0 && send_all(p->fd, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return ok;
}

/* ---- strangers ---- */

static void test_a_call_before_the_proof_is_not_run(void)
{
    struct peer p;
    CHECK(peer_open(&p) && challenged(&p));
    CHECK(send_call_headers(p.fd, 1, NULL, 0, "stranger", 8));
    CHECK(closed_silently(&p));
    peer_close(&p);
}

static void test_a_wrong_proof_is_refused(void)
{
    struct peer p;
    uint8_t mac[HPROTO_MAC_BYTES];
    CHECK(peer_open(&p) && challenged(&p));
    hauth_proof("not the secret", 14, p.nonce, mac);
    CHECK(send_proof(&p, mac));
    CHECK(closed_silently(&p));
    peer_close(&p);
}

/* A proof seen on one connection is worth nothing on another: each has its
 * own nonce. */
static void test_a_replayed_proof_is_refused(void)
{
    struct peer a, b;
    uint8_t mac[HPROTO_MAC_BYTES];
    CHECK(peer_open(&a) && challenged(&a));
    CHECK(peer_open(&b) && challenged(&b));
    CHECK(memcmp(a.nonce, b.nonce, sizeof a.nonce) != 0);
    hauth_proof(key, key_len, a.nonce, mac);
    CHECK(send_proof(&b, mac));
    CHECK(closed_silently(&b));
    peer_close(&a);
    peer_close(&b);
}

static void test_garbage_and_large_messages_are_refused(void)
{
    struct peer p;
    CHECK(peer_open(&p) && challenged(&p));
    CHECK(send_all(p.fd, "\xc1 not msgpack", 13));
    CHECK(closed_silently(&p));
    peer_close(&p);

    /* A 1 MiB message announced before the proof is not buffered: closed
     * once it passes the few bytes a proof takes. */
    static char big[1 << 20];
    CHECK(peer_open(&p) && challenged(&p));
    CHECK(send_call_headers(p.fd, 2, NULL, 0, big, sizeof big) || true); /* may be cut short */
    CHECK(closed_silently(&p));
    peer_close(&p);
}

/* A connection that sends nothing is closed after NO_PROOF_MS. */
static void test_silence_is_closed_after_5_s(void)
{
    struct peer p;
    CHECK(peer_open(&p) && challenged(&p));
    int64_t start = now_ms();
    CHECK(closed_silently(&p));
    int64_t took = now_ms() - start;
    printf("# a connection that sent nothing was closed after %lld ms\n", (long long)took);
    CHECKF(took >= NO_PROOF_MS - 500 && took < CLOSE_WAIT_MS, "closed after %lld ms",
           (long long)took);
    peer_close(&p);
}

/* Of WAITING_MAX + 1 connections waiting for a proof, the oldest is closed;
 * the newest still gets READY for the right proof. */
static void test_too_many_waiting_close_the_oldest(void)
{
    struct peer p[WAITING_MAX + 1];
    int ok = 0;
    for (int i = 0; i <= WAITING_MAX; i++)
        ok += peer_open(&p[i]) && challenged(&p[i]);
    CHECKF(ok == WAITING_MAX + 1, "%d connections challenged", ok);
    CHECK(closed_silently(&p[0]));
    uint8_t mac[HPROTO_MAC_BYTES];
    hauth_proof(key, key_len, p[WAITING_MAX].nonce, mac);
    CHECK(send_proof(&p[WAITING_MAX], mac));
    CHECK(recv_msg(p[WAITING_MAX].fd, &p[WAITING_MAX].r) == 1 && msg.type == HPROTO_READY &&
          msg.u.ready.version == HPROTO_VERSION);
    for (int i = 0; i <= WAITING_MAX; i++)
        peer_close(&p[i]);
}

/* The right proof by hand: READY, then calls are answered. */
static void test_the_right_proof_serves(void)
{
    struct peer p;
    uint8_t mac[HPROTO_MAC_BYTES];
    CHECK(peer_open(&p) && challenged(&p));
    hauth_proof(key, key_len, p.nonce, mac);
    CHECK(send_proof(&p, mac));
    CHECK(recv_msg(p.fd, &p.r) == 1 && msg.type == HPROTO_READY &&
          msg.u.ready.version == HPROTO_VERSION);
    CHECK(send_call_headers(p.fd, 7, NULL, 0, "by hand", 7));
    CHECK(recv_msg(p.fd, &p.r) == 1 && is_reply(7, 200, "by hand", 7));
    peer_close(&p);
}

/* ---- the daemon's dispatcher ---- */

struct daemon_side {
    struct loop *loop;
    struct dispatcher *d;
    pthread_t thread;
};

static void *loop_main(void *arg)
{
    loop_run(arg);
    return NULL;
}

static void stop_task(void *arg, bool cancelled)
{
    (void)cancelled;
    loop_stop(arg);
}

static bool daemon_start(struct daemon_side *ds)
{
    if (loop_create(&ds->loop) < 0 || dispatcher_create(ds->loop, 10000, &ds->d) < 0)
        return false;
    return pthread_create(&ds->thread, NULL, loop_main, ds->loop) == 0;
}

static void daemon_stop(struct daemon_side *ds)
{
    loop_post(ds->loop, stop_task, ds->loop);
    pthread_join(ds->thread, NULL);
    loop_close_posts(ds->loop);
    dispatcher_destroy(ds->d);
    loop_destroy(ds->loop);
}

/* Publishes the handler as f with secret in its endpoint, within
 * ready_ms; the dispatcher's rc, its reason in err. */
static int publish_with(struct daemon_side *ds, const char *secret, int ready_ms, tf_err *err)
{
    struct dispatch_endpoint ep = {.port = (uint16_t)port};
    snprintf(ep.host, sizeof ep.host, "127.0.0.1");
    snprintf(ep.secret, sizeof ep.secret, "%s", secret);
    tf_err_clear(err);
    return dispatch_publish(ds->d, "f", &ep, 1, ready_ms, NULL, err);
}

/* Whether calls through the dispatcher come back echoed. */
static bool calls_answered(struct daemon_side *ds)
{
    int ok = 0;
    for (int i = 0; i < 5; i++) {
        char body[16];
        snprintf(body, sizeof body, "call %d", i);
        struct dispatch_request req = {{"POST", 4}, NULL, 0, {body, strlen(body)}};
        struct invoke_answer a = {0};
        tf_err err;
        tf_err_clear(&err);
        if (invoke_wait(ds->loop, ds->d, "f", &req, &a, &err) == 0 && a.status == 200 &&
            a.body_len == strlen(body) && memcmp(a.body, body, a.body_len) == 0)
            ok++;
        else
            printf("# call %d: %s, status %u\n", i, err.msg, a.status);
        invoke_answer_free(&a);
    }
    return ok == 5;
}

static void test_the_daemon_with_the_secret_serves(const char *secret)
{
    struct daemon_side ds;
    tf_err err;
    CHECK(daemon_start(&ds));
    int rc = publish_with(&ds, secret, 20000, &err);
    CHECKF(rc == 0, "%s", err.msg);
    CHECK(rc == 0 && calls_answered(&ds));
    daemon_stop(&ds);
}

/* A dispatcher with another secret (or, for a handler without one, any
 * secret) never gets READY: its publish fails with the reason. */
static void test_the_daemon_with_another_secret_gets_nothing(const char *why)
{
    struct daemon_side ds;
    tf_err err;
    char other[HAUTH_SECRET_CHARS + 1];
    CHECK(daemon_start(&ds) && hauth_new_secret(other) == 0);
    CHECK(publish_with(&ds, other, 1500, &err) < 0);
    CHECKF(strstr(err.msg, why) != NULL, "%s", err.msg);
    daemon_stop(&ds);
}

/* ---- a handler without a secret ---- */

static void test_without_a_secret_ready_comes_at_once(void)
{
    struct peer p;
    CHECK(peer_open(&p));
    CHECK(recv_msg(p.fd, &p.r) == 1 && msg.type == HPROTO_READY &&
          msg.u.ready.version == HPROTO_VERSION);
    peer_close(&p);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN); /* a handler closes on a stranger mid-write */
    if (argc != 3 || (port = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: hauth_probe PORT SECRET_FILE|--no-secret\n");
        return 2;
    }
    if (strcmp(argv[2], "--no-secret") == 0) {
        test_without_a_secret_ready_comes_at_once();
        test_the_daemon_with_the_secret_serves("");
        test_the_daemon_with_another_secret_gets_nothing("did not authenticate");
        return check_summary();
    }
    int n = hauth_read_key(argv[2], key);
    if (n < 0) {
        fprintf(stderr, "hauth_probe: %s: %s\n", argv[2], strerror(-n));
        return 2;
    }
    key_len = (size_t)n;
    char secret[HAUTH_SECRET_CHARS + 1];
    snprintf(secret, sizeof secret, "%.*s", n, (const char *)key);
    test_a_call_before_the_proof_is_not_run();
    test_a_wrong_proof_is_refused();
    test_a_replayed_proof_is_refused();
    test_garbage_and_large_messages_are_refused();
    test_too_many_waiting_close_the_oldest();
    test_the_right_proof_serves();
    test_the_daemon_with_the_secret_serves(secret);
    test_the_daemon_with_another_secret_gets_nothing("closed the connection");
    test_silence_is_closed_after_5_s();
    return check_summary();
}
