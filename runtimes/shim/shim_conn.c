/* The listening socket and the daemon's connections: READY on accept (with a
 * secret, CHALLENGE, and READY once the PROOF checked out), CALLs decoded and
 * handed to the executor, REPLYs queued and written without blocking. */
#include "shim.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct shim_conn {
    struct shim_watch w;
    struct shim_grave grave;
    struct hproto_reader reader;
    msgpack_sbuffer out;
    size_t out_off;
    bool want_out; /* EPOLLOUT is armed */
    bool broken;   /* a write failed: drop output, wait for the close event */
    bool pending;  /* on the pending list: replies packed, not yet sent */
    struct shim_conn *next_pending;
    unsigned n_calls;
    bool authed; /* the daemon's PROOF checked out, or no secret asks for one */
    struct shim_auth_wait auth;
};

static struct shim_watch listener = {-1, NULL};
static const struct shim_executor *conn_ex;
/* Connections with replies packed in this loop iteration: each is written
 * once after the iteration, so a batch of replies costs one send(). */
static struct shim_conn *pending_conns;

#define CONN_OF(ptr, member)                                                                       \
    ((struct shim_conn *)((char *)(ptr)-offsetof(struct shim_conn, member)))

static void conn_destroy(struct shim_grave *g)
{
    struct shim_conn *c = CONN_OF(g, grave);
    hproto_reader_free(&c->reader);
    msgpack_sbuffer_destroy(&c->out);
    free(c);
}

static void conn_close(struct shim_conn *c, const char *why)
{
    if (why != NULL)
        fprintf(stderr, "tinyfaas-shim: closing connection: %s\n", why);
    shim_auth_end(&c->auth);
    /* Nobody is left to receive their replies. */
    conn_ex->cancel(c);
    shim_watch_close(&c->w);
    shim_loop_bury(&c->grave);
}

static void conn_flush(struct shim_conn *c)
{
    if (c->w.fd < 0)
        return; /* closed in this iteration; buried, freed after it */
    while (!c->broken && c->out_off < c->out.size) {
        ssize_t n = send(c->w.fd, c->out.data + c->out_off, c->out.size - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            c->broken = true;
        else
            c->out_off += (size_t)n;
    }
    if (c->broken || c->out_off == c->out.size) {
        c->out.size = 0;
        c->out_off = 0;
    }
    bool want = c->out.size > 0;
    if (want != c->want_out && c->w.fd >= 0 &&
        shim_watch_set(&c->w, EPOLLIN | (want ? EPOLLOUT : 0)) == 0)
        c->want_out = want;
}

/* c has packed output: it is written after this loop iteration. */
static void conn_queue(struct shim_conn *c)
{
    if (!c->pending) {
        c->pending = true;
        c->next_pending = pending_conns;
        pending_conns = c;
    }
}

static void conn_send_reply(struct shim_conn *c, uint32_t id, uint16_t status, const char *ctype,
                            const char *body, size_t len)
{
    struct hproto_reply r = {id, status, {ctype, strlen(ctype)}, {body, len}};
    if (c->broken || c->w.fd < 0)
        return;
    if (hproto_pack_reply(&c->out, &r) != 0) {
        /* The daemon would wait forever for this id; better it sees the close. */
        c->broken = true;
        shutdown(c->w.fd, SHUT_RDWR);
        return;
    }
    conn_queue(c);
}

/* Packs READY into c's output. Return 0 or -ENOMEM. */
static int conn_pack_ready(struct shim_conn *c)
{
    struct hproto_ready ready = {HPROTO_VERSION, {shim_cfg.runtime, strlen(shim_cfg.runtime)}};
    return hproto_pack_ready(&c->out, &ready);
}

/* The first message on a connection that must authenticate: the right
 * PROOF makes it serve (READY goes out); anything else closes it, with
 * nothing run and nothing more sent. Whether it serves now. */
static bool conn_authenticate(struct shim_conn *c, const struct hproto_msg *msg)
{
    if (!shim_auth_check(&c->auth, msg)) {
        shim_auth_refused(msg->type == HPROTO_PROOF ? "wrong proof" : "a message before the proof");
        conn_close(c, NULL);
        return false;
    }
    c->authed = true;
    hproto_reader_limit(&c->reader, SHIM_MAX_MESSAGE);
    if (conn_pack_ready(c) != 0) {
        conn_close(c, "out of memory");
        return false;
    }
    conn_queue(c);
    return true;
}

void shim_conn_flush_pending(void)
{
    while (pending_conns != NULL) {
        struct shim_conn *c = pending_conns;
        pending_conns = c->next_pending;
        c->pending = false;
        conn_flush(c);
    }
}

void shim_conn_reply(struct shim_conn *conn, uint32_t id, uint16_t status, const char *content_type,
                     const char *body, size_t len)
{
    conn->n_calls--;
    conn_send_reply(conn, id, status, content_type, body, len);
}

/* Starts a call for every whole message buffered, or closes c on a bad one. */
static void conn_process(struct shim_conn *c)
{
    static struct hproto_msg msg; /* large (header store); the loop is single-threaded */
    char why[128];
    int rc;
    while ((rc = hproto_reader_next(&c->reader, &msg)) == 1) {
        if (!c->authed) {
            if (!conn_authenticate(c, &msg))
                return;
            continue;
        }
        if (msg.type != HPROTO_CALL) {
            conn_close(c, "unexpected message type from daemon");
            return;
        }
        const char *reason = NULL;
        if (c->n_calls >= SHIM_MAX_CALLS_PER_CONN) {
            snprintf(why, sizeof why, "tinyfaas-shim: more than %u calls in flight",
                     SHIM_MAX_CALLS_PER_CONN);
            conn_send_reply(c, msg.u.call.id, 500, "", why, strlen(why));
        } else {
            c->n_calls++; /* before start: an executor may reply within it */
            if ((rc = conn_ex->start(c, &msg.u.call, &reason)) < 0) {
                c->n_calls--;
                snprintf(why, sizeof why, "tinyfaas-shim: %s: %s", reason, strerror(-rc));
                conn_send_reply(c, msg.u.call.id, 500, "", why, strlen(why));
            }
        }
    }
    if (rc < 0 && !c->authed) {
        shim_auth_refused(rc == -EMSGSIZE ? "a message too large for a proof"
                                          : "bytes that are not the handler protocol");
        conn_close(c, NULL);
    } else if (rc < 0) {
        conn_close(c, rc == -EMSGSIZE ? "message too large" : "protocol error");
    }
}

static void on_conn(struct shim_watch *w, uint32_t events)
{
    struct shim_conn *c = CONN_OF(w, w);
    if (events & EPOLLOUT)
        conn_flush(c);
    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    void *buf;
    size_t space;
    int rc = hproto_reader_buffer(&c->reader, 65536, &buf, &space);
    if (rc < 0) {
        conn_close(c, "out of memory");
        return;
    }
    ssize_t n = recv(w->fd, buf, space, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        conn_close(c, NULL); /* the daemon went away: normal on redeploy */
        return;
    }
    hproto_reader_commit(&c->reader, (size_t)n);
    conn_process(c);
}

static void conn_open(int fd)
{
    struct shim_conn *c = calloc(1, sizeof *c);
    int one = 1;
    /* A stranger is held to a few bytes until it has proved itself. */
    if (c == NULL || hproto_reader_init(&c->reader, shim_auth_on() ? SHIM_AUTH_MAX_MESSAGE
                                                                   : SHIM_MAX_MESSAGE) != 0) {
        free(c);
        close(fd);
        return;
    }
    /* Replies are small and latency matters more than packet count (TCP
     * only: a unix socket has no Nagle and refuses the option). */
    if (shim_cfg.socket_path == NULL)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->w = (struct shim_watch){fd, on_conn};
    c->grave.destroy = conn_destroy;
    c->authed = !shim_auth_on();
    msgpack_sbuffer_init(&c->out);
    if (shim_watch_add(&c->w, EPOLLIN) != 0) {
        shim_watch_close(&c->w);
        conn_destroy(&c->grave);
        return;
    }
    /* With a secret the CHALLENGE goes first; READY once the PROOF is right. */
    if ((c->authed ? conn_pack_ready(c) : shim_auth_begin(&c->auth, &c->out)) != 0) {
        conn_close(c, "cannot greet the daemon");
        return;
    }
    conn_flush(c);
}

/* A connection that got no PROOF in time, or the oldest of too many waiting. */
static void on_auth_expired(struct shim_auth_wait *w)
{
    conn_close(CONN_OF(w, auth), NULL);
}

static void on_listener(struct shim_watch *w, uint32_t events)
{
    (void)events;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_open(fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno != EAGAIN)
            fprintf(stderr, "tinyfaas-shim: accept: %s\n", strerror(errno));
        return;
    }
}

/* A listening socket on the unix socket path (a stale one is replaced) or on
 * 0.0.0.0:port; its fd, or -errno. */
static int listen_socket(int port, const char *path)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (path != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        if (strlen(path) >= sizeof un->sun_path)
            return -ENAMETOOLONG;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, strlen(path) + 1);
        len = sizeof *un;
        unlink(path); /* a restarted handler's old socket */
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        in->sin_addr.s_addr = htonl(INADDR_ANY);
        len = sizeof *in;
    }
    int one = 1, rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    /* A restarted shim must not wait out TIME_WAIT of its previous life. */
    if (path == NULL)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 64) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

int shim_conn_listen(int port, const char *path, const struct shim_executor *ex)
{
    int rc, fd = listen_socket(port, path);
    if (fd < 0)
        return fd;
    conn_ex = ex;
    shim_auth_set_expire(on_auth_expired);
    listener = (struct shim_watch){fd, on_listener};
    if ((rc = shim_watch_add(&listener, EPOLLIN)) < 0)
        shim_watch_close(&listener);
    return rc;
}
