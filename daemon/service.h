/* The service manager's view of the daemon (sd_notify): started, stopping. */
#ifndef TF_SERVICE_H
#define TF_SERVICE_H

/* Tells systemd the daemon's state ("READY=1", "STOPPING=1"); does nothing
 * when no service manager listens. */
void service_notify(const char *state);

#endif
