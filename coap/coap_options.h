/* CoAP requests <-> calls: the method, options and query a function sees
 * (Content-Format and Accept as MIME types, Uri-Query as one query string,
 * in the header names the handler protocol carries for every protocol), and
 * the CoAP code a function's status becomes. */
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

/* What a request asks of its call, beside its body. */
struct tf_coap_call {
    struct hproto_bytes method; /* GET, POST, PUT; DELETE for any other code */
    struct tf_coap_headers headers;
    bool async;           /* tinyFaaS's asynchronous call: the query item "async" */
    unsigned no_response; /* RFC 7967: the classes of answers not wanted */
};

/* Fills out from req's code and options and its query (may be NULL). */
void tf_coap_call_of(const coap_pdu_t *req, const coap_string_t *query, struct tf_coap_call *out);

/* The Content-Format for a MIME type ("; charset=..." ignored; empty means
 * text/plain). False when CoAP has no number for it. */
bool tf_coap_content_format_of(struct hproto_bytes type, uint16_t *format);

/* The CoAP code for a function's HTTP status (200 to 599), as class * 100 +
 * detail: the same class and detail (404 is 4.04), but 200 is 2.05 Content,
 * and a detail CoAP's five bits cannot carry (4.51, 2.99) is the class's
 * generic code (4.00, 5.00, 2.05). Anything else is 5.02. */
int tf_coap_code_of_status(unsigned status);

#endif
