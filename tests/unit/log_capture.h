/* For tests that check what the daemon logs: stderr, where the log writes,
 * goes to a file of the test's own, read back and emptied by log_take(). */
#ifndef TF_TEST_LOG_CAPTURE_H
#define TF_TEST_LOG_CAPTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_CAPTURE_MAX (1 << 20)

static char log_capture_path[256];

/* Sends stderr to a new file in the temporary folder. Return 0 or -1. */
static inline int log_capture_start(void)
{
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : P_tmpdir;
    snprintf(log_capture_path, sizeof log_capture_path, "%s/tf-test-log.XXXXXX", tmp);
    int fd = mkstemp(log_capture_path);
    if (fd < 0 || dup2(fd, STDERR_FILENO) < 0)
        return -1;
    close(fd);
    return 0;
}

static inline void log_capture_stop(void)
{
    unlink(log_capture_path);
}

/* The lines written since the last call (malloc'd). */
static inline char *log_take(void)
{
    fflush(stderr);
    FILE *f = fopen(log_capture_path, "r");
    char *text = calloc(1, LOG_CAPTURE_MAX);
    if (text == NULL)
        abort();
    if (f != NULL) {
        text[fread(text, 1, LOG_CAPTURE_MAX - 1, f)] = '\0';
        fclose(f);
    }
    if (ftruncate(STDERR_FILENO, 0) != 0 || lseek(STDERR_FILENO, 0, SEEK_SET) != 0)
        perror("truncate");
    return text;
}

/* How many times needle occurs in text. */
static inline int log_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

#endif
