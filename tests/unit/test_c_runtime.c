/* Drives a c runtime handler (argv[1]: c_fn_test.c linked with
 * libtinyfaas-c.a) over TCP on loopback, the way the daemon does. */
#include "hproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "handler_client.h"

/* Keeps the caller, and what it forks later, on the first CPU it may use
 * (not always CPU 0 in a container limited to some CPUs). */
static bool pin_to_one_cpu(void)
{
    cpu_set_t allowed, one;
    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
        return false;
    int cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed))
        cpu++;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0;
}

/* Starts the handler; its stderr goes to stderr_fd unless that is -1, and
 * all its threads share one CPU with the spinner when pinned is set. */
static pid_t start_handler(const char *path, int port, int stderr_fd, bool pinned)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (stderr_fd >= 0)
            dup2(stderr_fd, STDERR_FILENO);
        if (pinned && !pin_to_one_cpu())
            _exit(126);
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        setenv("TINYFAAS_PORT", p, 1);
        setenv("TINYFAAS_THREADS", "8", 1);
        execl(path, path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Sends one CALL whose X-Test header picks the function's behaviour. */
static bool send_call(int fd, uint32_t id, const char *test, const struct hproto_header *extra,
                      size_t n_extra, const void *body, size_t len)
{
    struct hproto_header hs[8] = {{{"X-Test", 6}, {test, strlen(test)}}};
    for (size_t i = 0; i < n_extra && i < 7; i++)
        hs[i + 1] = extra[i];
    return send_call_headers(fd, id, hs, 1 + n_extra, body, len);
}

static bool type_is(const char *want)
{
    struct hproto_bytes ct = msg.u.reply.content_type;
    return ct.len == strlen(want) && memcmp(ct.ptr, want, ct.len) == 0;
}

/* One call, one reply, checked. */
static void round_trip(int fd, struct hproto_reader *r, uint32_t id, const char *test,
                       const void *body, size_t len, uint16_t want_status, const char *want,
                       size_t want_len)
{
    CHECK(send_call(fd, id, test, NULL, 0, body, len));
    CHECK(recv_msg(fd, r) == 1);
    CHECK(is_reply(id, want_status, want, want_len));
}

static void test_echo(int fd, struct hproto_reader *r)
{
    static char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(rand() & 0xff);
    round_trip(fd, r, 1, "echo", "hello", 5, 200, "hello", 5);
    CHECK(type_is("application/octet-stream"));
    round_trip(fd, r, 2, "echo", "", 0, 200, "", 0);
    round_trip(fd, r, 3, "echo", big, sizeof big, 200, big, sizeof big);
}

static void test_request(int fd, struct hproto_reader *r)
{
    struct hproto_header hs[3] = {{{"x-foo", 5}, {"bar baz", 7}},
                                  {{"X-Tinyfaas-Query", 16}, {"n=10&x", 6}},
                                  {{"content-type", 12}, {"text/csv", 8}}};
    CHECK(send_call(fd, 10, "header", hs, 3, "", 0));
    CHECK(recv_msg(fd, r) == 1);
    const char *want = "bar baz|POST|n=10&x|text/csv";
    CHECK(is_reply(10, 200, want, strlen(want)));
    CHECK(type_is("")); /* none set: the daemon assumes text/plain */
    want = "(none)|POST||";
    round_trip(fd, r, 11, "header", "", 0, 200, want, strlen(want));
}

static void test_failures(int fd, struct hproto_reader *r)
{
    round_trip(fd, r, 20, "fail", "x", 1, 500, "boom: 42", 8);
    round_trip(fd, r, 21, "fail-quiet", "", 0, 500, "fn returned 7", 13);
    round_trip(fd, r, 22, "status", "", 0, 404, "not here", 8);
}

/* 20 calls in one write, each waiting until 8 calls are in the function at
 * once (c_fn_test.c, "meet"): with 8 workers the first 8 meet and the rest
 * find them met, so every call answers "met:" and its own body. On one
 * thread, or fewer workers, the first call would wait alone and say so. */
static void test_concurrent(int fd, struct hproto_reader *r)
{
    char bodies[20][16], want[20][24];
    bool seen[20] = {false};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    struct hproto_header h = {{"X-Test", 6}, {"meet", 4}};
    for (uint32_t i = 0; i < 20; i++) {
        snprintf(bodies[i], sizeof bodies[i], "msg-%u", 1000 + i);
        snprintf(want[i], sizeof want[i], "met:%s", bodies[i]);
        struct hproto_call call = {1000 + i, {"POST", 4}, &h, 1, {bodies[i], strlen(bodies[i])}};
        hproto_pack_call(&buf, &call);
    }
    CHECK(send_all(fd, buf.data, buf.size));
    msgpack_sbuffer_destroy(&buf);
    int good = 0;
    for (int n = 0; n < 20; n++) {
        if (recv_msg(fd, r) != 1 || msg.type != HPROTO_REPLY)
            break;
        uint32_t i = msg.u.reply.id - 1000;
        if (i < 20 && !seen[i] && is_reply(1000 + i, 200, want[i], strlen(want[i]))) {
            seen[i] = true;
            good++;
        }
    }
    CHECKF(good == 20, "%d of 20 calls met 7 others", good);
}

/* A connection closed with calls still running must not take the handler
 * down: a new connection gets READY and answers. */
static void test_abandon(int port)
{
    struct hproto_reader r;
    hproto_reader_init(&r, 1 << 20);
    int fd = connect_handler(port);
    CHECK(fd >= 0 && recv_msg(fd, &r) == 1 && msg.type == HPROTO_READY);
    for (uint32_t i = 0; i < 20; i++)
        CHECK(send_call(fd, 50 + i, "sleep", NULL, 0, "x", 1));
    close(fd);
    fd = connect_handler(port);
    CHECK(fd >= 0 && recv_msg(fd, &r) == 1 && msg.type == HPROTO_READY);
    round_trip(fd, &r, 80, "echo", "again", 5, 200, "again", 5);
    close(fd);
    hproto_reader_free(&r);
}

static void stop_handler(pid_t pid)
{
    int status = -1;
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* SIGTERM is a clean exit */
}

static size_t count_in_file(const char *path, const char *needle)
{
    static char text[65536];
    FILE *f = fopen(path, "r");
    size_t len = f != NULL ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    text[len] = '\0';
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A handler whose stderr goes to a file of its own, connected and READY. */
struct logged_handler {
    char log[32];
    int log_fd;
    pid_t pid;
    int fd;
    struct hproto_reader r;
};

static void logged_start(struct logged_handler *h, const char *path, bool pinned)
{
    snprintf(h->log, sizeof h->log, "/tmp/tinyfaas-c-runtime-XXXXXX");
    h->log_fd = mkstemp(h->log);
    CHECK(h->log_fd >= 0);
    int port = free_port();
    h->pid = start_handler(path, port, h->log_fd, pinned);
    hproto_reader_init(&h->r, 1 << 20);
    h->fd = connect_handler(port);
    CHECK(h->fd >= 0 && recv_msg(h->fd, &h->r) == 1 && msg.type == HPROTO_READY);
}

/* Stops the handler and returns how often its log holds needle. */
static size_t logged_stop(struct logged_handler *h, const char *needle)
{
    close(h->fd);
    hproto_reader_free(&h->r);
    stop_handler(h->pid);
    size_t n = count_in_file(h->log, needle);
    close(h->log_fd);
    unlink(h->log);
    return n;
}

/* The handler's log lines when calls move to the loop thread, and when
 * they go back to the workers for good. */
#define INLINED "they run on the loop thread"
#define DEMOTED "calls run on worker threads from now on"

/* Sends n calls of kind test, each answered with its body. */
static void quick_calls(struct logged_handler *h, uint32_t first_id, int n, const char *test)
{
    for (uint32_t i = 0; i < (uint32_t)n; i++)
        round_trip(h->fd, &h->r, first_id + i, test, "quick", 5, 200, "quick", 5);
}

static void where_is(struct logged_handler *h, uint32_t id, const char *want)
{
    round_trip(h->fd, &h->r, id, "where", "", 0, 200, want, strlen(want));
}

/* Starts a handler and sends it 200 quick calls of kind test, after which
 * its calls run on the loop thread, as it says once. */
static void start_inline(struct logged_handler *h, const char *path, const char *test)
{
    logged_start(h, path, false);
    quick_calls(h, 100, 200, test);
    where_is(h, 300, "loop");
    CHECK(count_in_file(h->log, INLINED) == 1);
}

/* Quick calls move to the loop thread once the handler has timed enough of
 * them; the first call that then sleeps on the loop sends every later call
 * back to the workers, where slow calls run side by side again. */
static void test_inline_mode(const char *path)
{
    struct logged_handler h;
    start_inline(&h, path, "echo");
    round_trip(h.fd, &h.r, 301, "sleep", "stall", 5, 200, "stall", 5);
    where_is(&h, 302, "worker");
    test_concurrent(h.fd, &h.r);
    CHECK(logged_stop(&h, DEMOTED) == 1);
}

/* A worker thread's first call pays the thread's one-time costs (its stack's
 * first pages, its malloc arena), which a virtual machine with dear page
 * faults makes slower than the call itself: here 300 µs of CPU, on each of
 * the 8 workers. Those calls are not held against the function. */
static void test_cold_workers(const char *path)
{
    struct logged_handler h;
    start_inline(&h, path, "cold");
    CHECK(logged_stop(&h, DEMOTED) == 0);
}

/* A call that holds the loop thread's CPU over 1 ms once may be the
 * machine's doing (a virtual CPU its host takes away counts as CPU time):
 * calls stay on the loop. A second within 64 calls is the function's: they
 * go to the workers. One such call while learning is forgiven the same way. */
static void test_cpu_stalls(const char *path)
{
    struct logged_handler h;
    logged_start(&h, path, false);
    quick_calls(&h, 100, 30, "echo");
    round_trip(h.fd, &h.r, 130, "spin", "once", 4, 200, "once", 4);
    quick_calls(&h, 131, 100, "echo");
    where_is(&h, 300, "loop");
    round_trip(h.fd, &h.r, 301, "spin", "once", 4, 200, "once", 4);
    where_is(&h, 302, "loop");
    CHECK(count_in_file(h.log, DEMOTED) == 0);
    round_trip(h.fd, &h.r, 303, "spin", "twice", 5, 200, "twice", 5);
    where_is(&h, 304, "worker");
    CHECK(logged_stop(&h, DEMOTED) == 1);
}

/* Forks a process that spins on the CPU pin_to_one_cpu() picks until
 * killed; returns once it runs. */
static pid_t start_spinner(void)
{
    int ready[2];
    if (pipe(ready) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (!pin_to_one_cpu())
            _exit(126);
        (void)!write(ready[1], "", 1);
        for (;;)
            ;
    }
    char c;
    if (pid < 0 || read(ready[0], &c, 1) != 1)
        pid = -1;
    close(ready[0]);
    close(ready[1]);
    return pid;
}

static void stop_process(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* A call that waits for a CPU is not slow: with a process spinning on the
 * handler's only CPU, calls that give the CPU away for 2 ms each (yet use
 * next to none of it) are still judged quick, both while the handler learns
 * on its workers and once they run on the loop thread. A call that sleeps
 * still sends later calls back to the workers. */
static void test_preempted_calls(const char *path)
{
    pid_t spinner = start_spinner();
    CHECK(spinner > 0);
    struct logged_handler h;
    logged_start(&h, path, true);
    int waited = 0;
    for (uint32_t i = 0; i < 100; i++) {
        CHECK(send_call(h.fd, 400 + i, "yield", NULL, 0, "busy", 4));
        CHECK(recv_msg(h.fd, &h.r) == 1);
        bool w = is_reply(400 + i, 200, "waited:busy", 11);
        CHECK(w || is_reply(400 + i, 200, "ran:busy", 8));
        waited += w;
    }
    printf("# %d of 100 calls waited for the CPU they gave away\n", waited);
    where_is(&h, 500, "loop");
    CHECK(count_in_file(h.log, DEMOTED) == 0);
    round_trip(h.fd, &h.r, 501, "sleep", "stall", 5, 200, "stall", 5);
    where_is(&h, 502, "worker");
    if (spinner > 0)
        stop_process(spinner);
    CHECK(logged_stop(&h, DEMOTED) == 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_c_runtime PATH-TO-c_fn_test\n");
        return 2;
    }
    srand(4242);
    int port = free_port();
    pid_t handler = start_handler(argv[1], port, -1, false);
    CHECK(handler > 0);
    struct hproto_reader r;
    hproto_reader_init(&r, 1 << 24);
    int fd = connect_handler(port);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(recv_msg(fd, &r) == 1);
        CHECK(msg.type == HPROTO_READY && msg.u.ready.version == HPROTO_VERSION);
        CHECK(msg.u.ready.runtime.len == 1 && msg.u.ready.runtime.ptr[0] == 'c');
        test_echo(fd, &r);
        test_request(fd, &r);
        test_failures(fd, &r);
        test_concurrent(fd, &r);
        test_abandon(port);
        close(fd);
    }
    hproto_reader_free(&r);
    stop_handler(handler);
    test_inline_mode(argv[1]);
    test_cold_workers(argv[1]);
    test_cpu_stalls(argv[1]);
    test_preempted_calls(argv[1]);
    return check_summary();
}
