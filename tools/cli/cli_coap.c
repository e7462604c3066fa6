/* invoke over CoAP: one confirmable POST through libcoap's client API, with
 * libcoap doing retransmission (RFC 7252 4.2), block-wise transfer both ways
 * (RFC 7959) and the wait for a separate response. */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <coap3/coap.h>

#include "cli.h"

/* What the handlers learn, for the loop that waits on them. */
struct exchange {
    bool done;
    bool failed; /* libcoap gave up: reason says why */
    const char *reason;
    struct cli_answer *answer;
};

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
                                   const coap_pdu_t *received, const coap_mid_t mid)
{
    (void)sent, (void)mid;
    struct exchange *x = coap_session_get_app_data(session);
    struct cli_answer *a = x->answer;
    if (x->done)
        return COAP_RESPONSE_OK;
    coap_pdu_code_t code = coap_pdu_get_code(received);
    a->ok = COAP_RESPONSE_CLASS(code) == 2;
    snprintf(a->status, sizeof a->status, "%d.%02d", COAP_RESPONSE_CLASS(code), code & 0x1f);
    const char *phrase = coap_response_phrase(code);
    snprintf(a->phrase, sizeof a->phrase, "%s", phrase != NULL ? phrase : "");
    /* COAP_BLOCK_SINGLE_BODY: libcoap has gathered every Block2 already. */
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (coap_get_data_large(received, &len, &data, &offset, &total) && len > 0) {
        a->body = malloc(len);
        if (a->body == NULL) {
            x->failed = true;
            x->reason = "out of memory";
        } else {
            memcpy(a->body, data, len);
            a->len = len;
        }
    }
    x->done = true;
    return COAP_RESPONSE_OK;
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid)
{
    (void)sent, (void)mid;
    struct exchange *x = coap_session_get_app_data(session);
    static const char *const reasons[] = {
        [COAP_NACK_TOO_MANY_RETRIES] = "no answer after the retransmissions",
        [COAP_NACK_NOT_DELIVERABLE] = "the request could not be delivered",
        [COAP_NACK_RST] = "the server reset the exchange",
        [COAP_NACK_TLS_FAILED] = "TLS failed",
        [COAP_NACK_ICMP_ISSUE] = "host or port unreachable (ICMP)",
    };
    x->reason = (size_t)reason < sizeof reasons / sizeof reasons[0] && reasons[reason] != NULL
                    ? reasons[reason]
                    : "the request failed";
    x->failed = true;
    x->done = true;
}

static int resolve(const char *host, const char *port, coap_address_t *dst, struct cli_err *e)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return cli_err_set(e, "%s: %s", host, gai_strerror(rc));
    coap_address_init(dst);
    dst->size = res->ai_addrlen;
    memcpy(&dst->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* The POST to /name (?async), its body handed to libcoap, which sends it
 * in blocks when it does not fit one PDU; body must outlive the exchange. */
static int send_request(coap_session_t *session, const char *name, const void *body, size_t len,
                        bool async, struct cli_err *e)
{
    coap_pdu_t *pdu = coap_new_pdu(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, session);
    if (pdu == NULL)
        return cli_err_set(e, "cannot make a CoAP request");
    uint8_t token[8];
    size_t token_len = 0;
    coap_session_new_token(session, &token_len, token);
    /* Options in number order: Uri-Path (11) before Uri-Query (15). */
    if (!coap_add_token(pdu, token_len, token) ||
        !coap_add_option(pdu, COAP_OPTION_URI_PATH, strlen(name), (const uint8_t *)name) ||
        (async && !coap_add_option(pdu, COAP_OPTION_URI_QUERY, 5, (const uint8_t *)"async")) ||
        (len > 0 && !coap_add_data_large_request(session, pdu, len, body, NULL, NULL))) {
        coap_delete_pdu(pdu);
        return cli_err_set(e, "cannot make a CoAP request for '%s'", name);
    }
    if (coap_send(session, pdu) == COAP_INVALID_MID)
        return cli_err_set(e, "cannot send the CoAP request");
    return 0;
}

/* Runs libcoap until the exchange ends or timeout_s has passed. */
static int wait_for_answer(coap_context_t *ctx, struct exchange *x, int timeout_s,
                           struct cli_err *e)
{
    long long deadline = cli_now_ms() + timeout_s * 1000LL;
    while (!x->done) {
        long long left = deadline - cli_now_ms();
        if (left <= 0)
            return cli_err_set(e, "no CoAP answer within %d s", timeout_s);
        if (coap_io_process(ctx, left < 1000 ? (uint32_t)left : 1000) < 0)
            return cli_err_set(e, "CoAP I/O failed");
    }
    if (x->failed)
        return cli_err_set(e, "%s", x->reason);
    return 0;
}

int cli_coap_call(const char *host, const char *port, const char *name, const void *body,
                  size_t len, bool async, int timeout_s, struct cli_answer *a, struct cli_err *e)
{
    struct exchange x = {.answer = a};
    coap_address_t dst;
    coap_context_t *ctx = NULL;
    coap_session_t *session = NULL;
    int rc = -1;
    memset(a, 0, sizeof *a);
    coap_startup();
    /* Failures reach the user as one line of ours, not as libcoap's log. */
    coap_set_log_level(LOG_EMERG);
    if (resolve(host, port, &dst, e) < 0)
        goto out;
    ctx = coap_new_context(NULL);
    if (ctx == NULL) {
        cli_err_set(e, "cannot make a CoAP context");
        goto out;
    }
    /* Before the session: a session takes its block mode from the context. */
    coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    session = coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP);
    if (session == NULL) {
        cli_err_set(e, "cannot open a CoAP session to %s port %s", host, port);
        goto out;
    }
    coap_register_response_handler(ctx, on_response);
    coap_register_nack_handler(ctx, on_nack);
    coap_session_set_app_data(session, &x);
    if (send_request(session, name, body, len, async, e) == 0)
        rc = wait_for_answer(ctx, &x, timeout_s, e);
out:
    if (rc < 0)
        cli_answer_free(a);
    coap_session_release(session);
    coap_free_context(ctx);
    coap_cleanup();
    return rc;
}
