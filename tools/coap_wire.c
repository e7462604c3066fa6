#include "coap_wire.h"

#include <string.h>

#define OPT_URI_PATH  11
#define OPT_URI_QUERY 15

/* Reads an option delta or length nibble's extension (RFC 7252 3.1); returns
 * the value, or -1 for the reserved nibble 15 or a short buffer. */
static long opt_ext(unsigned nibble, const uint8_t *buf, size_t len, size_t *i)
{
    if (nibble < 13)
        return nibble;
    if (nibble == 13) {
        if (*i + 1 > len)
            return -1;
        return 13 + buf[(*i)++];
    }
    if (nibble == 14) {
        if (*i + 2 > len)
            return -1;
        long v = 269 + ((long)buf[*i] << 8) + buf[*i + 1];
        *i += 2;
        return v;
    }
    return -1;
}

/* Skips the options from i; leaves i at the payload marker or the end. */
static int skip_options(const uint8_t *buf, size_t len, size_t *i)
{
    while (*i < len && buf[*i] != 0xff) {
        uint8_t b = buf[(*i)++];
        long delta = opt_ext(b >> 4, buf, len, i);
        long olen = opt_ext(b & 0x0f, buf, len, i);
        if (delta < 0 || olen < 0 || *i + (size_t)olen > len)
            return -1;
        *i += (size_t)olen;
    }
    return 0;
}

int coapw_parse(const uint8_t *buf, size_t len, struct coapw_msg *m)
{
    if (len < 4 || buf[0] >> 6 != 1)
        return -1;
    m->type = (buf[0] >> 4) & 3;
    m->tkl = buf[0] & 0x0f;
    m->code = buf[1];
    m->mid = (uint16_t)(buf[2] << 8 | buf[3]);
    if (m->tkl > COAPW_TOKEN_MAX || 4u + m->tkl > len)
        return -1;
    m->token = buf + 4;
    m->payload = NULL;
    m->payload_len = 0;
    size_t i = 4u + m->tkl;
    if (skip_options(buf, len, &i) < 0)
        return -1;
    if (i < len) {
        /* A marker followed by nothing is a format error (RFC 7252 3). */
        if (i + 1 == len)
            return -1;
        m->payload = buf + i + 1;
        m->payload_len = len - i - 1;
    }
    return 0;
}

size_t coapw_header(uint8_t *out, uint8_t type, uint8_t code, uint16_t mid, const uint8_t *token,
                    uint8_t tkl)
{
    out[0] = (uint8_t)(1 << 6 | type << 4 | tkl);
    out[1] = code;
    out[2] = (uint8_t)(mid >> 8);
    out[3] = (uint8_t)mid;
    if (tkl > 0)
        memcpy(out + 4, token, tkl);
    return 4u + tkl;
}

/* Writes a nibble's extension bytes after the option byte at *o. */
static size_t put_ext(uint8_t *o, size_t v)
{
    if (v < 13)
        return 0;
    if (v < 269) {
        o[0] = (uint8_t)(v - 13);
        return 1;
    }
    o[0] = (uint8_t)((v - 269) >> 8);
    o[1] = (uint8_t)(v - 269);
    return 2;
}

static unsigned nibble(size_t v)
{
    return v < 13 ? (unsigned)v : v < 269 ? 13 : 14;
}

/* Appends one option at *n; returns 0, or -1 when it does not fit. */
static int put_option(uint8_t *out, size_t *n, size_t cap, unsigned delta, const char *v,
                      size_t vlen)
{
    if (vlen > 1034 || *n + 5 + vlen > cap)
        return -1;
    uint8_t *o = out + *n;
    o[0] = (uint8_t)(nibble(delta) << 4 | nibble(vlen));
    size_t k = 1;
    k += put_ext(o + k, delta);
    k += put_ext(o + k, vlen);
    memcpy(o + k, v, vlen);
    *n += k + vlen;
    return 0;
}

long coapw_uri_options(const char *path, uint8_t *out, size_t cap)
{
    size_t n = 0;
    unsigned last = 0;
    const char *q = strchr(path, '?');
    const char *end = q != NULL ? q : path + strlen(path);
    for (const char *s = path; s < end;) {
        const char *e = memchr(s, '/', (size_t)(end - s));
        e = e != NULL ? e : end;
        if (e > s) {
            if (put_option(out, &n, cap, OPT_URI_PATH - last, s, (size_t)(e - s)) < 0)
                return -1;
            last = OPT_URI_PATH;
        }
        s = e + 1;
    }
    for (const char *s = q != NULL ? q + 1 : NULL; s != NULL && *s != '\0';) {
        const char *e = strchr(s, '&');
        size_t l = e != NULL ? (size_t)(e - s) : strlen(s);
        if (put_option(out, &n, cap, OPT_URI_QUERY - last, s, l) < 0)
            return -1;
        last = OPT_URI_QUERY;
        s = e != NULL ? e + 1 : NULL;
    }
    return (long)n;
}
