/* The process_* metrics every Prometheus client library exports, read from
 * /proc at scrape time, named and typed as they are, so standard dashboards
 * work unchanged. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics_text.h"

/* The figures of /proc/self/stat that are wanted (proc(5) numbers them). */
struct proc_stat {
    unsigned long utime, stime; /* 14, 15: clock ticks */
    unsigned long long start;   /* 22: clock ticks after boot */
    unsigned long vsize;        /* 23: bytes */
    long rss;                   /* 24: pages */
};

static int read_stat(struct proc_stat *st)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (2) may hold spaces and parentheses: fields resume
     * after its last ')', at field 3. */
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    int got = sscanf(p + 1,
                     " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d"
                     " %*d %llu %lu %ld",
                     &st->utime, &st->stime, &st->start, &st->vsize, &st->rss);
    return got == 5 ? 0 : -1;
}

/* The boot time, seconds since the epoch (btime in /proc/stat). */
static long long boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    return btime;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the one opendir holds */
}

static void sample(FILE *f, const char *name, const char *type, const char *help, double v)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void metrics_proc_write(FILE *f)
{
    struct proc_stat st;
    double tick = (double)sysconf(_SC_CLK_TCK);
    if (read_stat(&st) == 0) {
        sample(f, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.",
               (double)(st.utime + st.stime) / tick);
        sample(f, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
               (double)st.rss * (double)sysconf(_SC_PAGESIZE));
        sample(f, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
               (double)st.vsize);
        long long btime = boot_time();
        if (btime >= 0)
            sample(f, "process_start_time_seconds", "gauge",
                   "Start time of the process since unix epoch in seconds.",
                   (double)btime + (double)st.start / tick);
    }
    long fds = open_fds();
    if (fds >= 0)
        sample(f, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0)
        sample(f, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
               (double)r.rlim_cur);
}
