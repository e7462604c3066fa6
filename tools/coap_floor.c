/* coap-floor: the floor of the benchmark. The barest CoAP echo responder
 * that can be written: one UDP socket, a batch of datagrams in with
 * recvmmsg, a 2.05 echo of each request out with sendmmsg. Whatever
 * tinyfaas adds on top of this is the cost of being a FaaS platform. */
#include "coap_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define BATCH    64
#define DGRAM_IN 2048
/* An answer is at most the request plus a payload marker. */
#define DGRAM_OUT (DGRAM_IN + 16)

struct batch {
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec iin[BATCH], iout[BATCH];
    struct sockaddr_in from[BATCH];
    uint8_t rbuf[BATCH][DGRAM_IN], wbuf[BATCH][DGRAM_OUT];
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: coap-floor -p PORT [-t SECONDS]\n");
    exit(2);
}

/* Writes the echo of one request to out; returns its length, or 0 when the
 * datagram is not a request (responses, empty messages, garbage). */
static size_t echo(const uint8_t *req, size_t len, uint8_t *out, uint16_t *next_mid)
{
    struct coapw_msg m;
    if (coapw_parse(req, len, &m) < 0 || (m.type != COAPW_CON && m.type != COAPW_NON))
        return 0;
    if (m.code == 0 || m.code >> 5 != 0)
        return 0;
    /* CON: piggybacked ACK on the same message id; NON: a fresh NON (RFC 7252 5.2). */
    uint8_t type = m.type == COAPW_CON ? COAPW_ACK : COAPW_NON;
    uint16_t mid = m.type == COAPW_CON ? m.mid : (*next_mid)++;
    size_t n = coapw_header(out, type, COAPW_CONTENT, mid, m.token, m.tkl);
    if (m.payload_len > 0) {
        out[n++] = 0xff;
        memcpy(out + n, m.payload, m.payload_len);
        n += m.payload_len;
    }
    return n;
}

static void batch_init(struct batch *b)
{
    memset(b, 0, sizeof *b);
    for (int i = 0; i < BATCH; i++) {
        b->iin[i] = (struct iovec){b->rbuf[i], DGRAM_IN};
        b->in[i].msg_hdr.msg_iov = &b->iin[i];
        b->in[i].msg_hdr.msg_iovlen = 1;
        b->in[i].msg_hdr.msg_name = &b->from[i];
        b->out[i].msg_hdr.msg_iov = &b->iout[i];
        b->out[i].msg_hdr.msg_iovlen = 1;
    }
}

/* Answers one received batch; returns the datagrams received, 0 when none
 * was waiting, -1 on a socket error. */
static int serve_batch(int fd, struct batch *b, uint16_t *next_mid, uint64_t *answered)
{
    for (int i = 0; i < BATCH; i++)
        b->in[i].msg_hdr.msg_namelen = sizeof b->from[i];
    int n = recvmmsg(fd, b->in, BATCH, MSG_DONTWAIT, NULL);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        size_t len = echo(b->rbuf[i], b->in[i].msg_len, b->wbuf[k], next_mid);
        if (len == 0)
            continue;
        b->iout[k] = (struct iovec){b->wbuf[k], len};
        b->out[k].msg_hdr.msg_name = &b->from[i];
        b->out[k].msg_hdr.msg_namelen = b->in[i].msg_hdr.msg_namelen;
        k++;
    }
    /* A datagram the kernel cannot take now is lost, as any on UDP: the
     * client's retransmission covers it, and the count shows it. */
    for (int sent = 0; sent < k;) {
        int r = sendmmsg(fd, b->out + sent, (unsigned)(k - sent), 0);
        if (r <= 0)
            break;
        sent += r;
        *answered += (uint64_t)r;
    }
    return n;
}

static int open_socket(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Prints VmHWM, the peak resident set, from /proc/self/status. */
static void print_peak_rss(uint64_t answered)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "VmHWM:", 6) == 0)
            fprintf(stderr, "coap-floor: answered %llu, peak RSS%s", (unsigned long long)answered,
                    line + 5);
    if (f != NULL)
        fclose(f);
}

static int serve(int fd, double seconds)
{
    static struct batch b; /* 256 KiB: too big for the stack */
    batch_init(&b);
    uint16_t next_mid = (uint16_t)time(NULL);
    uint64_t answered = 0;
    uint64_t deadline = bench_now_ns() + (uint64_t)(seconds * 1e9);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (!stop && bench_now_ns() < deadline) {
        int n = serve_batch(fd, &b, &next_mid, &answered);
        if (n < 0) {
            perror("coap-floor: recvmmsg");
            return 1;
        }
        /* Only sleep when the socket ran dry; a full batch means more is waiting. */
        if (n == 0)
            poll(&p, 1, 100);
    }
    print_peak_rss(answered);
    return 0;
}

int main(int argc, char **argv)
{
    long port = -1;
    double seconds = 120;
    int c;
    while ((c = getopt(argc, argv, "p:t:")) != -1) {
        if (c == 'p' && bench_parse_long(optarg, 1, 65535, &port) == 0)
            continue;
        if (c == 't' && bench_parse_seconds(optarg, &seconds) == 0)
            continue;
        usage();
    }
    if (port < 0 || optind != argc)
        usage();
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int fd = open_socket((uint16_t)port);
    if (fd < 0) {
        fprintf(stderr, "coap-floor: 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    int rc = serve(fd, seconds);
    close(fd);
    return rc;
}
