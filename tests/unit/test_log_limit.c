/* A warning a network peer can cause is logged within its budget: the lines
 * past it are counted, and the count comes with the next window's first line. */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "log_capture.h"

static void test_budget_then_count(void)
{
    static struct log_limit l = LOG_LIMIT_INIT("test lines", 3, 2);
    for (int i = 0; i < 100; i++)
        log_warn_limited(&l, "peer %d misbehaved", i);
    char *text = log_take();
    CHECKF(log_count(text, " warn peer ") == 3, "%d lines", log_count(text, " warn peer "));
    CHECK(strstr(text, "peer 0 misbehaved") && strstr(text, "peer 2 misbehaved"));
    CHECK(log_count(text, "not logged") == 0);
    free(text);

    usleep(2100 * 1000); /* the next window */
    log_warn_limited(&l, "peer %d misbehaved", 100);
    text = log_take();
    const char *count_line =
        strstr(text, " warn 97 more test lines not logged (at most 3 every 2 s)\n");
    CHECK(count_line != NULL);
    CHECK(strstr(text, "peer 100 misbehaved") != NULL);
    CHECK(log_count(text, "\n") == 2);
    free(text);
}

static struct log_limit shared = LOG_LIMIT_INIT("racing lines", 10, 60);

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2000; i++)
        log_warn_limited(&shared, "line %d", i);
    return NULL;
}

/* Threads share one budget: ten lines in all, however they race. */
static void test_threads_share_the_budget(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *text = log_take();
    CHECKF(log_count(text, " warn line ") == 10, "%d lines", log_count(text, " warn line "));
    free(text);
}

int main(void)
{
    if (log_capture_start() < 0)
        return 2;
    test_budget_then_count();
    test_threads_share_the_budget();
    log_capture_stop();
    return check_summary();
}
