/* SPDX-License-Identifier: MIT */
/* posix_spawn.c - what the spawn and forkserver start methods need from the
 * OS: a fresh exec of this program with chosen fds (posix_spawn), sockets
 * that carry fds (SCM_RIGHTS), fork and wait for the forkserver, signals
 * (SIGCHLD as an fd, dispositions reset in a child), the parent-death
 * signal, and closing every fd but a few; fork, signals, waits, the
 * process's own and parent's pid and _exit for the fork start method too. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* The most fds mp__plat_spawn_self places, and the lowest fd its
 * temporary copies take (above every target, so that no dup2 of the
 * child's file actions overwrites a source not yet copied). */
#define SPAWN_FDS_MAX 8
#define SPAWN_HIGH_FD (3 + SPAWN_FDS_MAX)

int
mp__plat_spawn_self(char *const argv[], int stdin_fd, const int *fds, int n,
                    pid_t *pid_out)
{
    if (n < 0 || n > SPAWN_FDS_MAX || (n > 0 && fds == NULL)) {
        return MP_EINVAL;
    }
    int high[SPAWN_FDS_MAX + 1];
    int nhigh = 0, err = 0;
    /* high[0]: stdin's copy (or -1), high[1 + i]: fds[i]'s. */
    int srcs[SPAWN_FDS_MAX + 1];
    srcs[0] = stdin_fd;
    for (int i = 0; i < n; i++) {
        srcs[1 + i] = fds[i];
    }
    for (; nhigh <= n; nhigh++) {
        if (srcs[nhigh] < 0) {
            if (nhigh > 0) {
                err = MP_EINVAL;
                break;
            }
            high[nhigh] = -1;
            continue;
        }
        high[nhigh] = fcntl(srcs[nhigh], F_DUPFD_CLOEXEC, SPAWN_HIGH_FD);
        if (high[nhigh] < 0) {
            err = -errno;
            break;
        }
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    bool fa_made = false, attr_made = false;
    if (err == 0) {
        err = -posix_spawn_file_actions_init(&fa);
        fa_made = err == 0;
    }
    if (err == 0) {
        err = -posix_spawnattr_init(&attr);
        attr_made = err == 0;
    }
    if (err == 0 && high[0] >= 0) {
        err = -posix_spawn_file_actions_adddup2(&fa, high[0], STDIN_FILENO);
    }
    for (int i = 0; err == 0 && i < n; i++) {
        err = -posix_spawn_file_actions_adddup2(&fa, high[1 + i], 3 + i);
    }
    if (err == 0) {
        /* Nothing else of this process reaches the child, whatever its
         * close-on-exec flag (glibc 2.34). */
        err = -posix_spawn_file_actions_addclosefrom_np(&fa, 3 + n);
    }
    if (err == 0) {
        sigset_t none;
        sigemptyset(&none);
        err = -posix_spawnattr_setsigmask(&attr, &none);
    }
    if (err == 0) {
        err = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    }
    pid_t pid = 0;
    if (err == 0) {
        /* glibc's posix_spawn is clone(CLONE_VM | CLONE_VFORK) and exec:
         * no fork handlers and no copy of the caller, so it is safe in a
         * process with threads. */
        err = -posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, environ);
    }
    if (attr_made) {
        posix_spawnattr_destroy(&attr);
    }
    if (fa_made) {
        posix_spawn_file_actions_destroy(&fa);
    }
    for (int i = 0; i < nhigh; i++) {
        mp__plat_close(high[i]);
    }
    if (err == 0) {
        *pid_out = pid;
    }
    return err;
}

int
mp__plat_socketpair(int type, int fds[2])
{
    return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) == 0 ? 0 : -errno;
}

int
mp__plat_send_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w;
        MP__PLAT_NO_EINTR(w, send(fd, p, n, MSG_NOSIGNAL));
        if (w < 0) {
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
mp__plat_send_fds(int sock, const void *buf, size_t len, const int *fds,
                  int nfds)
{
    if (nfds < 1 || nfds > MP__PLAT_FDS_MAX || len == 0) {
        return MP_EINVAL;
    }
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * MP__PLAT_FDS_MAX)];
    } cb;
    memset(&cb, 0, sizeof cb);
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cb.space,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * nfds)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    ssize_t w;
    MP__PLAT_NO_EINTR(w, sendmsg(sock, &msg, MSG_NOSIGNAL));
    if (w < 0) {
        return -errno;
    }
    return (size_t)w == len ? 0 : MP_EPROTO;
}

ssize_t
mp__plat_recv_fds(int sock, void *buf, size_t cap, int *fds, int maxfds,
                  int *nfds)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * MP__PLAT_FDS_MAX)];
    } cb;
    *nfds = 0;
    if (maxfds < 0 || maxfds > MP__PLAT_FDS_MAX) {
        return MP_EINVAL;
    }
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cb.space,
                         .msg_controllen = sizeof cb.space};
    ssize_t r;
    MP__PLAT_NO_EINTR(r, recvmsg(sock, &msg, MSG_CMSG_CLOEXEC));
    if (r < 0) {
        return -errno;
    }
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL;
         c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (got < maxfds) {
                fds[got++] = fd;
            } else {
                mp__plat_close(fd); /* more than asked for: not ours */
            }
        }
    }
    *nfds = got;
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
        for (int i = 0; i < got; i++) {
            mp__plat_close(fds[i]);
        }
        *nfds = 0;
        return MP_EPROTO;
    }
    return r;
}

MP__FORK_CHILD_PATH pid_t
mp__plat_fork(void)
{
    pid_t pid = fork();
    return pid < 0 ? -errno : pid;
}

MP__FORK_CHILD_PATH int
mp__plat_kill(pid_t pid, int sig)
{
    return kill(pid, sig) == 0 ? 0 : -errno;
}

MP__FORK_CHILD_PATH void
mp__plat_exit_now(int code)
{
    _exit(code);
}

pid_t
mp__plat_pid_uncached(void)
{
    return getpid();
}

pid_t
mp__plat_parent_pid(void)
{
    return getppid();
}

pid_t
mp__plat_wait_pid(pid_t pid, bool block, int *code)
{
    int status = 0;
    pid_t r;
    MP__PLAT_NO_EINTR(r, waitpid(pid, &status, block ? 0 : WNOHANG));
    if (r < 0) {
        return -errno;
    }
    if (r > 0) {
        *code = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
    }
    return r;
}

void
mp__plat_wait_exited(pid_t pid)
{
    siginfo_t si;
    int r;
    MP__PLAT_NO_EINTR(r, waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT));
    (void)r;
}

int
mp__plat_sigchld_fd(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        return -errno;
    }
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

void
mp__plat_drain_sigfd(int fd)
{
    struct signalfd_siginfo si[8];
    while (read(fd, si, sizeof si) > 0) {
    }
}

void
mp__plat_server_signals(bool server)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = server ? SIG_IGN : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGPIPE, &sa, NULL);
    if (!server) {
        sigset_t none;
        sigemptyset(&none);
        (void)sigprocmask(SIG_SETMASK, &none, NULL);
    }
}

void
mp__plat_signal_set(int sig, void (*handler)(int))
{
    struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    (void)sigaction(sig, &sa, NULL);
}

MP__FORK_CHILD_PATH int
mp__plat_die_with_parent(pid_t parent)
{
    /* The signal comes when the parent's thread that made this process
     * ends; prctl fails only for a bad signal number. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        return -errno;
    }
    if (getppid() != parent) {
        /* It died before prctl: do what its death would have done. */
        (void)kill(getpid(), SIGKILL);
        return MP_ESRCH;
    }
    return 0;
}

void
mp__plat_close_all_but(const int *keep, int n)
{
    /* keep sorted ascending, all >= 3. */
    unsigned lo = 3;
    for (int i = 0; i <= n; i++) {
        unsigned hi = i < n ? (unsigned)keep[i] : ~0u;
        if (hi > lo) {
            if (syscall(SYS_close_range, lo, hi - 1, 0) != 0) {
                /* Before Linux 5.9: one by one, up to the fd limit. */
                struct rlimit rl;
                unsigned top = hi - 1;
                if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur - 1 < top) {
                    top = (unsigned)rl.rlim_cur - 1;
                }
                for (unsigned fd = lo; fd <= top && fd >= lo; fd++) {
                    (void)close((int)fd);
                }
            }
        }
        if (i < n) {
            lo = (unsigned)keep[i] + 1;
        }
    }
}

int
mp__plat_devnull_rd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    if (fd <= STDERR_FILENO) {
        int moved = mp__plat_dup(fd, STDERR_FILENO + 1);
        (void)close(fd);
        return moved;
    }
    return fd;
}
