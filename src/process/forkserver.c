/* SPDX-License-Identifier: MIT */
/* forkserver.c - the forkserver start method: the protocol, and the
 * creator's client (start, restart, request, stop).
 *
 * The server is a spawned exec of the program (mp_main with
 * MP__BOOT_ARG_FORKSERVER), so it has one thread and none of its
 * creator's state, and a fork of it is safe whatever the creator's threads
 * hold. Its control channel is a SOCK_SEQPACKET pair: each request is one
 * message, so requests from several processes sharing it never mix.
 *
 * Request: "MPFQ" u8 version u8 daemon, with three fds (SCM_RIGHTS): the
 * child's end of its boot channel, the server's end of its status socket,
 * and the read end of the creator's parent-death pipe. The server forks;
 * the child closes every fd but its boot channel and that pipe and boots
 * (boot.c) as a spawned child does. The server writes the child's pid (i32)
 * on the status socket, and its exit code (i32: the status, or minus the
 * signal) once it has reaped it: the children are the server's, not the
 * creator's, so the creator cannot waitpid them; the status socket is their
 * sentinel. A daemon child is killed when its creator's end of the status
 * socket closes (the creator died), and dies with the server. "MPFS" asks
 * the server to stop; so does the end of the channel (every creator gone).
 * SIGINT and SIGPIPE are ignored by the server and reset in its children.
 *
 * Creator side (this file; the server's loop is fsserver.c): the server's
 * pid and channel, in the fork-local page (a forked child starts its own
 * server when it needs one), under a lock of their own. Before each request the
 * server is checked (reaped if dead) and started again when gone; a request the
 * server died under is retried once on a new one. */
#include "process_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* The creator's view of its server, in the fork-local page (a forked
 * child finds it zeroed: no server, lock free). */
typedef struct fs_local {
    pthread_mutex_t mu; /* guards the rest */
    pid_t pid;          /* 0: none */
    int ctl;            /* the channel, valid while pid > 0 */
} fs_local_t;
static fs_local_t *fs;
static pthread_once_t fs_once = PTHREAD_ONCE_INIT;

static void
fs_init_once(void)
{
    fs = mp__fork_local(sizeof *fs);
}

/* Forgets the server: stops (stop: asks it to exit) and reaps it. fs->mu
 * held, fs->pid > 0. */
static void
drop_server(bool stop)
{
    if (stop) {
        (void)mp__plat_send_full(fs->ctl, MP__FS_STOP_MAGIC, 4);
    } else {
        (void)mp__plat_kill(fs->pid, SIGKILL);
    }
    mp__plat_close(fs->ctl);
    int code;
    (void)mp__plat_wait_pid(fs->pid, true, &code);
    fs->pid = 0;
    fs->ctl = -1;
}

/* Makes sure this process has a live server: reaps a dead one, starts a
 * new one. Returns 0 or a negative error. fs->mu held. */
static int
ensure_server(void)
{
    if (fs->pid > 0) {
        int code;
        pid_t r = mp__plat_wait_pid(fs->pid, false, &code);
        if (r == 0) {
            return 0;
        }
        /* Dead and reaped now (or no longer ours). */
        mp__plat_close(fs->ctl);
        fs->pid = 0;
        fs->ctl = -1;
    }
    if (!mp__start_hook_called()) {
        return MP_ENOMAIN;
    }
    int ch[2];
    int err = mp__plat_socketpair(SOCK_SEQPACKET, ch);
    if (err != 0) {
        return err;
    }
    int devnull = mp__plat_devnull_rd();
    if (devnull < 0) {
        mp__plat_close(ch[0]);
        mp__plat_close(ch[1]);
        return devnull;
    }
    char fdarg[12];
    snprintf(fdarg, sizeof fdarg, "%d", MP__BOOT_FD);
    char *argv[] = {(char *)mp__start_argv0(), MP__BOOT_ARG_FORKSERVER, fdarg,
                    NULL};
    pid_t pid = 0;
    err = mp__plat_spawn_self(argv, devnull, &ch[1], 1, &pid);
    mp__plat_close(devnull);
    mp__plat_close(ch[1]);
    if (err != 0) {
        mp__plat_close(ch[0]);
        return err;
    }
    fs->pid = pid;
    fs->ctl = ch[0];
    return 0;
}

/* One request to the live server. Returns 0 with the child's pid and
 * status socket, MP_EPIPE when the server died under it (retry on a new
 * one), or another negative error. fs->mu held. */
static int
request(const mp__boot_info_t *bi, int pdeath_rd, pid_t *pid_out,
        int *status_out)
{
    int st[2], boot[2];
    int err = mp__plat_socketpair(SOCK_STREAM, st);
    if (err != 0) {
        return err;
    }
    err = mp__plat_socketpair(SOCK_STREAM, boot);
    if (err != 0) {
        mp__plat_close(st[0]);
        mp__plat_close(st[1]);
        return err;
    }
    uint8_t req[MP__FS_REQ_LEN];
    memcpy(req, MP__FS_REQ_MAGIC, 4);
    req[4] = MP__FS_REQ_VERSION;
    req[5] = bi->daemon;
    int fds[3] = {boot[1], st[1], pdeath_rd};
    err = mp__plat_send_fds(fs->ctl, req, sizeof req, fds, 3);
    mp__plat_close(boot[1]);
    mp__plat_close(st[1]);
    if (err == -ECONNREFUSED || err == -ECONNRESET || err == -ENOTCONN) {
        err = MP_EPIPE;
    }
    int64_t deadline = mp__deadline_after_ns(MP__BOOT_TIMEOUT_NS);
    int32_t pid = 0;
    if (err == 0) {
        /* The server's copy of st goes with it if it dies (with the
         * message still queued, too): then this reads EOF. */
        int r = mp__plat_poll_in(st[0], deadline);
        ssize_t n = r == 1 ? mp__plat_read_full(st[0], &pid, sizeof pid) : r;
        if (r == 0) {
            err = MP_ETIMEDOUT;
        } else if (n != (ssize_t)sizeof pid || pid <= 0) {
            err = n < 0 && n != -ECONNRESET ? (int)n : MP_EPIPE;
        }
    }
    if (err == 0) {
        err = mp__boot_send(boot[0], bi, deadline);
        if (err != 0) {
            /* The server reaps it; its status is not wanted. */
            (void)mp__plat_kill(pid, SIGKILL);
            if (err == MP_EPIPE) {
                err = MP_ECHILD; /* the child, not the server, died */
            }
        }
    }
    mp__plat_close(boot[0]);
    if (err != 0) {
        mp__plat_close(st[0]);
        return err;
    }
    *pid_out = pid;
    *status_out = st[0];
    return 0;
}

int
mp__forkserver_start(const mp__boot_info_t *bi, int pdeath_rd, pid_t *pid_out,
                     int *status_out)
{
    pthread_once(&fs_once, fs_init_once);
    pthread_mutex_lock(&fs->mu);
    int err = MP_EPIPE;
    for (int attempt = 0; attempt < 2 && err == MP_EPIPE; attempt++) {
        err = ensure_server();
        if (err == 0) {
            err = request(bi, pdeath_rd, pid_out, status_out);
            if (err == MP_EPIPE || err == MP_ETIMEDOUT) {
                drop_server(false); /* dead or stuck: a new one */
            }
        }
    }
    pthread_mutex_unlock(&fs->mu);
    return err == MP_ECHILD ? MP_EPIPE : err;
}

void
mp__forkserver_stop(void)
{
    pthread_once(&fs_once, fs_init_once);
    pthread_mutex_lock(&fs->mu);
    if (fs->pid > 0) {
        drop_server(true);
    }
    pthread_mutex_unlock(&fs->mu);
}

pid_t
mp__forkserver_pid(void)
{
    pthread_once(&fs_once, fs_init_once);
    pthread_mutex_lock(&fs->mu);
    pid_t pid = fs->pid;
    pthread_mutex_unlock(&fs->mu);
    return pid;
}
