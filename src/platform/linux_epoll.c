/* SPDX-License-Identifier: MIT */
/* linux_epoll.c - readiness sets: an epoll instance over many fds, so one
 * fd (the instance) tells a caller that any of them is ready. The
 * listener keeps its listening socket and its handshakes in progress in
 * one. */
#include "platform.h"

#include <errno.h>
#include <sys/epoll.h>

/* The most events one wait takes from the kernel; callers asking for
 * more get them over several waits (level-triggered: nothing is lost). */
#define EPOLL_BATCH 128

int
mp__plat_epoll_create(void)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    return ep >= 0 ? ep : -errno;
}

/* Runs one epoll_ctl operation. Returns 0 or a negative error. */
static int
epoll_op(int ep, int op, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return epoll_ctl(ep, op, fd, &ev) == 0 ? 0 : -errno;
}

int
mp__plat_epoll_add(int ep, int fd, uint32_t events)
{
    return epoll_op(ep, EPOLL_CTL_ADD, fd, events);
}

int
mp__plat_epoll_mod(int ep, int fd, uint32_t events)
{
    return epoll_op(ep, EPOLL_CTL_MOD, fd, events);
}

int
mp__plat_epoll_del(int ep, int fd)
{
    return epoll_op(ep, EPOLL_CTL_DEL, fd, 0);
}

int
mp__plat_epoll_wait(int ep, int *fds, uint32_t *events, int cap,
                    int64_t deadline)
{
    struct epoll_event evs[EPOLL_BATCH];
    if (cap > EPOLL_BATCH) {
        cap = EPOLL_BATCH;
    }
    for (;;) {
        int n = epoll_wait(ep, evs, cap, mp__remaining_ms(deadline));
        if (!mp__plat_wait_over(&n, deadline)) {
            continue;
        }
        for (int i = 0; i < n; i++) {
            fds[i] = evs[i].data.fd;
            events[i] = evs[i].events;
        }
        return n;
    }
}
