/* GET /logs, once or followed: a follow polls once a second for the lines
 * written since the previous poll was sent, until SIGINT. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
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

/* One poll. since NULL: every line the daemon still has. */
static int poll_logs(const struct cli_config *cfg, const char *name, const char *since)
{
    char name_item[256], since_item[64];
    const char *query[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (name != NULL) {
        snprintf(name_item, sizeof name_item, "name=%s", name);
        query[n++] = name_item;
    }
    if (since != NULL) {
        snprintf(since_item, sizeof since_item, "since=%s", since);
        query[n++] = since_item;
    }
    struct cli_mgmt_call call = {.path = "/logs", .query = query, .tick = stop_on_sigint};
    return cli_mgmt_run(cfg, &call);
}

int cli_logs(const struct cli_config *cfg, const char *name, bool follow)
{
    if (!follow)
        return poll_logs(cfg, name, NULL);
    catch_sigint();
    char sent[32], previous[32];
    bool first = true;
    while (!interrupted) {
        /* Taken before the request leaves: a line written while it is under
         * way is then in the next poll's answer, never in neither. */
        cli_unix_time(sent, sizeof sent);
        int rc = poll_logs(cfg, name, first ? NULL : previous);
        if (interrupted)
            break;
        if (rc != CLI_EXIT_OK)
            return rc;
        memcpy(previous, sent, sizeof previous);
        first = false;
        pause_one_second();
    }
    return CLI_EXIT_OK;
}
