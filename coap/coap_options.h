/* CoAP options <-> what a function sees: Content-Format and Accept as MIME
 * types, Uri-Query as one query string, in the header names the handler
 * protocol carries for every protocol. */
#ifndef TF_COAP_OPTIONS_H
#define TF_COAP_OPTIONS_H

#include <coap3/coap.h>
#include <stdbool.h>

#include "hproto.h"

#define TF_COAP_HEADERS_MAX 3

/* The headers a CoAP request gives its function; strings live in the struct. */
struct tf_coap_headers {
    struct hproto_header h[TF_COAP_HEADERS_MAX];
    size_t n;
    char content_type[64];
    char accept[64];
    char query[1024];
};

/* Fills out from req's options and query (may be NULL). */
void tf_coap_options_to_headers(const coap_pdu_t *req, const coap_string_t *query,
                                struct tf_coap_headers *out);

/* The Content-Format for a MIME type ("; charset=..." ignored; empty means
 * text/plain). False when CoAP has no number for it. */
bool tf_coap_content_format_of(struct hproto_bytes type, uint16_t *format);

#endif
