/* Unit tests for coap/coap_peers.c, the remembered client endpoints: found
 * by address and message id, the last TF_COAP_PEER_ANSWERS answers each,
 * kept TF_COAP_PEER_KEEP_MS after the last, at most TF_COAP_PEERS_MAX
 * endpoints, and answer bodies within the byte budget, the oldest evicted
 * first and marked dropped. Time is the now_ms the test passes. */
#include "coap/coap_peers.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The key of plain CoAP from host:port. */
static struct tf_coap_peer_key v4(uint32_t host, uint16_t port)
{
    coap_address_t a;
    coap_address_init(&a);
    a.addr.sin.sin_family = AF_INET;
    a.addr.sin.sin_addr.s_addr = htonl(host);
    a.addr.sin.sin_port = htons(port);
    a.size = sizeof a.addr.sin;
    struct tf_coap_peer_key k;
    tf_coap_peer_key_of(&a, COAP_PROTO_UDP, &k);
    return k;
}

/* Remembers for addr the answer to mid: code 205 and a body of len bytes of fill. */
static void answer(struct tf_coap_peers *ps, const struct tf_coap_peer_key *addr, uint16_t mid,
                   size_t len, int64_t now)
{
    static unsigned char body[4096];
    memset(body, 'b', sizeof body);
    struct tf_coap_answer a = {.mid = mid, .code = 205, .con = true, .piggybacked = true};
    CHECK(len <= sizeof body && tf_coap_answer_set(&a, body, len, NULL, NULL) == 0);
    tf_coap_peers_remember(ps, addr, &a, now);
}

static struct tf_coap_peers *create(size_t budget)
{
    struct tf_coap_peers *ps;
    if (tf_coap_peers_create(budget, &ps) < 0) {
        printf("FAIL cannot create the store\n");
        exit(1);
    }
    return ps;
}

/* ==== the tests ==== */

/* An answer is found by address and message id together; port, family and
 * transport tell endpoints apart; a body is repeated byte for byte. */
static void test_found_by_address_and_message_id(void)
{
    struct tf_coap_peers *ps = create(1 << 20);
    struct tf_coap_peer_key a = v4(0x7f000001, 4000), b = v4(0x7f000001, 4001),
                            c = v4(0x7f000002, 4000);
    coap_address_t six_addr, a_addr;
    coap_address_init(&six_addr);
    six_addr.addr.sin6.sin6_family = AF_INET6;
    six_addr.addr.sin6.sin6_port = htons(4000);
    struct tf_coap_peer_key six, a_dtls;
    tf_coap_peer_key_of(&six_addr, COAP_PROTO_UDP, &six);
    coap_address_init(&a_addr);
    a_addr.addr.sin.sin_family = AF_INET;
    a_addr.addr.sin.sin_addr.s_addr = htonl(0x7f000001);
    a_addr.addr.sin.sin_port = htons(4000);
    tf_coap_peer_key_of(&a_addr, COAP_PROTO_DTLS, &a_dtls);
    answer(ps, &a, 7, 3, 0);
    const struct tf_coap_answer *got = tf_coap_peers_find(ps, &a, 7);
    CHECK(got != NULL && got->code == 205 && got->body_len == 3 &&
          memcmp(tf_coap_answer_body(got), "bbb", 3) == 0);
    CHECK(tf_coap_peers_find(ps, &a, 8) == NULL);
    CHECK(tf_coap_peers_find(ps, &b, 7) == NULL);
    CHECK(tf_coap_peers_find(ps, &c, 7) == NULL);
    CHECK(tf_coap_peers_find(ps, &six, 7) == NULL);
    CHECK(tf_coap_peers_find(ps, &a_dtls, 7) == NULL); /* DTLS never gets plain CoAP's answers */
    CHECK(tf_coap_peers_count(ps) == 1);
    tf_coap_peers_free(ps);
}

/* Each endpoint keeps its last TF_COAP_PEER_ANSWERS answers: one more
 * pushes out its oldest, and no other endpoint's. */
static void test_the_last_answers_of_each_endpoint(void)
{
    struct tf_coap_peers *ps = create(1 << 20);
    struct tf_coap_peer_key a = v4(0x7f000001, 4000), b = v4(0x7f000001, 4001);
    answer(ps, &b, 1, 0, 0);
    for (uint16_t mid = 1; mid <= TF_COAP_PEER_ANSWERS + 1; mid++)
        answer(ps, &a, mid, 100, mid);
    CHECK(tf_coap_peers_find(ps, &a, 1) == NULL);
    for (uint16_t mid = 2; mid <= TF_COAP_PEER_ANSWERS + 1; mid++)
        CHECKF(tf_coap_peers_find(ps, &a, mid) != NULL, "mid %u", mid);
    CHECK(tf_coap_peers_find(ps, &b, 1) != NULL);
    CHECK(tf_coap_peers_bytes(ps) == TF_COAP_PEER_ANSWERS * 100);
    tf_coap_peers_free(ps);
}

/* An endpoint is forgotten TF_COAP_PEER_KEEP_MS after its last answer, not
 * a millisecond before; expire says how long until the next is due. */
static void test_endpoints_expire_after_the_keep_time(void)
{
    struct tf_coap_peers *ps = create(1 << 20);
    struct tf_coap_peer_key a = v4(0x7f000001, 4000), b = v4(0x7f000001, 4001);
    CHECK(tf_coap_peers_expire(ps, 0) == -1);
    answer(ps, &a, 1, 100, 0);
    answer(ps, &b, 1, 0, 500);
    answer(ps, &a, 2, 0, 1000); /* a's last answer: a is newer than b now */
    CHECK(tf_coap_peers_expire(ps, TF_COAP_PEER_KEEP_MS + 499) == 1);
    CHECK(tf_coap_peers_find(ps, &b, 1) != NULL);
    CHECK(tf_coap_peers_expire(ps, TF_COAP_PEER_KEEP_MS + 500) == 500);
    CHECK(tf_coap_peers_find(ps, &b, 1) == NULL && tf_coap_peers_find(ps, &a, 1) != NULL);
    CHECK(tf_coap_peers_expire(ps, TF_COAP_PEER_KEEP_MS + 1000) == -1);
    CHECK(tf_coap_peers_count(ps) == 0 && tf_coap_peers_bytes(ps) == 0);
    tf_coap_peers_free(ps);
}

/* At most TF_COAP_PEERS_MAX endpoints: one more pushes out the one whose
 * last answer is the oldest. */
static void test_the_endpoint_cap(void)
{
    struct tf_coap_peers *ps = create(1 << 20);
    for (uint32_t i = 0; i <= TF_COAP_PEERS_MAX; i++) {
        struct tf_coap_peer_key a = v4(0x7f010000 + i, 5000);
        answer(ps, &a, 1, 0, i);
    }
    CHECK(tf_coap_peers_count(ps) == TF_COAP_PEERS_MAX);
    struct tf_coap_peer_key first = v4(0x7f010000, 5000), second = v4(0x7f010001, 5000);
    CHECK(tf_coap_peers_find(ps, &first, 1) == NULL && tf_coap_peers_find(ps, &second, 1) != NULL);
    tf_coap_peers_free(ps);
}

/* Bodies stay within the budget: the oldest endpoints' bodies go first and
 * their answers say dropped; a body larger than the budget is dropped at
 * once; bodies of TF_COAP_ANSWER_INLINE bytes or less cost nothing. */
static void test_bodies_stay_within_the_budget(void)
{
    struct tf_coap_peers *ps = create(1000);
    struct tf_coap_peer_key a = v4(0x7f000001, 1), b = v4(0x7f000001, 2), c = v4(0x7f000001, 3);
    answer(ps, &a, 1, 400, 0);
    answer(ps, &b, 1, 400, 1);
    answer(ps, &c, 1, TF_COAP_ANSWER_INLINE, 2);
    CHECK(tf_coap_peers_bytes(ps) == 800);
    answer(ps, &c, 2, 400, 3); /* a's body goes */
    CHECK(tf_coap_peers_bytes(ps) == 800);
    const struct tf_coap_answer *got = tf_coap_peers_find(ps, &a, 1);
    CHECK(got != NULL && got->dropped && got->code == 205);
    got = tf_coap_peers_find(ps, &b, 1);
    CHECK(got != NULL && !got->dropped);
    got = tf_coap_peers_find(ps, &c, 1);
    CHECK(got != NULL && !got->dropped && got->body_len == TF_COAP_ANSWER_INLINE);
    answer(ps, &a, 2, 2000, 4); /* never fits: dropped, though everything else went */
    got = tf_coap_peers_find(ps, &a, 2);
    CHECK(got != NULL && got->dropped);
    CHECK(tf_coap_peers_bytes(ps) == 0);
    tf_coap_peers_free(ps);
}

/* A body kept to be served block-wise is found by the function's name and
 * the query, the newest first; one kept without them is not. */
static void test_find_large_matches_name_and_query(void)
{
    struct tf_coap_peers *ps = create(1 << 20);
    struct tf_coap_peer_key k = v4(0x7f000001, 1), other = v4(0x7f000001, 2);
    char body[2000];
    memset(body, 'x', sizeof body);
    coap_string_t q1 = {3, (uint8_t *)"a=1"}, q2 = {3, (uint8_t *)"a=2"};
    struct tf_coap_answer a = {.mid = 1, .code = 205};
    CHECK(tf_coap_answer_set(&a, body, sizeof body, "fn", &q1) == 0);
    tf_coap_peers_remember(ps, &k, &a, 0);
    answer(ps, &k, 2, 100, 1); /* newer, but kept without a name */
    const struct tf_coap_answer *got = tf_coap_peers_find_large(ps, &k, "fn", &q1);
    CHECK(got != NULL && got->mid == 1 && got->body_len == sizeof body);
    CHECK(tf_coap_peers_find_large(ps, &k, "fn", &q2) == NULL);
    CHECK(tf_coap_peers_find_large(ps, &k, "fn", NULL) == NULL);
    CHECK(tf_coap_peers_find_large(ps, &k, "f", &q1) == NULL);
    CHECK(tf_coap_peers_find_large(ps, &other, "fn", &q1) == NULL);
    tf_coap_peers_free(ps);
}

int main(void)
{
    test_found_by_address_and_message_id();
    test_the_last_answers_of_each_endpoint();
    test_endpoints_expire_after_the_keep_time();
    test_the_endpoint_cap();
    test_bodies_stay_within_the_budget();
    test_find_large_matches_name_and_query();
    return check_summary();
}
