/* Where the daemon finds what it was built or installed with: its runtime
 * recipes and the static handler shim. */
#ifndef TF_PATHS_H
#define TF_PATHS_H

#include <stddef.h>

struct paths {
    char runtime_dir[512];
    char shim[512];
};

/* The defaults: the source tree's recipes and the build's shim for a daemon
 * run from its build dir; otherwise those installed with it, found from its
 * own folder, so that a --destdir or moved install finds its own. */
void paths_default(struct paths *p);

#endif
