/* SPDX-License-Identifier: MIT */
/* posix_socket.c - socket options the library sets on connections it makes
 * or accepts: TCP keep-alive, so that a peer that vanished without closing
 * (a crashed host, a cut link) is noticed within MP__PLAT_KEEPALIVE_MS
 * instead of never; connecting with a deadline; telling a stale AF_UNIX
 * socket file from a live one; locking a directory; shutting a socket
 * down one way; and resolving, making, binding, listening and accepting on
 * the sockets of listeners and clients. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

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

/* Connects AF_UNIX fd blocking under SO_SNDTIMEO (see mp__plat_connect). */
static int
connect_unix(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
    static const struct timeval none = {0, 0};
    for (;;) {
        /* A zero timeval means no timeout: the time left is at least 1 us. */
        struct timeval tv = none;
        if (deadline != MP__NO_DEADLINE) {
            int64_t left = deadline - mp__now_ns();
            if (left <= 0) {
                return MP_ETIMEDOUT;
            }
            int64_t us = left / 1000 + 1;
            tv.tv_sec = (time_t)(us / 1000000);
            tv.tv_usec = (suseconds_t)(us % 1000000);
        }
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
            return -errno;
        }
        int r = connect(fd, sa, len);
        int e = errno;
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none) != 0) {
            return -errno;
        }
        if (r == 0) {
            return 0;
        }
        /* EAGAIN: the send timeout ran out with the backlog still full
         * (the deadline check above says so, as a timeval is coarser than
         * the deadline); EINTR: a signal, connect again for the rest. */
        if (e != EAGAIN && e != EINTR) {
            return -e;
        }
    }
}

/* Sets or clears O_NONBLOCK on fd. Returns 0 or a negative error. */
static int
set_nonblock(int fd, bool on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        return -errno;
    }
    fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

/* Connects fd without blocking, then waits for the outcome (see
 * mp__plat_connect). */
static int
connect_nb(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
    int r = set_nonblock(fd, true);
    if (r < 0) {
        return r;
    }
    if (connect(fd, sa, len) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            return -errno;
        }
        /* Wait for writability, then read the outcome from SO_ERROR. */
        r = mp__plat_poll_fd(fd, POLLOUT, deadline);
        if (r <= 0) {
            return r < 0 ? r : MP_ETIMEDOUT;
        }
        int err = 0;
        socklen_t elen = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
            return -errno;
        }
        if (err != 0) {
            return -err;
        }
    }
    return set_nonblock(fd, false);
}

int
mp__plat_connect(int fd, const struct sockaddr *sa, unsigned len,
                 int64_t deadline)
{
    return sa->sa_family == AF_UNIX
               ? connect_unix(fd, sa, (socklen_t)len, deadline)
               : connect_nb(fd, sa, (socklen_t)len, deadline);
}

int
mp__plat_unix_refused(const struct sockaddr *sa, unsigned len)
{
    const char *path = ((const struct sockaddr_un *)sa)->sun_path;
    struct stat st;
    if (sa->sa_family != AF_UNIX || lstat(path, &st) != 0 ||
        !S_ISSOCK(st.st_mode)) {
        return 0;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return 0;
    }
    int refused = connect(fd, sa, (socklen_t)len) != 0 && errno == ECONNREFUSED;
    mp__plat_close(fd);
    return refused;
}

int
mp__plat_unix_path_refused(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof sun.sun_path) {
        return 0;
    }
    memcpy(sun.sun_path, path, len + 1);
    return mp__plat_unix_refused(
        (const struct sockaddr *)&sun,
        (unsigned)(offsetof(struct sockaddr_un, sun_path) + len + 1));
}

int
mp__plat_dir_lock(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    int r;
    MP__PLAT_NO_EINTR(r, flock(fd, LOCK_EX));
    if (r != 0) {
        r = -errno;
        mp__plat_close(fd);
        return r;
    }
    return fd;
}

int
mp__plat_shutdown(int fd, int how)
{
    return shutdown(fd, how) == 0 ? 0 : -errno;
}

int
mp__plat_socket(int family, bool nonblock)
{
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0);
    int fd = socket(family, type, 0);
    return fd >= 0 ? fd : -errno;
}

int
mp__plat_bind(int fd, const struct sockaddr *sa, unsigned len)
{
    return bind(fd, sa, (socklen_t)len) == 0 ? 0 : -errno;
}

int
mp__plat_listen(int fd, int backlog)
{
    return listen(fd, backlog > 0 ? backlog : SOMAXCONN) == 0 ? 0 : -errno;
}

/* Stores socket fd's own address (peer false) or its peer's in *sa (cap
 * bytes) and its length in *len. Returns 0 or a negative error. */
static int
sock_address(int fd, bool peer, struct sockaddr *sa, unsigned cap,
             unsigned *len)
{
    socklen_t l = (socklen_t)cap;
    int r = peer ? getpeername(fd, sa, &l) : getsockname(fd, sa, &l);
    if (r != 0) {
        return -errno;
    }
    *len = (unsigned)l;
    return 0;
}

int
mp__plat_sockname(int fd, struct sockaddr *sa, unsigned cap, unsigned *len)
{
    return sock_address(fd, false, sa, cap, len);
}

int
mp__plat_peername(int fd, struct sockaddr *sa, unsigned cap, unsigned *len)
{
    return sock_address(fd, true, sa, cap, len);
}

int
mp__plat_accept(int fd)
{
    int c;
    MP__PLAT_NO_EINTR(c, accept4(fd, NULL, NULL, SOCK_CLOEXEC));
    return c >= 0 ? c : mp__plat_nb_error();
}

void
mp__plat_reuse_addr(int fd)
{
    (void)set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
}

void
mp__plat_nodelay(int fd)
{
    (void)set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
}

/* Maps a getaddrinfo() error to a library code. */
static int
resolve_error(int e)
{
    switch (e) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
        return MP_ENOENT;
    case EAI_AGAIN:
        return MP_EAGAIN;
    case EAI_MEMORY:
        return MP_ENOMEM;
    case EAI_SYSTEM:
        return errno != 0 ? -errno : MP_EIO;
    default:
        return MP_EINVAL;
    }
}

int
mp__plat_resolve(const char *host, unsigned port, bool numeric_only,
                 struct sockaddr *sa, unsigned cap, unsigned *len)
{
    char serv[8];
    snprintf(serv, sizeof serv, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV |
                                         (numeric_only ? AI_NUMERICHOST : 0)};
    struct addrinfo *res = NULL;
    errno = 0;
    int e = getaddrinfo(host, serv, &hints, &res);
    if (e != 0) {
        return resolve_error(e);
    }
    if (res == NULL || res->ai_addrlen > cap) {
        freeaddrinfo(res);
        return MP_ENOENT;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = (unsigned)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}
