/* sd_notify's protocol, written out rather than linking libsystemd for it:
 * one datagram to the socket systemd names in NOTIFY_SOCKET, an interface
 * systemd keeps stable and documents for exactly this (sd_notify(3),
 * "Standalone implementations"). libsystemd would cost the idle daemon
 * 0.86 MB of RSS (it brings libgcrypt, liblz4 and libcap along), and the
 * tiny profile, which links nothing but glibc, could not have it at all. */
#include "service.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void service_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = path != NULL ? strlen(path) : 0;
    /* A file system path, or "@name" in the abstract namespace. */
    if (len < 2 || len >= sizeof sa.sun_path || (path[0] != '/' && path[0] != '@'))
        return;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* Best effort, as sd_notify: a manager that is not listening changes nothing. */
    (void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
                 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}
