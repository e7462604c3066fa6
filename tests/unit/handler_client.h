/* What the handler tests share: a free port, a connection that waits for the
 * handler to listen, and whole messages read and written over it. */
#ifndef TF_TEST_HANDLER_CLIENT_H
#define TF_TEST_HANDLER_CLIENT_H

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
#include <time.h>
#include <unistd.h>

#include "hproto.h"

#define WAIT_MS 20000 /* a bound so a broken handler fails the test instead of hanging it */

/* The last message recv_msg() decoded. */
static struct hproto_msg msg;

__attribute__((unused)) static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

__attribute__((unused)) static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* A connection to sa, tried every 20 ms until the handler listens there. */
__attribute__((unused)) static int connect_retrying(const struct sockaddr *sa, socklen_t len)
{
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, sa, len) == 0)
            return fd;
        close(fd);
        sleep_ms(20);
    }
    return -1;
}

__attribute__((unused)) static int connect_handler(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return connect_retrying((struct sockaddr *)&sa, sizeof sa);
}

/* The handler at a unix socket path, once it listens there. */
__attribute__((unused)) static int connect_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    return connect_retrying((struct sockaddr *)&sa, sizeof sa);
}

__attribute__((unused)) static int recv_msg(int fd, struct hproto_reader *r)
{
    for (;;) {
        int rc = hproto_reader_next(r, &msg);
        if (rc != 0)
            return rc;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, WAIT_MS) != 1)
            return -ETIMEDOUT;
        void *buf;
        size_t space;
        if ((rc = hproto_reader_buffer(r, 65536, &buf, &space)) < 0)
            return rc;
        ssize_t n = read(fd, buf, space);
        if (n <= 0)
            return n == 0 ? -ECONNRESET : -errno;
        hproto_reader_commit(r, (size_t)n);
    }
}

__attribute__((unused)) static bool send_all(int fd, const void *p, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)p + off, len - off);
        if (n <= 0)
            return false;
        off += (size_t)n;
    }
    return true;
}

/* Sends one CALL (POST) with these headers and body. */
__attribute__((unused)) static bool send_call_headers(int fd, uint32_t id,
                                                      const struct hproto_header *hs, size_t n_hs,
                                                      const void *body, size_t len)
{
    struct hproto_call call = {id, {"POST", 4}, hs, n_hs, {body, len}};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    bool ok = hproto_pack_call(&buf, &call) == 0 && send_all(fd, buf.data, buf.size);
    msgpack_sbuffer_destroy(&buf);
    return ok;
}

/* Whether msg is the REPLY id with this status and body; says what came otherwise. */
__attribute__((unused)) static bool is_reply(uint32_t id, uint16_t status, const void *body,
                                             size_t len)
{
    bool ok = msg.type == HPROTO_REPLY && msg.u.reply.id == id && msg.u.reply.status == status &&
              msg.u.reply.body.len == len &&
              (len == 0 || memcmp(msg.u.reply.body.ptr, body, len) == 0);
    if (!ok && msg.type == HPROTO_REPLY)
        fprintf(stderr, "got reply id %u status %u body \"%.*s\"\n", msg.u.reply.id,
                msg.u.reply.status, (int)(msg.u.reply.body.len > 200 ? 200 : msg.u.reply.body.len),
                msg.u.reply.body.ptr);
    return ok;
}

#endif
