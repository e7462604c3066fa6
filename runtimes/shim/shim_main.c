/* tinyfaas-shim: the binary runtime's handler. Reads its settings and runs
 * the shared shim with the process executor. Usage: tinyfaas-shim binary */
#include "shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

int main(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "binary") != 0) {
        fprintf(stderr,
                "usage: tinyfaas-shim binary\n"
                "  env TINYFAAS_SOCKET (a unix socket path; unset: TCP),\n"
                "      TINYFAAS_PORT (default %d), TINYFAAS_FN_DIR (default /fn),\n"
                "      TINYFAAS_SH (default /bin/sh), TINYFAAS_SECRET_FILE (the\n"
                "      daemon must prove it; unset: no authentication)\n",
                HPROTO_DEFAULT_PORT);
        return 2;
    }
    shim_cfg.runtime = argv[1];
    shim_cfg.fn_dir = env_or("TINYFAAS_FN_DIR", "/fn");
    shim_cfg.sh = env_or("TINYFAAS_SH", "/bin/sh");
    fprintf(stderr, "tinyfaas-shim: function in %s\n", shim_cfg.fn_dir);
    return shim_run(&shim_exec_process);
}
