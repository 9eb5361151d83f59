/* SPDX-License-Identifier: MIT */
/* posix_socket.c - socket options the library sets on connections it makes
 * or accepts: TCP keep-alive, so that a peer that vanished without closing
 * (a crashed host, a cut link) is noticed within MP__PLAT_KEEPALIVE_MS
 * instead of never. */
#include "platform.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

/* The probes: the first after KEEPALIVE_IDLE_S of silence, then one every
 * KEEPALIVE_INTERVAL_S, and the connection is dead after KEEPALIVE_COUNT
 * unanswered ones: 5 + 2 * 3 = 11 s, which is MP__PLAT_KEEPALIVE_MS. Data
 * the peer does not acknowledge for as long (TCP_USER_TIMEOUT) ends the
 * connection too, so a link cut while a request is in flight is found in the
 * same bound. */
#define KEEPALIVE_IDLE_S 5
#define KEEPALIVE_INTERVAL_S 2
#define KEEPALIVE_COUNT 3

_Static_assert((KEEPALIVE_IDLE_S + KEEPALIVE_INTERVAL_S * KEEPALIVE_COUNT) *
                       1000 ==
                   MP__PLAT_KEEPALIVE_MS,
               "MP__PLAT_KEEPALIVE_MS is the sum of the probes' times");

/* Sets one int option; returns 0 or -errno. */
static int
set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : -errno;
}

int
mp__plat_tcp_keepalive(int fd)
{
    int domain;
    socklen_t len = sizeof domain;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) {
        return -errno;
    }
    if (domain != AF_INET && domain != AF_INET6) {
        return 0; /* AF_UNIX: a dead peer is an end of stream at once */
    }
    int err = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    if (err == 0) {
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, KEEPALIVE_IDLE_S);
    }
    if (err == 0) {
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, KEEPALIVE_INTERVAL_S);
    }
    if (err == 0) {
        err = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, KEEPALIVE_COUNT);
    }
    if (err == 0) {
        err = set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, MP__PLAT_KEEPALIVE_MS);
    }
    return err;
}
