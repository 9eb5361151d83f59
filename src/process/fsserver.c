/* SPDX-License-Identifier: MIT */
/* fsserver.c - the forkserver's loop (protocol in forkserver.c): one
 * thread, an epoll set of its channel, SIGCHLD (a signalfd) and the status
 * sockets of its daemon children; it forks a child per request, reports
 * each child's pid and exit code, kills a daemon whose creator is gone,
 * and ends with its channel. */
#include "process_internal.h"

#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* A child the server made and has not reaped. */
typedef struct fs_child {
    pid_t pid;
    int st;       /* its status socket (server's end) */
    bool watched; /* a daemon whose st is in the epoll set */
} fs_child_t;

typedef struct server {
    int ctl, sigfd, ep;
    pid_t self;
    fs_child_t *kids;
    size_t n, cap;
} server_t;

/* Ends the server: its daemon children die with it. */
static __attribute__((noreturn)) void
server_exit(server_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->kids[i].watched) {
            (void)mp__plat_kill(s->kids[i].pid, SIGKILL);
        }
    }
    mp__plat_exit_now(0);
}

/* Reaps every child that has exited and sends each its code. */
static void
reap_children(server_t *s)
{
    mp__plat_drain_sigfd(s->sigfd);
    int code;
    pid_t pid;
    while ((pid = mp__plat_wait_pid(-1, false, &code)) > 0) {
        for (size_t i = 0; i < s->n; i++) {
            if (s->kids[i].pid != pid) {
                continue;
            }
            int32_t v = code;
            (void)mp__plat_send_nb(s->kids[i].st, &v, sizeof v);
            if (s->kids[i].watched) {
                (void)mp__plat_epoll_del(s->ep, s->kids[i].st);
            }
            mp__plat_close(s->kids[i].st);
            s->kids[i] = s->kids[--s->n];
            break;
        }
    }
}

/* Serves one message of the channel: forks a child, or ends the server
 * (a stop, the channel's end, or a broken channel). */
static void
serve_request(server_t *s)
{
    uint8_t req[16];
    int fds[3];
    int nfds = 0;
    ssize_t r = mp__plat_recv_fds(s->ctl, req, sizeof req, fds, 3, &nfds);
    if (r == 0 || (r < 0 && r != MP_EPROTO && r != -EAGAIN) ||
        (r == 4 && memcmp(req, MP__FS_STOP_MAGIC, 4) == 0)) {
        for (int i = 0; i < nfds; i++) {
            mp__plat_close(fds[i]);
        }
        server_exit(s);
    }
    bool ok = r == MP__FS_REQ_LEN && nfds == 3 &&
              memcmp(req, MP__FS_REQ_MAGIC, 4) == 0 &&
              req[4] == MP__FS_REQ_VERSION;
    if (ok && s->n == s->cap) {
        size_t ncap = s->cap == 0 ? 16 : 2 * s->cap;
        fs_child_t *k = mp__realloc(s->kids, ncap * sizeof *k);
        ok = k != NULL;
        if (ok) {
            s->kids = k;
            s->cap = ncap;
        }
    }
    pid_t pid = ok ? mp__plat_fork() : -1;
    if (pid == 0) {
        int keep[2] = {fds[0] < fds[2] ? fds[0] : fds[2],
                       fds[0] < fds[2] ? fds[2] : fds[0]};
        mp__plat_server_signals(false);
        mp__plat_close_all_but(keep, 2);
        mp__boot_child(fds[0], false, fds[2], s->self);
    }
    if (ok && pid > 0) {
        int32_t v = pid;
        bool daemon = req[5] != 0;
        (void)mp__plat_send_nb(fds[1], &v, sizeof v);
        s->kids[s->n] = (fs_child_t){pid, fds[1], false};
        if (daemon) {
            s->kids[s->n].watched =
                mp__plat_epoll_add(s->ep, fds[1], EPOLLIN) == 0;
        }
        s->n++;
        fds[1] = -1; /* kept */
    }
    /* Anything not kept (a bad request: its creator reads EOF). */
    for (int i = 0; i < nfds; i++) {
        mp__plat_close(fds[i]);
    }
}

/* A watched daemon's creator is gone (its end of st closed): kill it. */
static void
creator_gone(server_t *s, int fd)
{
    for (size_t i = 0; i < s->n; i++) {
        /* The event may be stale (fd closed by a reap and its number
         * reused): act only on a socket that is at its end now. */
        if (s->kids[i].st == fd && s->kids[i].watched &&
            mp__plat_poll_in(fd, 0) == 1) {
            (void)mp__plat_kill(s->kids[i].pid, SIGKILL);
            (void)mp__plat_epoll_del(s->ep, fd);
            s->kids[i].watched = false;
        }
    }
}

void
mp__forkserver_serve(int ctl)
{
    server_t s = {.ctl = ctl, .self = mp__getpid()};
    mp__plat_server_signals(true);
    s.sigfd = mp__plat_sigchld_fd();
    s.ep = mp__plat_epoll_create();
    if (s.sigfd < 0 || s.ep < 0 ||
        mp__plat_epoll_add(s.ep, ctl, EPOLLIN) != 0 ||
        mp__plat_epoll_add(s.ep, s.sigfd, EPOLLIN) != 0) {
        mp__plat_exit_now(127);
    }
    for (;;) {
        int fds[16];
        uint32_t ev[16];
        int n = mp__plat_epoll_wait(s.ep, fds, ev, 16, MP__NO_DEADLINE);
        if (n < 0) {
            server_exit(&s);
        }
        /* Reap first: a pid must not be signalled after it was reaped. */
        reap_children(&s);
        for (int i = 0; i < n; i++) {
            if (fds[i] == s.ctl) {
                serve_request(&s);
            } else if (fds[i] != s.sigfd) {
                creator_gone(&s, fds[i]);
            }
        }
    }
}
