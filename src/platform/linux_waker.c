/* SPDX-License-Identifier: MIT */
/* linux_waker.c - the library's one fd-based waker: an fd that one side
 * makes readable (signal) so that another, blocked in poll() or epoll on
 * it among other fds, wakes up, then clears (drain). A private waker is
 * an eventfd (a process and the children it forks); a named one is a FIFO
 * in the file system that unrelated processes open by path (a named
 * queue's). Both are non-blocking and close-on-exec, and both take the
 * same 8-byte signal (an eventfd adds 1 to its count, a FIFO queues the
 * bytes), so callers never need to know which kind they hold. EINTR is
 * retried here, once for all callers. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

int
mp__plat_waker_open(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd >= 0 ? fd : -errno;
}

int
mp__plat_waker_create_named(const char *path)
{
    return mkfifo(path, 0600) == 0 ? 0 : -errno;
}

int
mp__plat_waker_open_named(const char *path)
{
    int fd;
    /* O_RDWR: the open never blocks and never fails for want of a reader,
     * a write never raises SIGPIPE, and a poll never sees end of file. */
    MP__PLAT_NO_EINTR(fd, open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC));
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) {
        mp__plat_close(fd);
        return MP_EBADF;
    }
    return fd;
}

void
mp__plat_waker_signal(int fd)
{
    /* 8 bytes, as an eventfd needs; a FIFO takes them atomically (fewer
     * than PIPE_BUF). A full waker (EAGAIN) is already signalled. Only
     * write and errno: async-signal-safe, errno saved for a handler. */
    const uint64_t one = 1;
    int saved = errno;
    ssize_t r;
    MP__PLAT_NO_EINTR(r, write(fd, &one, sizeof one));
    (void)r;
    errno = saved;
}

bool
mp__plat_waker_drain(int fd)
{
    /* An eventfd gives its whole count in one 8-byte read; a FIFO gives
     * what it holds, 64 bytes a read. Either ends with EAGAIN. */
    uint64_t buf[8];
    bool signalled = false;
    for (;;) {
        ssize_t n;
        MP__PLAT_NO_EINTR(n, read(fd, buf, sizeof buf));
        if (n <= 0) {
            return signalled;
        }
        signalled = true;
    }
}

void
mp__plat_waker_close(int fd)
{
    mp__plat_close(fd);
}
