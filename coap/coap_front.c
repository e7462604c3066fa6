#include "coap_front.h"

#include <coap3/coap.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "coap_blocks.h"
#include "coap_dtls.h"
#include "coap_exchange.h"
#include "coap_intake.h"
#include "coap_options.h"
#include "coap_peers.h"
#include "coap_verify.h"
#include "log.h"
#include "metrics.h"

/* A libcoap context of the front end's: plain CoAP and DTLS have one each,
 * for their idle sessions are bounded apart (see COAP_IDLE_SESSIONS_MAX). */
struct coap_side {
    coap_context_t *ctx;
    coap_resource_t *unknown; /* every path that names no function: 4.04 */
    struct loop_watch watch;
};

enum { PLAIN, SECURE, SIDES };

struct tf_coap_front {
    struct loop *loop;
    struct dispatcher *d;
    struct coap_side sides[SIDES]; /* a side's ctx is NULL when its port is off */
    struct tf_coap_exchanges *xs;
    struct tf_coap_peers *peers;
    struct tf_coap_uploads *uploads;
    struct tf_coap_front_config cfg;
    struct psk_keys *keys;        /* outlive the context: libcoap asks for them at each handshake */
    int64_t housekept_ms;         /* when libcoap's housekeeping last ran */
    int64_t con_sent_ms;          /* when the last CON answer went out */
    struct tf_coap_call_meta req; /* the request on_request handles now */
};

static const char FUNCTION_RT[] = "\"tinyfaas.function\"";

/* A body up to this size goes in one PDU (the largest block, below the
 * 1152-byte default PDU size with room for the header and options). */
#define SINGLE_PDU_BODY 1024

/* Idle libcoap sessions kept at most, per side. libcoap scans them all for
 * each new endpoint (at 256, a fifth of the daemon's time with 20 000
 * devices). A plain session carries nothing the daemon needs: the
 * remembered endpoints (coap_peers.h) hold what must outlive one. A DTLS
 * session is its keys: a device whose session went must shake hands again,
 * so they are kept by the thousand. */
#define COAP_IDLE_SESSIONS_MAX      32
#define COAP_IDLE_DTLS_SESSIONS_MAX 1024

static struct tf_coap_front *front_of(coap_session_t *s)
{
    return coap_get_app_data(coap_session_get_context(s));
}

static void add_text(coap_pdu_t *pdu, const char *msg)
{
    if (msg != NULL)
        coap_add_data(pdu, strlen(msg), (const uint8_t *)msg);
}

/* An answer decided at once, in the response libcoap sends for us. */
static void respond_now(coap_pdu_t *resp, int code, const char *msg)
{
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(code));
    add_text(resp, msg);
}

/* Names one answer in the ETag of each of its blocks, so a client never
 * pieces together blocks of two answers. */
static uint32_t etag_of(const struct tf_coap_answer *a)
{
    return (uint32_t)a->mid << 16 ^ a->body_len ^ (uint32_t)a->code << 20;
}

/* How an answer goes out: block-wise in pieces of at most 2^(szx_max+4)
 * bytes, and to an endpoint not yet verified with an Echo value for it
 * (coap_verify.h). */
struct delivery {
    unsigned szx_max;
    uint32_t echo; /* 0: none */
};

static const struct delivery IN_FULL = {6, 0};

/* Puts answer a into pdu: a body larger than one PDU, or one asked for in
 * blocks, goes block-wise (the piece request asks for, the first if none). */
static void fill_answer(const struct tf_coap_answer *a, const coap_pdu_t *request,
                        struct delivery how, coap_pdu_t *pdu)
{
    if (a->dropped) {
        coap_pdu_set_code(pdu, COAP_RESPONSE_CODE(500));
        add_text(pdu, "answer too large to repeat (the call ran)");
        return;
    }
    coap_pdu_set_code(pdu, COAP_RESPONSE_CODE(a->code));
    if (a->body_len == 0)
        return;
    if (a->has_format) {
        uint8_t buf[4];
        coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(buf, sizeof buf, a->format), buf);
    }
    coap_opt_iterator_t it;
    bool asked = request != NULL && coap_check_option(request, COAP_OPTION_BLOCK2, &it) != NULL;
    if (!asked && a->body_len <= SINGLE_PDU_BODY && a->body_len <= (size_t)16 << how.szx_max) {
        coap_add_data(pdu, a->body_len, tf_coap_answer_body(a));
        return;
    }
    struct tf_coap_block2 b = tf_coap_block2_asked(request);
    if (b.szx > how.szx_max) { /* RFC 7959 2.4: a smaller block, the same place */
        b.num <<= b.szx - how.szx_max;
        b.szx = how.szx_max;
    }
    uint8_t echo[4] = {how.echo >> 24, how.echo >> 16, how.echo >> 8, how.echo};
    if (how.echo != 0)
        coap_add_option(pdu, COAP_OPTION_ECHO, sizeof echo, echo);
    uint32_t etag = etag_of(a);
    /* An answer first sent in small blocks (within the amplification bound)
     * goes without ETag and Size2 in all of them: a client takes an ETag
     * that appears midway for another answer. */
    if (!tf_coap_block2_add(pdu, tf_coap_answer_body(a), a->body_len, b,
                            a->small_blocks ? NULL : &etag)) {
        coap_pdu_set_code(pdu, COAP_RESPONSE_CODE(402));
        add_text(pdu, "no such block in the answer");
    }
}

/* Puts a into resp for the request req (of req_bytes on the wire) from k:
 * in full, or to an endpoint not yet verified in blocks small enough for
 * the amplification bound, or when not even those are (or a further block
 * would have to shrink), the challenge. */
static void deliver(struct tf_coap_front *f, const struct tf_coap_peer_key *k,
                    const struct tf_coap_answer *a, const coap_pdu_t *req, size_t req_bytes,
                    coap_pdu_t *resp)
{
    struct delivery how = IN_FULL;
    if (a->held_for_echo ||
        tf_coap_needs_echo(f->peers, k, req, req_bytes, a->body_len, loop_now_ms())) {
        int szx = tf_coap_block_within(req, req_bytes);
        /* A further block keeps the size the client asks for: clients do
         * not follow a block size that shrinks midway. */
        struct tf_coap_block2 asked = tf_coap_block2_asked(req);
        bool shrinks_midway = asked.num > 0 && (int)asked.szx > szx;
        if (a->held_for_echo || szx < 0 || shrinks_midway ||
            tf_coap_peers_challenge(f->peers, k, loop_now_ms(), &how.echo) < 0) {
            metrics_limit_hit(METRICS_LIMIT_COAP_AMPLIFICATION);
            tf_coap_challenge(f->peers, k, loop_now_ms(), resp);
            return;
        }
        how.szx_max = (unsigned)szx;
    }
    fill_answer(a, req, how, resp);
}

static void echo_block1(const coap_pdu_t *request, coap_pdu_t *pdu)
{
    coap_opt_iterator_t it;
    coap_opt_t *b1 = request ? coap_check_option(request, COAP_OPTION_BLOCK1, &it) : NULL;
    if (b1 != NULL)
        coap_add_option(pdu, COAP_OPTION_BLOCK1, coap_opt_length(b1), coap_opt_value(b1));
}

/* Sends x's answer (or the challenge it is held for): piggybacked on the
 * ACK if none went out yet, else as a separate CON (libcoap retransmits it),
 * or NON for a NON request. */
static void send_answer(struct tf_coap_front *f, struct tf_coap_exchange *x,
                        const struct tf_coap_peer_key *k)
{
    coap_pdu_type_t type = !x->answer.con ? COAP_MESSAGE_NON
                           : x->acked     ? COAP_MESSAGE_CON
                                          : COAP_MESSAGE_ACK;
    coap_mid_t mid = type == COAP_MESSAGE_ACK ? x->answer.mid : coap_new_message_id(x->session);
    coap_pdu_t *pdu = coap_pdu_init(type, 0, mid, coap_session_max_pdu_size(x->session));
    if (pdu == NULL)
        return;
    coap_add_token(pdu, x->token_len, x->token);
    echo_block1(x->request, pdu);
    deliver(f, k, &x->answer, x->request, x->req_bytes, pdu);
    x->answer.piggybacked = type == COAP_MESSAGE_ACK;
    if (type == COAP_MESSAGE_ACK)
        tf_coap_exchange_acked(f->xs, x);
    if (type == COAP_MESSAGE_CON) {
        f->con_sent_ms = loop_now_ms();
        metrics_count(METRICS_COAP_SEPARATE);
    }
    coap_send(x->session, pdu);
}

static void send_empty_ack(struct tf_coap_front *f, struct tf_coap_exchange *x)
{
    coap_pdu_t *ack = coap_pdu_init(COAP_MESSAGE_ACK, 0, x->answer.mid, 0);
    if (ack != NULL)
        coap_send(x->session, ack);
    tf_coap_exchange_acked(f->xs, x);
}

static int code_of(const struct dispatch_result *res)
{
    if (res->outcome == DISPATCH_TIMEOUT)
        return 504;
    if (res->outcome == DISPATCH_LOST)
        return res->status; /* 502, or 503 when the link to the handler timed out */
    return tf_coap_code_of_status(res->status);
}

/* Records x's answer: the body, with the name and query when it will go
 * block-wise or is held for a challenge, to find it by them again. The
 * answer is held when k must first echo a challenge (coap_verify.h). */
static void record_answer(struct tf_coap_front *f, struct tf_coap_exchange *x,
                          const struct tf_coap_peer_key *k, int code, const void *body, size_t len)
{
    x->answer.code = (uint16_t)code;
    bool unverified = !tf_coap_answer_suppressed(&x->answer) &&
                      tf_coap_needs_echo(f->peers, k, x->request, x->req_bytes, len, loop_now_ms());
    x->answer.held_for_echo = unverified && tf_coap_block_within(x->request, x->req_bytes) < 0;
    x->answer.small_blocks = unverified && !x->answer.held_for_echo;
    struct tf_coap_block2 b = tf_coap_block2_asked(x->request);
    bool large = len > SINGLE_PDU_BODY || len > (size_t)1 << (b.szx + 4) || unverified;
    tf_coap_answer_set(&x->answer, body, len, large ? x->name : NULL, large ? x->query : NULL);
}

/* The exchange is over: its answer is remembered for duplicates under the
 * client's address, and the exchange (with its hold on the session) goes. */
static void end_exchange(struct tf_coap_front *f, struct tf_coap_exchange *x,
                         const struct tf_coap_peer_key *k)
{
    if (x->answer.con && !x->acked)
        tf_coap_exchange_acked(f->xs, x);
    tf_coap_peers_remember(f->peers, k, &x->answer, loop_now_ms());
    tf_coap_exchange_end(f->xs, x);
}

/* Counts the answer code given to the call meta tells of. */
static void count(const struct tf_coap_call_meta *meta, int code)
{
    metrics_call_done(meta->fn, meta->proto, (unsigned)code, meta->start);
}

/* An answer decided at once to the request on_request handles, counted. */
static void answer_at_once(struct tf_coap_front *f, coap_pdu_t *resp, int code, const char *msg)
{
    count(&f->req, code);
    respond_now(resp, code, msg);
}

static void on_done(void *ctx, const struct dispatch_result *res)
{
    struct tf_coap_exchange *x = ctx;
    struct tf_coap_front *f = front_of(x->session);
    x->call = NULL;
    count(&x->meta, code_of(res));
    struct hproto_bytes body = res->body;
    if (res->outcome == DISPATCH_TIMEOUT || res->outcome == DISPATCH_LOST) {
        const char *msg = res->outcome == DISPATCH_TIMEOUT ? "function timed out"
                                                           : dispatch_lost_reason(res->status);
        body = (struct hproto_bytes){msg, strlen(msg)};
    } else {
        x->answer.has_format = tf_coap_content_format_of(res->content_type, &x->answer.format);
    }
    struct tf_coap_peer_key k;
    tf_coap_peer_key_of_session(x->session, &k);
    record_answer(f, x, &k, code_of(res), body.ptr, body.len);
    if (!tf_coap_answer_suppressed(&x->answer))
        send_answer(f, x, &k);
    else if (x->answer.con && !x->acked)
        send_empty_ack(f, x);
    end_exchange(f, x, &k);
}

/* A request whose call still runs, seen again (RFC 7252 4.5): a CON gets
 * the empty ACK (the answer follows separately), a NON nothing yet. */
static void answer_running_duplicate(struct tf_coap_front *f, struct tf_coap_exchange *x,
                                     coap_pdu_t *resp)
{
    metrics_count(METRICS_COAP_DUPLICATES);
    if (x->answer.con) {
        tf_coap_exchange_acked(f->xs, x);
        coap_pdu_set_type(resp, COAP_MESSAGE_ACK);
        return;
    }
    coap_pdu_set_type(resp, COAP_MESSAGE_NON); /* an empty NON response is not sent */
}

/* A request answered before: answered again, never run again. */
static void answer_done_duplicate(struct tf_coap_front *f, const struct tf_coap_peer_key *k,
                                  const struct tf_coap_answer *a, const coap_pdu_t *req,
                                  coap_pdu_t *resp)
{
    metrics_count(METRICS_COAP_DUPLICATES);
    if (a->con && !a->piggybacked) {
        /* Answered separately: the client needs the ACK only. */
        coap_pdu_set_type(resp, COAP_MESSAGE_ACK);
        return;
    }
    if (tf_coap_answer_suppressed(a)) {
        coap_pdu_set_type(resp, COAP_MESSAGE_NON);
        return;
    }
    deliver(f, k, a, req, tf_coap_request_bytes(req), resp);
}

/* A request for a further block of an answer (RFC 7959 2.4) is served from
 * the answer kept for the client; it never runs the function again. */
static void answer_further_block(struct tf_coap_front *f, const struct tf_coap_peer_key *k,
                                 const char *name, const coap_string_t *query,
                                 const coap_pdu_t *req, coap_pdu_t *resp)
{
    const struct tf_coap_answer *a = tf_coap_peers_find_large(f->peers, k, name, query);
    if (a == NULL) {
        respond_now(resp, 408, "answer no longer held: ask again from the first block");
        return;
    }
    deliver(f, k, a, req, tf_coap_request_bytes(req), resp);
}

/* Answers at once a call that will send nothing later: an asynchronous
 * call's 2.01, or a 5.03 when the call could not start. Remembered all the
 * same, so a retransmission is not run again. */
static void answer_now(struct tf_coap_front *f, struct tf_coap_exchange *x,
                       const struct tf_coap_peer_key *k, int rc, const coap_pdu_t *req,
                       coap_pdu_t *resp)
{
    const char *msg = rc == -EHOSTUNREACH              ? "function has no live handler"
                      : rc == -EBUSY || rc == -ENOBUFS ? "function busy"
                      : rc < 0                         ? "out of memory"
                                                       : NULL;
    count(&x->meta, rc < 0 ? 503 : 201);
    record_answer(f, x, k, rc < 0 ? 503 : 201, msg, msg != NULL ? strlen(msg) : 0);
    x->answer.piggybacked = x->answer.con;
    tf_coap_exchange_acked(f->xs, x);
    if (tf_coap_answer_suppressed(&x->answer))
        coap_pdu_set_type(resp, x->answer.con ? COAP_MESSAGE_ACK : COAP_MESSAGE_NON);
    else
        deliver(f, k, &x->answer, req, x->req_bytes, resp);
    end_exchange(f, x, k);
}

/* RFC 7959 2.9.3: 4.13 tells the largest body taken in Size1. */
static void refuse_body(struct tf_coap_front *f, coap_pdu_t *resp)
{
    uint8_t buf[4];
    metrics_limit_hit(METRICS_LIMIT_MAX_BODY);
    count(&f->req, 413);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(413));
    coap_add_option(resp, COAP_OPTION_SIZE1,
                    coap_encode_var_safe(buf, sizeof buf, (unsigned)f->cfg.max_body), buf);
}

/* Runs the function on body; the answer goes out from on_done, not from here. */
static void start_call(struct tf_coap_front *f, coap_session_t *s, const struct tf_coap_peer_key *k,
                       const coap_pdu_t *req, const coap_string_t *query,
                       struct dispatch_function *func, const char *name, const uint8_t *data,
                       size_t len, coap_pdu_t *resp)
{
    if (len > f->cfg.max_body) {
        refuse_body(f, resp);
        return;
    }
    struct tf_coap_call call;
    tf_coap_call_of(req, query, &call);
    struct dispatch_request dreq = {.method = call.method,
                                    .headers = call.headers.h,
                                    .n_headers = call.headers.n,
                                    .body = {(const char *)data, len}};
    struct tf_coap_exchange *x = tf_coap_exchange_start(f->xs, s, req, name, query, loop_now_ms());
    if (x == NULL) {
        answer_at_once(f, resp, 503, "out of memory");
        return;
    }
    x->meta = f->req;
    x->answer.no_response = (uint8_t)call.no_response;
    size_t req_bytes = tf_coap_request_bytes(req);
    x->req_bytes = req_bytes < UINT16_MAX ? (uint16_t)req_bytes : UINT16_MAX;
    int rc = dispatch_call(f->d, func, &dreq, call.async ? NULL : on_done, x,
                           call.async ? NULL : &x->call);
    if (rc < 0 || call.async) {
        answer_now(f, x, k, rc, req, resp);
        return;
    }
    /* An empty NON response is dropped by libcoap: this call's answer is ours to send. */
    coap_pdu_set_type(resp, COAP_MESSAGE_NON);
}

/* A piece of a block-wise request body (RFC 7959 2.5): the last one runs
 * the function on the whole body. */
static void take_block(struct tf_coap_front *f, coap_session_t *s, const struct tf_coap_peer_key *k,
                       const coap_pdu_t *req, const coap_string_t *query,
                       struct dispatch_function *func, const char *name, coap_pdu_t *resp)
{
    struct tf_coap_upload_step step;
    tf_coap_upload_take(f->uploads, k, name, req, loop_now_ms(), &step);
    if (step.code == 0) {
        start_call(f, s, k, req, query, func, name, step.body, step.len, resp);
        tf_coap_upload_finish(f->uploads, step.upload);
        return;
    }
    if (step.code == 413) {
        refuse_body(f, resp);
        return;
    }
    if (step.code == 231) {
        echo_block1(req, resp);                    /* RFC 7959 2.3: the block taken, M still set */
        respond_now(resp, step.code, step.reason); /* the call is still to come */
        return;
    }
    answer_at_once(f, resp, step.code, step.reason);
}

static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp)
{
    struct tf_coap_front *f = front_of(s);
    coap_mid_t mid = coap_pdu_get_mid(req);
    struct tf_coap_exchange *x = tf_coap_exchange_find(f->xs, s, mid);
    if (x != NULL) {
        answer_running_duplicate(f, x, resp);
        return;
    }
    struct tf_coap_peer_key k;
    tf_coap_peer_key_of_session(s, &k);
    const struct tf_coap_answer *a = tf_coap_peers_find(f->peers, &k, (uint16_t)mid);
    if (a != NULL) {
        answer_done_duplicate(f, &k, a, req, resp);
        return;
    }
    bool unknown = r == f->sides[PLAIN].unknown || r == f->sides[SECURE].unknown;
    coap_str_const_t *path = !unknown ? coap_resource_get_uri_path(r) : NULL;
    struct dispatch_function *func =
        path != NULL ? dispatch_lookup(f->d, (const char *)path->s, path->length) : NULL;
    bool secure = coap_session_get_proto(s) == COAP_PROTO_DTLS;
    f->req = (struct tf_coap_call_meta){.proto = secure ? METRICS_COAPS : METRICS_COAP,
                                        .start = metrics_start()};
    if (func == NULL || path->length > EXCHANGE_NAME_MAX) {
        f->req.fn = metrics_unknown();
        answer_at_once(f, resp, 404, NULL);
        return;
    }
    f->req.fn = dispatch_metrics(func);
    char name[EXCHANGE_NAME_MAX + 1];
    memcpy(name, path->s, path->length);
    name[path->length] = '\0';
    if (tf_coap_echo_verifies(f->peers, &k, req)) {
        /* The retry a challenge asked for: it gets the answer held for it. */
        const struct tf_coap_answer *held = tf_coap_peers_take_held(f->peers, &k, name, query);
        if (held != NULL) {
            fill_answer(held, req, IN_FULL, resp);
            return;
        }
    }
    coap_opt_iterator_t it;
    if (tf_coap_block2_asked(req).num > 0)
        answer_further_block(f, &k, name, query, req, resp);
    else if (coap_check_option(req, COAP_OPTION_BLOCK1, &it) != NULL)
        take_block(f, s, &k, req, query, func, name, resp);
    else {
        size_t len = 0;
        const uint8_t *data = NULL;
        coap_get_data(req, &len, &data);
        start_call(f, s, &k, req, query, func, name, data, len, resp);
    }
}

/* Functions are resources of their own, so /.well-known/core lists them
 * (RFC 6690, with its rt= and href= filters) as deploys and deletes go. */
static void route_in(coap_context_t *ctx, const char *name, bool routed)
{
    coap_str_const_t *path = coap_new_str_const((const uint8_t *)name, strlen(name));
    if (path == NULL)
        return;
    coap_resource_t *r = coap_get_resource_from_uri_path(ctx, path);
    if (!routed) {
        if (r != NULL)
            coap_delete_resource(ctx, r);
        coap_delete_str_const(path);
        return;
    }
    if (r != NULL) {
        coap_delete_str_const(path);
        return;
    }
    r = coap_resource_init(path, COAP_RESOURCE_FLAGS_RELEASE_URI);
    if (r == NULL) {
        coap_delete_str_const(path);
        return;
    }
    coap_request_t methods[] = {COAP_REQUEST_GET, COAP_REQUEST_POST, COAP_REQUEST_PUT,
                                COAP_REQUEST_DELETE};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        coap_register_request_handler(r, methods[i], on_request);
    coap_add_attr(r, coap_make_str_const("rt"), coap_make_str_const(FUNCTION_RT), 0);
    coap_add_resource(ctx, r);
}

static void on_route(void *ctx, const char *name, bool routed)
{
    struct tf_coap_front *f = ctx;
    for (int i = 0; i < SIDES; i++)
        if (f->sides[i].ctx != NULL)
            route_in(f->sides[i].ctx, name, routed);
}

/* libcoap arms its own timer for what it must do later (retransmissions,
 * idle sessions), but 4.3.1 arms it late for a CON queued behind others; so
 * while a CON answer may still need retransmitting (EXCHANGE_LIFETIME, about
 * 247 s) its housekeeping also runs this often. */
#define COAP_CON_HOUSEKEEPING_MS  100
#define COAP_EXCHANGE_LIFETIME_MS 247000

static void housekeeping(struct tf_coap_front *f, int64_t now)
{
    f->housekept_ms = now;
    coap_tick_t ticks;
    coap_ticks(&ticks);
    for (int i = 0; i < SIDES; i++)
        if (f->sides[i].ctx != NULL)
            coap_io_prepare_epoll(f->sides[i].ctx, ticks);
}

/* A context's sockets sit in its own epoll set, whose fd our loop watches. */
static void on_readable(void *ctx, uint32_t events)
{
    (void)events;
    struct coap_side *side = ctx;
    tf_coap_intake_read(side->ctx, side->watch.fd);
}

/* The sooner of two waits in ms, where -1 means never. */
static int64_t earliest(int64_t a, int64_t b)
{
    return a < 0 || (b >= 0 && b < a) ? b : a;
}

static int tf_coap_tick(void *ctx)
{
    struct tf_coap_front *f = ctx;
    int64_t now = loop_now_ms();
    struct tf_coap_exchange *x;
    /* RFC 7252 5.2.2: a slow answer is preceded by an empty ACK so the client
     * stops retransmitting. */
    while ((x = tf_coap_exchange_oldest_unacked(f->xs)) != NULL &&
           now - x->created_ms >= f->cfg.ack_delay_ms)
        send_empty_ack(f, x);
    int64_t wait =
        earliest(tf_coap_peers_expire(f->peers, now), tf_coap_uploads_expire(f->uploads, now));
    metrics_gauge_set(METRICS_COAP_ENDPOINTS, (long)tf_coap_peers_count(f->peers));
    if (now - f->con_sent_ms < COAP_EXCHANGE_LIFETIME_MS) {
        if (now - f->housekept_ms >= COAP_CON_HOUSEKEEPING_MS)
            housekeeping(f, now);
        wait = earliest(wait, COAP_CON_HOUSEKEEPING_MS);
    }
    if (x != NULL)
        wait = earliest(wait, x->created_ms + f->cfg.ack_delay_ms - now);
    return (int)wait;
}

/* A context for one side, set up as both need it, and watched by the loop. */
static int open_side(struct tf_coap_front *f, struct coap_side *side, unsigned idle_sessions,
                     tf_err *err)
{
    if ((side->ctx = coap_new_context(NULL)) == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot create a CoAP context");
    coap_set_app_data(side->ctx, f);
    coap_context_set_max_idle_sessions(side->ctx, idle_sessions);
    /* Block-wise transfers are the daemon's own (coap_blocks.h): libcoap
     * would reserve whatever size a first block claims. */
    coap_context_set_block_mode(side->ctx, 0);
    side->unknown = coap_resource_unknown_init2(on_request, 0);
    coap_register_request_handler(side->unknown, COAP_REQUEST_GET, on_request);
    coap_register_request_handler(side->unknown, COAP_REQUEST_POST, on_request);
    coap_register_request_handler(side->unknown, COAP_REQUEST_DELETE, on_request);
    coap_add_resource(side->ctx, side->unknown);
    side->watch = (struct loop_watch){
        .fd = coap_context_get_coap_fd(side->ctx), .fn = on_readable, .ctx = side};
    if (side->watch.fd < 0 || loop_add(f->loop, &side->watch, EPOLLIN) < 0) {
        side->watch.fd = -1;
        return tf_err_set(err, TF_ERR_INTERNAL,
                          "cannot watch the CoAP socket (libcoap without epoll?)");
    }
    return 0;
}

static int listen_plain(struct tf_coap_front *f, tf_err *err)
{
    if (open_side(f, &f->sides[PLAIN], COAP_IDLE_SESSIONS_MAX, err) < 0)
        return -1;
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.addr.sin.sin_port = htons((uint16_t)f->cfg.port);
    if (coap_new_endpoint(f->sides[PLAIN].ctx, &addr, COAP_PROTO_UDP) == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot listen for CoAP on UDP port %d",
                          f->cfg.port);
    return 0;
}

/* DTLS sessions held, as libcoap makes and frees them (handshakes included). */
static int on_dtls_event(coap_session_t *s, const coap_event_t event)
{
    (void)s;
    if (event == COAP_EVENT_SERVER_SESSION_NEW)
        metrics_gauge_add(METRICS_DTLS_SESSIONS, 1);
    else if (event == COAP_EVENT_SERVER_SESSION_DEL)
        metrics_gauge_add(METRICS_DTLS_SESSIONS, -1);
    return 0;
}

static int setup(struct tf_coap_front *f, tf_err *err)
{
    if (f->cfg.port > 0 && listen_plain(f, err) < 0)
        return -1;
    if (f->cfg.dtls_port > 0 &&
        (psk_keys_load(f->cfg.psk_file, &f->keys, err) < 0 ||
         open_side(f, &f->sides[SECURE], COAP_IDLE_DTLS_SESSIONS_MAX, err) < 0 ||
         tf_coap_dtls_listen(f->sides[SECURE].ctx, f->cfg.dtls_port, f->keys, err) < 0))
        return -1;
    if (f->sides[SECURE].ctx != NULL)
        coap_register_event_handler(f->sides[SECURE].ctx, on_dtls_event);
    dispatch_set_route_listener(f->d, on_route, f);
    if (loop_add_ticker(f->loop, tf_coap_tick, f) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot tick the CoAP front end");
    return 0;
}

int tf_coap_front_start(struct loop *l, struct dispatcher *d,
                        const struct tf_coap_front_config *cfg, struct tf_coap_front **out,
                        tf_err *err)
{
    coap_startup();
    coap_set_log_level(LOG_WARNING);
    tf_coap_intake_init();
    struct tf_coap_front *f = calloc(1, sizeof *f);
    if (f == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    f->loop = l;
    f->d = d;
    f->cfg = *cfg;
    for (int i = 0; i < SIDES; i++)
        f->sides[i].watch.fd = -1;
    f->con_sent_ms = -COAP_EXCHANGE_LIFETIME_MS; /* none sent yet */
    if (tf_coap_exchanges_create(&f->xs) < 0 ||
        tf_coap_peers_create(cfg->answer_bytes, &f->peers) < 0 ||
        tf_coap_uploads_create(cfg->max_body, &f->uploads) < 0) {
        tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
        tf_coap_front_stop(f);
        return -1;
    }
    if (setup(f, err) < 0) {
        tf_coap_front_stop(f);
        return -1;
    }
    if (cfg->port > 0)
        log_info("CoAP listening on UDP port %d", cfg->port);
    *out = f;
    return 0;
}

void tf_coap_front_stop(struct tf_coap_front *f)
{
    if (f == NULL)
        return;
    for (int i = 0; i < SIDES; i++)
        if (f->sides[i].watch.fd >= 0)
            loop_remove(f->loop, &f->sides[i].watch);
    dispatch_set_route_listener(f->d, NULL, NULL);
    tf_coap_exchanges_free(f->xs); /* before the contexts: they hold their sessions */
    for (int i = 0; i < SIDES; i++)
        if (f->sides[i].ctx != NULL)
            coap_free_context(f->sides[i].ctx);
    tf_coap_peers_free(f->peers);
    tf_coap_uploads_free(f->uploads);
    psk_keys_free(f->keys);
    coap_cleanup();
    free(f);
}
