/* Clocks: monotonic for durations, the wall clock for the daemon's "since". */
#include <stdio.h>
#include <time.h>

#include "cli.h"

long long cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_unix_time(char *buf, size_t size)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, size, "%lld.%06ld", (long long)ts.tv_sec, ts.tv_nsec / 1000);
}
