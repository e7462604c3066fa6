/* The daemon proves it knows the handler's secret before any call runs
 * (docs/handler-protocol.md): each connection gets a CHALLENGE with a nonce
 * of its own, and serves only once the right PROOF came back. Connections
 * waiting for theirs are few and brief, so strangers on the network cannot
 * hold the handler: at most SHIM_AUTH_MAX_WAITING at once (a new one closes
 * the oldest), each for SHIM_AUTH_WAIT_MS at most, through one timerfd. */
#include "shim.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "hauth.h"

static uint8_t auth_key[HAUTH_KEY_MAX];
static size_t auth_key_len; /* 0: no secret, no authentication */
static void (*auth_expire)(struct shim_auth_wait *w);
static struct shim_auth_wait *waiting_head, *waiting_tail; /* oldest first */
static unsigned n_waiting;
static struct shim_watch timer = {-1, NULL};

/* CLOCK_MONOTONIC in µs, the timerfd's clock. */
static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Arms the timer for the oldest wait's deadline, or disarms it. */
static void timer_arm(void)
{
    struct itimerspec when = {{0, 0}, {0, 0}};
    if (waiting_head != NULL) {
        int64_t at = waiting_head->deadline_us;
        when.it_value = (struct timespec){at / 1000000, (long)(at % 1000000) * 1000};
    }
    timerfd_settime(timer.fd, TFD_TIMER_ABSTIME, &when, NULL);
}

static void wait_unlink(struct shim_auth_wait *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        waiting_head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        waiting_tail = w->prev;
    w->prev = w->next = NULL;
    n_waiting--;
}

/* Ends the oldest wait without a proof: its connection closes. */
static void expire_oldest(void)
{
    struct shim_auth_wait *w = waiting_head;
    wait_unlink(w);
    w->waiting = false;
    auth_expire(w);
}

static void on_timer(struct shim_watch *w, uint32_t events)
{
    (void)events;
    uint64_t ticks;
    if (read(w->fd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
        return;
    int64_t now = mono_us();
    while (waiting_head != NULL && waiting_head->deadline_us <= now) {
        shim_auth_refused("no proof within 5 s");
        expire_oldest();
    }
    timer_arm();
}

void shim_auth_set_expire(void (*expire)(struct shim_auth_wait *w))
{
    auth_expire = expire;
}

int shim_auth_init(const char **why)
{
    const char *path = getenv("TINYFAAS_SECRET_FILE");
    if (path == NULL || path[0] == '\0')
        return 0;
    int n = hauth_read_key(path, auth_key);
    if (n < 0) {
        *why = n == -EINVAL  ? "TINYFAAS_SECRET_FILE: the file is empty"
               : n == -EFBIG ? "TINYFAAS_SECRET_FILE: the file is over 4096 bytes"
                             : "TINYFAAS_SECRET_FILE";
        return n;
    }
    auth_key_len = (size_t)n;
    timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    timer.ready = on_timer;
    if (timer.fd < 0 || shim_watch_add(&timer, EPOLLIN) < 0) {
        *why = "timerfd";
        return -errno;
    }
    return 0;
}

bool shim_auth_on(void)
{
    return auth_key_len > 0;
}

int shim_auth_begin(struct shim_auth_wait *w, msgpack_sbuffer *out)
{
    int rc = hauth_random(w->nonce, sizeof w->nonce);
    struct hproto_challenge ch = {HPROTO_VERSION, {(const char *)w->nonce, sizeof w->nonce}};
    if (rc < 0 || (rc = hproto_pack_challenge(out, &ch)) < 0)
        return rc;
    if (n_waiting >= SHIM_AUTH_MAX_WAITING) {
        shim_auth_refused("more connections waiting for a proof than the bound");
        expire_oldest();
    }
    w->deadline_us = mono_us() + SHIM_AUTH_WAIT_MS * 1000;
    w->next = NULL;
    w->prev = waiting_tail;
    if (waiting_tail != NULL)
        waiting_tail->next = w;
    else
        waiting_head = w;
    waiting_tail = w;
    w->waiting = true;
    if (++n_waiting == 1)
        timer_arm();
    return 0;
}

bool shim_auth_check(struct shim_auth_wait *w, const struct hproto_msg *msg)
{
    shim_auth_end(w);
    return msg->type == HPROTO_PROOF &&
           hauth_check(auth_key, auth_key_len, w->nonce, (const uint8_t *)msg->u.proof.mac.ptr);
}

void shim_auth_end(struct shim_auth_wait *w)
{
    if (!w->waiting)
        return;
    bool was_oldest = w == waiting_head;
    wait_unlink(w);
    w->waiting = false;
    if (was_oldest)
        timer_arm();
}

void shim_auth_refused(const char *why)
{
    static int64_t last_us;
    static unsigned not_logged;
    int64_t now = mono_us();
    if (last_us != 0 && now - last_us < SHIM_AUTH_LOG_EVERY_MS * 1000) {
        not_logged++;
        return;
    }
    if (not_logged > 0)
        fprintf(stderr,
                "tinyfaas-shim: closed a connection that did not authenticate: %s (and %u more "
                "since the last such line)\n",
                why, not_logged);
    else
        fprintf(stderr, "tinyfaas-shim: closed a connection that did not authenticate: %s\n", why);
    last_us = now;
    not_logged = 0;
}
