#include "coap_intake.h"

#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"

#define INTAKE_MAX_EVENTS 8

/* Reads of an empty socket since the counter was reset, seen in the log. */
static unsigned empty_reads;
/* libcoap follows an empty read's message with a second one to drop. */
static bool drop_next_read_failed;
/* Datagrams the last batch found: where the next one starts. */
static unsigned batch = 1;

/* What libcoap warns of is mostly a peer's doing (a malformed datagram, a
 * failed handshake): within a budget. */
static struct log_limit libcoap_lines = LOG_LIMIT_INIT("libcoap warnings and errors", 20, 60);

/* The daemon sets only LC_CTYPE, so strerror() text is the C locale's.
 * Should a libcoap word it differently, nothing breaks: the warnings show in
 * the log, and a batch then ends when epoll reports the socket empty. */
static void on_coap_log(coap_log_t level, const char *message)
{
    if (strstr(message, "coap_network_read: Resource temporarily unavailable") != NULL) {
        empty_reads++;
        drop_next_read_failed = true;
        return;
    }
    if (drop_next_read_failed && strstr(message, ": read failed") != NULL) {
        drop_next_read_failed = false;
        return;
    }
    drop_next_read_failed = false;
    size_t len = strcspn(message, "\n");
    if (level <= LOG_ERR)
        log_error_limited(&libcoap_lines, "libcoap: %.*s", (int)len, message);
    else if (level == LOG_WARNING)
        log_warn_limited(&libcoap_lines, "libcoap: %.*s", (int)len, message);
    else
        log_debug("libcoap: %.*s", (int)len, message);
}

void tf_coap_intake_init(void)
{
    coap_set_log_handler(on_coap_log);
}

/* Repeats each socket's event n times (libcoap's timer event, whose data is
 * NULL, once). Returns the number of events in out. */
static size_t repeat_events(const struct epoll_event *evs, int n, unsigned times,
                            struct epoll_event *out, size_t cap)
{
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        unsigned copies = evs[i].data.ptr != NULL && (evs[i].events & EPOLLIN) ? times : 1;
        for (unsigned c = 0; c < copies && k < cap; c++)
            out[k++] = evs[i];
    }
    return k;
}

void tf_coap_intake_read(coap_context_t *ctx, int coap_fd)
{
    struct epoll_event evs[INTAKE_MAX_EVENTS];
    unsigned total = 0, times = batch;
    int n;
    /* Each round asks for as many datagrams as the last wake-up found; a
     * round that comes up short has drained the socket. */
    while (total < TF_COAP_INTAKE_MAX && (n = epoll_wait(coap_fd, evs, INTAKE_MAX_EVENTS, 0)) > 0) {
        struct epoll_event rep[TF_COAP_INTAKE_MAX + INTAKE_MAX_EVENTS];
        if (times > TF_COAP_INTAKE_MAX - total)
            times = TF_COAP_INTAKE_MAX - total;
        size_t k = repeat_events(evs, n, times, rep, sizeof rep / sizeof rep[0]);
        empty_reads = 0;
        coap_io_do_epoll(ctx, rep, k);
        total += times > empty_reads ? times - empty_reads : 0;
        if (empty_reads > 0)
            break;
    }
    batch = total > 0 ? total : 1;
}
