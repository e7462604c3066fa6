#include "coap_options.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The registered Content-Formats a function is likely to use (RFC 7252 12.3, RFC 8949). */
static const struct {
    const char *type;
    uint16_t format;
} content_formats[] = {
    {"text/plain", COAP_MEDIATYPE_TEXT_PLAIN},
    {"application/link-format", COAP_MEDIATYPE_APPLICATION_LINK_FORMAT},
    {"application/xml", COAP_MEDIATYPE_APPLICATION_XML},
    {"application/octet-stream", COAP_MEDIATYPE_APPLICATION_OCTET_STREAM},
    {"application/exi", COAP_MEDIATYPE_APPLICATION_EXI},
    {"application/json", COAP_MEDIATYPE_APPLICATION_JSON},
    {"application/cbor", COAP_MEDIATYPE_APPLICATION_CBOR},
};
#define N_FORMATS (sizeof content_formats / sizeof content_formats[0])

bool tf_coap_content_format_of(struct hproto_bytes type, uint16_t *format)
{
    size_t len = type.len;
    for (size_t i = 0; i < type.len; i++)
        if (type.ptr[i] == ';' || type.ptr[i] == ' ') {
            len = i;
            break;
        }
    if (len == 0) {
        *format = COAP_MEDIATYPE_TEXT_PLAIN;
        return true;
    }
    for (size_t i = 0; i < N_FORMATS; i++)
        if (strlen(content_formats[i].type) == len &&
            strncasecmp(content_formats[i].type, type.ptr, len) == 0) {
            *format = content_formats[i].format;
            return true;
        }
    return false;
}

/* A format number as a MIME type; unregistered ones keep their number visible. */
static void mime_of(unsigned format, char *out, size_t size)
{
    for (size_t i = 0; i < N_FORMATS; i++)
        if (content_formats[i].format == format) {
            snprintf(out, size, "%s", content_formats[i].type);
            return;
        }
    snprintf(out, size, "application/coap-content-format-%u", format);
}

static bool option_uint(const coap_pdu_t *req, coap_option_num_t num, unsigned *value)
{
    coap_opt_iterator_t it;
    coap_opt_t *opt = coap_check_option(req, num, &it);
    if (opt == NULL)
        return false;
    *value = coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt));
    return true;
}

static void add(struct tf_coap_headers *out, const char *key, const char *value)
{
    out->h[out->n++] = (struct hproto_header){{key, strlen(key)}, {value, strlen(value)}};
}

/* The headers a function sees: Content-Format and Accept as MIME types,
 * Uri-Query as one query string. */
static void options_to_headers(const coap_pdu_t *req, const coap_string_t *query,
                               struct tf_coap_headers *out)
{
    unsigned v;
    out->n = 0;
    if (option_uint(req, COAP_OPTION_CONTENT_FORMAT, &v)) {
        mime_of(v, out->content_type, sizeof out->content_type);
        add(out, "Content-Type", out->content_type);
    }
    if (option_uint(req, COAP_OPTION_ACCEPT, &v)) {
        mime_of(v, out->accept, sizeof out->accept);
        add(out, "Accept", out->accept);
    }
    if (query != NULL && query->length > 0) {
        snprintf(out->query, sizeof out->query, "%.*s", (int)query->length, (const char *)query->s);
        add(out, "X-Tinyfaas-Query", out->query);
    }
}

static unsigned no_response_of(const coap_pdu_t *req)
{
    coap_opt_iterator_t it;
    coap_opt_t *opt = coap_check_option(req, COAP_OPTION_NORESPONSE, &it);
    return opt ? coap_decode_var_bytes(coap_opt_value(opt), coap_opt_length(opt)) : 0;
}

/* tinyFaaS's asynchronous call, in CoAP: the query item "async". */
static bool wants_async(const coap_string_t *query)
{
    if (query == NULL)
        return false;
    const char *q = (const char *)query->s, *end = q + query->length;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        size_t len = (size_t)((amp ? amp : end) - q);
        if (len == 5 && memcmp(q, "async", 5) == 0)
            return true;
        q += len + 1;
    }
    return false;
}

static struct hproto_bytes method_of(coap_pdu_code_t code)
{
    switch (code) {
    case COAP_REQUEST_CODE_GET: return (struct hproto_bytes){"GET", 3};
    case COAP_REQUEST_CODE_POST: return (struct hproto_bytes){"POST", 4};
    case COAP_REQUEST_CODE_PUT: return (struct hproto_bytes){"PUT", 3};
    default: return (struct hproto_bytes){"DELETE", 6};
    }
}

void tf_coap_call_of(const coap_pdu_t *req, const coap_string_t *query, struct tf_coap_call *out)
{
    out->method = method_of(coap_pdu_get_code(req));
    options_to_headers(req, query, &out->headers);
    out->async = wants_async(query);
    out->no_response = no_response_of(req);
}

int tf_coap_code_of_status(unsigned status)
{
    enum { detail_max = 31 }; /* the code's low five bits (RFC 7252 3) */
    if (status < 200 || status > 599)
        return 502;
    if (status == 200 || (status / 100 == 2 && status % 100 > detail_max))
        return 205;
    if (status % 100 > detail_max)
        return (int)(status / 100 * 100);
    return (int)status;
}
