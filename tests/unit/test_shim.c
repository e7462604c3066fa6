/* Drives the real tinyfaas-shim (argv[1]) over TCP on loopback, the way the
 * daemon does: READY, then CALLs, several in flight on one connection. */
#include "hproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "handler_client.h"

#define WAIT_MS 20000 /* a generous bound so a broken shim fails the test instead of hanging it */

static char dir[] = "/tmp/tf-test-shim-XXXXXX";

static void write_file(const char *name, const char *text)
{
    char tmp[256], path[256];
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        perror("write_file");
        exit(1);
    }
}

/* The shim on port, or on the unix socket at socket_path when that is set. */
static pid_t start_shim(const char *path, int port, const char *socket_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        setenv("TINYFAAS_PORT", p, 1);
        if (socket_path != NULL)
            setenv("TINYFAAS_SOCKET", socket_path, 1);
        setenv("TINYFAAS_FN_DIR", dir, 1);
        setenv("TINYFAAS_SH", "/bin/sh", 1);
        setenv("TF_OPERATOR_VAR", "from-operator", 1);
        execl(path, path, "binary", (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* One call, one reply, checked. */
static void round_trip(int fd, struct hproto_reader *r, uint32_t id, const void *body, size_t len,
                       uint16_t want_status, const void *want, size_t want_len)
{
    CHECK(send_call_headers(fd, id, NULL, 0, body, len));
    CHECK(recv_msg(fd, r) == 1);
    CHECK(is_reply(id, want_status, want, want_len));
}

static void test_echo(int fd, struct hproto_reader *r)
{
    static char big[100000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(rand() & 0xff);
    write_file("fn.sh", "#!/bin/sh\ncat\n");
    round_trip(fd, r, 1, "hello", 5, 200, "hello", 5);
    round_trip(fd, r, 2, "", 0, 200, "", 0);
    round_trip(fd, r, 3, big, sizeof big, 200, big, sizeof big);
}

static void test_pipelined(int fd, struct hproto_reader *r)
{
    char bodies[20][16];
    bool seen[20] = {false};
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    for (uint32_t i = 0; i < 20; i++) {
        snprintf(bodies[i], sizeof bodies[i], "msg-%u", 1000 + i);
        struct hproto_call call = {1000 + i, {"POST", 4}, NULL, 0, {bodies[i], strlen(bodies[i])}};
        hproto_pack_call(&buf, &call);
    }
    CHECK(send_all(fd, buf.data, buf.size)); /* all 20 in one write: in flight together */
    msgpack_sbuffer_destroy(&buf);
    int good = 0;
    for (int n = 0; n < 20; n++) {
        if (recv_msg(fd, r) != 1 || msg.type != HPROTO_REPLY)
            break;
        uint32_t i = msg.u.reply.id - 1000;
        if (i < 20 && !seen[i] && is_reply(1000 + i, 200, bodies[i], strlen(bodies[i]))) {
            seen[i] = true;
            good++;
        }
    }
    CHECK(good == 20);
}

static void test_failures(int fd, struct hproto_reader *r)
{
    write_file("fn.sh", "echo oops >&2; exit 3\n");
    round_trip(fd, r, 10, "x", 1, 500, "oops\n", 5);
    write_file("fn.sh", "exit 4\n");
    round_trip(fd, r, 11, "", 0, 500, "fn.sh exited with status 4", 26);
    write_file("fn.sh", "kill -9 $$\n");
    round_trip(fd, r, 12, "", 0, 500, "fn.sh killed by signal 9", 24);
    /* A function that ignores a large body still answers (the shim sees EPIPE). */
    static char big[200000];
    write_file("fn.sh", "echo ignored\n");
    round_trip(fd, r, 13, big, sizeof big, 200, "ignored\n", 8);
}

static void test_env(int fd, struct hproto_reader *r)
{
    struct hproto_header hs[2] = {{{"X-Foo", 5}, {"bar baz", 7}}, {{"Proxy", 5}, {"evil", 4}}};
    write_file("fn.sh",
               "printf '%s|%s|%s|%s' \"$HTTP_X_FOO\" \"$REQUEST_METHOD\" \"$TF_OPERATOR_VAR\" "
               "\"${HTTP_PROXY-unset}\"\n");
    CHECK(send_call_headers(fd, 20, hs, 2, "", 0));
    CHECK(recv_msg(fd, r) == 1);
    const char *want = "bar baz|POST|from-operator|unset";
    CHECK(is_reply(20, 200, want, strlen(want)));
}

/* Closing the connection kills the calls still running on it. */
static void test_close_kills(int port)
{
    char pidfile[256], text[32] = "";
    snprintf(pidfile, sizeof pidfile, "%s/pid", dir);
    write_file("fn.sh", "echo $$ > pid.tmp && mv pid.tmp pid; exec sleep 60\n");
    struct hproto_reader r;
    hproto_reader_init(&r, 1 << 20);
    int fd = connect_handler(port);
    CHECK(fd >= 0 && recv_msg(fd, &r) == 1 && msg.type == HPROTO_READY);
    CHECK(send_call_headers(fd, 30, NULL, 0, "", 0));
    FILE *f = NULL;
    for (int waited = 0; waited < WAIT_MS && (f = fopen(pidfile, "r")) == NULL; waited += 20)
        sleep_ms(20);
    CHECK(f != NULL && fgets(text, sizeof text, f) != NULL);
    if (f != NULL)
        fclose(f);
    pid_t child = (pid_t)atoi(text);
    CHECK(child > 0 && kill(child, 0) == 0);
    close(fd);
    bool gone = false;
    for (int waited = 0; waited < WAIT_MS && !gone; waited += 20) {
        gone = child > 0 && kill(child, 0) < 0 && errno == ESRCH;
        if (!gone)
            sleep_ms(20);
    }
    CHECK(gone); /* killed and reaped: not even a zombie is left */
    unlink(pidfile);
    hproto_reader_free(&r);
}

/* With TINYFAAS_SOCKET the shim listens on that unix socket, replacing a
 * stale one a previous handler left, and not on its port. */
static void test_unix_socket(const char *shim_path)
{
    char sock[256];
    snprintf(sock, sizeof sock, "%s/handler.sock", dir);
    write_file("handler.sock", "stale");
    write_file("fn.sh", "#!/bin/sh\ncat\n");
    int port = free_port();
    pid_t shim = start_shim(shim_path, port, sock);
    struct hproto_reader r;
    hproto_reader_init(&r, 1 << 20);
    int fd = connect_unix(sock);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(recv_msg(fd, &r) == 1 && msg.type == HPROTO_READY);
        round_trip(fd, &r, 40, "over unix", 9, 200, "over unix", 9);
        close(fd);
    }
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(tcp, (struct sockaddr *)&sa, sizeof sa) < 0 && errno == ECONNREFUSED);
    close(tcp);
    int status = -1;
    kill(shim, SIGTERM);
    waitpid(shim, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unlink(sock);
    hproto_reader_free(&r);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_shim PATH-TO-tinyfaas-shim\n");
        return 2;
    }
    srand(4242);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    int port = free_port();
    pid_t shim = start_shim(argv[1], port, NULL);
    CHECK(shim > 0);
    struct hproto_reader r;
    hproto_reader_init(&r, 1 << 24);
    int fd = connect_handler(port);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(recv_msg(fd, &r) == 1);
        CHECK(msg.type == HPROTO_READY && msg.u.ready.version == HPROTO_VERSION);
        CHECK(msg.u.ready.runtime.len == 6 && memcmp(msg.u.ready.runtime.ptr, "binary", 6) == 0);
        test_echo(fd, &r);
        test_pipelined(fd, &r);
        test_failures(fd, &r);
        test_env(fd, &r);
        test_close_kills(port);
        close(fd);
    }
    hproto_reader_free(&r);

    int status = -1;
    kill(shim, SIGTERM);
    waitpid(shim, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* SIGTERM is a clean exit */
    test_unix_socket(argv[1]);
    char path[256];
    snprintf(path, sizeof path, "%s/fn.sh", dir);
    unlink(path);
    CHECK(rmdir(dir) == 0); /* nothing else left behind */
    return check_summary();
}
