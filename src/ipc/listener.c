/* SPDX-License-Identifier: MIT */
/* listener.c - Listener and Client: framed connections over TCP or AF_UNIX
 * stream sockets, with Python's authkey handshake (auth.c). */
#include "ipc_internal.h"

#include "../platform/platform.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* Room for any address text: a socket path, or "[v6%scope]:port". */
#define LST_ADDR_MAX 128u

struct mp_listener {
    int fd;
    bool is_unix;
    bool closed;
    /* The socket file to remove, and proof that it is still ours. */
    pid_t creator;
    dev_t dev;
    ino_t ino;
    uint8_t *key; /* NULL: no authentication */
    size_t keylen;
    char address[LST_ADDR_MAX];
};

/* A parsed address: what socket(), bind() and connect() need. */
typedef struct {
    struct sockaddr_storage sa;
    socklen_t len;
    int family;
} lst_addr_t;

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

/* Parses address: a string with a '/' is an AF_UNIX path; anything else
 * must be HOST:PORT ("[v6]:PORT" for an IPv6 literal, port 0 .. 65535),
 * resolved with getaddrinfo (first result). Returns 0 or MP_EINVAL,
 * MP_ENAMETOOLONG, MP_ENOENT (unknown host) and other resolver errors. */
static int
parse_address(const char *address, lst_addr_t *a)
{
    memset(a, 0, sizeof *a);
    if (address == NULL || address[0] == '\0') {
        return MP_EINVAL;
    }
    if (strchr(address, '/') != NULL) {
        struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;
        size_t n = strlen(address);
        if (n >= sizeof un->sun_path) {
            return MP_ENAMETOOLONG;
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, address, n + 1);
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        a->family = AF_UNIX;
        return 0;
    }
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address || colon[1] == '\0') {
        return MP_EINVAL;
    }
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || errno != 0 || port < 0 || port > 65535 ||
        colon[1] == '-' || colon[1] == '+' || colon[1] == ' ') {
        return MP_EINVAL;
    }
    char host[LST_ADDR_MAX];
    const char *h = address;
    size_t hlen = (size_t)(colon - address);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']') {
            return MP_EINVAL;
        }
        h++;
        hlen -= 2;
    }
    if (hlen >= sizeof host) {
        return MP_ENAMETOOLONG;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    char serv[8];
    snprintf(serv, sizeof serv, "%ld", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    errno = 0;
    int e = getaddrinfo(host, serv, &hints, &res);
    if (e != 0) {
        return resolve_error(e);
    }
    if (res == NULL || res->ai_addrlen > sizeof a->sa) {
        freeaddrinfo(res);
        return MP_ENOENT;
    }
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    a->family = res->ai_family;
    freeaddrinfo(res);
    return 0;
}

/* Writes the text form of a bound TCP address into buf. */
static void
format_inet(const struct sockaddr_storage *ss, char *buf, size_t buflen)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        port = ntohs(s6->sin6_port);
        snprintf(buf, buflen, "[%s]:%u", host, port);
        return;
    }
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    port = ntohs(s4->sin_port);
    snprintf(buf, buflen, "%s:%u", host, port);
}

/* Copies an authkey for an object that keeps it; NULL key: none. */
static int
copy_key(const void *authkey, size_t len, uint8_t **out)
{
    *out = NULL;
    if (authkey == NULL) {
        return 0;
    }
    *out = mp__malloc(len > 0 ? len : 1);
    if (*out == NULL) {
        return MP_ENOMEM;
    }
    memcpy(*out, authkey, len);
    return 0;
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

/* Binds and listens on a fresh socket for a. A socket file is made mode
 * 0600: chmod runs between bind and listen, when nobody can connect yet.
 * Returns 0 or a negative error; the listener's fd and identity are set. */
static int
listener_bind(mp_listener_t *l, lst_addr_t *a, int backlog)
{
    int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    int r = 0;
    if (!l->is_unix) {
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(fd, (struct sockaddr *)&a->sa, a->len) != 0) {
        r = (l->is_unix && errno == EADDRINUSE) ? MP_EEXIST : -errno;
        mp__plat_close(fd);
        return r;
    }
    struct stat st;
    if (l->is_unix) {
        const char *path = ((struct sockaddr_un *)&a->sa)->sun_path;
        if (chmod(path, 0600) != 0 || stat(path, &st) != 0) {
            r = -errno;
            unlink(path);
            mp__plat_close(fd);
            return r;
        }
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        l->creator = getpid();
        snprintf(l->address, sizeof l->address, "%s", path);
    } else {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
            r = -errno;
            mp__plat_close(fd);
            return r;
        }
        format_inet(&ss, l->address, sizeof l->address);
    }
    l->fd = fd;
    if (listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
        r = -errno;
    }
    return r;
}

/* Closes the listening socket and removes its socket file, if this
 * process made it and it is still the same file. */
static void
listener_shut(mp_listener_t *l)
{
    if (l->closed) {
        return;
    }
    l->closed = true;
    if (l->fd >= 0) {
        mp__plat_close(l->fd);
        l->fd = -1;
    }
    struct stat st;
    if (l->is_unix && l->creator == getpid() && stat(l->address, &st) == 0 &&
        st.st_dev == l->dev && st.st_ino == l->ino) {
        unlink(l->address);
    }
}

int
mp_listener_create(mp_listener_t **out, const char *address,
                   const void *authkey, size_t authkey_len, int backlog)
{
    if (out == NULL || address == NULL || backlog < 0 ||
        (authkey == NULL && authkey_len > 0)) {
        return MP_EINVAL;
    }
    mp__init();
    lst_addr_t a;
    int r = parse_address(address, &a);
    if (r < 0) {
        return r;
    }
    mp_listener_t *l = mp__calloc(1, sizeof *l);
    if (l == NULL) {
        return MP_ENOMEM;
    }
    l->fd = -1;
    l->is_unix = a.family == AF_UNIX;
    l->keylen = authkey_len;
    r = copy_key(authkey, authkey_len, &l->key);
    if (r == 0) {
        r = listener_bind(l, &a, backlog);
    }
    if (r < 0) {
        mp_listener_destroy(l);
        return r;
    }
    *out = l;
    return 0;
}

const char *
mp_listener_address(const mp_listener_t *l)
{
    return l != NULL ? l->address : NULL;
}

int
mp_listener_fileno(const mp_listener_t *l)
{
    if (l == NULL) {
        return MP_EINVAL;
    }
    return l->closed ? MP_ECLOSED : l->fd;
}

/* Wraps a connected socket fd in a connection and runs the handshake
 * (server: deliver then answer; client: answer then deliver) when a key
 * is given. The fd is consumed either way. Returns 0 or an error. */
static int
conn_establish(int fd, const uint8_t *key, size_t keylen, bool server,
               int64_t deadline, mp_conn_t **out)
{
    mp_conn_t *c = NULL;
    int r = mp_conn_from_fd(&c, fd, true, true);
    if (r < 0) {
        mp__plat_close(fd);
        return r;
    }
    if (key != NULL) {
        if (server) {
            r = mp__auth_deliver(c, key, keylen, deadline);
            if (r == 0) {
                r = mp__auth_answer(c, key, keylen, deadline);
            }
        } else {
            r = mp__auth_answer(c, key, keylen, deadline);
            if (r == 0) {
                r = mp__auth_deliver(c, key, keylen, deadline);
            }
        }
    }
    if (r < 0) {
        mp_conn_destroy(c);
        return r;
    }
    *out = c;
    return 0;
}

int
mp_listener_accept(mp_listener_t *l, mp_conn_t **out, mp_duration_t timeout)
{
    if (l == NULL || out == NULL) {
        return MP_EINVAL;
    }
    int64_t deadline;
    int r = mp__deadline(timeout, &deadline);
    if (r < 0) {
        return r;
    }
    if (l->closed) {
        return MP_ECLOSED;
    }
    int fd;
    for (;;) {
        r = mp__plat_poll_in(l->fd, deadline);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            return MP_ETIMEDOUT;
        }
        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            break;
        }
        /* Another thread took it, or the peer gave up before we came. */
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != ECONNABORTED) {
            return -errno;
        }
    }
    if (!l->is_unix) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return conn_establish(fd, l->key, l->keylen, true, deadline, out);
}

int
mp_listener_close(mp_listener_t *l)
{
    if (l == NULL) {
        return MP_EINVAL;
    }
    listener_shut(l);
    return 0;
}

void
mp_listener_destroy(mp_listener_t *l)
{
    if (l == NULL) {
        return;
    }
    listener_shut(l);
    mp__free(l->key);
    mp__free(l);
}

/* Connects an AF_UNIX stream socket fd to a, waiting no later than
 * deadline. A listener whose backlog is full makes a non-blocking connect
 * fail with EAGAIN, and such a connect cannot be polled for completion; a
 * blocking one waits for room and honours SO_SNDTIMEO. So this connects
 * blocking, with the send timeout set to the time left (and cleared
 * again: the connection's sends block without one). Returns 0, or
 * MP_ETIMEDOUT (still no room at the deadline), or a system error. */
static int
connect_unix(int fd, const lst_addr_t *a, int64_t deadline)
{
    for (;;) {
        int64_t left = MP__NO_DEADLINE;
        if (deadline != MP__NO_DEADLINE) {
            left = deadline - mp__now_ns();
            if (left <= 0) {
                return MP_ETIMEDOUT;
            }
        }
        /* A zero timeval means no timeout: the time left is at least 1 us. */
        struct timeval tv = {0, 0};
        if (left != MP__NO_DEADLINE) {
            int64_t us = left / 1000 + 1;
            tv.tv_sec = (time_t)(us / 1000000);
            tv.tv_usec = (suseconds_t)(us % 1000000);
        }
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
            return -errno;
        }
        int r = connect(fd, (const struct sockaddr *)&a->sa, a->len);
        int e = errno;
        static const struct timeval none = {0, 0};
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none) !=
            0) {
            return -errno;
        }
        if (r == 0) {
            return 0;
        }
        /* EAGAIN: the send timeout ran out with the backlog still full
         * (the loop's deadline check says so, as a timeval is coarser than
         * the deadline); EINTR: a signal, connect again for the rest. */
        if (e != EAGAIN && e != EINTR) {
            return -e;
        }
    }
}

/* Connects a TCP socket fd to a, waiting no later than deadline: a
 * non-blocking connect, then poll for writability and SO_ERROR. Returns 0
 * or an error (MP_ETIMEDOUT, -ECONNREFUSED and other system errors;
 * EAGAIN here is a lack of local ports, not a wait). */
static int
connect_inet(int fd, const lst_addr_t *a, int64_t deadline)
{
    int r = set_nonblock(fd, true);
    if (r < 0) {
        return r;
    }
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            return -errno;
        }
        /* Wait for writability, then read the outcome from SO_ERROR. */
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        for (;;) {
            int n = poll(&pfd, 1, mp__remaining_ms(deadline));
            if (n > 0) {
                break;
            }
            if (n < 0 && errno != EINTR) {
                return -errno;
            }
            if (n == 0 && deadline != MP__NO_DEADLINE &&
                mp__now_ns() >= deadline) {
                return MP_ETIMEDOUT;
            }
        }
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            return -errno;
        }
        if (err != 0) {
            return -err;
        }
    }
    return set_nonblock(fd, false);
}

int
mp_client_connect(mp_conn_t **out, const char *address, const void *authkey,
                  size_t authkey_len, mp_duration_t timeout)
{
    if (out == NULL || address == NULL ||
        (authkey == NULL && authkey_len > 0)) {
        return MP_EINVAL;
    }
    int64_t deadline;
    int r = mp__deadline(timeout, &deadline);
    if (r < 0) {
        return r;
    }
    mp__init();
    lst_addr_t a;
    r = parse_address(address, &a);
    if (r < 0) {
        return r;
    }
    int fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    r = a.family == AF_UNIX ? connect_unix(fd, &a, deadline)
                            : connect_inet(fd, &a, deadline);
    if (r < 0) {
        mp__plat_close(fd);
        return r;
    }
    if (a.family != AF_UNIX) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return conn_establish(fd, authkey, authkey_len, false, deadline, out);
}
