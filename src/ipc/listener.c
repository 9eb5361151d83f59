/* SPDX-License-Identifier: MIT */
/* listener.c - Listener and Client: framed connections over TCP or AF_UNIX
 * stream sockets, with Python's authkey handshake (auth.c). */
#include "ipc_internal.h"

#include "../platform/platform.h"
#include "../shm/shm_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Room for any address text: a socket path, or "[v6%scope]:port". */
#define LST_ADDR_MAX 128u
/* The per-handshake time limit, in nanoseconds. */
#define LST_HANDSHAKE_NS ((int64_t)MP_LISTENER_HANDSHAKE_MS * 1000000)

/* A peer accepted from the kernel whose handshake is under way. */
typedef struct {
    int fd;
    short events;     /* what its registration in the epoll waits for */
    int64_t deadline; /* it is dropped at this time */
    mp__auth_hs_t hs;
} lst_pending_t;

struct mp_listener {
    int fd;
    bool is_unix;
    bool closed;
    /* Readiness of fd and of every pending socket: what accept waits on
     * and what mp_listener_fileno returns. Made anew in a forked child
     * (the kernel object is shared across fork), with ep_pid its owner. */
    int ep;
    pid_t ep_pid;
    /* With a key: up to MP_LISTENER_PENDING_MAX handshakes, oldest first. */
    lst_pending_t *pending;
    size_t npending;
    /* The socket file to remove, and proof that it is still ours. */
    pid_t creator;
    struct stat st; /* its stat after its chmod: dev, inode, ctime */
    char *tracked;  /* its absolute path, registered with the tracker */
    uint8_t *key;   /* NULL: no authentication */
    size_t keylen;
    char address[LST_ADDR_MAX];
};

typedef mp__lst_addr_t lst_addr_t;

int
mp__lst_parse_address(const char *address, bool numeric_only, mp__lst_addr_t *a)
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
    unsigned len = 0;
    int r = mp__plat_resolve(host, (unsigned)port, numeric_only,
                             (struct sockaddr *)&a->sa, sizeof a->sa, &len);
    if (r != 0) {
        return r;
    }
    a->len = (socklen_t)len;
    a->family = a->sa.ss_family;
    return 0;
}

void
mp__lst_format_inet(const struct sockaddr_storage *ss, char *buf, size_t buflen)
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

/* Locks (flock, exclusive) the directory that will hold socket file
 * path, so that this library's listeners bind, check for a stale socket
 * and listen there one at a time: else one could take another's socket,
 * bound but not yet listening, for stale. Held for a few system calls that
 * do not block. Returns the locked directory's fd (closing it unlocks), or
 * -1 when it cannot be had (then no stale socket is removed). */
static int
unix_dir_lock(const char *path)
{
    char dir[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
    size_t n = (size_t)(strrchr(path, '/') - path);
    memcpy(dir, path, n > 0 ? n : 1); /* "/name": the root */
    dir[n > 0 ? n : 1] = '\0';
    int fd = mp__plat_dir_lock(dir);
    return fd >= 0 ? fd : -1;
}

/* Returns path made absolute in a fresh string, or NULL (no memory, or
 * no current directory for a relative path). */
static char *
unix_abs_path(const char *path)
{
    char cwd[PATH_MAX];
    size_t n = strlen(path) + 1;
    bool rel = path[0] != '/';
    if (rel) {
        if (getcwd(cwd, sizeof cwd) == NULL) {
            return NULL;
        }
        n += strlen(cwd) + 1;
    }
    char *abs = mp__malloc(n);
    if (abs != NULL) {
        snprintf(abs, n, "%s%s%s", rel ? cwd : "", rel ? "/" : "", path);
    }
    return abs;
}

/* The tracker's part in a bind at a socket path: first the path is
 * registered as pending (so a death between bind and the file's own
 * registration leaves nothing behind), then the bound file with its
 * identity, which the tracker removes if the process tree ends without
 * closing the listener (SIGKILL). Best effort: without a registration (a
 * path too long for the tracker, or no memory) the file may outlive such a
 * death, and the next bind at the path removes it as stale. */
typedef struct unix_tracking {
    char *abs;    /* the absolute path, or NULL */
    bool pending; /* registered as pending */
} unix_tracking_t;

static void
unix_track_begin(unix_tracking_t *t, const char *path)
{
    t->abs = unix_abs_path(path);
    t->pending = t->abs != NULL && mp__tracker_register_pending(t->abs) == 0;
}

/* Ends the bind's tracking: on success (bound) the file is registered
 * and l keeps the path; in any case the pending entry goes. */
static void
unix_track_end(unix_tracking_t *t, mp_listener_t *l, bool bound)
{
    if (bound && t->abs != NULL &&
        mp__tracker_register_file(t->abs, &l->st) == 0) {
        l->tracked = t->abs;
        t->abs = NULL;
    }
    if (t->pending) {
        (void)mp__tracker_unregister_pending(l->tracked != NULL ? l->tracked
                                                                : t->abs);
    }
    mp__free(t->abs);
}

/* Binds and listens on a fresh socket for a. A socket file is made mode
 * 0600: chmod runs between bind and listen, when nobody can connect yet.
 * A stale socket file at the path (one that refuses connections: see
 * mp__plat_unix_refused) is removed first; a live one, or any other file,
 * is MP_EEXIST. Returns 0 or a negative
 * error; the listener's fd and identity are set. */
static int
listener_bind(mp_listener_t *l, lst_addr_t *a, int backlog)
{
    int fd = mp__plat_socket(a->family, true);
    if (fd < 0) {
        return fd;
    }
    int r = 0;
    const char *path = ((struct sockaddr_un *)&a->sa)->sun_path;
    int lock = l->is_unix ? unix_dir_lock(path) : -1;
    unix_tracking_t tracking = {0};
    if (l->is_unix) {
        unix_track_begin(&tracking, path);
    }
    if (!l->is_unix) {
        mp__plat_reuse_addr(fd);
    }
    r = mp__plat_bind(fd, (struct sockaddr *)&a->sa, a->len);
    /* A socket nobody listens on was left by a killed process: stale. */
    if (r == -EADDRINUSE && lock >= 0 &&
        mp__plat_unix_refused((const struct sockaddr *)&a->sa, a->len) &&
        mp__plat_unlink(path) == 0) {
        r = mp__plat_bind(fd, (struct sockaddr *)&a->sa, a->len);
    }
    if (r < 0) {
        r = (l->is_unix && r == -EADDRINUSE) ? MP_EEXIST : r;
        goto fail;
    }
    if (l->is_unix) {
        if ((r = mp__plat_chmod(path, 0600)) != 0 ||
            (r = mp__plat_stat(path, true, &l->st)) != 0) {
            (void)mp__plat_unlink(path);
            goto fail;
        }
        l->creator = mp__getpid();
        snprintf(l->address, sizeof l->address, "%s", path);
    } else {
        struct sockaddr_storage ss;
        unsigned len = 0;
        r = mp__plat_sockname(fd, (struct sockaddr *)&ss, sizeof ss, &len);
        if (r != 0) {
            goto fail;
        }
        mp__lst_format_inet(&ss, l->address, sizeof l->address);
    }
    /* From here the listener owns fd and the file: destroy undoes them. */
    l->fd = fd;
    r = mp__plat_listen(fd, backlog);
    if (l->is_unix) {
        unix_track_end(&tracking, l, true); /* the file is ours: track it */
    }
    mp__plat_close(lock);
    return r;
fail:
    if (l->is_unix) {
        unix_track_end(&tracking, l, false);
    }
    mp__plat_close(fd);
    mp__plat_close(lock);
    return r;
}

/* Makes sure l->ep is this process's own readiness set holding the
 * listening socket. In a forked child the inherited one is shared with the
 * parent, so the child makes its own and forgets the inherited handshakes
 * (closing its copies only: the parent goes on with them). Returns 0 or a
 * negative error. */
static int
lst_own_ep(mp_listener_t *l)
{
    pid_t me = mp__getpid();
    if (l->ep >= 0 && l->ep_pid == me) {
        return 0;
    }
    for (size_t i = 0; i < l->npending; i++) {
        mp__plat_close(l->pending[i].fd);
    }
    l->npending = 0;
    mp__plat_close(l->ep);
    l->ep = mp__plat_epoll_create();
    if (l->ep < 0) {
        int r = l->ep;
        l->ep = -1;
        return r;
    }
    l->ep_pid = me;
    return mp__plat_epoll_add(l->ep, l->fd, POLLIN);
}

/* Ends pending handshake i: its socket leaves the readiness set and is
 * closed, and the table closes up behind it. */
static void
pending_drop(mp_listener_t *l, size_t i)
{
    int fd = l->pending[i].fd;
    if (l->ep_pid == mp__getpid()) {
        (void)mp__plat_epoll_del(l->ep, fd);
    }
    mp__plat_close(fd);
    memmove(&l->pending[i], &l->pending[i + 1],
            (l->npending - i - 1) * sizeof *l->pending);
    l->npending--;
}

/* Closes the listening socket and removes its socket file, if this
 * process made it and it is still the same file (inode and ctime: an
 * inode number is soon reused). */
static void
listener_shut(mp_listener_t *l)
{
    if (l->closed) {
        return;
    }
    l->closed = true;
    while (l->npending > 0) {
        pending_drop(l, l->npending - 1);
    }
    mp__plat_close(l->ep);
    l->ep = -1;
    if (l->fd >= 0) {
        mp__plat_close(l->fd);
        l->fd = -1;
    }
    struct stat st;
    if (l->is_unix && l->creator == mp__getpid() &&
        mp__plat_stat(l->address, true, &st) == 0 &&
        st.st_dev == l->st.st_dev && st.st_ino == l->st.st_ino &&
        st.st_ctim.tv_sec == l->st.st_ctim.tv_sec &&
        st.st_ctim.tv_nsec == l->st.st_ctim.tv_nsec) {
        (void)mp__plat_unlink(l->address);
    }
    if (l->tracked != NULL && l->creator == mp__getpid()) {
        (void)mp__tracker_unregister_file(l->tracked, &l->st);
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
    int r = mp__lst_parse_address(address, false, &a);
    if (r < 0) {
        return r;
    }
    mp_listener_t *l = mp__calloc(1, sizeof *l);
    if (l == NULL) {
        return MP_ENOMEM;
    }
    l->fd = -1;
    l->ep = -1;
    l->is_unix = a.family == AF_UNIX;
    l->keylen = authkey_len;
    r = copy_key(authkey, authkey_len, &l->key);
    if (r == 0 && authkey != NULL) {
        l->pending = mp__calloc(MP_LISTENER_PENDING_MAX, sizeof *l->pending);
        r = l->pending == NULL ? MP_ENOMEM : 0;
    }
    if (r == 0) {
        r = listener_bind(l, &a, backlog);
    }
    if (r == 0) {
        r = lst_own_ep(l);
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
    return l->closed ? MP_ECLOSED : l->ep;
}

/* Wraps connected socket fd (consumed either way) in a connection in *out.
 * Returns 0 or an error. */
static int
lst_wrap(int fd, mp_conn_t **out)
{
    int r = mp_conn_from_fd(out, fd, true, true);
    if (r < 0) {
        mp__plat_close(fd);
    }
    return r;
}

/* Advances pending handshake i as far as it goes without blocking. On
 * success the peer leaves the table as a connection in *out (1); on
 * failure it is closed and the error returned; else 0. */
static int
pending_step(mp_listener_t *l, size_t i, mp_conn_t **out)
{
    lst_pending_t *p = &l->pending[i];
    short events = 0;
    int r = mp__auth_hs_step(&p->hs, p->fd, &events);
    if (r == 0) {
        if (events != p->events) {
            r = mp__plat_epoll_mod(l->ep, p->fd, (uint32_t)events);
            if (r < 0) {
                pending_drop(l, i);
                return r;
            }
            p->events = events;
        }
        return 0;
    }
    if (r < 0) {
        pending_drop(l, i);
        return r;
    }
    int fd = p->fd;
    (void)mp__plat_epoll_del(l->ep, fd);
    memmove(&l->pending[i], &l->pending[i + 1],
            (l->npending - i - 1) * sizeof *l->pending);
    l->npending--;
    r = lst_wrap(fd, out);
    return r < 0 ? r : 1;
}

/* Takes a newly connected peer fd into the table (dropping the oldest
 * when it is full) and starts its handshake. Returns what pending_step
 * returns. */
static int
pending_add(mp_listener_t *l, int fd, mp_conn_t **out)
{
    if (l->npending == MP_LISTENER_PENDING_MAX) {
        pending_drop(l, 0);
    }
    int r = mp__plat_epoll_add(l->ep, fd, POLLIN);
    if (r < 0) {
        mp__plat_close(fd);
        return r;
    }
    lst_pending_t *p = &l->pending[l->npending++];
    p->fd = fd;
    p->events = POLLIN;
    p->deadline = mp__deadline_after_ns(LST_HANDSHAKE_NS);
    mp__auth_hs_init(&p->hs, l->key, l->keylen, true, true);
    return pending_step(l, l->npending - 1, out);
}

/* Accepts the peers the kernel has queued (at most a table's worth per
 * call, so a flood cannot keep accept here). Without a key the first one
 * is the result (1, in *out); with a key each starts its handshake.
 * Returns 1, 0 (none finished) or an error. */
static int
lst_take_new(mp_listener_t *l, mp_conn_t **out)
{
    for (int k = 0; k < MP_LISTENER_PENDING_MAX; k++) {
        int fd = mp__plat_accept(l->fd);
        if (fd == -ECONNABORTED) {
            continue; /* the peer gave up before we came */
        }
        if (fd < 0) {
            /* EAGAIN: none left (or another process took it). */
            return fd == -EAGAIN ? 0 : fd;
        }
        if (!l->is_unix) {
            mp__plat_nodelay(fd);
        }
        int r = l->key == NULL ? lst_wrap(fd, out) : pending_add(l, fd, out);
        if (l->key == NULL && r == 0) {
            return 1;
        }
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

/* Drops the handshakes whose time is up at now; returns the earliest
 * deadline of those left, or MP__NO_DEADLINE. */
static int64_t
pending_expire(mp_listener_t *l, int64_t now)
{
    int64_t next = MP__NO_DEADLINE;
    for (size_t i = l->npending; i-- > 0;) {
        if (l->pending[i].deadline <= now) {
            pending_drop(l, i);
        } else if (l->pending[i].deadline < next) {
            next = l->pending[i].deadline;
        }
    }
    return next;
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
    r = lst_own_ep(l);
    if (r < 0) {
        return r;
    }
    enum { BATCH = MP_LISTENER_PENDING_MAX + 1 };
    int fds[BATCH];
    uint32_t evs[BATCH];
    for (;;) {
        int64_t next = pending_expire(l, mp__now_ns());
        int n = mp__plat_epoll_wait(l->ep, fds, evs, BATCH,
                                    next < deadline ? next : deadline);
        if (n < 0) {
            return n;
        }
        for (int i = 0; i < n; i++) {
            if (fds[i] == l->fd) {
                r = lst_take_new(l, out);
            } else {
                size_t j = 0;
                while (j < l->npending && l->pending[j].fd != fds[i]) {
                    j++;
                }
                /* Not found: dropped earlier in this round. */
                r = j < l->npending ? pending_step(l, j, out) : 0;
            }
            if (r != 0) {
                return r < 0 ? r : 0;
            }
        }
        if (deadline != MP__NO_DEADLINE && mp__now_ns() >= deadline) {
            return MP_ETIMEDOUT;
        }
    }
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
    mp__free(l->pending);
    mp__free(l->tracked);
    mp__free(l->key);
    mp__free(l);
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
    r = mp__lst_parse_address(address, false, &a);
    if (r < 0) {
        return r;
    }
    int fd = mp__plat_socket(a.family, false);
    if (fd < 0) {
        return fd;
    }
    r = mp__plat_connect(fd, (const struct sockaddr *)&a.sa, a.len, deadline);
    if (r < 0) {
        mp__plat_close(fd);
        return r;
    }
    if (a.family != AF_UNIX) {
        mp__plat_nodelay(fd);
    }
    if (authkey != NULL) {
        mp__auth_hs_t hs;
        mp__auth_hs_init(&hs, authkey, authkey_len, false, true);
        r = mp__auth_hs_run(&hs, fd, deadline);
        if (r < 0) {
            mp__plat_close(fd);
            return r;
        }
    }
    return lst_wrap(fd, out);
}
