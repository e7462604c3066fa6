/* Unit tests for core/dispatch_publish.c and core/dispatch_link.c,
 * handlers coming and going: publish, reroute and unpublish while calls are
 * in flight or queued, handlers lost mid-call and reconnected, the
 * dispatcher freed with calls in flight. Against fake handlers, see
 * dispatch_fixture.h. */
#include "dispatch_fixture.h"

/* Calls f as call *arg; whether it was taken (a handler is ready). */
static bool call_taken(void *arg)
{
    struct call_batch b = {"f", *(int *)arg, 1};
    start_batch(&b);
    return fx.calls[b.first].rc == 0;
}

/* Whether no connection of the daemon's reaches fh any more: those waiting
 * are closed already, and none comes within 1.5 s, past the longest wait
 * between reconnects. */
static bool never_reconnected(struct fake_handler *fh)
{
    while (fake_accept_within(fh, 0))
        if (!fake_sees_eof(fh))
            return false;
    return !fake_accept_within(fh, 1500);
}

/* Whether f is routed, to another version than *arg (NULL: to any). */
static bool f_routed_to_another(void *arg)
{
    struct dispatch_function *now = dispatch_lookup(fx.d, "f", 1);
    return now != NULL && now != *(struct dispatch_function **)arg;
}

/* Whether f is routed to nothing. */
static bool f_unrouted(void *arg)
{
    (void)arg;
    return dispatch_lookup(fx.d, "f", 1) == NULL;
}

/* The version f is routed to, in *arg. */
static void lookup_f(void *arg)
{
    *(struct dispatch_function **)arg = dispatch_lookup(fx.d, "f", 1);
}

/* A handler that goes away fails its calls in flight (502), the lost
 * listener hears of it, and the function's other handler goes on with its
 * own calls and takes the calls that follow. */
static void test_lost_handler_fails_its_calls_and_others_serve(void)
{
    struct fake_handler h[2];
    int on[2];
    uint32_t id[3];
    setup();
    listen_all(h, 2);
    CHECK(publish("f", h, 2) == 0);
    call_many("f", 0, 2); /* one on each */
    CHECK(one_call_each(h, 2, 0, on, id));
    int gone = on[0], stays = on[1];

    fake_hang_up(&h[gone]);
    CHECK(failed(0, DISPATCH_LOST, 502));
    CHECK(lost_count() >= 1);
    CHECK(done_count(1) == 0);

    CHECK(call("f", 2) == 0);
    CHECK(gets_call(&h[stays], 2, &id[2]));
    CHECK(answer(&h[stays], "h", id[2], 2));
    CHECK(answer(&h[stays], "h", id[1], 1));
    CHECK(answered(2, "h:c2"));
    CHECK(answered(1, "h:c1"));
    teardown(h, 2);
}

/* With every handler of a function gone, a call is refused at once. */
static void test_no_live_handler_refuses_calls(void)
{
    struct fake_handler h[2];
    int two = 2;
    setup();
    listen_all(h, 2);
    CHECK(publish("f", h, 2) == 0);
    fake_hang_up(&h[0]);
    fake_hang_up(&h[1]);
    CHECK(wait_for(lost_reached, &two));
    CHECKF(call("f", 0) == -EHOSTUNREACH, "rc %d", fx.calls[0].rc);
    CHECK(done_count(0) == 0);
    teardown(h, 2);
}

/* A reroute returns once the new handlers are routed; a call in flight on
 * the old version finishes there, new calls go to the new one, and the old
 * connection closes once it drained. The route listener hears only of the
 * first routing: a reroute keeps the name routed. */
static void test_reroute_lets_old_calls_finish_there(void)
{
    struct fake_handler h[2];
    uint32_t id0, id1;
    setup();
    listen_all(h, 2);
    CHECK(publish("f", &h[0], 1) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id0));
    CHECK(publish_limited(REROUTE, "f", &h[1], 1, 0, 0) == 0);

    CHECK(call("f", 1) == 0);
    CHECK(!fake_pending(&h[0]));
    CHECK(gets_call(&h[1], 1, &id1));
    CHECK(answer(&h[1], "new", id1, 1));
    CHECK(answered(1, "new:c1"));
    CHECK(!fake_pending(&h[0])); /* still open: it has a call */

    CHECK(answer(&h[0], "old", id0, 0));
    CHECK(answered(0, "old:c0"));
    CHECK(fake_sees_eof(&h[0]));
    CHECK(strcmp(fx.routes, "+f") == 0);
    teardown(h, 2);
}

/* A publish over a live version routes new calls to the new handlers at
 * once, but returns only once the old version's calls drained and its
 * connections closed. */
static void test_publish_returns_once_the_old_version_drained(void)
{
    struct fake_handler h[2];
    uint32_t id0, id1;
    struct dispatch_function *old = NULL;
    setup();
    listen_all(h, 2);
    CHECK(publish("f", &h[0], 1) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id0));
    on_loop(lookup_f, &old);

    struct control c;
    control_start(&c, PUBLISH, "f", &h[1], 1, 0, 0);
    CHECK(fake_accept_ready(&h[1]));
    CHECK(wait_on_loop(f_routed_to_another, &old));
    CHECK(!control_finished(&c));

    CHECK(call("f", 1) == 0);
    CHECK(gets_call(&h[1], 1, &id1));
    CHECK(answer(&h[1], "new", id1, 1));
    CHECK(answered(1, "new:c1"));
    CHECK(!control_finished(&c));
    CHECK(!fake_pending(&h[0]));

    CHECK(answer(&h[0], "old", id0, 0));
    CHECK(answered(0, "old:c0"));
    CHECK(control_join(&c) == 0);
    CHECK(fake_sees_eof(&h[0]));
    teardown(h, 2);
}

/* Calls waiting in the old version's queue move to the new version and go
 * out to its handlers; the call in flight stays with the old one. */
static void test_reroute_moves_queued_calls_to_the_new_version(void)
{
    struct fake_handler h[2];
    uint32_t id0, id1;
    setup();
    listen_all(h, 2);
    CHECK(publish_limited(PUBLISH, "f", &h[0], 1, 1, 0) == 0);
    call_many("f", 0, 2);
    CHECK(fx.calls[0].rc == 0 && fx.calls[1].rc == 0);
    CHECK(gets_call(&h[0], 0, &id0));
    CHECK(!fake_pending(&h[0])); /* c1 waits */

    CHECK(publish_limited(REROUTE, "f", &h[1], 1, 1, 0) == 0);
    on_loop(nothing, NULL);
    CHECK(gets_call(&h[1], 1, &id1));
    CHECK(!fake_pending(&h[0]));
    CHECK(answer(&h[1], "new", id1, 1));
    CHECK(answered(1, "new:c1"));
    CHECK(answer(&h[0], "old", id0, 0));
    CHECK(answered(0, "old:c0"));
    CHECK(fake_sees_eof(&h[0]));
    teardown(h, 2);
}

/* Unpublishing a name that is not routed is TF_ERR_NOT_FOUND. */
static void test_unpublish_of_an_unknown_name_is_enoent(void)
{
    struct control c;
    setup();
    control_start(&c, UNPUBLISH, "nothing", NULL, 0, 0, 0);
    CHECK(control_join(&c) < 0);
    CHECK(c.err.kind == TF_ERR_NOT_FOUND);
    CHECK(strcmp(fx.routes, "") == 0);
    teardown(NULL, 0);
}

/* Unpublish unroutes at once (new calls find nothing) but returns only once
 * the calls in flight drained and the connection closed. */
static void test_unpublish_waits_for_calls_to_drain(void)
{
    struct fake_handler h[1];
    uint32_t id0;
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id0));

    struct control c;
    control_start(&c, UNPUBLISH, "f", NULL, 0, 0, 0);
    CHECK(wait_on_loop(f_unrouted, NULL));
    CHECK(call("f", 1) == -ENOENT); /* the test's own code for "no such function" */
    CHECK(strcmp(fx.routes, "+f-f") == 0);
    CHECK(!control_finished(&c));
    CHECK(!fake_pending(&h[0]));

    CHECK(answer(&h[0], "h0", id0, 0));
    CHECK(answered(0, "h0:c0"));
    CHECK(control_join(&c) == 0);
    CHECK(fake_sees_eof(&h[0]));
    teardown(h, 1);
}

/* Freeing the dispatcher fails the calls in flight and those queued, 502. */
static void test_destroy_fails_calls_in_flight(void)
{
    struct fake_handler h[1];
    setup();
    listen_all(h, 1);
    CHECK(publish_limited(PUBLISH, "f", h, 1, 1, 0) == 0);
    call_many("f", 0, 2);
    CHECK(gets_call(&h[0], 0, NULL));
    stop_loop_thread();
    dispatcher_destroy(fx.d);
    fx.d = NULL;
    for (int i = 0; i < 2; i++)
        CHECKF(fx.calls[i].done_count == 1 && fx.calls[i].outcome == DISPATCH_LOST &&
                   fx.calls[i].status == 502,
               "c%d: done %d times, outcome %d, status %u", i, fx.calls[i].done_count,
               fx.calls[i].outcome, fx.calls[i].status);
    CHECK(fake_sees_eof(&h[0]));
    teardown(h, 1);
}

/* A publish whose handler never answers fails at its ready timeout with
 * the reason; a publish without handlers is refused. Neither routes. */
static void test_publish_fails_without_ready_handlers(void)
{
    struct fake_handler h[1];
    struct control c;
    setup();
    listen_all(h, 1);
    close(h[0].listen_fd); /* the socket file stays, with nobody listening */
    h[0].listen_fd = -1;
    control_init(&c, PUBLISH, "f", h, 1, 0, 0);
    c.ready_timeout_ms = 100;
    control_run(&c);
    CHECK(control_join(&c) < 0);
    CHECK(c.err.kind == TF_ERR_INTERNAL);
    CHECKF(strstr(c.err.msg, "did not become ready") != NULL &&
               strstr(c.err.msg, "Connection refused") != NULL,
           "%s", c.err.msg);

    control_start(&c, PUBLISH, "f", h, 0, 0, 0);
    CHECK(control_join(&c) < 0);
    CHECK(c.err.kind == TF_ERR_INVALID);
    CHECK(wait_on_loop(f_unrouted, NULL));
    CHECK(strcmp(fx.routes, "") == 0);
    teardown(h, 1);
}

/* Once the loop stopped and its posts closed, as at the daemon's shutdown,
 * a publish fails (unavailable) at once, whether its task was queued before the close
 * (it runs cancelled) or posted after it. */
static void test_publish_at_shutdown_fails_503(void)
{
    struct fake_handler h[1];
    struct control c;
    setup();
    listen_all(h, 1);
    stop_loop_thread();
    control_start(&c, PUBLISH, "f", h, 1, 0, 0);
    loop_close_posts(fx.loop);
    CHECK(control_join(&c) < 0);
    CHECK(c.err.kind == TF_ERR_UNAVAILABLE);
    control_start(&c, UNPUBLISH, "f", NULL, 0, 0, 0);
    CHECK(control_join(&c) < 0);
    CHECK(c.err.kind == TF_ERR_UNAVAILABLE);
    teardown(h, 1);
}

/* A handler whose connection is lost is connected to again by itself, and
 * serves once it says READY; the call in flight at the loss failed 502. */
static void test_lost_handler_is_reconnected(void)
{
    struct fake_handler h[1];
    uint32_t id;
    int one = 1, next = 1;
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id));
    fake_hang_up(&h[0]);
    CHECK(failed(0, DISPATCH_LOST, 502));
    CHECK(wait_for(lost_reached, &one));
    CHECK(fake_accept_ready(&h[0]));
    CHECK(wait_on_loop(call_taken, &next));
    CHECK(gets_call(&h[0], 1, &id));
    CHECK(answer(&h[0], "back", id, 1));
    CHECK(answered(1, "back:c1"));
    teardown(h, 1);
}

/* Bytes that are not the protocol drop the handler's connection: its call
 * in flight fails 502, and the handler, connected to again, serves. */
static void test_garbage_drops_the_connection_then_it_is_reconnected(void)
{
    struct fake_handler h[1];
    uint32_t id;
    int next = 1;
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    CHECK(call("f", 0) == 0);
    CHECK(gets_call(&h[0], 0, &id));
    CHECK(fake_send_all(&h[0], "\xc1 not the protocol", 19));
    CHECK(failed(0, DISPATCH_LOST, 502));
    CHECK(fake_sees_eof(&h[0]));
    CHECK(fake_accept_ready(&h[0]));
    CHECK(wait_on_loop(call_taken, &next));
    CHECK(gets_call(&h[0], 1, &id));
    CHECK(answer(&h[0], "back", id, 1));
    CHECK(answered(1, "back:c1"));
    teardown(h, 1);
}

/* A handler that does not come back within DISPATCH_GIVE_UP_MS is named
 * broken (for the lifecycle to replace) and the lost listener hears again;
 * the dispatcher keeps trying, and once it is back it serves and is broken
 * no more. */
static void test_handler_not_back_is_named_broken(void)
{
    struct fake_handler h[1];
    struct dispatch_broken b[4];
    tf_err err = {0};
    uint32_t id;
    int two = 2, next = 1;
    setup();
    listen_all(h, 1);
    CHECK(publish("f", h, 1) == 0);
    fake_stop_listening(&h[0]);
    fake_hang_up(&h[0]);
    CHECK(wait_for(lost_reached, &two)); /* the loss, then the giving up */
    CHECK(dispatch_broken_handlers(fx.d, b, 4, &err) == 1);
    CHECK(strcmp(b[0].name, "f") == 0 && strcmp(b[0].ep.path, h[0].path) == 0);
    CHECK(call("f", 0) == -EHOSTUNREACH);
    CHECK(fake_listen_again(&h[0]));
    CHECK(fake_accept_ready(&h[0]));
    CHECK(wait_on_loop(call_taken, &next));
    CHECK(gets_call(&h[0], 1, &id));
    CHECK(answer(&h[0], "back", id, 1));
    CHECK(answered(1, "back:c1"));
    CHECK(dispatch_broken_handlers(fx.d, b, 4, &err) == 0);
    teardown(h, 1);
}

/* A lost handler of a version that is rerouted away (a heal, a scale), or
 * unpublished, is not connected to again. */
static void test_function_going_away_is_not_reconnected(void)
{
    struct fake_handler h[2];
    struct control c;
    int one = 1, two = 2;
    setup();
    listen_all(h, 2);
    CHECK(publish("f", &h[0], 1) == 0);
    fake_hang_up(&h[0]);
    CHECK(wait_for(lost_reached, &one));
    CHECK(publish_limited(REROUTE, "f", &h[1], 1, 0, 0) == 0);
    CHECK(never_reconnected(&h[0]));

    fake_hang_up(&h[1]);
    CHECK(wait_for(lost_reached, &two));
    control_start(&c, UNPUBLISH, "f", NULL, 0, 0, 0);
    CHECK(control_join(&c) == 0);
    CHECK(never_reconnected(&h[1]));
    teardown(h, 2);
}

int main(void)
{
    test_lost_handler_fails_its_calls_and_others_serve();
    test_no_live_handler_refuses_calls();
    test_reroute_lets_old_calls_finish_there();
    test_publish_returns_once_the_old_version_drained();
    test_reroute_moves_queued_calls_to_the_new_version();
    test_unpublish_of_an_unknown_name_is_enoent();
    test_unpublish_waits_for_calls_to_drain();
    test_destroy_fails_calls_in_flight();
    test_publish_fails_without_ready_handlers();
    test_publish_at_shutdown_fails_503();
    test_lost_handler_is_reconnected();
    test_garbage_drops_the_connection_then_it_is_reconnected();
    test_handler_not_back_is_named_broken();
    test_function_going_away_is_not_reconnected();
    return check_summary();
}
