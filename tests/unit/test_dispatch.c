/* Unit tests for core/dispatch.c, the calls: which handler gets one, the
 * queue at a function's limit, timeouts, replies matched by id, detached
 * calls. Against fake handlers, see dispatch_fixture.h. */
#include "dispatch_fixture.h"

/* Detaches call *arg, on the loop thread. */
static void detach_call(void *arg)
{
    dispatch_detach(fx.calls[*(int *)arg].handle);
}

/* ---- calls with large bodies, toward handlers that do not read ---- */

#define SMALL_CAP (64u << 10) /* the cap on a connection's unsent bytes in these tests */

static size_t big_len; /* the body of the next big calls */

static void set_cap(void *arg)
{
    dispatch_set_max_unsent(fx.d, *(size_t *)arg);
}

static void start_big(void *arg)
{
    int i = *(int *)arg;
    static char body[1 << 20];
    memset(body, 'x', big_len);
    int n = snprintf(body, 16, "c%d", i);
    body[n] = '.';
    struct call_record *c = &fx.calls[i];
    struct dispatch_request req = {{"POST", 4}, &test_header, 1, {body, big_len}};
    struct dispatch_function *func = dispatch_lookup(fx.d, "f", 1);
    c->rc = func != NULL ? dispatch_call(fx.d, func, &req, record_done, c, &c->handle) : -ENOENT;
}

/* Calls f with a body of big_len bytes, "c<i>." then x's, recorded in
 * fx.calls[i]; the rc of dispatch_call. */
static int big_call(int i)
{
    on_loop(start_big, &i);
    return fx.calls[i].rc;
}

/* Whether the fake's next message is a big call; its number in *i. */
static bool gets_big(struct fake_handler *fh, int *i)
{
    struct fake_call c;
    return fake_recv_call(fh, &c) && sscanf(c.body, "c%d.", i) == 1 && c.body_len == big_len;
}

static void read_unsent(void *arg)
{
    *(size_t *)arg = dispatch_unsent_bytes(dispatch_lookup(fx.d, "f", 1));
}

/* The bytes f's connections hold unwritten. */
static size_t unsent_of_f(void)
{
    size_t n;
    on_loop(read_unsent, &n);
    return n;
}

/* The request's method, headers and body reach the handler as sent; the
 * reply's status, content type and body come back as the handler sent them. */
static void test_call_and_reply_carry_their_bytes(void)
{
    struct fake_handler h[1];
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    CHECK(strcmp(fx.routes, "+f") == 0);
    CHECK(call("f", 0) == 0);
    struct fake_call c;
    CHECK(fake_recv_call(&h[0], &c));
    CHECK(strcmp(c.method, "POST") == 0);
    CHECK(c.n_headers == 1 && strcmp(c.header, "X-Test: yes") == 0);
    CHECK(c.body_len == 2 && strcmp(c.body, "c0") == 0);
    CHECK(fake_reply_full(&h[0], c.id, 500, "application/json", "{\"e\":1}", 7));
    struct call_record *r = wait_done(0);
    /* A function's error is still its answer: DONE, with the handler's status. */
    CHECK(r->done_count == 1 && r->outcome == DISPATCH_DONE && r->status == 500);
    CHECK(strcmp(r->content_type, "application/json") == 0);
    CHECK(strcmp(r->body, "{\"e\":1}") == 0);
    teardown(h, 1);
}

/* A status outside 200 to 599 never reaches a client as it is: the call is
 * answered 502 with a reason, whatever the handler's body; the edges of the
 * range pass. */
static void test_status_outside_200_to_599_becomes_502(void)
{
    static const uint16_t sent[] = {0, 100, 199, 200, 599, 600, 3299, 65535};
    struct fake_handler h[1];
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    for (int i = 0; i < (int)(sizeof sent / sizeof sent[0]); i++) {
        CHECK(call("f", i) == 0);
        struct fake_call c;
        CHECK(fake_recv_call(&h[0], &c));
        CHECK(fake_reply_full(&h[0], c.id, sent[i], "text/plain", "mine", 4));
        struct call_record *r = wait_done(i);
        bool valid = sent[i] >= 200 && sent[i] <= 599;
        CHECKF(r->outcome == DISPATCH_DONE && r->status == (valid ? sent[i] : 502),
               "sent %u, got outcome %d status %u", sent[i], r->outcome, r->status);
        CHECKF(strcmp(r->body,
                      valid ? "mine" : "function answered with a status outside 200 to 599") == 0,
               "sent %u, body \"%s\"", sent[i], r->body);
    }
    teardown(h, 1);
}

/* A handler busy with a call gets no more while another is idle, even when
 * its turn in the rotation comes. */
static void test_fewest_in_flight_wins(void)
{
    struct fake_handler h[2];
    uint32_t id0, id;
    setup();
    listen_all(h, 2);
    CHECK(publish("f", h, 2) == 0);
    CHECK(call("f", 0) == 0);
    int busy = the_one_pending(h, 2);
    CHECKF(busy >= 0, "c0 did not reach exactly one handler");
    if (busy >= 0) {
        int idle = 1 - busy;
        CHECK(gets_call(&h[busy], 0, &id0));
        for (int i = 1; i <= 4; i++) {
            CHECK(call("f", i) == 0);
            CHECKF(!fake_pending(&h[busy]), "call c%d went to the busy handler", i);
            CHECK(gets_call(&h[idle], i, &id));
            CHECK(answer(&h[idle], "idle", id, i));
            char want[16];
            snprintf(want, sizeof want, "idle:c%d", i);
            CHECK(answered(i, want));
        }
        CHECK(answer(&h[busy], "busy", id0, 0));
        CHECK(answered(0, "busy:c0"));
    }
    teardown(h, 2);
}

/* Idle handlers take calls in turn: calls made one after another spread
 * evenly, never twice in a row to one handler. */
static void test_equal_handlers_take_turns(void)
{
    struct fake_handler h[3];
    int got[3] = {0, 0, 0};
    int last = -1, repeats = 0;
    setup();
    listen_all(h, 3);
    CHECK(publish("f", h, 3) == 0);
    for (int i = 0; i < 6; i++) {
        uint32_t id;
        CHECK(call("f", i) == 0);
        int which = the_one_pending(h, 3);
        CHECKF(which >= 0, "call c%d did not reach exactly one handler", i);
        if (which < 0)
            break;
        got[which]++;
        repeats += which == last;
        last = which;
        CHECK(gets_call(&h[which], i, &id));
        CHECK(answer(&h[which], "h", id, i));
        CHECK(wait_done(i)->outcome == DISPATCH_DONE);
    }
    CHECKF(got[0] == 2 && got[1] == 2 && got[2] == 2, "calls per handler: %d %d %d", got[0], got[1],
           got[2]);
    CHECK(repeats == 0);
    teardown(h, 3);
}

/* At max_inflight a handler gets no more calls; they wait, and go out in
 * arrival order as its calls finish. */
static void test_at_the_limit_calls_wait_for_a_free_slot(void)
{
    struct fake_handler h[1];
    uint32_t id[4];
    setup();
    listen_all(h, 1);
    CHECK(publish_limited(PUBLISH, "f", h, 1, 2, 0) == 0);
    call_many("f", 0, 4);
    for (int i = 0; i < 4; i++)
        CHECK(fx.calls[i].rc == 0);
    CHECK(gets_call(&h[0], 0, &id[0]));
    CHECK(gets_call(&h[0], 1, &id[1]));
    CHECKF(!fake_pending(&h[0]), "a third call went out past max_inflight 2");

    CHECK(answer(&h[0], "h0", id[1], 1));
    CHECK(answered(1, "h0:c1"));
    CHECK(gets_call(&h[0], 2, &id[2])); /* the head of the queue */
    CHECK(!fake_pending(&h[0]));

    CHECK(answer(&h[0], "h0", id[0], 0));
    CHECK(answered(0, "h0:c0"));
    CHECK(gets_call(&h[0], 3, &id[3]));

    CHECK(answer(&h[0], "h0", id[3], 3));
    CHECK(answer(&h[0], "h0", id[2], 2));
    CHECK(answered(3, "h0:c3"));
    CHECK(answered(2, "h0:c2"));
    teardown(h, 1);
}

/* The queue holds as many calls as may run at once (max_inflight x
 * handlers); one more is refused with -EBUSY and never completes. Once a
 * queued call went out, there is room again. */
static void test_full_queue_refuses_with_ebusy(void)
{
    struct fake_handler h[2];
    int on[2];
    uint32_t id[6];
    setup();
    listen_all(h, 2);
    CHECK(publish_limited(PUBLISH, "f", h, 2, 1, 0) == 0);
    call_many("f", 0, 5);
    for (int i = 0; i < 4; i++)
        CHECK(fx.calls[i].rc == 0); /* c0, c1 running, c2, c3 waiting */
    CHECKF(fx.calls[4].rc == -EBUSY, "rc %d", fx.calls[4].rc);
    CHECK(one_call_each(h, 2, 0, on, id));
    CHECK(!fake_pending(&h[0]) && !fake_pending(&h[1]));
    int a = on[0], b = on[1]; /* the handlers of c0 and c1 */

    CHECK(answer(&h[b], "b", id[1], 1));
    CHECK(answered(1, "b:c1"));
    CHECK(gets_call(&h[b], 2, &id[2])); /* the freed slot takes the queue's head */
    CHECK(call("f", 5) == 0);           /* room again: c3 and c5 wait */
    CHECK(!fake_pending(&h[0]) && !fake_pending(&h[1]));

    CHECK(answer(&h[a], "a", id[0], 0));
    CHECK(answered(0, "a:c0"));
    CHECK(gets_call(&h[a], 3, &id[3]));
    CHECK(answer(&h[b], "b", id[2], 2));
    CHECK(answered(2, "b:c2"));
    CHECK(gets_call(&h[b], 5, &id[5]));
    CHECK(answer(&h[a], "a", id[3], 3));
    CHECK(answer(&h[b], "b", id[5], 5));
    CHECK(answered(3, "a:c3"));
    CHECK(answered(5, "b:c5"));
    CHECK(done_count(4) == 0);
    teardown(h, 2);
}

static void start_on_f_and_g(void *arg)
{
    (void)arg;
    struct call_batch on_f = {"f", 0, 2}, on_g = {"g", 2, 1};
    start_batch(&on_f);
    start_batch(&on_g);
}

/* A call's timeout runs from when it was made, its wait in the queue
 * included. f times out at 100 ms and runs one call at a time; g times out
 * at 150 ms. c0 and c1 (queued behind c0) on f and c2 on g are made together
 * and never answered: c1 must time out right after c0 and before c2, though
 * it reached its handler only when c0 timed out. Were its timeout counted
 * from there, it would end after c2. The deadlines are kept in one ordered
 * list, so this holds however late the loop runs. */
static void test_queued_wait_counts_toward_the_timeout(void)
{
    struct fake_handler h[2];
    setup();
    listen_all(h, 2);
    CHECK(publish_limited(PUBLISH, "f", &h[0], 1, 1, 100) == 0);
    CHECK(publish_limited(PUBLISH, "g", &h[1], 1, 0, 150) == 0);
    on_loop(start_on_f_and_g, NULL);
    CHECK(fx.calls[0].rc == 0 && fx.calls[1].rc == 0 && fx.calls[2].rc == 0);
    CHECK(gets_call(&h[0], 0, NULL));
    CHECK(failed(0, DISPATCH_TIMEOUT, 504));
    CHECK(failed(1, DISPATCH_TIMEOUT, 504));
    CHECK(failed(2, DISPATCH_TIMEOUT, 504));
    CHECKF(fx.calls[0].finish_order == 1 && fx.calls[1].finish_order == 2 &&
               fx.calls[2].finish_order == 3,
           "finished in the order c0:%d c1:%d c2:%d", fx.calls[0].finish_order,
           fx.calls[1].finish_order, fx.calls[2].finish_order);
    teardown(h, 2);
}

/* An unanswered call ends 504 at the function's timeout. Its late reply is
 * dropped, even once its id's slot serves a new call: the new call gets its
 * own answer, and the connection stays up. */
static void test_timeout_answers_504_and_drops_the_late_reply(void)
{
    struct fake_handler h[1];
    uint32_t id0, id1;
    setup();
    listen_all(h, 1);
    /* c1 must be answered within it too: long enough for a loaded machine. */
    CHECK(publish_limited(PUBLISH, "f", h, 1, 0, 200) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id0));
    CHECK(failed(0, DISPATCH_TIMEOUT, 504));

    CHECK(call("f", 1) == 0);
    CHECK(gets_call(&h[0], 1, &id1));
    CHECK(id1 != id0);
    CHECK(fake_reply(&h[0], id0, "late")); /* before c1's answer, on the same stream */
    CHECK(answer(&h[0], "h0", id1, 1));
    CHECK(answered(1, "h0:c1"));
    CHECK(done_count(0) == 1);
    CHECK(lost_count() == 0);
    teardown(h, 1);
}

/* Replies in another order than the calls each reach their own call. */
static void test_replies_out_of_order_match_by_id(void)
{
    struct fake_handler h[1];
    uint32_t id[3];
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    call_many("f", 0, 3);
    for (int i = 0; i < 3; i++)
        CHECK(gets_call(&h[0], i, &id[i]));
    CHECK(answer(&h[0], "h0", id[2], 2));
    CHECK(answer(&h[0], "h0", id[0], 0));
    CHECK(answer(&h[0], "h0", id[1], 1));
    CHECK(answered(0, "h0:c0"));
    CHECK(answered(1, "h0:c1"));
    CHECK(answered(2, "h0:c2"));
    CHECK(fx.calls[2].finish_order == 1 && fx.calls[0].finish_order == 2 &&
          fx.calls[1].finish_order == 3);
    teardown(h, 1);
}

/* A reply with an id no call has, or with the id of a call that is on
 * another handler, is dropped; the connection and the calls stay. */
static void test_reply_with_a_foreign_id_is_dropped(void)
{
    struct fake_handler h[2];
    int on[2];
    uint32_t id[2];
    setup();
    listen_all(h, 2);
    CHECK(publish("f", h, 2) == 0);
    call_many("f", 0, 2);
    CHECK(one_call_each(h, 2, 0, on, id));
    struct fake_handler *h0 = &h[on[0]], *h1 = &h[on[1]];
    CHECK(fake_reply(h0, id[0] ^ 0x80000000u, "unknown"));
    CHECK(fake_reply(h0, id[0] + 1, "unknown"));
    CHECK(fake_reply(h0, id[1], "not mine")); /* c1 is on the other handler */
    CHECK(answer(h0, "h0", id[0], 0));
    CHECK(answered(0, "h0:c0"));
    CHECK(done_count(1) == 0);
    CHECK(answer(h1, "h1", id[1], 1));
    CHECK(answered(1, "h1:c1"));
    CHECK(lost_count() == 0);
    teardown(h, 2);
}

/* A detached call's done never runs: not on its reply, its timeout, or the
 * loss of its handler. */
static void test_detached_call_never_completes(void)
{
    struct fake_handler h[1];
    uint32_t id[4];
    int which, one = 1;
    setup();
    listen_all(h, 1);
    CHECK(publish_limited(PUBLISH, "f", h, 1, 0, 100) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id[0]));
    which = 0;
    on_loop(detach_call, &which);
    CHECK(answer(&h[0], "h0", id[0], 0));

    /* c1 times out detached; c2, made after it, times out after it. */
    CHECK(call("f", 1) == 0);
    CHECK(gets_call(&h[0], 1, &id[1]));
    which = 1;
    on_loop(detach_call, &which);
    CHECK(call("f", 2) == 0);
    CHECK(gets_call(&h[0], 2, &id[2]));
    CHECK(failed(2, DISPATCH_TIMEOUT, 504));

    CHECK(call("f", 3) == 0);
    CHECK(gets_call(&h[0], 3, &id[3]));
    which = 3;
    on_loop(detach_call, &which);
    fake_hang_up(&h[0]);
    CHECK(wait_for(lost_reached, &one)); /* the listener hears after the calls failed */
    CHECK(done_count(0) == 0);
    CHECK(done_count(1) == 0);
    CHECK(done_count(3) == 0);
    teardown(h, 1);
}

/* A call goes to a handler whose connection has room, even one with more
 * calls in flight, rather than being refused because the fewest-in-flight
 * one does not read: h0 never reads, h1 reads its calls and holds them.
 * Once h1 stops reading too, a call is refused at once with -ENOBUFS, and
 * neither connection holds more than the cap. */
static void test_full_connection_sends_to_another_then_refuses(void)
{
    struct fake_handler h[2];
    size_t cap = SMALL_CAP;
    int i, k, on_h1 = 0, taken = 0;
    setup();
    listen_all(h, 2);
    CHECK(publish("f", h, 2) == 0);
    on_loop(set_cap, &cap);
    big_len = 48u << 10;
    for (i = 0; i < 64; i++) {
        taken += big_call(i) == 0;
        while (fake_pending(&h[1]))
            on_h1 += gets_big(&h[1], &k);
    }
    CHECKF(taken == 64, "%d of 64 calls taken while h1 read", taken);
    size_t held = unsent_of_f();
    CHECKF(held > 0 && held <= SMALL_CAP, "h0 holds %zu bytes", held);
    CHECKF(on_h1 > 32, "h1 got %d calls, h0 the rest", on_h1);
    for (; i < CALLS_MAX && big_call(i) == 0; i++)
        ;
    CHECKF(i < CALLS_MAX && fx.calls[i].rc == -ENOBUFS, "%d calls taken, then rc %d", i,
           i < CALLS_MAX ? fx.calls[i].rc : 0);
    held = unsent_of_f();
    CHECKF(held > SMALL_CAP && held <= 2 * SMALL_CAP, "both hold %zu bytes", held);
    CHECK(i == CALLS_MAX || done_count(i) == 0);
    teardown(h, 2);
}

/* Calls that time out before any of their bytes went to a handler that does
 * not read give those bytes back; the one partly written goes on whole, so
 * the handler, reading at last, gets a valid stream of whole calls, in
 * order, the timed-out ones included only if they had begun. */
static void test_timed_out_calls_give_back_their_bytes(void)
{
    struct fake_handler h[1];
    size_t cap = SMALL_CAP;
    int n, k, last = -1, got = 0;
    setup();
    listen_all(h, 1);
    CHECK(publish_limited(PUBLISH, "f", h, 1, 0, 1000) == 0);
    on_loop(set_cap, &cap);
    big_len = 48u << 10;
    for (n = 0; n < CALLS_MAX && big_call(n) == 0; n++)
        ;
    CHECKF(n < CALLS_MAX && fx.calls[n].rc == -ENOBUFS, "%d calls taken", n);
    size_t full = unsent_of_f();
    for (int i = 0; i < n; i++)
        CHECK(failed(i, DISPATCH_TIMEOUT, 504));
    size_t after = unsent_of_f();
    CHECKF(full > 0 && after < big_len, "unsent: %zu bytes, %zu after the timeouts", full, after);

    while (unsent_of_f() > 0 || fake_pending(&h[0])) {
        if (!gets_big(&h[0], &k) || k <= last || k >= n)
            break;
        last = k;
        got++;
    }
    CHECKF(got > 0 && got < n && last == got - 1, "read %d whole calls, the last c%d", got, last);
    CHECK(unsent_of_f() == 0 && !fake_pending(&h[0]));
    CHECK(big_call(n + 1) == 0); /* written at once: the socket is empty */
    CHECK(gets_big(&h[0], &k) && k == n + 1);
    teardown(h, 1);
}

/* A call whose client went away before any of its bytes were written is
 * dropped whole: its bytes go, its done never runs, and there is room for
 * the next call. */
static void test_detached_unsent_call_is_dropped(void)
{
    struct fake_handler h[1];
    size_t cap = SMALL_CAP;
    int n;
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    on_loop(set_cap, &cap);
    big_len = 16u << 10; /* several wait whole behind the one partly written */
    for (n = 0; n < CALLS_MAX && big_call(n) == 0; n++)
        ;
    CHECKF(n > 0 && n < CALLS_MAX && fx.calls[n].rc == -ENOBUFS, "%d calls taken", n);
    size_t full = unsent_of_f();
    int last = n - 1;
    on_loop(detach_call, &last);
    size_t after = unsent_of_f();
    CHECKF(after < full && full - after > big_len, "unsent %zu, then %zu", full, after);
    CHECK(big_call(n + 1) == 0);
    CHECK(done_count(last) == 0);
    teardown(h, 1);
}

/* Reads big calls from fh into got[n..] (number and id): those pending now,
 * or with wait, until got holds until. The count in got. */
static int read_bigs(struct fake_handler *fh, int (*got)[2], int n, int until, bool wait)
{
    while (n < until && (wait || fake_pending(fh))) {
        struct fake_call c;
        if (!fake_recv_call(fh, &c) || sscanf(c.body, "c%d.", &got[n][0]) != 1)
            break;
        got[n++][1] = (int)c.id;
    }
    return n;
}

/* Puts big calls toward h[0], which never reads, until one lies whole behind
 * the one its socket took part of; h[1], if there, reads its calls (into
 * on_h1, *n_h1 of them) and holds them. The calls made, or -1. */
static int fill_h0(struct fake_handler *h, int (*on_h1)[2], int *n_h1)
{
    big_len = 16u << 10;
    for (int i = 0; i < CALLS_MAX / 2; i++) {
        if (big_call(i) != 0)
            return -1;
        if (n_h1 != NULL)
            *n_h1 = read_bigs(&h[1], on_h1, *n_h1, CALLS_MAX, false);
        if (unsent_of_f() >= 2 * big_len)
            return i + 1;
    }
    return -1;
}

/* Of calls [0, n): how many failed DISPATCH_LOST 502 by now. */
static int lost_502(int n)
{
    int k = 0;
    pthread_mutex_lock(&fx.lock);
    for (int i = 0; i < n; i++)
        k += fx.calls[i].done_count == 1 && fx.calls[i].outcome == DISPATCH_LOST &&
             fx.calls[i].status == 502;
    pthread_mutex_unlock(&fx.lock);
    return k;
}

/* Whether call i was answered 200 by who, with its body echoed after "who:c<i>". */
static bool answered_by(int i, const char *who)
{
    struct call_record *r = wait_done(i);
    char want[16];
    snprintf(want, sizeof want, "%s:c%d", who, i);
    return r->done_count == 1 && r->outcome == DISPATCH_DONE && r->status == 200 &&
           strcmp(r->body, want) == 0;
}

/* A handler's connection lost with calls on it: those none of whose bytes
 * went out go to the function's other handler, which answers them; those
 * begun fail 502 (they may have run, and a call runs at most once). */
static void test_unsent_calls_of_a_lost_handler_go_to_another(void)
{
    static int on_h1[CALLS_MAX][2];
    struct fake_handler h[2];
    int n_h1 = 0, one = 1;
    setup();
    listen_all(h, 2);
    CHECK(publish("f", h, 2) == 0);
    int n = fill_h0(h, on_h1, &n_h1);
    int held = n_h1;
    CHECKF(n > 0 && held < n, "%d calls made, %d of them to h1", n, held);

    fake_hang_up(&h[0]);
    CHECK(wait_for(lost_reached, &one)); /* after the calls failed or moved */
    int failed_n = lost_502(n), moved = n - held - failed_n;
    n_h1 = read_bigs(&h[1], on_h1, n_h1, held + moved, true);
    CHECKF(failed_n >= 1 && moved >= 1 && n_h1 == held + moved,
           "of %d calls: %d on h1, %d begun on h0 failed, %d unsent moved, %d came to h1", n, held,
           failed_n, moved, n_h1 - held);
    for (int k = 0; k < n_h1; k++)
        CHECK(answer(&h[1], "h1", (uint32_t)on_h1[k][1], on_h1[k][0]));
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += answered_by(i, "h1") || fx.calls[i].outcome == DISPATCH_LOST;
    CHECKF(ok == n, "%d of %d calls answered by h1 or failed", ok, n);
    CHECK(lost_502(n) == failed_n);
    teardown(h, 2);
}

/* With no other handler, the unsent calls of a lost one wait in the queue
 * (of a function without a concurrency limit too) until it is back, and
 * are answered there; those begun fail 502. */
static void test_unsent_calls_wait_for_the_handler_to_come_back(void)
{
    static int got[CALLS_MAX][2];
    struct fake_handler h[1];
    int one = 1;
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    int n = fill_h0(h, NULL, NULL);
    CHECKF(n > 1, "%d calls made", n);
    fake_hang_up(&h[0]);
    CHECK(wait_for(lost_reached, &one));
    int failed_n = lost_502(n), moved = n - failed_n;
    CHECKF(failed_n >= 1 && moved >= 1, "of %d calls %d failed", n, failed_n);
    CHECK(fake_accept_ready(&h[0]));
    int n_got = read_bigs(&h[0], got, 0, moved, true);
    CHECKF(n_got == moved, "%d of %d unsent calls came after the reconnect", n_got, moved);
    for (int k = 0; k < n_got; k++)
        CHECK(answer(&h[0], "back", (uint32_t)got[k][1], got[k][0]));
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += answered_by(i, "back") || fx.calls[i].outcome == DISPATCH_LOST;
    CHECKF(ok == n, "%d of %d calls answered after the reconnect or failed", ok, n);
    teardown(h, 1);
}

/* Whether a call of [0, *n) failed DISPATCH_LOST; called under fx.lock. */
static bool one_lost(void *arg)
{
    for (int i = 0; i < *(int *)arg; i++)
        if (fx.calls[i].done_count == 1 && fx.calls[i].outcome == DISPATCH_LOST)
            return true;
    return false;
}

/* A version being replaced (a redeploy; on Swarm a reroute after a node
 * was lost) whose handler is lost hands that handler's unsent calls to the
 * version routed now, which answers them; those begun fail 502. */
static void test_unsent_calls_of_a_replaced_version_go_to_the_new_one(void)
{
    static int got[CALLS_MAX][2];
    struct fake_handler h[2];
    setup();
    listen_all(h, 2);
    CHECK(publish("f", &h[0], 1) == 0);
    int n = fill_h0(h, NULL, NULL);
    CHECKF(n > 1, "%d calls made", n);
    CHECK(publish_limited(REROUTE, "f", &h[1], 1, 0, 0) == 0);
    fake_hang_up(&h[0]);
    CHECK(wait_for(one_lost, &n));
    on_loop(nothing, NULL); /* the loss handled whole: unsent calls moved, begun ones failed */
    int failed_n = lost_502(n), moved = n - failed_n, n_got = 0;
    /* Answered as they come: those past the connection's cap wait for room. */
    for (int k; n_got < moved && (k = read_bigs(&h[1], got, n_got, n_got + 1, true)) > n_got;
         n_got = k)
        CHECK(answer(&h[1], "new", (uint32_t)got[n_got][1], got[n_got][0]));
    CHECKF(failed_n >= 1 && moved >= 1 && n_got == moved,
           "of %d calls %d failed, %d unsent moved, %d came to the new version", n, failed_n, moved,
           n_got);
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += answered_by(i, "new") || fx.calls[i].outcome == DISPATCH_LOST;
    CHECKF(ok == n, "%d of %d calls answered by the new version or failed", ok, n);
    teardown(h, 2);
}

/* A handler at host:port over TCP serves like one on a unix socket. */
static void test_tcp_endpoint_serves(void)
{
    struct fake_handler h[1];
    uint32_t id;
    setup();
    if (!fake_listen_tcp(&h[0])) {
        perror("fake_listen_tcp");
        exit(1);
    }
    CHECK(publish("f", h, 1) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id));
    CHECK(answer(&h[0], "tcp", id, 0));
    CHECK(answered(0, "tcp:c0"));
    teardown(h, 1);
}

int main(void)
{
    test_call_and_reply_carry_their_bytes();
    test_status_outside_200_to_599_becomes_502();
    test_fewest_in_flight_wins();
    test_equal_handlers_take_turns();
    test_at_the_limit_calls_wait_for_a_free_slot();
    test_full_queue_refuses_with_ebusy();
    test_queued_wait_counts_toward_the_timeout();
    test_timeout_answers_504_and_drops_the_late_reply();
    test_replies_out_of_order_match_by_id();
    test_reply_with_a_foreign_id_is_dropped();
    test_detached_call_never_completes();
    test_full_connection_sends_to_another_then_refuses();
    test_timed_out_calls_give_back_their_bytes();
    test_detached_unsent_call_is_dropped();
    test_unsent_calls_of_a_lost_handler_go_to_another();
    test_unsent_calls_wait_for_the_handler_to_come_back();
    test_unsent_calls_of_a_replaced_version_go_to_the_new_one();
    test_tcp_endpoint_serves();
    return check_summary();
}
