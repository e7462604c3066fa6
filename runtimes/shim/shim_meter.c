/* How long a call held the thread that ran it, as the thread pool judges
 * calls quick or stalling.
 *
 * Wall time alone blames the function for time its thread spent waiting for
 * a CPU: on a loaded machine (a hundred handlers on two cores) a call of a few
 * microseconds is now and then preempted for milliseconds, and judged by the
 * clock it sent quick functions to the worker threads for good. The kernel
 * counts a thread's context switches apart: a voluntary one means it slept
 * (the function blocked, which is the function's doing), an involuntary one
 * means it was preempted. */
#include "shim.h"

#include <sys/resource.h>
#include <time.h>

int64_t shim_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t timeval_us(struct timeval tv)
{
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void meter_read(struct shim_meter *m)
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    m->voluntary = ru.ru_nvcsw;
    m->preempted = ru.ru_nivcsw;
    m->cpu_us = timeval_us(ru.ru_utime) + timeval_us(ru.ru_stime);
}

void shim_meter_start(struct shim_meter *m)
{
    meter_read(m);
}

int64_t shim_meter_held_us(const struct shim_meter *m, int64_t took_us)
{
    struct shim_meter now;
    meter_read(&now);
    if (now.voluntary != m->voluntary || now.preempted == m->preempted)
        return took_us; /* it slept, or it ran all along */
    /* Preempted but never asleep: only the CPU it had counts. The kernel
     * accounts a running thread's CPU at switches and ticks, so this may fall
     * short by the last stretch; a function that is really slow still shows
     * it on its next call that runs unpreempted. */
    int64_t cpu = now.cpu_us - m->cpu_us;
    return cpu < took_us ? cpu : took_us;
}
