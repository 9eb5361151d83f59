/* SPDX-License-Identifier: MIT */
/* posix_fd.c - file-descriptor helpers: close-on-exec pipes, full reads and
 * writes that retry on EINTR, a deadline-aware poll, and socket sends and
 * receives that never block. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
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
        ssize_t r = read(fd, (char *)buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
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
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        done += (size_t)r;
    }
    return 0;
}

void
mp__plat_close(int fd)
{
    if (fd >= 0) {
        /* On Linux the fd is released even when close reports EINTR, so a
         * retry could close an fd another thread just opened. */
        (void)close(fd);
    }
}

int
mp__plat_poll_fd(int fd, short events, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    for (;;) {
        int r = poll(&pfd, 1, mp__remaining_ms(deadline));
        if (r > 0) {
            return 1;
        }
        if (r == 0) {
            if (deadline == MP__NO_DEADLINE || mp__now_ns() >= deadline) {
                return 0;
            }
            continue; /* poll rounds down; wait out the rest */
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

int
mp__plat_poll_in(int fd, int64_t deadline)
{
    return mp__plat_poll_fd(fd, POLLIN, deadline);
}

ssize_t
mp__plat_send_nb(int fd, const void *buf, size_t n)
{
    for (;;) {
        ssize_t r = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0) {
            return r;
        }
        if (errno != EINTR) {
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
    }
}

ssize_t
mp__plat_recv_nb(int fd, void *buf, size_t n)
{
    for (;;) {
        ssize_t r = recv(fd, buf, n, MSG_DONTWAIT);
        if (r >= 0) {
            return r;
        }
        if (errno != EINTR) {
            return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        }
    }
}
