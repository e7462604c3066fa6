/* libFuzzer: a CoAP datagram as the daemon turns it into a call: parsed by
 * libcoap, then its path, query, method, options (Content-Format, Accept,
 * No-Response) and body read the way the CoAP front reads them; its Block1
 * piece taken into an upload (kept across inputs, as a daemon keeps them:
 * later inputs continue earlier ones), the Block2 piece it asks for cut
 * from an answer, and the amplification bound worked out for it. */
#include <coap3/coap.h>
#include <stdint.h>

#include "coap/coap_blocks.h"
#include "coap/coap_options.h"
#include "coap/coap_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    static struct tf_coap_uploads *uploads;
    static int64_t now;
    if (!started) {
        coap_startup();
        coap_set_log_level(LOG_EMERG);
        if (tf_coap_uploads_create(4096, &uploads) < 0)
            return 0;
        started = 1;
    }
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, size + 64);
    if (pdu == NULL)
        return 0;
    if (coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu)) {
        coap_string_t *path = coap_get_uri_path(pdu);
        coap_string_t *query = coap_get_query(pdu);
        struct tf_coap_call call;
        tf_coap_call_of(pdu, query, &call);
        size_t len = 0;
        const uint8_t *body = NULL;
        coap_get_data(pdu, &len, &body);
        struct tf_coap_peer_key k = {.family = 2, .proto = COAP_PROTO_UDP, .port = (uint16_t)size};
        coap_opt_iterator_t it;
        if (coap_check_option(pdu, COAP_OPTION_BLOCK1, &it) != NULL) {
            struct tf_coap_upload_step step;
            tf_coap_upload_take(uploads, &k, "fn", pdu, now, &step);
            if (step.code == 0)
                tf_coap_upload_finish(uploads, step.upload);
        }
        tf_coap_uploads_expire(uploads, now += 1000);
        static const uint8_t answer[3000] = {1};
        coap_pdu_t *resp = coap_pdu_init(COAP_MESSAGE_ACK, COAP_RESPONSE_CODE(205), 1, 1152);
        uint32_t etag = 7;
        if (resp != NULL)
            tf_coap_block2_add(resp, answer, len % sizeof answer, tf_coap_block2_asked(pdu),
                               size % 2 ? &etag : NULL);
        coap_delete_pdu(resp);
        tf_coap_block_within(pdu, tf_coap_request_bytes(pdu));
        coap_delete_string(query);
        coap_delete_string(path);
    }
    coap_delete_pdu(pdu);
    return 0;
}
