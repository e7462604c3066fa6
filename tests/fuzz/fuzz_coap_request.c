/* libFuzzer: a CoAP datagram as the daemon turns it into a call: parsed by
 * libcoap, then its path, query, method, options (Content-Format, Accept,
 * No-Response), Block1 and body read the way the CoAP front reads them. */
#include <coap3/coap.h>
#include <stdint.h>

#include "coap/coap_options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) {
        coap_startup();
        coap_set_log_level(LOG_EMERG);
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
        coap_block_t block;
        coap_get_block(pdu, COAP_OPTION_BLOCK1, &block);
        size_t len = 0;
        const uint8_t *body = NULL;
        coap_get_data(pdu, &len, &body);
        coap_delete_string(query);
        coap_delete_string(path);
    }
    coap_delete_pdu(pdu);
    return 0;
}
