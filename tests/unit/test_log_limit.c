/* A warning a network peer can cause is logged within its budget: the lines
 * past it are counted, and the count comes with the next window's first line. */
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char log_path[] = "/tmp/tf-test-log-limit.XXXXXX";

/* The lines written to stderr since the last call. */
static char *take_log(void)
{
    fflush(stderr);
    FILE *f = fopen(log_path, "r");
    char *text = calloc(1, 1 << 20);
    if (text == NULL)
        abort();
    if (f != NULL) {
        text[fread(text, 1, (1 << 20) - 1, f)] = '\0';
        fclose(f);
    }
    if (ftruncate(STDERR_FILENO, 0) != 0 || lseek(STDERR_FILENO, 0, SEEK_SET) != 0)
        perror("truncate");
    return text;
}

static int count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_budget_then_count(void)
{
    static struct log_limit l = LOG_LIMIT_INIT("test lines", 3, 2);
    for (int i = 0; i < 100; i++)
        log_warn_limited(&l, "peer %d misbehaved", i);
    char *text = take_log();
    CHECKF(count(text, " warn peer ") == 3, "%d lines", count(text, " warn peer "));
    CHECK(strstr(text, "peer 0 misbehaved") && strstr(text, "peer 2 misbehaved"));
    CHECK(count(text, "not logged") == 0);
    free(text);

    usleep(2100 * 1000); /* the next window */
    log_warn_limited(&l, "peer %d misbehaved", 100);
    text = take_log();
    const char *count_line =
        strstr(text, " warn 97 more test lines not logged (at most 3 every 2 s)\n");
    CHECK(count_line != NULL);
    CHECK(strstr(text, "peer 100 misbehaved") != NULL);
    CHECK(count(text, "\n") == 2);
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
    char *text = take_log();
    CHECKF(count(text, " warn line ") == 10, "%d lines", count(text, " warn line "));
    free(text);
}

int main(void)
{
    int fd = mkstemp(log_path);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
        return 2;
    close(fd);
    test_budget_then_count();
    test_threads_share_the_budget();
    unlink(log_path);
    return check_summary();
}
