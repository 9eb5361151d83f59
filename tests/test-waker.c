/* SPDX-License-Identifier: MIT */
/* test-waker.c - the platform layer's one fd-based waker (linux_waker.c):
 * a private (eventfd) and a named (FIFO) waker are readable from a signal
 * until a drain, a full one stays signalled without blocking, and a
 * signal keeps errno (it runs in signal handlers). */
#include "runner.h"

#include "platform/platform.h"

#include <errno.h>
#include <stdio.h>

/* 1 when fd is readable now (no wait). */
static int
readable(int fd)
{
    return mp__plat_poll_in(fd, mp__now_ns());
}

TEST_TIMEOUT(waker_private_signal_drain, 30)
{
    int fd = mp__plat_waker_open();
    ASSERT_GE(fd, 0);
    ASSERT_EQ(readable(fd), 0);
    ASSERT(!mp__plat_waker_drain(fd));
    mp__plat_waker_signal(fd);
    mp__plat_waker_signal(fd);
    ASSERT_EQ(readable(fd), 1);
    ASSERT_EQ(readable(fd), 1); /* a poll takes nothing */
    ASSERT(mp__plat_waker_drain(fd));
    ASSERT_EQ(readable(fd), 0);
    ASSERT(!mp__plat_waker_drain(fd));
    mp__plat_waker_close(fd);
    mp__plat_waker_close(-1); /* nothing */
}

/* A named waker in a fresh directory of /tmp: its path in path. */
static void
named_path(char *dir, size_t dcap, char *path, size_t pcap)
{
    snprintf(dir, dcap, "/tmp/mp-waker-XXXXXX");
    ASSERT_OK(mp__plat_mkdtemp(dir));
    snprintf(path, pcap, "%s/w", dir);
}

TEST_TIMEOUT(waker_named_two_openers, 30)
{
    char dir[64], path[96];
    named_path(dir, sizeof dir, path, sizeof path);
    ASSERT_ERR(mp__plat_waker_open_named(path), MP_ENOENT);
    ASSERT_OK(mp__plat_waker_create_named(path));
    ASSERT_ERR(mp__plat_waker_create_named(path), MP_EEXIST);
    /* Two openers, as two processes of a named queue: one signals, the
     * other wakes and drains for both. */
    int a = mp__plat_waker_open_named(path);
    int b = mp__plat_waker_open_named(path);
    ASSERT_GE(a, 0);
    ASSERT_GE(b, 0);
    ASSERT_EQ(readable(b), 0);
    mp__plat_waker_signal(a);
    ASSERT_EQ(readable(b), 1);
    ASSERT(mp__plat_waker_drain(b));
    ASSERT_EQ(readable(a), 0);
    ASSERT_EQ(readable(b), 0);
    mp__plat_waker_close(a);
    mp__plat_waker_close(b);
    ASSERT_OK(mp__plat_unlink(path));
    ASSERT_OK(mp__plat_rmdir(dir));
}

TEST_TIMEOUT(waker_named_refuses_other_files, 30)
{
    /* A file that opens read-write but is no FIFO (a queue's name taken
     * by something else). */
    ASSERT_ERR(mp__plat_waker_open_named("/dev/null"), MP_EBADF);
}

TEST_TIMEOUT(waker_full_stays_signalled, 60)
{
    char dir[64], path[96];
    named_path(dir, sizeof dir, path, sizeof path);
    ASSERT_OK(mp__plat_waker_create_named(path));
    int fd = mp__plat_waker_open_named(path);
    ASSERT_GE(fd, 0);
    /* More signals than a FIFO holds (64 KiB of 8-byte signals): none
     * blocks, and errno stays what it was, full or not. */
    for (int i = 0; i < 20000; i++) {
        errno = EDOM;
        mp__plat_waker_signal(fd);
        ASSERT_EQ(errno, EDOM);
    }
    ASSERT_EQ(readable(fd), 1);
    ASSERT(mp__plat_waker_drain(fd));
    ASSERT_EQ(readable(fd), 0);
    mp__plat_waker_close(fd);
    ASSERT_OK(mp__plat_unlink(path));
    ASSERT_OK(mp__plat_rmdir(dir));

    int efd = mp__plat_waker_open();
    ASSERT_GE(efd, 0);
    errno = EDOM;
    mp__plat_waker_signal(efd);
    ASSERT_EQ(errno, EDOM);
    ASSERT(mp__plat_waker_drain(efd));
    mp__plat_waker_close(efd);
}
