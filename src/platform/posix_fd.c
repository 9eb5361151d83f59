/* SPDX-License-Identifier: MIT */
/* posix_fd.c - file-descriptor helpers: close-on-exec pipes, full reads and
 * writes that retry on EINTR, the one deadline-aware poll loop, socket
 * sends and receives that never block, writes that never raise SIGPIPE,
 * fd flags (close-on-exec, is-a-socket, pipe size), and copies of fds. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int
mp__plat_pipe(int fds[2])
{
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}

ssize_t
mp__plat_read_full(int fd, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r;
        MP__PLAT_NO_EINTR(r, read(fd, (char *)buf + done, n - done));
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            break;
        }
        done += (size_t)r;
    }
    return (ssize_t)done;
}

int
mp__plat_write_full(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r;
        MP__PLAT_NO_EINTR(r, write(fd, (const char *)buf + done, n - done));
        if (r < 0) {
            return -errno;
        }
        done += (size_t)r;
    }
    return 0;
}

MP__FORK_CHILD_PATH void
mp__plat_close(int fd)
{
    if (fd >= 0) {
        /* On Linux the fd is released even when close reports EINTR, so a
         * retry could close an fd another thread just opened. */
        (void)close(fd);
    }
}

int
mp__plat_dup(int fd, int min_fd)
{
    int r = fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
    return r < 0 ? -errno : r;
}

MP__FORK_CHILD_PATH int
mp__plat_dup_onto(int fd, int target)
{
    int r;
    MP__PLAT_NO_EINTR(r, dup2(fd, target));
    return r < 0 ? -errno : 0;
}

int
mp__plat_poll_many(struct pollfd *pfds, size_t n, int64_t deadline)
{
    for (;;) {
        int r = poll(pfds, (nfds_t)n, mp__remaining_ms(deadline));
        if (mp__plat_wait_over(&r, deadline)) {
            return r;
        }
    }
}

int
mp__plat_poll_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int r = mp__plat_poll_many(&pfd, 1, deadline);
    return r > 0 ? 1 : r;
}

int
mp__plat_poll_in(int fd, int64_t deadline)
{
    return mp__plat_poll_fd(fd, POLLIN, deadline);
}

ssize_t
mp__plat_send_nb(int fd, const void *buf, size_t n)
{
    ssize_t r;
    MP__PLAT_NO_EINTR(r, send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL));
    return r >= 0 ? r : mp__plat_nb_error();
}

ssize_t
mp__plat_recv_nb(int fd, void *buf, size_t n)
{
    ssize_t r;
    MP__PLAT_NO_EINTR(r, recv(fd, buf, n, MSG_DONTWAIT));
    return r >= 0 ? r : mp__plat_nb_error();
}

ssize_t
mp__plat_read_some(int fd, void *buf, size_t n)
{
    ssize_t r;
    MP__PLAT_NO_EINTR(r, read(fd, buf, n));
    return r >= 0 ? r : mp__plat_nb_error();
}

/* One writev of iov to the pipe fd with SIGPIPE blocked in this thread
 * and, if the write raised it, taken back before unblocking. Returns the
 * bytes written or -errno. */
static ssize_t
writev_pipe(int fd, const struct iovec *iov, int iovcnt)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    /* A SIGPIPE pending before our write is someone else's: leave it. */
    sigpending(&pending);
    bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    ssize_t n = writev(fd, iov, iovcnt);
    int err = n < 0 ? errno : 0;
    if (err == EPIPE && !was_pending) {
        const struct timespec zero = {0, 0};
        int r;
        MP__PLAT_NO_EINTR(r, sigtimedwait(&pipe_set, NULL, &zero));
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return n < 0 ? -err : n;
}

ssize_t
mp__plat_writev_nosig(int fd, bool is_socket, const struct iovec *iov,
                      int iovcnt)
{
    for (;;) {
        ssize_t n;
        if (is_socket) {
            struct msghdr msg = {.msg_iov = (struct iovec *)iov,
                                 .msg_iovlen = (size_t)iovcnt};
            n = sendmsg(fd, &msg, MSG_NOSIGNAL);
            n = n < 0 ? -errno : n;
        } else {
            n = writev_pipe(fd, iov, iovcnt);
        }
        if (n != -EINTR) {
            return n == -EWOULDBLOCK ? -EAGAIN : n;
        }
    }
}

int
mp__plat_set_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0) {
        return -errno;
    }
    if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
        return -errno;
    }
    return 0;
}

int
mp__plat_fd_is_socket(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        return -errno;
    }
    return S_ISSOCK(st.st_mode) ? 1 : 0;
}

int
mp__plat_pipe_grow(int fd, int size)
{
    return fcntl(fd, F_SETPIPE_SZ, size) < 0 ? -errno : 0;
}
