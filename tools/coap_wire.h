/* The little of RFC 7252's message format the benchmark tools need: the
 * fixed header, the token, Uri-Path/Uri-Query options out, options skipped
 * in, and the payload. The daemon uses libcoap; these tools stay raw so the
 * load generator costs as little as possible per message. */
#ifndef COAP_WIRE_H
#define COAP_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum { COAPW_CON = 0, COAPW_NON = 1, COAPW_ACK = 2, COAPW_RST = 3 };

#define COAPW_POST        0x02
#define COAPW_CONTENT     0x45 /* 2.05 */
#define COAPW_TOKEN_MAX   8
#define COAPW_PAYLOAD_MAX 1024 /* no block-wise transfer in these tools */

struct coapw_msg {
    uint8_t type, code, tkl;
    uint16_t mid;
    const uint8_t *token;
    const uint8_t *payload; /* NULL when there is none */
    size_t payload_len;
};

/* Parses a datagram; returns 0, or -1 when it is not a well-formed message. */
int coapw_parse(const uint8_t *buf, size_t len, struct coapw_msg *m);

/* Writes the 4-byte header and the token to out (room for 4 + tkl); returns
 * the bytes written. */
size_t coapw_header(uint8_t *out, uint8_t type, uint8_t code, uint16_t mid, const uint8_t *token,
                    uint8_t tkl);

/* Encodes "seg/seg?k=v&k=v" as Uri-Path and Uri-Query options; returns the
 * bytes written, or -1 when they do not fit in cap. */
long coapw_uri_options(const char *path, uint8_t *out, size_t cap);

#endif
