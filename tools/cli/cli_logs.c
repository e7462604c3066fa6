/* GET /logs, once or followed: a follow polls once a second for the lines
 * written since the previous poll was sent, with their times, so a line two
 * polls both hold is shown once; until SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Without SA_RESTART, so that the pause between polls ends at once. */
static void catch_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* A cli_tick_fn: a poll in flight is abandoned on SIGINT. */
static int stop_on_sigint(void *unused)
{
    (void)unused;
    return interrupted;
}

static void pause_one_second(void)
{
    struct timespec left = {1, 0};
    while (!interrupted && nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

/* One poll's request. since NULL: every line the daemon still has. */
static void poll_call(struct cli_mgmt_call *call, const char *query[4], char *name_item,
                      char *since_item, const char *name, const char *since, bool timestamps)
{
    size_t n = 0;
    if (name != NULL) {
        snprintf(name_item, 256, "name=%s", name);
        query[n++] = name_item;
    }
    if (since != NULL) {
        snprintf(since_item, 64, "since=%s", since);
        query[n++] = since_item;
    }
    if (timestamps)
        query[n++] = "timestamps=1";
    query[n] = NULL;
    *call = (struct cli_mgmt_call){.path = "/logs", .query = query, .tick = stop_on_sigint};
}

/* The lines of the previous poll's answer, with their times: a poll asks
 * from when the previous one was sent, so both may hold a line written in
 * between. The same handler, nanosecond and text is the same line. */
struct seen {
    char *text; /* the previous answer, lines NUL-separated */
    size_t len;
};

static bool seen_before(const struct seen *s, const char *line)
{
    for (size_t off = 0; off < s->len; off += strlen(s->text + off) + 1)
        if (strcmp(s->text + off, line) == 0)
            return true;
    return false;
}

/* "function=N handler=ID TIME TEXT" printed without its TIME. */
static void print_without_time(const char *line)
{
    const char *handler = strstr(line, " handler=");
    const char *time = handler != NULL ? strchr(handler + 1, ' ') : NULL;
    const char *text = time != NULL ? strchr(time + 1, ' ') : NULL;
    if (text == NULL) {
        puts(line);
        return;
    }
    printf("%.*s%s\n", (int)(time - line), line, text);
}

/* Prints the lines of body not in *prev, then makes body the new *prev. */
static void print_new_lines(struct cli_answer *a, struct seen *prev)
{
    for (size_t i = 0; i < a->len; i++)
        if (a->body[i] == '\n')
            a->body[i] = '\0';
    for (size_t off = 0; off < a->len; off += strlen(a->body + off) + 1)
        if (a->body[off] != '\0' && !seen_before(prev, a->body + off))
            print_without_time(a->body + off);
    fflush(stdout);
    free(prev->text);
    *prev = (struct seen){a->body, a->len};
    a->body = NULL;
}

int cli_logs(const struct cli_config *cfg, const char *name, bool follow)
{
    struct cli_mgmt_call call;
    const char *query[4];
    char name_item[256], since_item[64];
    if (!follow) {
        poll_call(&call, query, name_item, since_item, name, NULL, false);
        return cli_mgmt_run(cfg, &call);
    }
    catch_sigint();
    char sent[32], previous[32];
    bool first = true;
    struct seen prev = {0};
    int rc = CLI_EXIT_OK;
    while (!interrupted) {
        /* Taken before the request leaves: a line written while it is under
         * way is then in the next poll's answer, never in neither. */
        cli_unix_time(sent, sizeof sent);
        poll_call(&call, query, name_item, since_item, name, first ? NULL : previous, true);
        struct cli_answer a;
        struct cli_err e;
        if (cli_mgmt_request(cfg, &call, &a, &e) < 0) {
            if (!interrupted)
                rc = cli_report(&e);
            break;
        }
        if (!a.ok) {
            rc = cli_answer_print(&a);
            cli_answer_free(&a);
            break;
        }
        print_new_lines(&a, &prev);
        cli_answer_free(&a);
        memcpy(previous, sent, sizeof previous);
        first = false;
        pause_one_second();
    }
    free(prev.text);
    return rc;
}
