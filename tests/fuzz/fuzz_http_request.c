/* libFuzzer: bytes on an HTTP invocation connection, as the daemon turns
 * them into a call. The real front end (libmicrohttpd on the loop thread)
 * serves a real dispatcher whose one function, "fn", is a fake handler on a
 * thread of its own answering every call with its body; each input is sent
 * on a fresh loopback connection, whose write side is then shut, and what
 * comes back is read. */
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../unit/fake_handler.h"
#include "http/http_front.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fake_handler handler;
static uint16_t port;

/* The handler: READY, then every call answered 200 with its own body. */
static void *handler_main(void *arg)
{
    (void)arg;
    if (!fake_accept_ready(&handler))
        abort();
    while (fake_recv(&handler) == 1)
        if (handler.msg.type == HPROTO_CALL) {
            const struct hproto_call *c = &handler.msg.u.call;
            fake_reply_full(&handler, c->id, 200, "text/plain", c->body.ptr, c->body.len);
        }
    return NULL;
}

static void *loop_main(void *arg)
{
    loop_run(arg);
    return NULL;
}

/* The daemon's side, once: loop, dispatcher, front end, "fn" published. */
static void start(void)
{
    struct loop *l;
    struct dispatcher *d;
    struct http_front *front;
    tf_err err;
    tf_err_clear(&err);
    port = (uint16_t)(20000 + getpid() % 20000);
    pthread_t t;
    if (loop_create(&l) < 0 || dispatcher_create(l, 2000, &d) < 0 ||
        http_front_start(l, d, port, 4096, 64, &front, &err) < 0 || !fake_listen_unix(&handler) ||
        pthread_create(&t, NULL, handler_main, NULL) != 0 ||
        pthread_create(&t, NULL, loop_main, l) != 0)
        abort();
    struct dispatch_endpoint ep = {.port = 0};
    snprintf(ep.path, sizeof ep.path, "%s", handler.path);
    if (dispatch_publish(d, "fn", &ep, 1, FAKE_WAIT_MS, NULL, &err) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int started;
    if (!started) {
        start();
        started = 1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0)
        abort();
    for (size_t sent = 0; sent < size;) {
        ssize_t n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the daemon closed early: what it read was enough */
        sent += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    /* The answer comes within milliseconds; the connection may stay open
     * after it (the server closes it at its header deadline). */
    char buf[4096];
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, 20) == 1 && read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
    return 0;
}
