/* SPDX-License-Identifier: MIT */
/* handles.c - what this process's manager handles share: the list of live
 * handles, the fork handlers that keep them usable in a forked child, and
 * the private directory that holds the socket files of their default
 * addresses (made at the first start, removed when the last user goes or
 * at exit).
 *
 * Fork: a forked child must not use its parent's sockets (replies would
 * reach the wrong process), so the fork handlers drop every pooled
 * connection in the child (closing only the child's copies of the fds),
 * and start the handles' locks and keeper state over. */
#include "server_internal.h"

#include "../platform/platform.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*--- the private directory of default addresses: its state ---------------*/

/* Like Python's util.get_temp_dir: one private directory (mode 0700) per
 * process, made at its first start of a manager with a default address
 * and shared by all of them (each has its own socket file in it). It is
 * removed at exit (atexit), or, in a process other than the session's
 * first (a child may leave through _exit), when its last such manager
 * shuts down. Per manager, removing a directory can cost a synchronous
 * block discard (~1 ms on ext4 mounted with "discard"); unlinking a
 * socket file frees no block. dir_* are guarded by dir_mu; a forked
 * child's copies are its parent's (dir_pid tells). */
static pthread_mutex_t dir_mu = PTHREAD_MUTEX_INITIALIZER;
static char *dir_path;     /* the directory, or NULL */
static pid_t dir_pid;      /* the process that made dir_path */
static unsigned dir_users; /* started handles with a socket in it */
static uint64_t dir_seq;   /* numbers the socket files */
static bool dir_atexit;    /* dir_at_exit registered (inherited by fork) */

/*--- the fork handlers ------------------------------------------------------*/

static pthread_mutex_t handles_mu = PTHREAD_MUTEX_INITIALIZER;
static mp_manager_t *handles; /* every live handle of this process */
static pthread_once_t handles_once = PTHREAD_ONCE_INIT;

/* atfork prepare: no pool may change while fork copies memory. */
static void
handles_prepare(void)
{
    pthread_mutex_lock(&dir_mu);
    pthread_mutex_lock(&handles_mu);
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        pthread_mutex_lock(&m->pool_mu);
    }
}

static void
handles_parent(void)
{
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        pthread_mutex_unlock(&m->pool_mu);
    }
    pthread_mutex_unlock(&handles_mu);
    pthread_mutex_unlock(&dir_mu);
}

/* atfork child: the pooled connections are the parent's; close the
 * child's copies (the parent's sockets stay as they are). life_mu may have
 * been held by the forking thread (mp_manager_start forks the server while
 * holding it), so it starts over unlocked. */
static void
handles_child(void)
{
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        /* The references connection too: the child holds no reference
         * (an inherited proxy uses its parent's). */
        mp__mgr_pool_forget(m);
        pthread_mutex_unlock(&m->pool_mu);
        /* ref_mu may have been held by another thread of the parent. */
        pthread_mutex_init(&m->ref_mu, NULL);
        pthread_mutex_init(&m->life_mu, NULL);
        /* The keeper thread is the parent's. */
        pthread_mutex_init(&m->keeper_mu, NULL);
        pthread_cond_init(&m->keeper_cv, NULL);
        m->keeper_running = false;
        /* The parent's socket file: the parent removes it. */
        m->dir_user = false;
        m->sock_tracked = false; /* the parent's registration */
    }
    pthread_mutex_unlock(&handles_mu);
    pthread_mutex_unlock(&dir_mu);
}

static void
handles_init(void)
{
    pthread_atfork(handles_prepare, handles_parent, handles_child);
}

void
mp__mgr_handles_add(mp_manager_t *m)
{
    pthread_once(&handles_once, handles_init);
    pthread_mutex_lock(&handles_mu);
    m->prev = NULL;
    m->next = handles;
    if (handles != NULL) {
        handles->prev = m;
    }
    handles = m;
    pthread_mutex_unlock(&handles_mu);
}

void
mp__mgr_handles_remove(mp_manager_t *m)
{
    pthread_mutex_lock(&handles_mu);
    if (m->prev != NULL) {
        m->prev->next = m->next;
    } else {
        handles = m->next;
    }
    if (m->next != NULL) {
        m->next->prev = m->prev;
    }
    pthread_mutex_unlock(&handles_mu);
}

/*--- the private directory of default addresses ----------------------------*/

/* atexit: removes this process's directory, first unlinking the socket
 * files of servers still running (they are being stopped: the process
 * registry SIGTERMs daemons at exit). */
static void
dir_at_exit(void)
{
    if (dir_path == NULL || dir_pid != mp__getpid()) {
        return;
    }
    int r = mp__plat_rmdir(dir_path);
    if (r == 0 || r != -ENOTEMPTY) {
        return;
    }
    if (pthread_mutex_trylock(&handles_mu) != 0) {
        return;
    }
    for (mp_manager_t *m = handles; m != NULL; m = m->next) {
        if (m->dir_user) {
            (void)mp__plat_unlink(m->sock_path);
        }
    }
    pthread_mutex_unlock(&handles_mu);
    (void)mp__plat_rmdir(dir_path);
}

/* Makes this process's directory unless it has one. dir_mu held. */
static int
dir_make_locked(void)
{
    pid_t self = mp__getpid();
    /* A server stopped by SIGTERM removes it once empty. */
    struct stat st;
    if (dir_path != NULL && dir_pid == self &&
        mp__plat_stat(dir_path, true, &st) == 0) {
        return 0;
    }
    if (dir_pid != self) {
        dir_users = 0; /* the parent's count */
    }
    mp__free(dir_path); /* gone, or this process's copy of its parent's */
    dir_path = NULL;
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    size_t n = strlen(base) + sizeof "/mp-mgr-XXXXXX";
    char *path = mp__malloc(n);
    if (path == NULL) {
        return MP_ENOMEM;
    }
    snprintf(path, n, "%s/mp-mgr-XXXXXX", base);
    int err = mp__plat_mkdtemp(path);
    if (err != 0) {
        mp__free(path);
        return err;
    }
    dir_path = path;
    dir_pid = self;
    /* Should this process die without its exit handler (SIGKILL), the
     * tracker removes the directory, once empty, with the tree. */
    (void)mp__tracker_register_file(path, NULL);
    if (!dir_atexit) {
        dir_atexit = atexit(dir_at_exit) == 0;
    }
    return 0;
}

/* Gives up m's use of the directory: the last user in a process other
 * than the session's first removes it. dir_mu not held. */
static void
dir_release(mp_manager_t *m)
{
    if (!m->dir_user) {
        return;
    }
    m->dir_user = false;
    pthread_mutex_lock(&dir_mu);
    if (dir_pid == mp__getpid() && dir_users > 0 && --dir_users == 0 &&
        dir_pid != mp__session_pid()) {
        (void)mp__plat_rmdir(dir_path);
        (void)mp__tracker_unregister_file(dir_path, NULL);
        mp__free(dir_path);
        dir_path = NULL;
    }
    pthread_mutex_unlock(&dir_mu);
}

/*--- a manager's socket path in it ----------------------------------------*/

int
mp__mgr_private_path_make(mp_manager_t *m)
{
    pthread_mutex_lock(&dir_mu);
    int err = dir_make_locked();
    if (err == 0) {
        size_t n = strlen(dir_path) + sizeof "/manager-.sock" + 20;
        m->sock_path = mp__malloc(n);
        if (m->sock_path == NULL) {
            err = MP_ENOMEM;
        } else {
            snprintf(m->sock_path, n, "%s/manager-%" PRIu64 ".sock", dir_path,
                     ++dir_seq);
            dir_users++;
            m->dir_user = true;
        }
    }
    pthread_mutex_unlock(&dir_mu);
    return err;
}

void
mp__mgr_private_path_remove(mp_manager_t *m)
{
    if (m->sock_tracked) {
        (void)mp__tracker_unregister_file(m->sock_path, &m->sock_st);
        m->sock_tracked = false;
    }
    if (m->dir_user) {
        (void)mp__plat_unlink(m->sock_path);
        dir_release(m);
    }
    mp__free(m->sock_path);
    m->sock_path = NULL;
}
