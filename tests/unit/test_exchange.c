/* Unit tests for coap/coap_exchange.c, the store of CoAP exchanges whose
 * calls run: found again by session and message id (duplicates), gone when
 * ended, the unacknowledged CON exchanges in arrival order. (Answers kept
 * after that are coap_peers.c's, tested in test_peers.c.)
 *
 * The store only compares session pointers, but it also takes a reference
 * on its session and copies the request with coap_pdu_duplicate(), which
 * reads the session: so the sessions are real, libcoap client sessions over
 * UDP on loopback (creating one sends nothing). */
#include "coap/coap_exchange.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static coap_context_t *ctx;
static struct tf_coap_exchanges *xs;

/* A UDP client session to 127.0.0.1:port (nothing needs to listen there). */
static coap_session_t *session_to(uint16_t port)
{
    coap_address_t dst;
    coap_address_init(&dst);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons(port);
    dst.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    dst.size = sizeof dst.addr.sin;
    coap_session_t *s = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
    if (s == NULL) {
        printf("FAIL cannot make a CoAP session\n");
        exit(1);
    }
    return s;
}

/* Starts the exchange of a POST with message id mid and a 4-byte token, at now. */
static struct tf_coap_exchange *start_at(coap_session_t *s, coap_pdu_type_t type, coap_mid_t mid,
                                         int64_t now)
{
    coap_pdu_t *req = coap_pdu_init(type, COAP_REQUEST_CODE_POST, mid, 256);
    if (req == NULL || !coap_add_token(req, 4, (const uint8_t *)"tokn")) {
        printf("FAIL cannot make a request\n");
        exit(1);
    }
    struct tf_coap_exchange *x = tf_coap_exchange_start(xs, s, req, "fn", NULL, now);
    coap_delete_pdu(req); /* the store keeps its own copy */
    if (x == NULL) {
        printf("FAIL cannot start an exchange\n");
        exit(1);
    }
    return x;
}

static struct tf_coap_exchange *start(coap_session_t *s, coap_mid_t mid)
{
    return start_at(s, COAP_MESSAGE_CON, mid, 0);
}

static void setup(void)
{
    if (tf_coap_exchanges_create(&xs) < 0) {
        printf("FAIL cannot create the store\n");
        exit(1);
    }
}

static void teardown(void)
{
    tf_coap_exchanges_free(xs);
    xs = NULL;
}

/* ==== the tests ==== */

/* An exchange is found by its session and message id together: the same id
 * from another session is another exchange. */
static void test_find_matches_session_and_message_id(void)
{
    coap_session_t *s1 = session_to(5701), *s2 = session_to(5702);
    setup();
    struct tf_coap_exchange *a = start(s1, 1), *b = start(s2, 1), *c = start(s1, 2);
    CHECK(a != b && a != c && b != c);
    CHECK(tf_coap_exchange_find(xs, s1, 1) == a);
    CHECK(tf_coap_exchange_find(xs, s2, 1) == b);
    CHECK(tf_coap_exchange_find(xs, s1, 2) == c);
    CHECK(tf_coap_exchange_find(xs, s2, 2) == NULL);
    CHECK(tf_coap_exchange_find(xs, s1, 3) == NULL);
    teardown();
    coap_session_release(s1);
    coap_session_release(s2);
}

/* An exchange records its request: session, message id, type, token, the
 * function's name (at most EXCHANGE_NAME_MAX bytes) and its own copy of the
 * query and of the request. */
static void test_start_records_the_request(void)
{
    coap_session_t *s = session_to(5703);
    setup();
    coap_pdu_t *req = coap_pdu_init(COAP_MESSAGE_NON, COAP_REQUEST_CODE_GET, 77, 256);
    CHECK(req != NULL && coap_add_token(req, 8, (const uint8_t *)"12345678"));
    char name[100], query_text[] = "a=1&b=2";
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    coap_string_t query = {strlen(query_text), (uint8_t *)query_text};
    struct tf_coap_exchange *x = tf_coap_exchange_start(xs, s, req, name, &query, 5);
    coap_delete_pdu(req);
    query_text[0] = 'z';
    CHECK(x != NULL);
    if (x != NULL) {
        CHECK(x->session == s && x->answer.mid == 77 && !x->answer.con);
        CHECK(x->token_len == 8 && memcmp(x->token, "12345678", 8) == 0);
        CHECK(strlen(x->name) == EXCHANGE_NAME_MAX && x->name[0] == 'n');
        CHECK(x->query != NULL && x->query->length == 7 && memcmp(x->query->s, "a=1&b=2", 7) == 0);
        CHECK(x->request != NULL && coap_pdu_get_code(x->request) == COAP_REQUEST_CODE_GET);
        CHECK(x->created_ms == 5 && x->answer.code == 0 && !x->acked && x->call == NULL);
    }
    teardown();
    coap_session_release(s);
}

/* Many exchanges of two sessions, so hash chains form: ending half of them
 * leaves every other one found. */
static void test_forgetting_some_leaves_the_others_found(void)
{
    enum { N = 2500 };
    static struct tf_coap_exchange *x1[N], *x2[N];
    coap_session_t *s1 = session_to(5708), *s2 = session_to(5709);
    setup();
    for (int mid = 0; mid < N; mid++) {
        x1[mid] = start(s1, (coap_mid_t)mid);
        x2[mid] = start(s2, (coap_mid_t)mid);
    }
    for (int mid = 0; mid < N; mid++) /* s1's even ids, s2's odd ones */
        tf_coap_exchange_end(xs, mid % 2 == 0 ? x1[mid] : x2[mid]);
    int wrong = 0;
    for (int mid = 0; mid < N; mid++) {
        wrong += tf_coap_exchange_find(xs, s1, (coap_mid_t)mid) != (mid % 2 ? x1[mid] : NULL);
        wrong += tf_coap_exchange_find(xs, s2, (coap_mid_t)mid) != (mid % 2 ? NULL : x2[mid]);
    }
    CHECKF(wrong == 0, "%d found or lost wrongly", wrong);
    teardown();
    coap_session_release(s1);
    coap_session_release(s2);
}

/* The CON exchanges not yet acknowledged, oldest first: acknowledging or
 * answering takes one off (twice does no harm); NON ones are never there. */
static void test_oldest_unacked_is_the_first_to_arrive(void)
{
    coap_session_t *s = session_to(5710);
    setup();
    CHECK(tf_coap_exchange_oldest_unacked(xs) == NULL);
    struct tf_coap_exchange *non = start_at(s, COAP_MESSAGE_NON, 1, 0);
    struct tf_coap_exchange *a = start(s, 2), *b = start(s, 3), *c = start(s, 4);
    CHECK(tf_coap_exchange_oldest_unacked(xs) == a);
    tf_coap_exchange_acked(xs, a);
    CHECK(a->acked && tf_coap_exchange_oldest_unacked(xs) == b);
    tf_coap_exchange_acked(xs, a);
    tf_coap_exchange_acked(xs, non);
    CHECK(tf_coap_exchange_oldest_unacked(xs) == b);
    tf_coap_exchange_end(xs, b); /* a piggybacked answer: no empty ACK needed */
    CHECK(tf_coap_exchange_oldest_unacked(xs) == c);
    tf_coap_exchange_acked(xs, c);
    CHECK(tf_coap_exchange_oldest_unacked(xs) == NULL);
    tf_coap_exchange_end(xs, c); /* answered after its empty ACK: a separate CON */
    tf_coap_exchange_end(xs, a);
    tf_coap_exchange_end(xs, non);
    CHECK(tf_coap_exchange_oldest_unacked(xs) == NULL);
    CHECK(tf_coap_exchange_find(xs, s, 4) == NULL && tf_coap_exchange_find(xs, s, 3) == NULL);
    teardown();
    coap_session_release(s);
}

/* An exchange holds a reference on its session: the session outlives its
 * other owner's release until the exchange ends. The sanitizer and
 * valgrind runs catch the use of a freed session that would follow
 * otherwise. */
static void test_an_exchange_keeps_its_session(void)
{
    coap_session_t *s = session_to(5711);
    setup();
    struct tf_coap_exchange *x = start(s, 1);
    coap_session_release(s); /* the front end's reference goes; the exchange's stays */
    CHECK(coap_session_get_type(s) == COAP_SESSION_TYPE_CLIENT);
    CHECK(tf_coap_exchange_find(xs, s, 1) == x);
    tf_coap_exchange_end(xs, x); /* releases it */
    teardown();
}

int main(void)
{
    coap_startup();
    ctx = coap_new_context(NULL);
    if (ctx == NULL) {
        printf("FAIL cannot make a CoAP context\n");
        return 1;
    }
    test_find_matches_session_and_message_id();
    test_start_records_the_request();
    test_forgetting_some_leaves_the_others_found();
    test_oldest_unacked_is_the_first_to_arrive();
    test_an_exchange_keeps_its_session();
    coap_free_context(ctx);
    coap_cleanup();
    return check_summary();
}
