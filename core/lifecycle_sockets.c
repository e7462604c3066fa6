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

static void socket_dir_of(const struct lifecycle *lc, unsigned version, size_t i, char *out,
                          size_t size)
{
    snprintf(out, size, "%s/%u.%zu", lc->cfg.socket_dir, version, i);
}

void lifecycle_socket_dir(const struct lifecycle *lc, const struct function_record *r, size_t i,
                          char *out, size_t size)
{
    socket_dir_of(lc, r->version, i, out, size);
}

bool lifecycle_is_leftover_dir(struct lifecycle *lc, const char *dir_name)
{
    unsigned version;
    size_t index;
    char tail;
    if (sscanf(dir_name, "%u.%zu%c", &version, &index, &tail) != 2)
        return false;
    bool found = false;
    pthread_mutex_lock(&lc->table_lock);
    for (size_t k = 0; k < lc->n_leftovers && !found; k++)
        found = lc->leftovers[k].version == version && lc->leftovers[k].index == index;
    pthread_mutex_unlock(&lc->table_lock);
    return found;
}

void lifecycle_remove_leftover_socket_dir(struct lifecycle *lc, const struct leftover *l)
{
    if (lc->cfg.socket_dir == NULL)
        return;
    char dir[256];
    socket_dir_of(lc, l->version, l->index, dir, sizeof dir);
    remove_socket_dir(dir);
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

/* Unmounts and removes every folder below socket_dir but the leftovers' of
 * lc (none when lc is NULL). */
static void clear_folder(const char *socket_dir, struct lifecycle *lc)
{
    DIR *d = opendir(socket_dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || (lc != NULL && lifecycle_is_leftover_dir(lc, e->d_name)))
            continue; /* a live handler's */
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", socket_dir, e->d_name);
        remove_socket_dir(dir);
    }
    closedir(d);
}

void lifecycle_clear_socket_dirs(struct lifecycle *lc)
{
    if (lc->cfg.socket_dir != NULL)
        clear_folder(lc->cfg.socket_dir, lc);
}

void lifecycle_clear_unused_sockets(const char *socket_dir)
{
    clear_folder(socket_dir, NULL);
}
