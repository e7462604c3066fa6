/* Under the journal (JOURNAL_STREAM names stderr's device and inode) each
 * line starts with its syslog priority, without a time stamp; a message of
 * several lines carries it on each. The stamped format outside is what the
 * integration tests read. */
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "log_capture.h"

static void test_journal_lines(void)
{
    log_set_debug(1);
    log_debug("debugging %d", 1);
    log_info("serving");
    log_warn("odd");
    log_error("broken");
    log_error("first line\nsecond line");
    char *text = log_take();
    const char *want = "<7>debug debugging 1\n<6>info serving\n<4>warn odd\n<3>error broken\n"
                       "<3>error first line\n<3>error second line\n";
    CHECKF(strcmp(text, want) == 0, "got:\n%s", text);
    free(text);
}

int main(void)
{
    struct stat st;
    char stream[64];
    if (log_capture_start() < 0 || fstat(STDERR_FILENO, &st) < 0)
        return 2;
    /* Before the first line: the log looks once. */
    snprintf(stream, sizeof stream, "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", stream, 1);
    test_journal_lines();
    log_capture_stop();
    return check_summary();
}
