#include "coap_blocks.h"

#include "dlist.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 63 /* a deployed function's name is shorter */
#define RTAG_MAX     8  /* RFC 9175: Request-Tag is 0 to 8 bytes */

struct tf_coap_upload {
    struct dlist_link age; /* in the order of their last blocks */
    struct tf_coap_peer_key key;
    char name[NAME_MAX_LEN + 1];
    uint8_t rtag[RTAG_MAX];
    uint8_t rtag_len;
    int64_t last_ms;
    size_t last_offset; /* of the last block taken: its retransmission is not appended */
    size_t len, cap;
    unsigned char *body;
};

struct tf_coap_uploads {
    struct dlist by_age;
    size_t bytes, max_body;
};

int tf_coap_uploads_create(size_t max_body, struct tf_coap_uploads **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return -1;
    (*out)->max_body = max_body;
    return 0;
}

static struct tf_coap_upload *oldest(const struct tf_coap_uploads *ups)
{
    return dlist_entry(ups->by_age.head, struct tf_coap_upload, age);
}

static void forget(struct tf_coap_uploads *ups, struct tf_coap_upload *u)
{
    dlist_unlink(&ups->by_age, &u->age);
    ups->bytes -= u->cap;
    free(u->body);
    free(u);
}

void tf_coap_uploads_free(struct tf_coap_uploads *ups)
{
    if (ups == NULL)
        return;
    while (ups->by_age.head != NULL)
        forget(ups, oldest(ups));
    free(ups);
}

/* The upload of endpoint k to name under this Request-Tag, and how many
 * uploads k has in progress (its oldest in *oldest_of_k). */
static struct tf_coap_upload *find(struct tf_coap_uploads *ups, const struct tf_coap_peer_key *k,
                                   const char *name, const uint8_t *rtag, size_t rtag_len,
                                   size_t *of_k, struct tf_coap_upload **oldest_of_k)
{
    struct tf_coap_upload *found = NULL;
    *of_k = 0;
    *oldest_of_k = NULL;
    for (struct dlist_link *l = ups->by_age.head; l != NULL; l = l->next) {
        struct tf_coap_upload *u = dlist_entry(l, struct tf_coap_upload, age);
        if (memcmp(&u->key, k, sizeof *k) != 0)
            continue;
        if (++*of_k == 1)
            *oldest_of_k = u;
        if (strcmp(u->name, name) == 0 && u->rtag_len == rtag_len &&
            (rtag_len == 0 || memcmp(u->rtag, rtag, rtag_len) == 0))
            found = u;
    }
    return found;
}

static void fail(struct tf_coap_upload_step *out, int code, const char *reason)
{
    out->code = code;
    out->reason = reason;
}

static struct tf_coap_upload *start(struct tf_coap_uploads *ups, const struct tf_coap_peer_key *k,
                                    const char *name, const uint8_t *rtag, size_t rtag_len,
                                    size_t of_k, struct tf_coap_upload *oldest_of_k, int64_t now_ms)
{
    if (of_k >= TF_COAP_UPLOADS_PER_PEER) {
        metrics_limit_hit(METRICS_LIMIT_COAP_UPLOADS_PER_ENDPOINT);
        forget(ups, oldest_of_k);
    }
    if (ups->by_age.n >= TF_COAP_UPLOADS_MAX) /* abandoned ones first make room */
        tf_coap_uploads_expire(ups, now_ms);
    if (ups->by_age.n >= TF_COAP_UPLOADS_MAX) {
        metrics_limit_hit(METRICS_LIMIT_COAP_UPLOADS);
        return NULL;
    }
    struct tf_coap_upload *u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    u->key = *k;
    snprintf(u->name, sizeof u->name, "%s", name);
    if (rtag_len > 0)
        memcpy(u->rtag, rtag, rtag_len);
    u->rtag_len = (uint8_t)rtag_len;
    dlist_push_tail(&ups->by_age, &u->age);
    return u;
}

/* Makes room in u for len more bytes, within the bytes all uploads may hold. */
static bool grow(struct tf_coap_uploads *ups, struct tf_coap_upload *u, size_t len)
{
    if (u->len + len <= u->cap)
        return true;
    size_t cap = u->cap ? u->cap * 2 : 4096;
    while (cap < u->len + len)
        cap *= 2;
    if (cap > ups->max_body)
        cap = ups->max_body;
    if (ups->bytes - u->cap + cap > TF_COAP_UPLOAD_BYTES_MAX) {
        metrics_limit_hit(METRICS_LIMIT_COAP_UPLOAD_BYTES);
        return false;
    }
    unsigned char *body = realloc(u->body, cap);
    if (body == NULL)
        return false;
    ups->bytes = ups->bytes - u->cap + cap;
    u->body = body;
    u->cap = cap;
    return true;
}

void tf_coap_upload_take(struct tf_coap_uploads *ups, const struct tf_coap_peer_key *k,
                         const char *name, const coap_pdu_t *req, int64_t now_ms,
                         struct tf_coap_upload_step *out)
{
    *out = (struct tf_coap_upload_step){0};
    coap_opt_iterator_t it;
    coap_opt_t *b1 = coap_check_option(req, COAP_OPTION_BLOCK1, &it);
    unsigned szx = COAP_OPT_BLOCK_SZX(b1);
    bool more = COAP_OPT_BLOCK_MORE(b1);
    if (szx == 7) {
        fail(out, 402, "BERT blocks are for CoAP over TCP");
        return;
    }
    size_t len = 0, block = (size_t)1 << (szx + 4);
    const uint8_t *data = NULL;
    coap_get_data(req, &len, &data);
    uint64_t offset = (uint64_t)coap_opt_block_num(b1) * block;
    coap_opt_t *size1 = coap_check_option(req, COAP_OPTION_SIZE1, &it);
    coap_opt_t *rt = coap_check_option(req, COAP_OPTION_RTAG, &it);
    size_t rtag_len = rt != NULL && coap_opt_length(rt) <= RTAG_MAX ? coap_opt_length(rt) : 0;
    size_t of_k;
    struct tf_coap_upload *oldest_of_k,
        *u = find(ups, k, name, rt ? coap_opt_value(rt) : NULL, rtag_len, &of_k, &oldest_of_k);
    /* RFC 7959 4: Size1 is the client's estimate; past the limit, say so at once. */
    if ((size1 != NULL &&
         coap_decode_var_bytes8(coap_opt_value(size1), coap_opt_length(size1)) > ups->max_body) ||
        offset + len > ups->max_body) {
        if (u != NULL)
            forget(ups, u);
        {
            fail(out, 413, NULL);
            return;
        }
    }
    if (more && len != block) {
        fail(out, 400, "a block before the last must be a whole block");
        return;
    }
    if (offset == 0) {
        if (u == NULL && (u = start(ups, k, name, rt ? coap_opt_value(rt) : NULL, rtag_len, of_k,
                                    oldest_of_k, now_ms)) == NULL) {
            fail(out, 503, "too many uploads in progress");
            return;
        }
        u->len = 0;
    } else if (u == NULL) {
        {
            fail(out, 408, "no upload in progress: start again from the first block");
            return;
        }
    } else if (offset != u->len && !(offset == u->last_offset && offset + len == u->len)) {
        forget(ups, u);
        {
            fail(out, 408, "block out of order: start again from the first block");
            return;
        }
    }
    if (offset == u->len) {
        if (!grow(ups, u, len)) {
            forget(ups, u);
            {
                fail(out, 503, "too many uploads in progress");
                return;
            }
        }
        if (len > 0)
            memcpy(u->body + u->len, data, len);
        u->len += len;
        u->last_offset = (size_t)offset;
    }
    u->last_ms = now_ms;
    dlist_unlink(&ups->by_age, &u->age);
    dlist_push_tail(&ups->by_age, &u->age);
    if (more) {
        fail(out, 231, NULL);
        return;
    }
    out->body = u->body;
    out->len = u->len;
    out->upload = u;
}

void tf_coap_upload_finish(struct tf_coap_uploads *ups, struct tf_coap_upload *u)
{
    forget(ups, u);
}

int64_t tf_coap_uploads_expire(struct tf_coap_uploads *ups, int64_t now_ms)
{
    struct tf_coap_upload *u;
    while ((u = oldest(ups)) != NULL && now_ms - u->last_ms >= TF_COAP_UPLOAD_IDLE_MS)
        forget(ups, u);
    return u != NULL ? u->last_ms + TF_COAP_UPLOAD_IDLE_MS - now_ms : -1;
}

size_t tf_coap_uploads_count(const struct tf_coap_uploads *ups)
{
    return ups->by_age.n;
}

struct tf_coap_block2 tf_coap_block2_asked(const coap_pdu_t *req)
{
    coap_opt_iterator_t it;
    coap_opt_t *b2 = req != NULL ? coap_check_option(req, COAP_OPTION_BLOCK2, &it) : NULL;
    if (b2 == NULL)
        return (struct tf_coap_block2){0, 6};
    unsigned szx = COAP_OPT_BLOCK_SZX(b2);
    return (struct tf_coap_block2){coap_opt_block_num(b2), szx > 6 ? 6 : szx};
}

bool tf_coap_block2_add(coap_pdu_t *pdu, const uint8_t *body, size_t len, struct tf_coap_block2 b,
                        const uint32_t *etag)
{
    size_t block = (size_t)1 << (b.szx + 4);
    uint64_t offset = (uint64_t)b.num * block;
    if (offset >= len && !(offset == 0 && len == 0))
        return false;
    size_t piece = len - offset < block ? len - (size_t)offset : block;
    bool more = offset + piece < len;
    uint8_t buf[8];
    if (etag != NULL) {
        uint8_t tag[4] = {*etag >> 24, *etag >> 16, *etag >> 8, *etag};
        coap_add_option(pdu, COAP_OPTION_ETAG, sizeof tag, tag);
    }
    coap_add_option(pdu, COAP_OPTION_BLOCK2,
                    coap_encode_var_safe(buf, sizeof buf, b.num << 4 | (more ? 8u : 0u) | b.szx),
                    buf);
    if (etag != NULL)
        coap_add_option(pdu, COAP_OPTION_SIZE2,
                        coap_encode_var_safe(buf, sizeof buf, (unsigned)len), buf);
    return coap_add_data(pdu, piece, body + offset) != 0;
}
