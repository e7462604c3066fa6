/* Unit tests for core/invoke.c: a call made from a thread other than the
 * loop's waits for its answer, which is copied out whole; an unknown name, a
 * refused call and a stopped loop each get their error kind. Against a fake
 * handler, see dispatch_fixture.h. */
/* The fixture's helpers for calls made on the loop thread go unused here. */
#pragma GCC diagnostic ignored "-Wunused-function"
#include "dispatch_fixture.h"
#include "invoke.h"

/* One invoke_wait, run on a thread of its own: it blocks. */
struct waiter {
    pthread_t thread;
    const char *name;
    struct dispatch_request req;
    struct invoke_answer answer;
    tf_err err;
    int rc;
};

static const struct hproto_header content_type = {{"Content-Type", 12}, {"text/plain", 10}};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    w->rc = invoke_wait(fx.loop, fx.d, w->name, &w->req, &w->answer, &w->err);
    return NULL;
}

static void waiter_start(struct waiter *w, const char *name, const char *body)
{
    memset(w, 0, sizeof *w);
    w->name = name;
    w->req = (struct dispatch_request){{"POST", 4}, &content_type, 1, {body, strlen(body)}};
    pthread_create(&w->thread, NULL, waiter_main, w);
}

/* A fixture with f published to h, and a call of f under way on w, which h
 * has received as c. */
static void call_under_way(struct fake_handler *h, struct waiter *w, struct fake_call *c)
{
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    waiter_start(w, "f", "c0");
    CHECK(fake_recv_call(h, c));
}

/* The caller gets the handler's status, content type and body bytes; the
 * handler gets the body and the one header given. */
static void test_answer_comes_back_whole(void)
{
    struct fake_handler h;
    struct fake_call c;
    struct waiter w;
    call_under_way(&h, &w, &c);
    CHECK(strcmp(c.body, "c0") == 0 && strcmp(c.method, "POST") == 0);
    CHECK(c.n_headers == 1 && strcmp(c.header, "Content-Type: text/plain") == 0);
    CHECK(fake_reply_full(&h, c.id, 500, "text/x-error", "bad\0bytes", 9));
    pthread_join(w.thread, NULL);
    CHECK(w.rc == 0 && w.answer.status == 500);
    CHECK(strcmp(w.answer.content_type, "text/x-error") == 0);
    CHECK(w.answer.body_len == 9 && memcmp(w.answer.body, "bad\0bytes", 9) == 0);
    invoke_answer_free(&w.answer);
    teardown(&h, 1);
}

/* An unknown name is TF_ERR_NOT_FOUND, as the HTTP front's 404. */
static void test_unknown_function(void)
{
    struct waiter w;
    setup();
    waiter_start(&w, "nosuch", "x");
    pthread_join(w.thread, NULL);
    CHECK(w.rc < 0 && w.err.kind == TF_ERR_NOT_FOUND);
    CHECK(strcmp(w.err.msg, "no such function") == 0);
    CHECK(w.answer.body == NULL);
    teardown(NULL, 0);
}

/* A handler that goes away mid-call: TF_ERR_UPSTREAM, and no body. */
static void test_lost_handler(void)
{
    struct fake_handler h;
    struct fake_call c;
    struct waiter w;
    call_under_way(&h, &w, &c);
    fake_hang_up(&h);
    pthread_join(w.thread, NULL);
    CHECK(w.rc < 0 && w.err.kind == TF_ERR_UPSTREAM && w.answer.body == NULL);
    teardown(&h, 1);
}

/* Once the loop takes no more posts (shutdown), the call fails at once. */
static void test_stopped_loop(void)
{
    struct waiter w;
    setup();
    stop_loop_thread();
    loop_close_posts(fx.loop);
    waiter_start(&w, "f", "x");
    pthread_join(w.thread, NULL);
    CHECK(w.rc < 0 && w.err.kind == TF_ERR_UNAVAILABLE);
    teardown(NULL, 0);
}

/* The reasons the HTTP front and the management API both give. */
static void test_refusals(void)
{
    CHECK(strcmp(invoke_refusal(-EHOSTUNREACH), "function has no live handler") == 0);
    CHECK(strncmp(invoke_refusal(-EBUSY), "function busy: ", 15) == 0);
    CHECK(strncmp(invoke_refusal(-ENOBUFS), "function busy: ", 15) == 0);
    CHECK(strcmp(invoke_refusal(-ENOMEM), "out of memory") == 0);
}

int main(void)
{
    test_answer_comes_back_whole();
    test_unknown_function();
    test_lost_handler();
    test_stopped_loop();
    test_refusals();
    return check_summary();
}
