#include "hconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hauth.h"
#include "metrics.h"

#define HCONN_MAX_MESSAGE (64u << 20) /* a reply larger than this is a protocol error */
/* Room asked for before each recv. Small, since the daemon holds one reader
 * per handler and every page a recv writes stays resident (docs/internals.md).
 * A larger reply still arrives in a few recvs: the reader doubles its buffer
 * while a message is incomplete. */
#define HCONN_READ_CHUNK (4u << 10)
/* An emptied write buffer this large or smaller is kept for the next calls,
 * so small calls cost no allocation; a larger one (a burst, a large body)
 * goes back, so a burst's memory does not stay with the connection. */
#define HCONN_KEEP_BYTES (64u << 10)
#define HCONN_KEEP_SEGS  64

enum hconn_state { HCONN_CONNECTING, HCONN_WAIT_READY, HCONN_READY, HCONN_CLOSED };

/* One call's bytes in out, until they are all written. */
struct hconn_seg {
    size_t off, len;
    bool started; /* some were written before a compaction moved the rest */
    bool dropped; /* taken back: its bytes go at the next compaction */
};

struct hconn {
    struct loop_watch watch;
    struct loop *loop;
    struct hconn_set *set;
    enum hconn_state state;
    const struct hconn_events *ev;
    void *owner;
    struct hproto_reader reader;
    msgpack_sbuffer out;
    size_t out_sent; /* bytes of out already written */
    size_t dropped;  /* bytes of taken-back calls still in out */
    /* The calls not yet wholly written, in order: segs[seg_head..seg_tail);
     * call seq is segs[seq - seg_base]. */
    struct hconn_seg *segs;
    size_t seg_head, seg_tail, seg_cap;
    uint64_t seg_base;
    bool want_write; /* EPOLLOUT armed */
    struct hconn *next_dirty, *next_dead;
    bool dirty;
    bool challenged;                   /* the handler's CHALLENGE was answered */
    char secret[HCONN_SECRET_MAX + 1]; /* "": the handler must not ask for a proof */
};

static void on_io(void *ctx, uint32_t events);

/* Closes h for err (an errno), why being fmt with detail, and tells its owner. */
static void fail(struct hconn *h, int err, const char *fmt, const char *detail)
{
    char why[160];
    snprintf(why, sizeof why, fmt, detail);
    const struct hconn_events *ev = h->ev;
    void *owner = h->owner;
    hconn_close(h);
    ev->on_closed(owner, h, err, why);
}

/* Bounds how long a silent TCP peer keeps the connection alive
 * (hconn_set.link_timeout_ms). TCP_USER_TIMEOUT bounds the wait for the
 * acknowledgement of bytes written, and a connect's SYN retries. Keepalive
 * probes cover an idle link: they start after a third of the bound and
 * repeat every third; with a user timeout set, Linux takes the peer as dead
 * once it has been silent that long and a probe went unanswered (the probe
 * count then only matters without one). */
static void bound_silence(int fd, int ms)
{
    if (ms <= 0)
        return;
    int one = 1, every_s = ms / 3000 > 1 ? ms / 3000 : 1, probes = 2;
    unsigned timeout = (unsigned)ms;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &every_s, sizeof every_s);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &every_s, sizeof every_s);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof timeout);
}

/* The handler's address: a unix socket, or host:port over TCP; its family. */
static int handler_address(const char *host, uint16_t port, const char *unix_path,
                           struct sockaddr_storage *sa, socklen_t *len)
{
    memset(sa, 0, sizeof *sa);
    if (unix_path != NULL && unix_path[0] != '\0') {
        struct sockaddr_un *un = (struct sockaddr_un *)sa;
        if (strlen(unix_path) >= sizeof un->sun_path)
            return -ENAMETOOLONG;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, unix_path, strlen(unix_path) + 1);
        *len = sizeof *un;
        return AF_UNIX;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
        return -EINVAL;
    *len = sizeof *in;
    return AF_INET;
}

int hconn_open(struct hconn_set *set, struct loop *l, const char *host, uint16_t port,
               const char *unix_path, const char *secret, const struct hconn_events *ev,
               void *owner, struct hconn **out)
{
    struct sockaddr_storage sa;
    socklen_t sa_len;
    int family = handler_address(host, port, unix_path, &sa, &sa_len);
    if (family < 0)
        return family;
    if (secret == NULL)
        secret = "";
    if (strlen(secret) > HCONN_SECRET_MAX)
        return -EINVAL;
    struct hconn *h = calloc(1, sizeof *h);
    if (h == NULL)
        return -ENOMEM;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || hproto_reader_init(&h->reader, HCONN_MAX_MESSAGE) < 0) {
        int e = fd < 0 ? -errno : -ENOMEM;
        if (fd >= 0)
            close(fd);
        free(h);
        return e;
    }
    int one = 1;
    /* Calls are small and latency-bound; batching is done by the flush, not Nagle. */
    if (family == AF_INET) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        bound_silence(fd, set->link_timeout_ms); /* before connect: it bounds the SYN's retries */
    }
    msgpack_sbuffer_init(&h->out);
    memcpy(h->secret, secret, strlen(secret) + 1);
    h->watch = (struct loop_watch){.fd = fd, .fn = on_io, .ctx = h};
    h->loop = l;
    h->set = set;
    h->ev = ev;
    h->owner = owner;
    h->state = HCONN_CONNECTING;
    int rc = connect(fd, (struct sockaddr *)&sa, sa_len);
    if (rc < 0 && errno != EINPROGRESS) {
        rc = -errno;
        goto fail;
    }
    h->want_write = true;
    rc = loop_add(l, &h->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    if (rc < 0)
        goto fail;
    *out = h;
    return 0;
fail:
    close(fd);
    hproto_reader_free(&h->reader);
    msgpack_sbuffer_destroy(&h->out);
    free(h);
    return rc;
}

static void mark_dirty(struct hconn *h)
{
    if (h->dirty)
        return;
    h->dirty = true;
    h->next_dirty = h->set->dirty;
    h->set->dirty = h;
}

size_t hconn_unsent(const struct hconn *h)
{
    return h->out.size - h->out_sent - h->dropped;
}

bool hconn_has_room(const struct hconn *h, size_t size)
{
    size_t unsent = hconn_unsent(h), cap = h->set->max_unsent;
    return cap == 0 || unsent == 0 || (size <= cap && unsent <= cap - size);
}

/* Makes room for one more segment record. Return 0 or -ENOMEM. */
static int seg_reserve(struct hconn *h)
{
    if (h->seg_tail < h->seg_cap)
        return 0;
    if (h->seg_head > 0 && h->seg_head >= h->seg_cap / 2) {
        /* Written calls' records freed the front half: slide down rather than grow. */
        memmove(h->segs, h->segs + h->seg_head, (h->seg_tail - h->seg_head) * sizeof *h->segs);
        h->seg_base += h->seg_head;
        h->seg_tail -= h->seg_head;
        h->seg_head = 0;
        return 0;
    }
    size_t cap = h->seg_cap ? h->seg_cap * 2 : 16;
    struct hconn_seg *segs = realloc(h->segs, cap * sizeof *segs);
    if (segs == NULL)
        return -ENOMEM;
    h->segs = segs;
    h->seg_cap = cap;
    return 0;
}

/* Records the call just packed at out[off..) (room reserved) and queues it. */
static void seg_push(struct hconn *h, size_t off, uint64_t *seq)
{
    h->segs[h->seg_tail] = (struct hconn_seg){.off = off, .len = h->out.size - off};
    if (seq != NULL)
        *seq = h->seg_base + h->seg_tail;
    h->seg_tail++;
    mark_dirty(h);
}

int hconn_send_call(struct hconn *h, const struct hproto_call *call, uint64_t *seq)
{
    if (h->state != HCONN_READY)
        return -ENOTCONN;
    if (!hconn_has_room(h, hproto_call_size(call)))
        return -ENOBUFS;
    if (seg_reserve(h) < 0)
        return -ENOMEM;
    size_t off = h->out.size;
    int rc = hproto_pack_call(&h->out, call);
    if (rc < 0)
        return rc;
    seg_push(h, off, seq);
    return 0;
}

int hconn_send_packed(struct hconn *h, const void *data, size_t len, uint64_t *seq)
{
    if (h->state != HCONN_READY)
        return -ENOTCONN;
    if (!hconn_has_room(h, len))
        return -ENOBUFS;
    if (seg_reserve(h) < 0)
        return -ENOMEM;
    size_t off = h->out.size;
    if (msgpack_sbuffer_write(&h->out, data, len) != 0)
        return -ENOMEM;
    seg_push(h, off, seq);
    return 0;
}

bool hconn_unsent_call(const struct hconn *h, uint64_t seq, const void **data, size_t *len)
{
    if (seq < h->seg_base + h->seg_head || seq >= h->seg_base + h->seg_tail)
        return false; /* written whole, or never queued */
    const struct hconn_seg *s = &h->segs[seq - h->seg_base];
    if (s->dropped || s->started || s->off < h->out_sent)
        return false;
    *data = h->out.data + s->off;
    *len = s->len;
    return true;
}

bool hconn_drop(struct hconn *h, uint64_t seq)
{
    if (h->state == HCONN_CLOSED || seq < h->seg_base + h->seg_head ||
        seq >= h->seg_base + h->seg_tail)
        return false;
    struct hconn_seg *s = &h->segs[seq - h->seg_base];
    if (s->dropped)
        return true;
    if (s->started || s->off < h->out_sent)
        return false;
    s->dropped = true;
    h->dropped += s->len;
    mark_dirty(h); /* the flush gives its memory back */
    return true;
}

/* Forgets the records of calls written whole. */
static void seg_pop_written(struct hconn *h)
{
    while (h->seg_head < h->seg_tail &&
           h->segs[h->seg_head].off + h->segs[h->seg_head].len <= h->out_sent)
        h->seg_head++;
}

/* Moves the bytes still to write to the front of out, without those already
 * written or taken back, and gives back the memory the buffer no longer
 * needs. A call partly written keeps its record, marked started. */
static void compact(struct hconn *h)
{
    seg_pop_written(h);
    size_t to = 0;
    for (size_t i = h->seg_head; i < h->seg_tail; i++) {
        struct hconn_seg *s = &h->segs[i];
        size_t from = s->off, len = s->dropped ? 0 : s->len;
        if (len > 0 && from < h->out_sent) {
            len -= h->out_sent - from;
            from = h->out_sent;
            s->started = true;
        }
        if (len > 0 && from != to)
            memmove(h->out.data + to, h->out.data + from, len);
        s->off = to;
        s->len = len;
        to += len;
    }
    h->out.size = to;
    h->out_sent = 0;
    h->dropped = 0;
    size_t keep = to > HCONN_KEEP_BYTES ? to : HCONN_KEEP_BYTES;
    if (to == 0 && h->out.alloc > HCONN_KEEP_BYTES) {
        msgpack_sbuffer_destroy(&h->out);
        msgpack_sbuffer_init(&h->out);
    } else if (h->out.alloc / 2 > keep) {
        char *data = realloc(h->out.data, keep);
        if (data != NULL) {
            h->out.data = data;
            h->out.alloc = keep;
        }
    }
}

/* Everything queued was written: the buffer starts over, and a large one goes back. */
static void out_reset(struct hconn *h)
{
    h->seg_base += h->seg_tail;
    h->seg_head = h->seg_tail = 0;
    if (h->seg_cap > HCONN_KEEP_SEGS) {
        free(h->segs);
        h->segs = NULL;
        h->seg_cap = 0;
    }
    h->out_sent = 0;
    h->dropped = 0;
    if (h->out.alloc > HCONN_KEEP_BYTES) {
        msgpack_sbuffer_destroy(&h->out);
        msgpack_sbuffer_init(&h->out);
    } else {
        msgpack_sbuffer_clear(&h->out);
    }
}

/* Writes what is queued; arms EPOLLOUT when the socket is full. */
static void flush_one(struct hconn *h)
{
    if (h->dropped > 0)
        compact(h); /* taken-back calls must not be written */
    while (h->out_sent < h->out.size) {
        ssize_t n =
            send(h->watch.fd, h->out.data + h->out_sent, h->out.size - h->out_sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!h->want_write &&
                    loop_modify(h->loop, &h->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP) == 0)
                    h->want_write = true;
                seg_pop_written(h);
                /* What was written goes once it is half the buffer: each
                 * byte is moved about once at most. */
                if (h->out_sent >= HCONN_KEEP_BYTES && h->out_sent >= h->out.size / 2)
                    compact(h);
                return;
            }
            fail(h, errno, "write to handler failed: %s", strerror(errno));
            return;
        }
        h->out_sent += (size_t)n;
    }
    out_reset(h);
    if (h->want_write && loop_modify(h->loop, &h->watch, EPOLLIN | EPOLLRDHUP) == 0)
        h->want_write = false;
}

void hconn_set_flush(struct hconn_set *set)
{
    while (set->dirty != NULL) {
        struct hconn *h = set->dirty;
        set->dirty = h->next_dirty;
        h->dirty = false;
        if (h->state != HCONN_CLOSED)
            flush_one(h);
    }
}

/* Closes h for a handler that speaks a version the daemon does not. */
static void wrong_version(struct hconn *h, uint32_t version)
{
    char v[16];
    snprintf(v, sizeof v, "%u", version);
    fail(h, EPROTO, "handler speaks protocol version %s, the daemon speaks 1 and 2", v);
}

/* Answers the handler's CHALLENGE with the PROOF of the connection's
 * secret, queued like a call for the iteration's flush. */
static void answer_challenge(struct hconn *h, const struct hproto_challenge *ch)
{
    if (h->secret[0] == '\0') {
        fail(h, EACCES, "handler asks for authentication, and the daemon has no secret for it%s",
             "");
        return;
    }
    if (ch->version != HPROTO_VERSION) {
        wrong_version(h, ch->version);
        return;
    }
    uint8_t mac[HPROTO_MAC_BYTES];
    hauth_proof(h->secret, strlen(h->secret), (const uint8_t *)ch->nonce.ptr, mac);
    struct hproto_proof proof = {{(const char *)mac, sizeof mac}};
    size_t off = h->out.size;
    if (seg_reserve(h) < 0 || hproto_pack_proof(&h->out, &proof) < 0) {
        fail(h, ENOMEM, "out of memory for the proof the handler asks for%s", "");
        return;
    }
    seg_push(h, off, NULL);
    h->challenged = true;
}

static void handle_message(struct hconn *h, const struct hproto_msg *m)
{
    if (m->type == HPROTO_CHALLENGE && h->state == HCONN_WAIT_READY && !h->challenged) {
        answer_challenge(h, &m->u.challenge);
    } else if (m->type == HPROTO_READY && h->state == HCONN_WAIT_READY) {
        /* Version 1 handlers (older images) still serve; they know no CHALLENGE. */
        if (m->u.ready.version < 1 || m->u.ready.version > HPROTO_VERSION) {
            wrong_version(h, m->u.ready.version);
            return;
        }
        if (h->secret[0] != '\0' && !h->challenged) {
            fail(h, EACCES, "handler did not authenticate: READY without a CHALLENGE%s", "");
            return;
        }
        h->state = HCONN_READY;
        h->ev->on_ready(h->owner, h);
    } else if (m->type == HPROTO_REPLY && h->state == HCONN_READY) {
        h->ev->on_reply(h->owner, h, &m->u.reply);
    } else {
        fail(h, EPROTO, "handler sent an unexpected message%s", "");
    }
}

static void read_ready(struct hconn *h)
{
    for (;;) {
        void *buf;
        size_t space;
        int rc = hproto_reader_buffer(&h->reader, HCONN_READ_CHUNK, &buf, &space);
        if (rc < 0) {
            if (rc == -EMSGSIZE)
                metrics_limit_hit(METRICS_LIMIT_HANDLER_MESSAGE_BYTES);
            fail(h, -rc, "handler message too large or out of memory%s", "");
            return;
        }
        ssize_t n = recv(h->watch.fd, buf, space, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                fail(h, errno, "read from handler failed: %s", strerror(errno));
            return;
        }
        if (n == 0) {
            fail(h, ECONNRESET, "handler closed the connection%s", "");
            return;
        }
        hproto_reader_commit(&h->reader, (size_t)n);
        struct hproto_msg msg;
        while ((rc = hproto_reader_next(&h->reader, &msg)) == 1) {
            handle_message(h, &msg);
            if (h->state == HCONN_CLOSED)
                return;
        }
        if (rc == -EMSGSIZE)
            metrics_limit_hit(METRICS_LIMIT_HANDLER_MESSAGE_BYTES);
        if (rc < 0) {
            fail(h, -rc, "handler sent bytes that are not the handler protocol%s", "");
            return;
        }
        if ((size_t)n < space)
            return; /* drained the socket: no need for another recv() returning EAGAIN */
    }
}

static void finish_connect(struct hconn *h)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(h->watch.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        fail(h, err, "cannot connect to handler: %s", strerror(err));
        return;
    }
    h->state = HCONN_WAIT_READY;
    if (loop_modify(h->loop, &h->watch, EPOLLIN | EPOLLRDHUP) == 0)
        h->want_write = false;
}

static void on_io(void *ctx, uint32_t events)
{
    struct hconn *h = ctx;
    if (h->state == HCONN_CLOSED)
        return; /* closed earlier in this event batch */
    if (h->state == HCONN_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            finish_connect(h);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP))
        read_ready(h);
    if (h->state != HCONN_CLOSED && (events & EPOLLOUT))
        flush_one(h);
}

void hconn_close(struct hconn *h)
{
    if (h == NULL || h->state == HCONN_CLOSED)
        return;
    h->state = HCONN_CLOSED;
    loop_remove(h->loop, &h->watch);
    close(h->watch.fd);
    h->next_dead = h->set->dead;
    h->set->dead = h;
}

void hconn_set_reap(struct hconn_set *set)
{
    /* A connection closed after it queued bytes is still on the dirty list. */
    for (struct hconn **p = &set->dirty; *p != NULL;) {
        if ((*p)->state == HCONN_CLOSED) {
            (*p)->dirty = false;
            *p = (*p)->next_dirty;
        } else {
            p = &(*p)->next_dirty;
        }
    }
    while (set->dead != NULL) {
        struct hconn *h = set->dead;
        set->dead = h->next_dead;
        hproto_reader_free(&h->reader);
        msgpack_sbuffer_destroy(&h->out);
        free(h->segs);
        explicit_bzero(h->secret, sizeof h->secret);
        free(h);
    }
}
