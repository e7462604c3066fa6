/* Unit tests for coap/coap_blocks.c: Block1 pieces taken into uploads (in
 * order, a retransmitted piece taken once, the body limit at the first
 * block that shows it, the caps per endpoint and in all, abandoned uploads
 * forgotten), and Block2 pieces cut from an answer. Time is the now_ms the
 * test passes. */
#include "coap/coap_blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define LIMIT 4096

static struct tf_coap_uploads *ups;

static struct tf_coap_peer_key peer(uint16_t port)
{
    return (struct tf_coap_peer_key){.family = 2, .port = port, .proto = COAP_PROTO_UDP};
}

/* A POST carrying Block1 num/more/szx, len bytes of fill, and a Size1 when
 * size1 is not 0. */
static coap_pdu_t *block(unsigned num, int more, unsigned szx, size_t len, unsigned size1,
                         const char *rtag)
{
    coap_pdu_t *p = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, 1, 2048);
    uint8_t buf[4];
    static uint8_t fill[1024];
    memset(fill, 'a' + (int)(num % 26), sizeof fill);
    coap_add_option(p, COAP_OPTION_BLOCK1,
                    coap_encode_var_safe(buf, sizeof buf, num << 4 | (more ? 8u : 0u) | szx), buf);
    if (size1 != 0)
        coap_add_option(p, COAP_OPTION_SIZE1, coap_encode_var_safe(buf, sizeof buf, size1), buf);
    if (rtag != NULL)
        coap_add_option(p, COAP_OPTION_RTAG, strlen(rtag), (const uint8_t *)rtag);
    if (len > 0)
        coap_add_data(p, len, fill);
    return p;
}

/* Takes one piece; the step's code. */
static int take(struct tf_coap_peer_key k, unsigned num, int more, unsigned szx, size_t len,
                unsigned size1, const char *rtag, int64_t now, struct tf_coap_upload_step *step)
{
    coap_pdu_t *p = block(num, more, szx, len, size1, rtag);
    struct tf_coap_upload_step local;
    if (step == NULL)
        step = &local;
    tf_coap_upload_take(ups, &k, "fn", p, now, step);
    coap_delete_pdu(p);
    if (step == &local && step->code == 0)
        tf_coap_upload_finish(ups, step->upload);
    return step->code;
}

static void setup(void)
{
    if (tf_coap_uploads_create(LIMIT, &ups) < 0) {
        printf("FAIL cannot create the uploads\n");
        exit(1);
    }
}

static void teardown(void)
{
    tf_coap_uploads_free(ups);
}

/* ==== the tests ==== */

/* Pieces in order make the body, byte for byte; a retransmitted piece is
 * answered again but taken once; the last one completes the upload. */
static void test_pieces_in_order_make_the_body(void)
{
    setup();
    struct tf_coap_peer_key k = peer(1);
    struct tf_coap_upload_step step;
    CHECK(take(k, 0, 1, 2, 64, 0, NULL, 0, NULL) == 231);
    CHECK(take(k, 1, 1, 2, 64, 0, NULL, 1, NULL) == 231);
    CHECK(take(k, 1, 1, 2, 64, 0, NULL, 2, NULL) == 231); /* a retransmission */
    CHECK(take(k, 2, 0, 2, 10, 0, NULL, 3, &step) == 0);
    CHECK(step.len == 138 && step.body[0] == 'a' && step.body[64] == 'b' && step.body[128] == 'c');
    tf_coap_upload_finish(ups, step.upload);
    CHECK(tf_coap_uploads_count(ups) == 0);
    teardown();
}

/* A piece that skips ahead, or one of an upload never begun, is 4.08: the
 * client starts again. */
static void test_a_gap_is_request_entity_incomplete(void)
{
    setup();
    struct tf_coap_peer_key k = peer(1);
    struct tf_coap_upload_step step;
    CHECK(take(k, 3, 1, 2, 64, 0, NULL, 0, &step) == 408 && step.reason != NULL);
    CHECK(take(k, 0, 1, 2, 64, 0, NULL, 0, NULL) == 231);
    CHECK(take(k, 2, 1, 2, 64, 0, NULL, 0, NULL) == 408);
    CHECK(tf_coap_uploads_count(ups) == 0); /* the broken upload is gone */
    teardown();
}

/* The body limit: a Size1 past it, or a piece ending past it, is 4.13 at
 * once, and nothing is kept for it. */
static void test_the_limit_at_the_first_block_that_shows_it(void)
{
    setup();
    struct tf_coap_peer_key k = peer(1);
    CHECK(take(k, 0, 1, 6, 1024, 4294967295u, NULL, 0, NULL) == 413);
    CHECK(take(k, 0, 1, 6, 1024, LIMIT + 1, NULL, 0, NULL) == 413);
    CHECK(tf_coap_uploads_count(ups) == 0);
    CHECK(take(k, 0, 1, 6, 1024, LIMIT, NULL, 0, NULL) == 231);
    for (unsigned num = 1; num < 4; num++)
        CHECK(take(k, num, 1, 6, 1024, 0, NULL, 0, NULL) == 231);
    CHECK(take(k, 4, 0, 6, 1, 0, NULL, 0, NULL) == 413); /* byte 4097 */
    CHECK(tf_coap_uploads_count(ups) == 0);
    teardown();
}

/* A piece before the last must fill its block. */
static void test_short_pieces_before_the_last_are_refused(void)
{
    setup();
    CHECK(take(peer(1), 0, 1, 2, 63, 0, NULL, 0, NULL) == 400);
    teardown();
}

/* Two uploads per endpoint (told apart by Request-Tag): a third replaces
 * the oldest; TF_COAP_UPLOADS_MAX in all, past which 5.03. */
static void test_caps_per_endpoint_and_in_all(void)
{
    setup();
    struct tf_coap_peer_key k = peer(1);
    CHECK(take(k, 0, 1, 0, 16, 0, "a", 0, NULL) == 231);
    CHECK(take(k, 0, 1, 0, 16, 0, "b", 1, NULL) == 231);
    CHECK(take(k, 0, 1, 0, 16, 0, "c", 2, NULL) == 231);
    CHECK(tf_coap_uploads_count(ups) == 2);
    CHECK(take(k, 1, 1, 0, 16, 0, "a", 3, NULL) == 408); /* "a" was replaced */
    CHECK(take(k, 1, 1, 0, 16, 0, "c", 3, NULL) == 231);
    for (uint16_t port = 2; tf_coap_uploads_count(ups) < TF_COAP_UPLOADS_MAX; port++)
        CHECK(take(peer(port), 0, 1, 0, 16, 0, NULL, 4, NULL) == 231);
    struct tf_coap_upload_step step;
    CHECK(take(peer(9999), 0, 1, 0, 16, 0, NULL, 5, &step) == 503 && step.reason != NULL);
    /* Abandoned ones make room at once, whenever the timer comes. */
    CHECK(take(peer(9999), 0, 1, 0, 16, 0, NULL, 5 + TF_COAP_UPLOAD_IDLE_MS, NULL) == 231);
    CHECK(tf_coap_uploads_count(ups) == 1);
    teardown();
}

/* An upload without a piece for TF_COAP_UPLOAD_IDLE_MS is forgotten, not a
 * millisecond before. */
static void test_abandoned_uploads_are_forgotten(void)
{
    setup();
    CHECK(tf_coap_uploads_expire(ups, 0) == -1);
    take(peer(1), 0, 1, 0, 16, 0, NULL, 0, NULL);
    take(peer(2), 0, 1, 0, 16, 0, NULL, 100, NULL);
    CHECK(tf_coap_uploads_expire(ups, TF_COAP_UPLOAD_IDLE_MS - 1) == 1);
    CHECK(tf_coap_uploads_expire(ups, TF_COAP_UPLOAD_IDLE_MS) == 100);
    CHECK(tf_coap_uploads_count(ups) == 1);
    CHECK(tf_coap_uploads_expire(ups, TF_COAP_UPLOAD_IDLE_MS + 100) == -1);
    teardown();
}

/* Block2: the piece asked for, its M bit, nothing past the end. */
static void test_block2_pieces(void)
{
    static uint8_t body[100];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)i;
    struct {
        unsigned num, szx;
        bool ok;
        size_t len;
        uint8_t first;
        bool more;
    } cases[] = {{0, 0, true, 16, 0, true},
                 {6, 0, true, 4, 96, false},
                 {1, 1, true, 32, 32, true},
                 {7, 0, false, 0, 0, false},
                 {0, 6, true, 100, 0, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        coap_pdu_t *p = coap_pdu_init(COAP_MESSAGE_ACK, COAP_RESPONSE_CODE(205), 1, 1152);
        uint32_t etag = 1;
        bool ok = tf_coap_block2_add(p, body, sizeof body,
                                     (struct tf_coap_block2){cases[i].num, cases[i].szx}, &etag);
        CHECKF(ok == cases[i].ok, "case %zu", i);
        size_t len = 0;
        const uint8_t *data = NULL;
        coap_get_data(p, &len, &data);
        coap_opt_iterator_t it;
        coap_opt_t *b2 = coap_check_option(p, COAP_OPTION_BLOCK2, &it);
        if (cases[i].ok)
            CHECKF(len == cases[i].len && data[0] == cases[i].first && b2 != NULL &&
                       (bool)COAP_OPT_BLOCK_MORE(b2) == cases[i].more &&
                       coap_check_option(p, COAP_OPTION_ETAG, &it) != NULL,
                   "case %zu", i);
        coap_delete_pdu(p);
    }
}

int main(void)
{
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    test_pieces_in_order_make_the_body();
    test_a_gap_is_request_entity_incomplete();
    test_the_limit_at_the_first_block_that_shows_it();
    test_short_pieces_before_the_last_are_refused();
    test_caps_per_endpoint_and_in_all();
    test_abandoned_uploads_are_forgotten();
    test_block2_pieces();
    coap_cleanup();
    return check_summary();
}
