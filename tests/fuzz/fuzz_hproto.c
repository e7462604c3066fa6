/* libFuzzer: the bytes a handler sends, as the daemon's handler connection
 * reads them (core/hconn.c): a stream cut into reads of any size, decoded
 * message by message with a small max_message until the first error, every
 * field of each message read so that AddressSanitizer sees a pointer that
 * outlives its buffer.
 *
 * Input: a config byte (bits 0-2: how many chunk sizes follow, less one;
 * bits 3-4: max_message, 64 << 2n bytes), the chunk sizes (a byte each, the
 * size less one; the list repeats), then the stream. Even chunks arrive the
 * way hconn reads (hproto_reader_buffer, then commit), odd ones through
 * hproto_reader_feed. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

/* Reads every byte of b; a run longer than the message it came in breaks
 * the reader's promise. */
static void touch(struct hproto_bytes b, size_t max_message)
{
    if (b.len > max_message || (b.len > 0 && b.ptr == NULL))
        abort();
    uint8_t sum = 0;
    for (size_t i = 0; i < b.len; i++)
        sum += (uint8_t)b.ptr[i];
    sink = sum;
}

static void touch_message(const struct hproto_msg *m, size_t max_message)
{
    switch (m->type) {
    case HPROTO_READY:
        sink = (uint8_t)m->u.ready.version;
        touch(m->u.ready.runtime, max_message);
        break;
    case HPROTO_CALL: /* no handler sends one, but the reader decodes it */
        sink = (uint8_t)m->u.call.id;
        if (m->u.call.n_headers > HPROTO_MAX_HEADERS)
            abort();
        touch(m->u.call.method, max_message);
        for (size_t i = 0; i < m->u.call.n_headers; i++) {
            touch(m->u.call.headers[i].key, max_message);
            touch(m->u.call.headers[i].value, max_message);
        }
        touch(m->u.call.body, max_message);
        break;
    case HPROTO_REPLY:
        sink = (uint8_t)(m->u.reply.id + m->u.reply.status);
        touch(m->u.reply.content_type, max_message);
        touch(m->u.reply.body, max_message);
        if (m->u.reply.content_type.len + m->u.reply.body.len > max_message)
            abort();
        break;
    default: abort();
    }
}

/* Hands one read to r the way hconn does: into the reader's own buffer. */
static int read_into(struct hproto_reader *r, const uint8_t *p, size_t n)
{
    void *buf;
    size_t space;
    int rc = hproto_reader_buffer(r, n, &buf, &space);
    if (rc < 0)
        return rc;
    if (space < n)
        abort();
    memcpy(buf, p, n);
    hproto_reader_commit(r, n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t n_sizes = (data[0] & 7u) + 1, max_message = (size_t)64 << (2 * ((data[0] >> 3) & 3u));
    if (size < 1 + n_sizes)
        return 0;
    const uint8_t *sizes = data + 1, *p = data + 1 + n_sizes;
    size_t left = size - 1 - n_sizes;
    struct hproto_reader r;
    if (hproto_reader_init(&r, max_message) < 0)
        return 0;
    struct hproto_msg msg;
    int rc = 0;
    for (size_t i = 0; left > 0 && rc >= 0; i++) {
        size_t n = (size_t)sizes[i % n_sizes] + 1;
        if (n > left)
            n = left;
        rc = i % 2 == 0 ? read_into(&r, p, n) : hproto_reader_feed(&r, p, n);
        p += n;
        left -= n;
        while (rc >= 0 && (rc = hproto_reader_next(&r, &msg)) == 1)
            touch_message(&msg, max_message);
    }
    /* After an error the stream is dead: the reader says so again. */
    if (rc < 0 && rc != -ENOMEM && hproto_reader_next(&r, &msg) != rc)
        abort();
    hproto_reader_free(&r);
    return 0;
}
