/* A fake handler for the data-path tests: the test plays the handler's side of
 * the protocol (docs/handler-protocol.md) itself, over a unix socket or TCP on
 * loopback, so each message it sends and each byte it checks is its own. The
 * daemon side connects; the fake accepts, says READY, and reads and answers
 * CALLs when the test says so. */
#ifndef TF_TEST_FAKE_HANDLER_H
#define TF_TEST_FAKE_HANDLER_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hproto.h"

/* A bound on every wait, so a broken daemon side fails the test instead of hanging it. */
#define FAKE_WAIT_MS 20000

struct fake_handler {
    int listen_fd;
    int fd;         /* the daemon's connection once accepted, else -1 */
    char dir[80];   /* the private directory of the unix socket; "" for TCP */
    char path[108]; /* the unix socket; "" for TCP (the size of sun_path) */
    uint16_t port;  /* TCP on 127.0.0.1 when path is "" */
    struct hproto_reader reader;
    struct hproto_msg msg; /* the last message fake_recv() decoded */
    bool held;             /* msg was decoded by fake_pending() and not yet taken */
};

/* A CALL as the handler saw it, copied out of the reader. */
struct fake_call {
    uint32_t id;
    char method[8];
    size_t n_headers;
    char header[64]; /* the first header as "key: value" */
    char body[256];
    size_t body_len;
};

static bool fake_init(struct fake_handler *fh)
{
    memset(fh, 0, sizeof *fh);
    fh->listen_fd = fh->fd = -1;
    return hproto_reader_init(&fh->reader, 64u << 20) == 0;
}

/* Listens on a unix socket in a fresh directory under $TMPDIR (or the system's). */
__attribute__((unused)) static bool fake_listen_unix(struct fake_handler *fh)
{
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : P_tmpdir;
    if (!fake_init(fh))
        return false;
    int n = snprintf(fh->dir, sizeof fh->dir, "%s/tf-fake.XXXXXX", tmp);
    if (n < 0 || (size_t)n >= sizeof fh->dir || mkdtemp(fh->dir) == NULL)
        return false;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    n = snprintf(fh->path, sizeof fh->path, "%s/handler.sock", fh->dir);
    if (n < 0 || (size_t)n >= sizeof sa.sun_path)
        return false;
    memcpy(sa.sun_path, fh->path, (size_t)n + 1);
    fh->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fh->listen_fd >= 0 && bind(fh->listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
           listen(fh->listen_fd, 16) == 0;
}

/* Listens on 127.0.0.1 at a port the kernel chooses. */
__attribute__((unused)) static bool fake_listen_tcp(struct fake_handler *fh)
{
    if (!fake_init(fh))
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    fh->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fh->listen_fd < 0 || bind(fh->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(fh->listen_fd, 16) < 0 ||
        getsockname(fh->listen_fd, (struct sockaddr *)&sa, &len) < 0)
        return false;
    fh->port = ntohs(sa.sin_port);
    return true;
}

/* Stops listening on the unix socket (its file stays: a connect is refused),
 * as a handler that runs but no longer serves. */
__attribute__((unused)) static void fake_stop_listening(struct fake_handler *fh)
{
    if (fh->listen_fd >= 0)
        close(fh->listen_fd);
    fh->listen_fd = -1;
}

/* Listens again on the same unix socket path, as a handler that came back. */
__attribute__((unused)) static bool fake_listen_again(struct fake_handler *fh)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, fh->path, strlen(fh->path) + 1);
    unlink(fh->path);
    fh->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fh->listen_fd >= 0 && bind(fh->listen_fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
           listen(fh->listen_fd, 16) == 0;
}

/* Closes the connection, as a handler that died would; its listener stays. */
__attribute__((unused)) static void fake_hang_up(struct fake_handler *fh)
{
    if (fh->fd >= 0)
        close(fh->fd);
    fh->fd = -1;
}

/* Frees everything, the socket file and its directory included. */
__attribute__((unused)) static void fake_free(struct fake_handler *fh)
{
    fake_hang_up(fh);
    if (fh->listen_fd >= 0)
        close(fh->listen_fd);
    fh->listen_fd = -1;
    if (fh->path[0] != '\0')
        unlink(fh->path);
    if (fh->dir[0] != '\0')
        rmdir(fh->dir);
    hproto_reader_free(&fh->reader);
}

/* Waits (at most ms) for the daemon's connection and takes it, in place of
 * the last one, if any. */
static bool fake_accept_within(struct fake_handler *fh, int ms)
{
    fake_hang_up(fh);
    struct pollfd pfd = {fh->listen_fd, POLLIN, 0};
    if (poll(&pfd, 1, ms) != 1)
        return false;
    fh->fd = accept4(fh->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fh->fd >= 0) { /* a new connection: nothing of the last one's stream is left */
        hproto_reader_free(&fh->reader);
        fh->held = false;
        return hproto_reader_init(&fh->reader, 64u << 20) == 0;
    }
    return false;
}

/* Waits for the daemon's connection and takes it. */
static bool fake_accept(struct fake_handler *fh)
{
    return fake_accept_within(fh, FAKE_WAIT_MS);
}

static bool fake_send_all(struct fake_handler *fh, const void *p, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fh->fd, (const char *)p + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    return true;
}

/* Sends READY with this protocol version. */
static bool fake_send_ready(struct fake_handler *fh, uint32_t version)
{
    struct hproto_ready ready = {version, {"fake", 4}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    bool ok = hproto_pack_ready(&buf, &ready) == 0 && fake_send_all(fh, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return ok;
}

/* Takes the daemon's connection and says READY, as a handler whose function loaded. */
__attribute__((unused)) static bool fake_accept_ready(struct fake_handler *fh)
{
    return fake_accept(fh) && fake_send_ready(fh, HPROTO_VERSION);
}

/* Sends a REPLY to call id. */
__attribute__((unused)) static bool fake_reply_full(struct fake_handler *fh, uint32_t id,
                                                    uint16_t status, const char *content_type,
                                                    const void *body, size_t len)
{
    struct hproto_reply reply = {id, status, {content_type, strlen(content_type)}, {body, len}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    bool ok = hproto_pack_reply(&buf, &reply) == 0 && fake_send_all(fh, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return ok;
}

/* Answers call id with 200 and body as text. */
__attribute__((unused)) static bool fake_reply(struct fake_handler *fh, uint32_t id,
                                               const char *body)
{
    return fake_reply_full(fh, id, 200, "text/plain", body, strlen(body));
}

/* Decodes the next message into fh->msg, waiting for its bytes. Return 1,
 * -ECONNRESET at the end of the stream, -ETIMEDOUT, or the reader's error. */
static int fake_recv(struct fake_handler *fh)
{
    if (fh->held) {
        fh->held = false;
        return 1;
    }
    for (;;) {
        int rc = hproto_reader_next(&fh->reader, &fh->msg);
        if (rc != 0)
            return rc;
        struct pollfd pfd = {fh->fd, POLLIN, 0};
        if (poll(&pfd, 1, FAKE_WAIT_MS) != 1)
            return -ETIMEDOUT;
        void *buf;
        size_t space;
        if ((rc = hproto_reader_buffer(&fh->reader, 65536, &buf, &space)) < 0)
            return rc;
        ssize_t n = read(fh->fd, buf, space);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? -ECONNRESET : -errno;
        hproto_reader_commit(&fh->reader, (size_t)n);
    }
}

static void copy_bytes(char *dst, size_t cap, struct hproto_bytes b)
{
    size_t n = b.len < cap - 1 ? b.len : cap - 1;
    if (n > 0)
        memcpy(dst, b.ptr, n);
    dst[n] = '\0';
}

/* Waits for the next message, which must be a CALL, and copies it to c. */
__attribute__((unused)) static bool fake_recv_call(struct fake_handler *fh, struct fake_call *c)
{
    memset(c, 0, sizeof *c);
    if (fake_recv(fh) != 1 || fh->msg.type != HPROTO_CALL)
        return false;
    const struct hproto_call *call = &fh->msg.u.call;
    c->id = call->id;
    copy_bytes(c->method, sizeof c->method, call->method);
    c->n_headers = call->n_headers;
    if (call->n_headers > 0)
        snprintf(c->header, sizeof c->header, "%.*s: %.*s", (int)call->headers[0].key.len,
                 call->headers[0].key.ptr, (int)call->headers[0].value.len,
                 call->headers[0].value.ptr);
    copy_bytes(c->body, sizeof c->body, call->body);
    c->body_len = call->body.len;
    return true;
}

/* Whether anything came that the test has not read: a message, bytes, or the
 * end of the stream. It does not wait: the daemon side must have written
 * first (over a unix socket, its write is in our buffer once it returns). */
__attribute__((unused)) static bool fake_pending(struct fake_handler *fh)
{
    if (fh->held)
        return true;
    int rc = hproto_reader_next(&fh->reader, &fh->msg);
    if (rc == 1)
        fh->held = true;
    if (rc != 0)
        return true;
    struct pollfd pfd = {fh->fd, POLLIN, 0};
    return poll(&pfd, 1, 0) == 1;
}

/* Waits for the daemon to close the connection with nothing more sent. */
__attribute__((unused)) static bool fake_sees_eof(struct fake_handler *fh)
{
    return fake_recv(fh) == -ECONNRESET;
}

#endif
