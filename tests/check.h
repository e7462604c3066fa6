/* The tests' one assertion kit: count, report where a check failed, and end
 * with the "N passed, M failed" line the test runners read. */
#ifndef TF_TEST_CHECK_H
#define TF_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static int check_passed, check_failed;

__attribute__((format(printf, 5, 6), unused)) static void
check_record(int ok, const char *file, int line, const char *expr, const char *fmt, ...)
{
    if (ok) {
        check_passed++;
        return;
    }
    check_failed++;
    printf("FAIL %s:%d: %s", file, line, expr);
    if (fmt != NULL && fmt[0] != '\0') {
        va_list ap;
        va_start(ap, fmt);
        printf(": ");
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
}

#define CHECK(cond)       check_record(!!(cond), __FILE__, __LINE__, #cond, "%s", "")
#define CHECKF(cond, ...) check_record(!!(cond), __FILE__, __LINE__, #cond, __VA_ARGS__)

/* Prints the summary line; returns the process exit status. */
__attribute__((unused)) static int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

/* The time ms from now on clock, for the bounded waits of
 * pthread_cond_timedwait (CLOCK_REALTIME unless the condition says otherwise). */
__attribute__((unused)) static struct timespec check_deadline_in(clockid_t clock, int ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

#endif
