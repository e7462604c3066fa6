#include "paths.h"

#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The folder of the running program, symbolic links resolved; "." when
 * /proc is not there. */
static void program_dir(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(out, size, ".");
        return;
    }
    exe[n] = '\0';
    snprintf(out, size, "%s", dirname(exe));
}

static bool same_dir(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    return realpath(a, ra) != NULL && realpath(b, rb) != NULL && strcmp(ra, rb) == 0;
}

/* rel (absolute, or from dir), its ".." resolved: it is logged. A path too
 * long to hold is left empty rather than cut short into another one. */
static void resolve(char *out, size_t size, const char *dir, const char *rel)
{
    char joined[PATH_MAX], real[PATH_MAX];
    int n = rel[0] == '/' ? snprintf(joined, sizeof joined, "%s", rel)
                          : snprintf(joined, sizeof joined, "%s/%s", dir, rel);
    const char *best = n < (int)sizeof joined && realpath(joined, real) != NULL ? real : joined;
    if (snprintf(out, size, "%s", best) >= (int)size)
        out[0] = '\0';
}

void paths_default(struct paths *p)
{
    char dir[PATH_MAX];
    program_dir(dir, sizeof dir);
    if (same_dir(dir, TINYFAAS_BUILD_ROOT)) {
        resolve(p->runtime_dir, sizeof p->runtime_dir, dir, TINYFAAS_SOURCE_RUNTIME_DIR);
        resolve(p->shim, sizeof p->shim, dir, "runtimes/tinyfaas-shim");
        return;
    }
    resolve(p->runtime_dir, sizeof p->runtime_dir, dir, TINYFAAS_INSTALLED_RUNTIME_DIR);
    resolve(p->shim, sizeof p->shim, dir, TINYFAAS_INSTALLED_SHIM);
}
