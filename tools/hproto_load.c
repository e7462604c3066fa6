/* hproto-load: the handler alone. Speaks the handler protocol straight to
 * running handlers (no daemon in between), C calls in flight, and reports the
 * same figures as coap-load. The difference to the end-to-end runs is what
 * the daemon costs. Given several handlers, calls go to them in turn, one
 * connection each: the most that round-robin over that many processes can
 * reach on this machine, whatever sits in front of them.
 *
 *   hproto-load [-c C] [-n CALLS] [-d SECONDS] [-p PAYLOAD] [-j] TARGET...
 *   (TARGET: HOST:PORT or /SOCKET/PATH) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"
#include "hproto.h"

#define MAX_INFLIGHT 1024
#define MAX_TARGETS  1024

struct target {
    int fd;
    struct hproto_reader reader;
};

struct run {
    struct target *targets;
    size_t n_targets, next_target;
    long conc, calls;
    double seconds;
    const char *payload;
    uint64_t sent_at[MAX_INFLIGHT]; /* by id % MAX_INFLIGHT */
    uint32_t next_id;
    long started, answered;
    msgpack_sbuffer out; /* each CALL is packed here, the buffer reused */
    struct bench_stats stats;
};

/* A handler on a unix socket (an absolute path). */
static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int connect_to(const char *where)
{
    if (where[0] == '/')
        return connect_unix(where);
    char host[64];
    const char *colon = strrchr(where, ':');
    if (colon == NULL || (size_t)(colon - where) >= sizeof host)
        return -1;
    memcpy(host, where, (size_t)(colon - where));
    host[colon - where] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Sends the next call to the next target in turn. */
static int send_call(struct run *r)
{
    int fd = r->targets[r->next_target++ % r->n_targets].fd;
    uint32_t id = r->next_id++;
    struct hproto_call call = {id, {"POST", 4}, NULL, 0, {r->payload, strlen(r->payload)}};
    msgpack_sbuffer_clear(&r->out);
    int rc = hproto_pack_call(&r->out, &call);
    r->sent_at[id % MAX_INFLIGHT] = bench_now_ns();
    for (size_t off = 0; rc == 0 && off < r->out.size;) {
        ssize_t n = write(fd, r->out.data + off, r->out.size - off);
        if (n <= 0)
            rc = -1;
        else
            off += (size_t)n;
    }
    r->started++;
    return rc;
}

/* Reads what t has sent into its reader; -1 when it went away. */
static int read_some(struct target *t, size_t want)
{
    void *buf;
    size_t space;
    if (hproto_reader_buffer(&t->reader, want, &buf, &space) < 0)
        return -1;
    ssize_t n = read(t->fd, buf, space);
    if (n <= 0)
        return -1;
    hproto_reader_commit(&t->reader, (size_t)n);
    return 0;
}

/* Reads what arrived from t and records each reply; -1 when it went away. */
static int read_replies(struct run *r, struct target *t, uint64_t end_ns)
{
    if (read_some(t, 65536) < 0)
        return -1;
    struct hproto_msg msg;
    while (hproto_reader_next(&t->reader, &msg) == 1) {
        if (msg.type != HPROTO_REPLY)
            continue;
        uint64_t now = bench_now_ns();
        bench_stats_answer(&r->stats, now - r->sent_at[msg.u.reply.id % MAX_INFLIGHT],
                           msg.u.reply.status == 200);
        r->answered++;
        if (r->started < r->calls && now < end_ns && send_call(r) < 0)
            return -1;
    }
    return 0;
}

static int wait_ready(struct target *t)
{
    struct hproto_msg msg;
    for (;;) {
        struct pollfd p = {t->fd, POLLIN, 0};
        if (poll(&p, 1, 10000) != 1 || read_some(t, 4096) < 0)
            return -1;
        if (hproto_reader_next(&t->reader, &msg) == 1)
            return msg.type == HPROTO_READY ? 0 : -1;
    }
}

/* Connects to every target and waits for its READY; -1 with a reason printed. */
static int open_targets(struct run *r, char **where, size_t n, int epfd)
{
    r->targets = calloc(n, sizeof *r->targets);
    if (r->targets == NULL)
        return -1;
    for (; r->n_targets < n; r->n_targets++) {
        struct target *t = &r->targets[r->n_targets];
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = t};
        if ((t->fd = connect_to(where[r->n_targets])) < 0 ||
            hproto_reader_init(&t->reader, 64u << 20) < 0 || wait_ready(t) < 0 ||
            epoll_ctl(epfd, EPOLL_CTL_ADD, t->fd, &ev) < 0) {
            fprintf(stderr, "hproto-load: no handler ready at %s\n", where[r->n_targets]);
            r->n_targets += t->fd >= 0;
            return -1;
        }
    }
    return 0;
}

static void close_targets(struct run *r)
{
    for (size_t i = 0; i < r->n_targets; i++) {
        hproto_reader_free(&r->targets[i].reader);
        close(r->targets[i].fd);
    }
    free(r->targets);
}

/* Keeps C calls in flight until the count or the time is reached. */
static void drive(struct run *r, int epfd)
{
    uint64_t start = bench_now_ns(), end = start + (uint64_t)(r->seconds * 1e9);
    for (long i = 0; i < r->conc && i < r->calls; i++)
        send_call(r);
    struct epoll_event evs[64];
    while (r->answered < r->started) {
        int n = epoll_wait(epfd, evs, 64, 10000);
        int failed = n <= 0;
        for (int i = 0; i < n && !failed; i++)
            failed = read_replies(r, evs[i].data.ptr, end) < 0;
        if (failed) {
            r->stats.timeouts += (uint64_t)(r->started - r->answered);
            break;
        }
    }
    r->seconds = (double)(bench_now_ns() - start) / 1e9;
}

int main(int argc, char **argv)
{
    struct run r = {.conc = 1, .calls = 100000, .seconds = 30, .payload = "0123456789abcdef"};
    bool json = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:n:d:p:j")) != -1) {
        if ((opt == 'c' && bench_parse_long(optarg, 1, MAX_INFLIGHT, &r.conc) < 0) ||
            (opt == 'n' && bench_parse_long(optarg, 1, 1000000000, &r.calls) < 0) ||
            (opt == 'd' && bench_parse_seconds(optarg, &r.seconds) < 0) || opt == '?') {
            fprintf(stderr, "usage: hproto-load [-c C] [-n CALLS] [-d SECONDS] [-p PAYLOAD] [-j] "
                            "HOST:PORT|/SOCKET/PATH...\n");
            return 2;
        }
        if (opt == 'p')
            r.payload = optarg;
        json = json || opt == 'j';
    }
    size_t n = (size_t)(argc - optind);
    if (n == 0 || n > MAX_TARGETS) {
        fprintf(stderr, "hproto-load: give 1 to %d handlers\n", MAX_TARGETS);
        return 2;
    }
    msgpack_sbuffer_init(&r.out);
    int epfd = epoll_create1(EPOLL_CLOEXEC), rc = 1;
    if (epfd >= 0 && open_targets(&r, argv + optind, n, epfd) == 0) {
        drive(&r, epfd);
        bench_stats_report(&r.stats, r.seconds, json, stdout);
        rc = 0;
    }
    bench_stats_free(&r.stats);
    msgpack_sbuffer_destroy(&r.out);
    close_targets(&r);
    if (epfd >= 0)
        close(epfd);
    return rc;
}
