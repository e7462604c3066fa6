/* The function behind test_c_runtime: the header X-Test picks a behaviour,
 * so one handler covers every case. Written against tinyfaas.h like a user's
 * fn.c. */
#include "tinyfaas.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long ns_since(clockid_t clock, const struct timespec *since)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

static long elapsed_ns(const struct timespec *since)
{
    return ns_since(CLOCK_MONOTONIC, since);
}

/* This thread's CPU time since. */
static long cpu_ns(const struct timespec *since)
{
    return ns_since(CLOCK_THREAD_CPUTIME_ID, since);
}

/* Burns us microseconds of this thread's CPU time: slow however the thread
 * is scheduled. */
static void burn_cpu(long us)
{
    struct timespec start;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    while (cpu_ns(&start) < us * 1000)
        ;
}

/* Waits until `want` calls have come here (the first `want` meet; later ones
 * find them met) or 20 s passed; answers "met" or "alone". Proves that calls
 * run side by side without timing them. */
static const char *meet(int want)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    static int arrived;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 20;
    pthread_mutex_lock(&lock);
    if (++arrived >= want)
        pthread_cond_broadcast(&cond);
    int rc = 0;
    while (arrived < want && rc == 0)
        rc = pthread_cond_timedwait(&cond, &lock, &until);
    bool met = arrived >= want;
    pthread_mutex_unlock(&lock);
    return met ? "met" : "alone";
}

int tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)
{
    const char *t = tinyfaas_header(req, "x-test"); /* lookup ignores case */
    if (t == NULL || strcmp(t, "echo") == 0) {
        tinyfaas_set_content_type(res, "application/octet-stream");
        return tinyfaas_set_body(res, req->body, req->body_len);
    }
    if (strcmp(t, "header") == 0) {
        const char *v = tinyfaas_header(req, "X-Foo");
        tinyfaas_printf(res, "%s|%s|%s|%s", v != NULL ? v : "(none)", req->method, req->query,
                        req->content_type);
        return 0;
    }
    if (strcmp(t, "fail") == 0) {
        tinyfaas_set_string(res, "boom: ");
        tinyfaas_printf(res, "%d", 42);
        return 1;
    }
    if (strcmp(t, "fail-quiet") == 0)
        return 7;
    if (strcmp(t, "status") == 0) {
        tinyfaas_set_status(res, 404);
        return tinyfaas_set_string(res, "not here");
    }
    if (strcmp(t, "sleep") == 0) {
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
        return tinyfaas_set_body(res, req->body, req->body_len);
    }
    if (strcmp(t, "yield") == 0) {
        /* Gives the CPU away for 2 ms while using at most 20 µs of it: with
         * another process spinning on this CPU, what a quick call preempted
         * on a busy machine looks like. (sched_yield() returns at once when
         * the scheduler prefers this thread still, so without the bound the
         * loop would burn the CPU itself.) Answers whether it waited. */
        struct timespec start, cpu0;
        clock_gettime(CLOCK_MONOTONIC, &start);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
        while (elapsed_ns(&start) < 2000000L && cpu_ns(&cpu0) < 20000L)
            sched_yield();
        tinyfaas_set_string(res, elapsed_ns(&start) >= 1000000L ? "waited:" : "ran:");
        return tinyfaas_printf(res, "%.*s", (int)req->body_len, req->body);
    }
    if (strcmp(t, "cold") == 0) {
        /* What a thread's first call costs where page faults are dear. */
        static __thread bool warmed;
        if (!warmed)
            burn_cpu(300);
        warmed = true;
        return tinyfaas_set_body(res, req->body, req->body_len);
    }
    if (strcmp(t, "spin") == 0) {
        burn_cpu(3000);
        return tinyfaas_set_body(res, req->body, req->body_len);
    }
    if (strcmp(t, "meet") == 0) {
        tinyfaas_printf(res, "%s:", meet(8));
        return tinyfaas_printf(res, "%.*s", (int)req->body_len, req->body);
    }
    if (strcmp(t, "where") == 0)
        return tinyfaas_set_string(res, gettid() == getpid() ? "loop" : "worker");
    tinyfaas_set_string(res, "unknown X-Test");
    return 1;
}
