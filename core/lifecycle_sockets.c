/* The unix transport's socket folders: one per handler on the host, bind-
 * mounted into its container at HANDLER_SOCKET_MOUNT. Each is a tmpfs of its
 * own, so the only host folder a handler can write to holds a few kilobytes
 * of memory, not disk, and is gone, whatever the handler left in it, once
 * the folder is unmounted. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifecycle_internal.h"
#include "log.h"

/* Room for the socket and a stray file or two, nothing more: a handler
 * needs one inode, its socket, which takes no data. */
#define SOCKET_FS_OPTIONS "size=64k,nr_inodes=16,mode=0700"
#define SOCKET_FS_FLAGS   (MS_NOSUID | MS_NODEV | MS_NOEXEC)

/* Mounts a fresh socket tmpfs on dir, owned by the handlers' user. */
static int mount_socket_fs(const char *dir)
{
    char opts[128];
    snprintf(opts, sizeof opts, "%s,uid=%d,gid=%d", SOCKET_FS_OPTIONS, LIFECYCLE_HANDLER_UID,
             LIFECYCLE_HANDLER_UID);
    return mount("tinyfaas-socket", dir, "tmpfs", SOCKET_FS_FLAGS, opts) < 0 ? -errno : 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

/* Unmounts dir (a no-op when nothing is mounted there), then removes it with
 * whatever is in it: a folder of an earlier version without its own tmpfs
 * may hold what a handler wrote. Links are removed, never followed. */
static void remove_socket_dir(const char *dir)
{
    if (umount2(dir, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        log_warn("cannot unmount %s: %s", dir, strerror(errno));
    if (rmdir(dir) < 0 && errno == ENOTEMPTY)
        nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

int lifecycle_check_socket_dir(const char *socket_dir, tf_err *err)
{
    char probe[256];
    snprintf(probe, sizeof probe, "%s/probe", socket_dir);
    remove_socket_dir(probe); /* what a killed probe left */
    if (mkdir(probe, 0700) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot make %s: %s", probe, strerror(errno));
    int rc = mount_socket_fs(probe);
    remove_socket_dir(probe);
    if (rc < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot mount a tmpfs on %s: %s", probe,
                          strerror(-rc));
    return 0;
}

void lifecycle_socket_dir(const struct lifecycle *lc, const struct function_record *r, size_t i,
                          char *out, size_t size)
{
    snprintf(out, size, "%s/%u.%zu", lc->cfg.socket_dir, r->version, i);
}

int lifecycle_make_socket_dir(struct lifecycle *lc, const struct function_record *r, size_t i,
                              char *bind, size_t size, tf_err *err)
{
    char dir[256];
    lifecycle_socket_dir(lc, r, i, dir, sizeof dir);
    remove_socket_dir(dir); /* a handler replaced in place: its successor starts clean */
    if (mkdir(dir, 0700) < 0) {
        int e = errno;
        tf_err_set(err, TF_ERR_INTERNAL, "cannot make %s: %s", dir, strerror(e));
        return -e;
    }
    int rc = mount_socket_fs(dir);
    if (rc < 0) {
        rmdir(dir);
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot mount a tmpfs on %s: %s", dir,
                          strerror(-rc));
    }
    snprintf(bind, size, "%s:%s", dir, HANDLER_SOCKET_MOUNT);
    return 0;
}

void lifecycle_remove_socket_dirs(struct lifecycle *lc, const struct function_record *r,
                                  size_t from, size_t to)
{
    if (lc->cfg.socket_dir == NULL)
        return;
    for (size_t i = from; i < to; i++) {
        char dir[256];
        lifecycle_socket_dir(lc, r, i, dir, sizeof dir);
        remove_socket_dir(dir);
    }
}

void lifecycle_clear_socket_dirs(struct lifecycle *lc)
{
    DIR *d = lc->cfg.socket_dir != NULL ? opendir(lc->cfg.socket_dir) : NULL;
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", lc->cfg.socket_dir, e->d_name);
        remove_socket_dir(dir);
    }
    closedir(d);
}
