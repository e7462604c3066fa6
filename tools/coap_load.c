/* coap-load: the benchmark's CoAP load generator. Confirmable (or NON) POSTs,
 * a fixed number in flight, each matched by its own token, retransmitted as
 * RFC 7252 section 4.2 says, and every call's latency recorded raw. One
 * thread and one UDP socket; datagrams go out and come in by the batch
 * (sendmmsg/recvmmsg) so that the generator is never what is measured.
 *
 * With -e N, call k comes from the k-th of N client endpoints in turn, as if
 * from N devices: each endpoint is a source address of its own in
 * 127.0.0.0/8 (chosen per datagram with IP_PKTINFO), so the one socket and
 * its batching stay. The target must then be on loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "coap_wire.h"

#define BATCH    64
#define DGRAM_IN 2048
#define PKT_MAX  (4 + COAPW_TOKEN_MAX + 512 + 1 + COAPW_PAYLOAD_MAX)
#define MS       1000000ull
#define S        1000000000ull
/* RFC 7252 4.8: ACK_TIMEOUT 2 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4. */
#define ACK_TIMEOUT    (2 * S)
#define MAX_RETRANSMIT 4
#define NON_TIMEOUT    (5 * S)
/* After an empty ACK the server owes a separate response; no RFC bound, so
 * ours is generous enough for any function's timeout. */
#define SEPARATE_TIMEOUT (60 * S)
/* Once the run is over, how long calls still in flight may take to finish;
 * those that do not are counted as timeouts. */
#define DRAIN_GRACE (10 * S)
#define TIMER_TICK  MS

enum { PENDING = 0, ANSWERED = 1, GAVE_UP = 2 };

struct target {
    uint8_t opts[512];
    size_t len;
};

struct config {
    long concurrency, calls, warmup;
    double seconds;
    const char *payload;
    const char *progress; /* -P: where bench_progress() writes */
    size_t payload_len;
    bool non, json;
    long endpoints; /* -e: client endpoints the calls take turns from; 0: the socket's own */
    uint64_t spin;  /* ns to busy-poll before sleeping */
    struct target *targets;
    int ntargets;
    struct sockaddr_in addr;
};

struct slot {
    bool busy, acked;
    uint32_t serial;
    uint16_t mid;
    int retransmits;
    uint64_t start, due, backoff;
    size_t len;
    struct in_addr from; /* the call's source address under -e */
    uint8_t pkt[PKT_MAX];
};

/* Datagrams waiting for the next sendmmsg. Empty ACKs live in the queue
 * itself; requests point into their slot, which qslot names so the first
 * transmission's time can be stamped when it really leaves. */
struct sendq {
    struct mmsghdr *msg;
    struct iovec *iov;
    uint8_t (*ack)[4];
    long *qslot;
    /* The source address of each datagram under -e, as ancillary data. */
    union pktinfo_cmsg {
        struct cmsghdr h;
        uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    } * ctl;
    int n, cap;
};

struct gen {
    const struct config *cfg;
    int fd;
    struct slot *slots;
    long *free_slots, nfree, inflight;
    uint32_t next_serial, phase_first;
    uint16_t next_mid;
    uint32_t mid_slot[65536]; /* slot index + 1 of the call using a message id */
    uint8_t *state;           /* PENDING/ANSWERED/GAVE_UP per serial */
    size_t state_cap;
    struct sendq q;
    struct bench_stats *st;
    uint64_t separate, late; /* shown in text output only: the JSON keys are fixed */
    uint64_t rng, next_tick;
    struct mmsghdr in[BATCH];
    struct iovec iin[BATCH];
    union pktinfo_cmsg inctl[BATCH]; /* under -e: the address each datagram came to */
    uint8_t rbuf[BATCH][DGRAM_IN];
};

static void usage(void)
{
    fprintf(
        stderr,
        "usage: coap-load [-c CONCURRENCY] [-n CALLS] [-d SECONDS] [-w WARMUP_CALLS]\n"
        "                 [-p PAYLOAD] [-P PROGRESS_FILE] [-s SPIN_US] [-e ENDPOINTS] [-N] [-j]\n"
        "                 coap://HOST:PORT/PATH [URL...]\n"
        "SIGTERM or SIGINT ends the run early; calls in flight finish, the report follows.\n");
    exit(2);
}

/* xorshift64: the retransmission jitter needs spread, not quality. */
static uint64_t rnd(struct gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

/* ACK_TIMEOUT times a random factor in [1, ACK_RANDOM_FACTOR]. */
static uint64_t initial_timeout(struct gen *g)
{
    return ACK_TIMEOUT + rnd(g) % (ACK_TIMEOUT / 2 + 1);
}

static int sendq_init(struct sendq *q, int cap)
{
    q->msg = calloc((size_t)cap, sizeof *q->msg);
    q->iov = calloc((size_t)cap, sizeof *q->iov);
    q->ack = calloc((size_t)cap, sizeof *q->ack);
    q->qslot = calloc((size_t)cap, sizeof *q->qslot);
    q->ctl = calloc((size_t)cap, sizeof *q->ctl);
    q->cap = cap;
    q->n = 0;
    if (!q->msg || !q->iov || !q->ack || !q->qslot || !q->ctl)
        return -1;
    for (int i = 0; i < cap; i++) {
        q->msg[i].msg_hdr.msg_iov = &q->iov[i];
        q->msg[i].msg_hdr.msg_iovlen = 1;
    }
    return 0;
}

/* Sends what is queued. A datagram the socket will not take now is dropped
 * as the network would drop it; retransmission covers CON requests. */
static void flush(struct gen *g)
{
    struct sendq *q = &g->q;
    uint64_t now = bench_now_ns();
    for (int i = 0; i < q->n; i++) {
        struct slot *s = q->qslot[i] >= 0 ? &g->slots[q->qslot[i]] : NULL;
        if (s != NULL && s->start == 0) {
            s->start = now;
            s->due = now + s->backoff;
        }
    }
    for (int sent = 0; sent < q->n;) {
        int r = sendmmsg(g->fd, q->msg + sent, (unsigned)(q->n - sent), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        sent += r;
    }
    q->n = 0;
}

/* Queues a datagram; under -e it leaves from source address `from`. */
static void push(struct gen *g, const uint8_t *buf, size_t len, long slot, struct in_addr from)
{
    struct sendq *q = &g->q;
    if (q->n == q->cap)
        flush(g);
    struct msghdr *h = &q->msg[q->n].msg_hdr;
    q->iov[q->n] = (struct iovec){(void *)buf, len};
    q->qslot[q->n] = slot;
    h->msg_name = g->cfg->endpoints > 0 ? (void *)&g->cfg->addr : NULL;
    h->msg_namelen = g->cfg->endpoints > 0 ? sizeof g->cfg->addr : 0;
    h->msg_control = NULL;
    h->msg_controllen = 0;
    if (g->cfg->endpoints > 0) {
        h->msg_control = q->ctl[q->n].buf;
        h->msg_controllen = sizeof q->ctl[q->n].buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo pi = {.ipi_spec_dst = from};
        memcpy(CMSG_DATA(c), &pi, sizeof pi);
    }
    q->n++;
}

/* Acknowledges a separate CON response (RFC 7252 5.2.2), repeats included:
 * the server retransmits until an ACK reaches it. The ACK leaves from the
 * address the response came to. */
static void push_ack(struct gen *g, uint16_t mid, struct in_addr to)
{
    if (g->q.n == g->q.cap)
        flush(g);
    uint8_t *a = g->q.ack[g->q.n];
    coapw_header(a, COAPW_ACK, 0, mid, NULL, 0);
    push(g, a, 4, -1, to);
}

/* Endpoint k of -e N: 127.1.0.0 + k, clear of 127.0.0.1 where servers listen. */
static struct in_addr endpoint_addr(long k)
{
    return (struct in_addr){htonl((127u << 24) + (1u << 16) + (uint32_t)k)};
}

static int state_grow(struct gen *g, uint32_t serial)
{
    if (serial < g->state_cap)
        return 0;
    size_t cap = g->state_cap ? g->state_cap * 2 : 1 << 20;
    uint8_t *p = realloc(g->state, cap);
    if (p == NULL)
        return -1;
    memset(p + g->state_cap, PENDING, cap - g->state_cap);
    g->state = p;
    g->state_cap = cap;
    return 0;
}

/* Builds a call's request in a free slot and queues it. */
static int start_call(struct gen *g)
{
    const struct config *c = g->cfg;
    uint32_t serial = g->next_serial;
    if (state_grow(g, serial) < 0)
        return -1;
    long i = g->free_slots[--g->nfree];
    struct slot *s = &g->slots[i];
    /* The token names the slot and the call: a reply finds its call in O(1),
     * and a reply to an earlier call in the same slot is told apart. */
    uint8_t token[8];
    uint32_t si = htonl((uint32_t)i), se = htonl(serial);
    memcpy(token, &si, 4);
    memcpy(token + 4, &se, 4);
    *s = (struct slot){.busy = true, .serial = serial, .mid = g->next_mid++};
    s->backoff = c->non ? NON_TIMEOUT : initial_timeout(g);
    if (c->endpoints > 0)
        s->from = endpoint_addr((long)(serial % (uint32_t)c->endpoints));
    const struct target *t = &c->targets[serial % (uint32_t)c->ntargets];
    size_t n = coapw_header(s->pkt, c->non ? COAPW_NON : COAPW_CON, COAPW_POST, s->mid, token, 8);
    memcpy(s->pkt + n, t->opts, t->len);
    n += t->len;
    s->pkt[n++] = 0xff;
    memcpy(s->pkt + n, c->payload, c->payload_len);
    s->len = n + c->payload_len;
    g->mid_slot[s->mid] = (uint32_t)i + 1;
    g->next_serial++;
    g->inflight++;
    push(g, s->pkt, s->len, i, s->from);
    return 0;
}

static void finish(struct gen *g, long i, int how, uint64_t now, bool ok)
{
    struct slot *s = &g->slots[i];
    g->state[s->serial] = (uint8_t)how;
    if (g->mid_slot[s->mid] == (uint32_t)i + 1)
        g->mid_slot[s->mid] = 0;
    s->busy = false;
    g->free_slots[g->nfree++] = i;
    g->inflight--;
    if (how == GAVE_UP)
        g->st->timeouts++;
    else if (bench_stats_answer(g->st, now - s->start, ok) < 0) {
        fprintf(stderr, "coap-load: out of memory\n");
        exit(1);
    }
}

/* A response carrying a token: completes its call, or is a duplicate. */
static void on_response(struct gen *g, const struct coapw_msg *m, uint64_t now)
{
    if (m->tkl != 8)
        return;
    uint32_t si, se;
    memcpy(&si, m->token, 4);
    memcpy(&se, m->token + 4, 4);
    long i = (long)ntohl(si);
    uint32_t serial = ntohl(se);
    if (i < g->cfg->concurrency && g->slots[i].busy && g->slots[i].serial == serial) {
        finish(g, i, ANSWERED, now, m->code >> 5 == 2);
        return;
    }
    if (serial < g->phase_first || serial >= g->next_serial)
        return;
    if (g->state[serial] == ANSWERED)
        g->st->duplicates++;
    else if (g->state[serial] == GAVE_UP)
        g->late++;
}

/* An empty ACK or a RST, which name their call by message id only. */
static void on_empty(struct gen *g, const struct coapw_msg *m, uint64_t now)
{
    uint32_t i1 = g->mid_slot[m->mid];
    if (i1 == 0)
        return;
    long i = (long)i1 - 1;
    struct slot *s = &g->slots[i];
    if (m->type == COAPW_RST) {
        finish(g, i, ANSWERED, now, false);
        return;
    }
    /* RFC 7252 5.2.2: stop retransmitting, the answer comes separately. */
    if (!s->acked && !g->cfg->non) {
        s->acked = true;
        g->separate++;
        s->due = now + SEPARATE_TIMEOUT;
    }
}

static void on_datagram(struct gen *g, const uint8_t *buf, size_t len, struct in_addr to,
                        uint64_t now)
{
    struct coapw_msg m;
    if (coapw_parse(buf, len, &m) < 0)
        return;
    if (m.type == COAPW_CON)
        push_ack(g, m.mid, to);
    if (m.code == 0 || m.type == COAPW_RST) {
        if (m.type == COAPW_ACK || m.type == COAPW_RST)
            on_empty(g, &m, now);
        return;
    }
    if (m.code >> 5 >= 2)
        on_response(g, &m, now);
}

/* The address a datagram came to (under -e, the endpoint it is for). */
static struct in_addr arrived_at(struct msghdr *h)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c))
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof pi);
            return pi.ipi_addr;
        }
    return (struct in_addr){0};
}

/* Takes in one batch; returns the datagrams read, 0 when none waited. */
static int receive(struct gen *g)
{
    if (g->cfg->endpoints > 0)
        for (int i = 0; i < BATCH; i++) {
            g->in[i].msg_hdr.msg_control = g->inctl[i].buf;
            g->in[i].msg_hdr.msg_controllen = sizeof g->inctl[i].buf;
        }
    int n = recvmmsg(g->fd, g->in, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return 0; /* EAGAIN, or ECONNREFUSED from an ICMP: the timers cover it */
    uint64_t now = bench_now_ns();
    for (int i = 0; i < n; i++)
        on_datagram(g, g->rbuf[i], g->in[i].msg_len, arrived_at(&g->in[i].msg_hdr), now);
    return n;
}

/* Retransmits or gives up on the calls whose timer ran out. */
static void tick(struct gen *g, uint64_t now)
{
    if (now < g->next_tick)
        return;
    g->next_tick = now + TIMER_TICK;
    for (long i = 0; i < g->cfg->concurrency; i++) {
        struct slot *s = &g->slots[i];
        if (!s->busy || s->start == 0 || now < s->due)
            continue;
        if (g->cfg->non || s->acked || s->retransmits == MAX_RETRANSMIT) {
            finish(g, i, GAVE_UP, now, false);
            continue;
        }
        s->retransmits++;
        s->backoff *= 2;
        s->due = now + s->backoff;
        g->st->retransmits++;
        push(g, s->pkt, s->len, -1, s->from);
    }
}

static void give_up_all(struct gen *g, uint64_t now)
{
    for (long i = 0; i < g->cfg->concurrency; i++)
        if (g->slots[i].busy)
            finish(g, i, GAVE_UP, now, false);
}

/* Sleeps in poll until a datagram or the next timer tick, after busy-polling
 * for -s microseconds since the last activity: on a VM a wake-up from poll
 * costs tens of microseconds, more than the floor's whole round trip. */
static void wait_input(struct gen *g, uint64_t now, uint64_t active)
{
    if (now - active < g->cfg->spin)
        return;
    struct pollfd p = {.fd = g->fd, .events = POLLIN};
    poll(&p, 1, 1);
}

/* Runs calls until `calls` have started, the deadline passes or a stop
 * signal comes, then lets those in flight finish; returns the seconds the
 * phase took. */
static double run_phase(struct gen *g, long calls, uint64_t deadline, struct bench_stats *st)
{
    g->st = st;
    g->phase_first = g->next_serial;
    uint64_t t0 = bench_now_ns(), active = t0;
    long started = 0;
    for (;;) {
        int got = receive(g);
        uint64_t now = bench_now_ns();
        tick(g, now);
        bench_progress(g->cfg->progress, g->st);
        bool open = started < calls && now < deadline && !bench_stopped();
        active = got > 0 || (open && g->nfree > 0) ? now : active;
        for (; open && g->nfree > 0 && started < calls; started++)
            if (start_call(g) < 0) {
                fprintf(stderr, "coap-load: out of memory\n");
                exit(1);
            }
        flush(g);
        if (!open && g->inflight == 0)
            break;
        if (!open && now > deadline + DRAIN_GRACE) {
            give_up_all(g, now);
            break;
        }
        if (got == 0)
            wait_input(g, now, active);
    }
    return (double)(bench_now_ns() - t0) / 1e9;
}

static int gen_init(struct gen *g, const struct config *c)
{
    memset(g, 0, sizeof *g);
    g->cfg = c;
    g->slots = calloc((size_t)c->concurrency, sizeof *g->slots);
    g->free_slots = calloc((size_t)c->concurrency, sizeof *g->free_slots);
    if (g->slots == NULL || g->free_slots == NULL)
        return -1;
    for (long i = 0; i < c->concurrency; i++)
        g->free_slots[g->nfree++] = c->concurrency - 1 - i;
    g->rng = bench_now_ns() | 1;
    g->next_mid = (uint16_t)rnd(g);
    for (int i = 0; i < BATCH; i++) {
        g->iin[i] = (struct iovec){g->rbuf[i], DGRAM_IN};
        g->in[i].msg_hdr.msg_iov = &g->iin[i];
        g->in[i].msg_hdr.msg_iovlen = 1;
    }
    return sendq_init(&g->q, (int)c->concurrency + BATCH);
}

static int open_socket(const struct sockaddr_in *to, long endpoints)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int buf = 4 << 20, on = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (endpoints > 0) {
        /* Unconnected, bound to every address: answers to each endpoint's
         * address come to this one port. */
        struct sockaddr_in any = {.sin_family = AF_INET};
        if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0 ||
            bind(fd, (const struct sockaddr *)&any, sizeof any) < 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    /* Connected: the kernel filters out other senders, and no address per datagram. */
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Parses the URLs into pre-encoded options; all must share host and port. */
static int parse_targets(struct config *c, char **urls, int n)
{
    c->targets = calloc((size_t)n, sizeof *c->targets);
    if (c->targets == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        struct bench_url u;
        char err[128];
        if (bench_url_parse(urls[i], "coap", 5683, &u, err, sizeof err) < 0) {
            fprintf(stderr, "coap-load: %s\n", err);
            return -1;
        }
        if (i > 0 && memcmp(&u.addr, &c->addr, sizeof u.addr) != 0) {
            fprintf(stderr, "coap-load: all URLs must name the same host and port\n");
            return -1;
        }
        c->addr = u.addr;
        long len = coapw_uri_options(u.path, c->targets[i].opts, sizeof c->targets[i].opts);
        if (len < 0) {
            fprintf(stderr, "coap-load: path too long: %s\n", urls[i]);
            return -1;
        }
        c->targets[i].len = (size_t)len;
    }
    c->ntargets = n;
    return 0;
}

static void parse_args(struct config *c, int argc, char **argv)
{
    *c = (struct config){.concurrency = 1, .calls = 100000, .seconds = 30};
    c->payload = "0123456789abcdef";
    int o, bad = 0;
    long spin_us = 0;
    while ((o = getopt(argc, argv, "c:n:d:w:p:P:s:e:Nj")) != -1) {
        switch (o) {
        case 'c': bad |= bench_parse_long(optarg, 1, 60000, &c->concurrency); break;
        case 'n': bad |= bench_parse_long(optarg, 1, 1000000000, &c->calls); break;
        case 'd': bad |= bench_parse_seconds(optarg, &c->seconds); break;
        case 'w': bad |= bench_parse_long(optarg, 0, 1000000000, &c->warmup); break;
        case 'p': c->payload = optarg; break;
        case 'P': c->progress = optarg; break;
        case 's': bad |= bench_parse_long(optarg, 0, 1000000, &spin_us); break;
        case 'e': bad |= bench_parse_long(optarg, 1, 1 << 16, &c->endpoints); break;
        case 'N': c->non = true; break;
        case 'j': c->json = true; break;
        default: bad = 1;
        }
    }
    c->payload_len = strlen(c->payload);
    c->spin = (uint64_t)spin_us * 1000;
    if (bad || optind >= argc || c->payload_len > COAPW_PAYLOAD_MAX)
        usage();
    if (parse_targets(c, argv + optind, argc - optind) < 0)
        exit(2);
    if (c->endpoints > 0 && ntohl(c->addr.sin_addr.s_addr) >> 24 != 127) {
        fprintf(stderr, "coap-load: -e needs a loopback target (127.0.0.0/8)\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    static struct gen g; /* big: the message id map and the receive buffers */
    struct config c;
    parse_args(&c, argc, argv);
    if (gen_init(&g, &c) < 0) {
        fprintf(stderr, "coap-load: out of memory\n");
        return 1;
    }
    g.fd = open_socket(&c.addr, c.endpoints);
    if (g.fd < 0) {
        perror("coap-load: socket");
        return 1;
    }
    bench_stop_on_signals();
    uint64_t span = (uint64_t)(c.seconds * 1e9);
    struct bench_stats warm = {0}, st = {0};
    if (c.warmup > 0)
        run_phase(&g, c.warmup, bench_now_ns() + span, &warm);
    g.separate = g.late = 0;
    double secs = run_phase(&g, c.calls, bench_now_ns() + span, &st);
    bench_stats_report(&st, secs, c.json, stdout);
    if (!c.json && (g.separate > 0 || g.late > 0))
        printf("separate responses %llu  late answers to timed-out calls %llu\n",
               (unsigned long long)g.separate, (unsigned long long)g.late);
    bench_stats_free(&warm);
    bench_stats_free(&st);
    close(g.fd);
    free(c.targets);
    return 0;
}
