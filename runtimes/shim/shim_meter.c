/* How long a call held the thread that ran it, as the thread pool judges
 * calls quick or stalling.
 *
 * Wall time alone blames the function for time its thread spent waiting for
 * a CPU: on a loaded machine (a hundred handlers on two cores) a call of a few
 * microseconds is now and then preempted for milliseconds, and judged by the
 * clock it sent quick functions to the worker threads for good. So a call is
 * judged by the CPU time its thread had, unless the thread slept meanwhile
 * (a voluntary context switch: the function blocked, which is the function's
 * doing, and then the whole wall time counts).
 *
 * The CPU time comes from CLOCK_THREAD_CPUTIME_ID, which brings the running
 * thread's account up to date when read. getrusage() does not: its CPU time
 * lags by up to a scheduler tick (4 ms at HZ=250).
 *
 * A thread's CPU time also holds what its context switches cost: on a
 * virtual machine under load they dwarf a quick call's own. So the meter
 * says whether a call was preempted, and the judge (shim_inline.c) does not
 * count such a call as slow. */
#include "shim.h"

#include <sys/resource.h>
#include <time.h>

int64_t shim_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void meter_read(struct shim_meter *m)
{
    struct rusage ru;
    struct timespec ts;
    getrusage(RUSAGE_THREAD, &ru);
    m->voluntary = ru.ru_nvcsw;
    m->preempted = ru.ru_nivcsw;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    m->cpu_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void shim_meter_start(struct shim_meter *m)
{
    meter_read(m);
}

struct shim_held shim_meter_held(const struct shim_meter *m, int64_t took_us)
{
    struct shim_meter now;
    meter_read(&now);
    struct shim_held h = {took_us, now.voluntary != m->voluntary, now.preempted != m->preempted};
    int64_t cpu = now.cpu_us - m->cpu_us;
    if (!h.slept && cpu < took_us)
        h.us = cpu;
    return h;
}
