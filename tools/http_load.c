/* http-load: the benchmark's HTTP load generator. Keep-alive HTTP/1.1
 * connections, each with one POST in flight, every call's latency recorded
 * raw: wrk gives calls/s, but its percentiles are corrected for stalls and
 * mislead when comparing with CoAP. One thread, epoll. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define MS          1000000ull
#define S           1000000000ull
#define CALL_LIMIT  (10 * S) /* no answer by then: a timeout */
#define TIMER_TICK  (10 * MS)
#define HEAD_MAX    65536
#define BODY_MAX    (64u << 20)
#define READ_CHUNK  16384
#define EVENTS      64
#define PAYLOAD_MAX 65536

enum { IDLE, WRITING, READING };

struct config {
    long connections, calls;
    double seconds;
    const char *payload;
    const char *progress; /* -P: where bench_progress() writes */
    bool json;
    struct bench_url url;
};

struct conn {
    int fd, state;
    bool want_out;
    size_t woff, len, cap;
    uint64_t start;
    char *buf; /* the response so far, NUL-terminated */
};

/* How a response frames its body (RFC 9112 section 6). */
struct resp {
    int status;
    size_t head;
    long clen;
    bool chunked, close;
};

struct hl {
    const struct config *cfg;
    int ep;
    struct conn *conns;
    char *req;
    size_t req_len;
    long started, inflight;
    bool open;
    uint64_t deadline, next_tick;
    struct bench_stats st;
};

static void usage(void)
{
    fprintf(stderr, "usage: http-load [-c CONNECTIONS] [-n CALLS] [-d SECONDS] [-p PAYLOAD]\n"
                    "                 [-P PROGRESS_FILE] [-j] http://HOST:PORT/PATH\n"
                    "SIGTERM or SIGINT ends the run early; calls in flight finish, the report "
                    "follows.\n");
    exit(2);
}

static void die(const char *what)
{
    fprintf(stderr, "http-load: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Reads the status and the framing headers once the head is complete;
 * returns 1 then, 0 while it is not, -1 for a response that is not HTTP/1. */
static int parse_head(const char *b, size_t n, struct resp *r)
{
    const char *end = memmem(b, n, "\r\n\r\n", 4);
    if (end == NULL)
        return n > HEAD_MAX ? -1 : 0;
    if (n < 12 || memcmp(b, "HTTP/1.", 7) != 0)
        return -1;
    *r = (struct resp){.status = atoi(b + 9), .clen = -1, .close = b[7] == '0'};
    r->head = (size_t)(end - b) + 4;
    for (const char *l = strchr(b, '\n') + 1; l < end; l = strchr(l, '\n') + 1) {
        size_t ll = (size_t)(strchr(l, '\r') - l);
        if (strncasecmp(l, "content-length:", 15) == 0)
            r->clen = strtol(l + 15, NULL, 10);
        else if (strncasecmp(l, "transfer-encoding:", 18) == 0)
            r->chunked = memmem(l, ll, "chunked", 7) != NULL;
        else if (strncasecmp(l, "connection:", 11) == 0)
            r->close = memmem(l, ll, "close", 5) != NULL;
    }
    return 1;
}

/* The chunked body's length on the wire once its last chunk and trailers
 * are in; 0 before that, -1 when malformed. */
static long chunked_len(const char *b, size_t n)
{
    size_t i = 0;
    for (;;) {
        const char *eol = memmem(b + i, n - i, "\r\n", 2);
        if (eol == NULL)
            return 0;
        char *e;
        unsigned long size = strtoul(b + i, &e, 16);
        if (e == b + i || size > BODY_MAX)
            return -1;
        i = (size_t)(eol - b) + 2;
        if (size == 0) {
            const char *t = memmem(b + i - 2, n - i + 2, "\r\n\r\n", 4);
            return t != NULL ? (long)(t - b) + 4 : 0;
        }
        if (i + size + 2 > n)
            return 0;
        i += size + 2;
    }
}

/* Whether the response in c->buf is complete; eof says the peer closed.
 * Returns 1 complete, 0 not yet, -1 broken. */
static int response_done(struct conn *c, bool eof, struct resp *r)
{
    int h = parse_head(c->buf, c->len, r);
    if (h <= 0)
        return h < 0 || eof ? -1 : 0;
    size_t body = c->len - r->head;
    if (r->status / 100 == 1 || r->status == 204 || r->status == 304)
        return 1;
    if (r->chunked) {
        long l = chunked_len(c->buf + r->head, body);
        return l < 0 || (l == 0 && eof) ? -1 : l > 0;
    }
    if (r->clen >= 0)
        return body >= (size_t)r->clen ? 1 : eof ? -1 : 0;
    r->close = true; /* framed by the end of the connection */
    return eof ? 1 : 0;
}

static void watch(struct hl *h, long i, bool out)
{
    struct conn *c = &h->conns[i];
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0u), .data.u64 = (uint64_t)i};
    if (epoll_ctl(h->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->want_out = out;
}

/* (Re)opens connection i. Connecting on loopback is immediate, so it blocks:
 * connection set-up is not part of any call's latency. */
static void conn_open(struct hl *h, long i)
{
    struct conn *c = &h->conns[i];
    if (c->fd >= 0)
        close(c->fd);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket");
    const struct sockaddr_in *a = &h->cfg->url.addr;
    if (connect(c->fd, (const struct sockaddr *)a, sizeof *a) < 0)
        die("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
        die("fcntl");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
    if (epoll_ctl(h->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
    c->state = IDLE;
    c->want_out = false;
    c->len = 0;
}

/* Writes what the socket takes of the request; waits for EPOLLOUT for the rest. */
static void conn_write(struct hl *h, long i)
{
    struct conn *c = &h->conns[i];
    while (c->woff < h->req_len) {
        ssize_t n = send(c->fd, h->req + c->woff, h->req_len - c->woff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->want_out)
                watch(h, i, true);
            return;
        }
        if (n < 0)
            return; /* the read side sees the reset and fails the call */
        c->woff += (size_t)n;
    }
    c->state = READING;
    if (c->want_out)
        watch(h, i, false);
}

static void start_call(struct hl *h, long i)
{
    struct conn *c = &h->conns[i];
    h->started++;
    h->inflight++;
    c->state = WRITING;
    c->woff = 0;
    c->len = 0;
    c->start = bench_now_ns();
    conn_write(h, i);
}

/* Starts the connection's next call while the run is open. */
static void next_call(struct hl *h, long i)
{
    h->open =
        h->open && h->started < h->cfg->calls && bench_now_ns() < h->deadline && !bench_stopped();
    if (h->open)
        start_call(h, i);
}

/* Ends the call on connection i: how is 1 answered, 0 broken, -1 timed out. */
static void end_call(struct hl *h, long i, int how, const struct resp *r)
{
    struct conn *c = &h->conns[i];
    h->inflight--;
    c->state = IDLE;
    if (how > 0 &&
        bench_stats_answer(&h->st, bench_now_ns() - c->start, r->status / 100 == 2) < 0) {
        fprintf(stderr, "http-load: out of memory\n");
        exit(1);
    }
    if (how == 0)
        h->st.errors++;
    if (how < 0)
        h->st.timeouts++;
    if (how <= 0 || r->close)
        conn_open(h, i);
    next_call(h, i);
}

/* Reads into the buffer, growing it; returns bytes read, 0 at EOF, -1 at
 * EAGAIN, -2 on error. */
static ssize_t conn_read(struct conn *c)
{
    if (c->cap - c->len < READ_CHUNK) {
        size_t cap = c->cap * 2 + READ_CHUNK;
        char *p = cap <= BODY_MAX ? realloc(c->buf, cap + 1) : NULL;
        if (p == NULL)
            return -2;
        c->buf = p;
        c->cap = cap;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? -1 : -2;
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return n;
}

static void on_readable(struct hl *h, long i)
{
    struct conn *c = &h->conns[i];
    for (;;) {
        ssize_t n = conn_read(c);
        if (n == -1)
            return;
        if (c->state != READING && c->state != WRITING) {
            /* The server closed an idle keep-alive connection: reopen it. */
            if (n <= 0)
                conn_open(h, i);
            return;
        }
        struct resp r;
        int done = n == -2 ? -1 : response_done(c, n == 0, &r);
        if (done != 0) {
            end_call(h, i, done > 0 ? 1 : 0, &r);
            return;
        }
    }
}

static void on_event(struct hl *h, const struct epoll_event *ev)
{
    long i = (long)ev->data.u64;
    struct conn *c = &h->conns[i];
    if ((ev->events & EPOLLOUT) && c->state == WRITING)
        conn_write(h, i);
    if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        on_readable(h, i);
}

/* Fails the calls that have waited past CALL_LIMIT. */
static void tick(struct hl *h)
{
    uint64_t now = bench_now_ns();
    if (now < h->next_tick)
        return;
    h->next_tick = now + TIMER_TICK;
    for (long i = 0; i < h->cfg->connections; i++)
        if (h->conns[i].state != IDLE && now - h->conns[i].start > CALL_LIMIT)
            end_call(h, i, -1, NULL);
}

static double run(struct hl *h)
{
    uint64_t t0 = bench_now_ns();
    h->deadline = t0 + (uint64_t)(h->cfg->seconds * 1e9);
    h->open = true;
    for (long i = 0; i < h->cfg->connections; i++)
        next_call(h, i);
    struct epoll_event evs[EVENTS];
    while (h->inflight > 0) {
        int n = epoll_wait(h->ep, evs, EVENTS, 10);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int k = 0; k < n; k++)
            on_event(h, &evs[k]);
        tick(h);
        bench_progress(h->cfg->progress, &h->st);
    }
    return (double)(bench_now_ns() - t0) / 1e9;
}

static int build_request(struct hl *h)
{
    const struct config *c = h->cfg;
    char host[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &c->url.addr.sin_addr, host, sizeof host);
    size_t plen = strlen(c->payload);
    size_t cap = plen + BENCH_PATH_MAX + 256;
    h->req = malloc(cap);
    if (h->req == NULL)
        return -1;
    int n =
        snprintf(h->req, cap, "POST /%s HTTP/1.1\r\nHost: %s:%u\r\nContent-Length: %zu\r\n\r\n%s",
                 c->url.path, host, ntohs(c->url.addr.sin_port), plen, c->payload);
    h->req_len = (size_t)n;
    return 0;
}

static void parse_args(struct config *c, int argc, char **argv)
{
    *c = (struct config){.connections = 1, .calls = 100000, .seconds = 30};
    c->payload = "0123456789abcdef";
    int o, bad = 0;
    while ((o = getopt(argc, argv, "c:n:d:p:P:j")) != -1) {
        switch (o) {
        case 'c': bad |= bench_parse_long(optarg, 1, 10000, &c->connections); break;
        case 'n': bad |= bench_parse_long(optarg, 1, 1000000000, &c->calls); break;
        case 'd': bad |= bench_parse_seconds(optarg, &c->seconds); break;
        case 'p': c->payload = optarg; break;
        case 'P': c->progress = optarg; break;
        case 'j': c->json = true; break;
        default: bad = 1;
        }
    }
    if (bad || optind != argc - 1 || strlen(c->payload) > PAYLOAD_MAX)
        usage();
    char err[128];
    if (bench_url_parse(argv[optind], "http", 80, &c->url, err, sizeof err) < 0) {
        fprintf(stderr, "http-load: %s\n", err);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    struct config cfg;
    parse_args(&cfg, argc, argv);
    struct hl h = {.cfg = &cfg};
    h.ep = epoll_create1(EPOLL_CLOEXEC);
    h.conns = calloc((size_t)cfg.connections, sizeof *h.conns);
    if (h.ep < 0 || h.conns == NULL || build_request(&h) < 0)
        die("setup");
    for (long i = 0; i < cfg.connections; i++) {
        h.conns[i].fd = -1;
        conn_open(&h, i);
    }
    bench_stop_on_signals();
    double secs = run(&h);
    bench_stats_report(&h.st, secs, cfg.json, stdout);
    for (long i = 0; i < cfg.connections; i++) {
        close(h.conns[i].fd);
        free(h.conns[i].buf);
    }
    bench_stats_free(&h.st);
    free(h.conns);
    free(h.req);
    close(h.ep);
    return 0;
}
