/* A deploy can wait seconds on an image build: a terminal shows how long,
 * on one line of stderr rewritten in place; pipes and logs see nothing. */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

void cli_progress_start(struct cli_progress *p, const char *name)
{
    p->name = name;
    p->on = isatty(STDERR_FILENO);
    p->start_ms = cli_now_ms();
    p->shown = -1;
    p->width = 0;
}

int cli_progress_tick(void *progress)
{
    struct cli_progress *p = progress;
    long long seconds = (cli_now_ms() - p->start_ms) / 1000;
    if (!p->on || seconds == p->shown)
        return 0;
    int n = fprintf(stderr, "\rdeploying %s: %lld s", p->name, seconds);
    if (n > 1)
        p->width = n - 1;
    p->shown = seconds;
    return 0;
}

void cli_progress_clear(struct cli_progress *p)
{
    if (p->on && p->width > 0)
        fprintf(stderr, "\r%*s\r", p->width, "");
    p->width = 0;
}
