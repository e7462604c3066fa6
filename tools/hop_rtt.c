/* hop-rtt: the bare cost of one hop between two processes here. A parent
 * and a forked child pass one byte back and forth over a socketpair, one in
 * flight, each blocking in read(): every round trip is two wake-ups of a
 * sleeping process, which is what a call to a handler costs at the least
 * before any work. On a virtual machine that cost varies more from machine
 * to machine than anything tinyfaas does, so the benchmark measures it.
 *
 *   hop-rtt [-d SECONDS] [-j]
 *   (under taskset, both processes share what it allows: one CPU, say) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* The child: sends back every byte until the parent closes its end. */
static void echo_bytes(int fd)
{
    char c;
    while (read(fd, &c, 1) == 1)
        if (write(fd, &c, 1) != 1)
            break;
    _exit(0);
}

int main(int argc, char **argv)
{
    double seconds = 5;
    bool json = false;
    int opt;
    while ((opt = getopt(argc, argv, "d:j")) != -1) {
        if ((opt == 'd' && bench_parse_seconds(optarg, &seconds) < 0) || opt == '?') {
            fprintf(stderr, "usage: hop-rtt [-d SECONDS] [-j]\n");
            return 2;
        }
        json = json || opt == 'j';
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("hop-rtt: socketpair");
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        echo_bytes(sv[1]);
    }
    close(sv[1]);
    struct bench_stats st = {0};
    uint64_t start = bench_now_ns(), end = start + (uint64_t)(seconds * 1e9), now = start;
    char c = 'x';
    while (now < end) {
        uint64_t t0 = bench_now_ns();
        if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) {
            st.errors++;
            break;
        }
        now = bench_now_ns();
        if (bench_stats_answer(&st, now - t0, true) < 0)
            break;
    }
    close(sv[0]);
    waitpid(child, NULL, 0);
    bench_stats_report(&st, (double)(now - start) / 1e9, json, stdout);
    bench_stats_free(&st);
    return st.errors == 0 ? 0 : 1;
}
