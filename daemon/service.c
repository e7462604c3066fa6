#include "service.h"

/* The one place libsystemd is fenced: the tiny profile, which links no
 * shared library but glibc, builds without it (and installs Type=simple). */
#ifdef TINYFAAS_SYSTEMD
#include <systemd/sd-daemon.h>

void service_notify(const char *state)
{
    sd_notify(0, state);
}
#else
void service_notify(const char *state)
{
    (void)state;
}
#endif
