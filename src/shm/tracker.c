/* SPDX-License-Identifier: MIT */
/* tracker.c - the shared-memory tracker: a helper process that unlinks
 * the named segments a process tree created and did not unlink, once every
 * process of that tree has exited, however it ended (SIGKILL included).
 *
 * Protocol and lifecycle
 * ----------------------
 * - Start: lazily, on the first mp__tracker_register() in a process that has
 *   no connection. The caller makes a close-on-exec socket pair (an AF_UNIX
 *   stream) and double-forks with _Fork, which runs no atfork handler (so the
 *   caller may hold any lock and be multi-threaded): an intermediate child
 *   forks the tracker and exits at once; the caller reaps the intermediate at
 *   once and reads the tracker's pid from a one-shot pipe, on which the
 *   tracker sends it once it has detached. So the tracker is not our child
 *   (never our zombie) and, in a session of its own, not in our group or
 *   session.
 * - Connection: the tracker holds one end of the socketpair, alone: the
 *   caller closes its copy before anything else can fork: a fork waits for
 *   tracker_mutex in our fork handler, and the start holds it. The caller
 *   keeps the other end, the write end. A fork duplicates it into every
 *   child, so the children of the tree register their own names with the
 *   same tracker and keep it alive; an exec drops it (close-on-exec). The
 *   intermediate closes its copy, or EOF would never come.
 * - Messages: lines "R /name\n" (register) and "U /name\n" (unregister),
 *   each one non-blocking send of under 260 bytes, which an AF_UNIX stream
 *   queues as one buffer, whole or not at all (EAGAIN), so lines from
 *   different processes never interleave. The table is a multiset: "U"
 *   removes one matching "R", so an unlink by one process racing a
 *   re-create of the same name by another never loses the newer entry.
 * - Files: the same two ops carry "S<id>/abs/path" for a socket file the
 *   tree bound (a listener's) and "D<id>/abs/dir" for a directory it made
 *   (a manager's mp-mgr-*); <id> is 32 hex digits, the file's inode and its
 *   ctime in ns (zeros for a directory): an inode number alone is soon
 *   reused by the next file. They are names like the others in every
 *   table.
 * - End: when the last write end is closed (every process of the tree has
 *   exited or called mp_shutdown), its read returns 0; the tracker
 *   unlinks every segment name still registered, unlinks every socket file
 *   still registered that is still the registered file (a later owner's
 *   socket at that path is left alone), then removes the directories
 *   (those left empty), and exits.
 * - Cost: a write that wakes a sleeping reader costs several times one that
 *   does not. After draining the socket the tracker therefore pauses
 *   briefly before it blocks again, so a burst of create/unlink calls wakes
 *   it once per pause rather than once per message. Nothing waits for it
 *   unless its socket is full.
 * - A killed tracker: nobody else holds its end, so the next send of every
 *   connected process fails with EPIPE (MSG_NOSIGNAL: no SIGPIPE). That
 *   process starts a replacement and first sends it every name it
 *   registered itself and has not unregistered, so that the replacement
 *   holds again what the dead tracker held for it. Each process keeps that
 *   list (own_names: a table like the tracker's, which a child empties at
 *   its first message, as its parent's names are its parent's). A process
 *   that sends nothing after the death cannot notice it, and its names
 *   outlive the tree (see docs/design.md, known limits).
 * - The tracker runs in a forked copy of a possibly multi-threaded process,
 *   so it calls only async-signal-safe functions: no malloc, no stdio. Its
 *   table lives in an anonymous mapping grown with mremap(); parsing is plain
 *   code. It ignores SIGINT/SIGTERM/SIGHUP/SIGPIPE/SIGQUIT (a ^C to the
 *   foreground group must not lose the cleanup) and closes every fd but its
 *   end of the socketpair and stderr (it must not hold a pipe of the
 *   caller's open).
 * - mp__tracker_disconnect() (from mp_shutdown) closes this process's end
 *   and forgets its names (the tracker it leaves removes them with the
 *   tree); the next registration starts a new tracker. Children forked
 *   before keep the old one alive, and it cleans up after them.
 *
 * Process-local state (fd, pid, own names) is guarded by a mutex;
 * pthread_atfork keeps it consistent in the child of a fork taken while
 * another thread held it. */
#include "shm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A name as the tracker keeps it: "/name", at most 251 bytes. */
#define TRACKER_NAME_MAX 256
/* A message: 'R' or 'U', a space, the name, '\n'. */
#define TRACKER_MSG_MAX (TRACKER_NAME_MAX + 3)
/* An AF_UNIX stream queues a send of up to half its send buffer (at least
 * SOCK_MIN_SNDBUF, over 4 KiB) less 64 bytes as one buffer. */
_Static_assert(TRACKER_MSG_MAX < 2048 - 64, "messages are atomic sends");
/* How long the tracker lets messages queue up after draining them. */
#define TRACKER_PAUSE_NS (2 * 1000 * 1000)

static pthread_mutex_t tracker_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t tracker_once = PTHREAD_ONCE_INIT;
static int tracker_wfd = -1; /* our write end, or -1: not connected */
static pid_t tracker_pidval; /* the tracker's pid while connected */

/* atfork prepare: no other thread may be inside the tracker state. */
static void
tracker_atfork_prepare(void)
{
    pthread_mutex_lock(&tracker_mutex);
}

/* atfork parent and child: the child keeps the inherited connection. */
MP__FORK_CHILD_PATH static void
tracker_atfork_release(void)
{
    pthread_mutex_unlock(&tracker_mutex);
}

/* Installs the fork handlers once per process tree. */
static void
tracker_once_fn(void)
{
    pthread_atfork(tracker_atfork_prepare, tracker_atfork_release,
                   tracker_atfork_release);
}

/* ---- the tracker process (async-signal-safe code only) ---------------- */

/* One registered name, "/name", not NUL-terminated. */
typedef struct tracker_slot {
    unsigned short len;
    char name[TRACKER_NAME_MAX];
} tracker_slot_t;

typedef struct tracker_table {
    tracker_slot_t *slots; /* an anonymous mapping */
    size_t used, cap;
} tracker_table_t;

/* The names this process registered and has not unregistered (see the
 * top), valid in process own_names_pid only; tracker_mutex. */
static tracker_table_t own_names;
static pid_t own_names_pid;

/* Adds a name, growing the mapping; a name that does not fit is dropped
 * (its segment then outlives the tree, as it would without a tracker). */
static void
table_add(tracker_table_t *t, const char *name, size_t len)
{
    if (t->used == t->cap) {
        size_t ncap = t->cap == 0 ? 64 : t->cap * 2;
        void *p;
        if (t->slots == NULL) {
            p = mp__plat_map_anon(false, ncap * sizeof(tracker_slot_t));
        } else {
            p = mp__plat_remap(t->slots, t->cap * sizeof(tracker_slot_t),
                               ncap * sizeof(tracker_slot_t));
        }
        if (p == NULL) {
            return;
        }
        t->slots = p;
        t->cap = ncap;
    }
    tracker_slot_t *s = &t->slots[t->used++];
    s->len = (unsigned short)len;
    memcpy(s->name, name, len);
}

/* Removes one entry equal to name, if any. Searches from the end, where
 * the most recent registrations are; the last entry fills the hole. */
static void
table_remove(tracker_table_t *t, const char *name, size_t len)
{
    for (size_t i = t->used; i-- > 0;) {
        tracker_slot_t *s = &t->slots[i];
        if (s->len == len && memcmp(s->name, name, len) == 0) {
            t->slots[i] = t->slots[--t->used];
            return;
        }
    }
}

/* The hex digits of a file entry's identity, after its kind letter: the
 * inode, then the ctime in ns, 16 digits each. */
#define TRACKER_INO_DIGITS 32

/* Reads the 16 lower-case hex digits at p. */
static unsigned long long
tracker_hex(const char *p)
{
    unsigned long long v = 0;
    for (int i = 0; i < 16; i++) {
        v = v << 4 | (unsigned)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
    }
    return v;
}

/* Writes v as 16 lower-case hex digits at p. */
static void
tracker_put_hex(char *p, unsigned long long v)
{
    for (int i = 0; i < 16; i++) {
        p[i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 15];
    }
}

/* A file's ctime in ns. */
static unsigned long long
tracker_ctime_ns(const struct stat *st)
{
    return (unsigned long long)st->st_ctim.tv_sec * 1000000000ull +
           (unsigned long long)st->st_ctim.tv_nsec;
}

/* Removes what every registered name names: the segment of a "/name"
 * (on Linux a plain unlink in /dev/shm: it does not allocate), the file
 * of a socket file that is still the registered file, and for a pending
 * socket (its process died between bind and registering the file) if it
 * is a socket nobody listens on, then a removal of the directories (after
 * the files that were in them). */
static void
table_unlink_all(const tracker_table_t *t)
{
    char path[TRACKER_NAME_MAX + 1];
    const size_t off = 1 + TRACKER_INO_DIGITS;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < t->used; i++) {
            const tracker_slot_t *sl = &t->slots[i];
            if ((pass == 1) != (sl->name[0] == 'D')) {
                continue;
            }
            memcpy(path, sl->name, sl->len);
            path[sl->len] = '\0';
            struct stat st;
            if (path[0] == '/') {
                (void)mp__plat_shm_unlink(path);
            } else if (path[0] == 'D') {
                (void)mp__plat_rmdir(path + off);
            } else if (path[0] == 'P') {
                if (mp__plat_stat(path + off, false, &st) == 0 &&
                    S_ISSOCK(st.st_mode) &&
                    mp__plat_unix_path_refused(path + off)) {
                    (void)mp__plat_unlink(path + off);
                }
            } else if (mp__plat_stat(path + off, false, &st) == 0 &&
                       (unsigned long long)st.st_ino == tracker_hex(path + 1) &&
                       tracker_ctime_ns(&st) == tracker_hex(path + 17)) {
                (void)mp__plat_unlink(path + off);
            }
        }
    }
}

/* Returns 1 if name (len bytes) is a well-formed name: "/name" free of
 * further '/' and NULs, or "S|D|P<32 hex>/abs/path" free of NULs. */
static int
tracker_name_ok(const char *name, size_t len)
{
    size_t i = 1;
    if (name[0] == 'S' || name[0] == 'D' || name[0] == 'P') {
        if (len < 2 + TRACKER_INO_DIGITS) {
            return 0;
        }
        for (; i <= TRACKER_INO_DIGITS; i++) {
            char c = name[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return 0;
            }
        }
        if (name[i] != '/') {
            return 0;
        }
        for (; i < len; i++) {
            if (name[i] == '\0') {
                return 0;
            }
        }
        return 1;
    }
    if (name[0] != '/') {
        return 0;
    }
    for (; i < len; i++) {
        if (name[i] == '/' || name[i] == '\0') {
            return 0;
        }
    }
    return 1;
}

/* Applies one line (without its '\n'): "R <name>" or "U <name>" (see
 * tracker_name_ok). Anything else is ignored. */
static void
tracker_apply(tracker_table_t *t, const char *line, size_t n)
{
    if (n < 4 || (line[0] != 'R' && line[0] != 'U') || line[1] != ' ' ||
        n - 2 > TRACKER_NAME_MAX - 1 || !tracker_name_ok(line + 2, n - 2)) {
        return;
    }
    const char *name = line + 2;
    size_t len = n - 2;
    if (line[0] == 'R') {
        table_add(t, name, len);
    } else {
        table_remove(t, name, len);
    }
}

/* Detaches from the caller: own session, signals that could end us
 * ignored, every fd but rfd and stderr closed, then reports our pid on
 * report_fd (so the caller sees the tracker fully set up). Returns rfd's
 * new number. */
static int
tracker_detach(int rfd, int report_fd)
{
    mp__plat_detach();
    /* rfd becomes 3, report_fd 4; stdin, stdout and the rest are closed. */
    const int keep[2] = {rfd, report_fd};
    if (mp__plat_keep_fds(keep, 2) != 0) {
        mp__plat_exit_now(1);
    }
    /* Not mp__getpid: _Fork ran no fork handler to refresh its cache. */
    pid_t self = mp__plat_pid_uncached();
    (void)mp__plat_write_full(4, &self, sizeof self);
    mp__plat_close(4);
    return 3;
}

/* The tracker's main loop: applies lines until every write end is closed,
 * then removes what is left. Never returns. */
__attribute__((noreturn)) static void
tracker_main(int rfd, int report_fd)
{
    int fd = tracker_detach(rfd, report_fd);
    tracker_table_t table = {NULL, 0, 0};
    char buf[4096];
    size_t have = 0; /* bytes of an incomplete line at the start of buf */
    for (;;) {
        ssize_t n = mp__plat_read_some(fd, buf + have, sizeof buf - have);
        if (n <= 0) {
            break; /* EOF: the whole tree is gone (or the pipe broke) */
        }
        size_t end = have + (size_t)n, line = 0;
        for (size_t i = have; i < end; i++) {
            if (buf[i] == '\n') {
                tracker_apply(&table, buf + line, i - line);
                line = i + 1;
            }
        }
        have = end - line;
        if (have == sizeof buf) {
            have = 0; /* a line longer than any message: drop it */
        } else if (have > 0) {
            memmove(buf, buf + line, have);
        }
        if (end < sizeof buf) {
            /* Drained: let the next messages queue up (see the top). */
            mp__plat_nap(TRACKER_PAUSE_NS);
        }
    }
    table_unlink_all(&table);
    mp__plat_exit_now(0);
}

/* ---- the library side -------------------------------------------------- */

/* The intermediate child: closes the write end, forks the tracker (which
 * reports its own pid on report_fd once set up) and exits. Never returns. */
__attribute__((noreturn)) static void
tracker_intermediate(int rfd, int wfd, int report_fd)
{
    mp__plat_close(wfd);
    pid_t tpid = mp__plat_fork_bare();
    if (tpid == 0) {
        tracker_main(rfd, report_fd);
    }
    mp__plat_exit_now(tpid > 0 ? 0 : 1);
}

/* Starts a tracker and connects this process to it. Called with
 * tracker_mutex held and no connection. Returns 0 or a negative error. */
static int
tracker_start_locked(void)
{
    int p[2], report[2]; /* p[0]: the tracker's end, p[1]: ours */
    int err = mp__plat_socketpair(SOCK_STREAM, p);
    if (err != 0) {
        return err;
    }
    err = mp__plat_pipe(report);
    if (err != 0) {
        goto fail_pipe;
    }
    /* _Fork: the intermediate and the tracker run no atfork handlers (we
     * hold tracker_mutex, which our own prepare handler would take). */
    pid_t mid = mp__plat_fork_bare();
    if (mid < 0) {
        err = (int)mid;
        goto fail_report;
    }
    if (mid == 0) {
        mp__plat_close(report[0]);
        tracker_intermediate(p[0], p[1], report[1]);
    }
    mp__plat_close(report[1]);
    report[1] = -1;
    mp__plat_close(p[0]); /* the tracker's alone (see the top) */
    p[0] = -1;
    int status;
    (void)mp__plat_wait_pid(mid, true, &status);
    /* Whatever waitpid said (ECHILD if SIGCHLD is ignored), the
     * intermediate is gone: this read ends with the pid the tracker sends
     * once set up, or with EOF if there is no tracker. */
    pid_t tpid = 0;
    if (mp__plat_read_full(report[0], &tpid, sizeof tpid) !=
            (ssize_t)sizeof tpid ||
        tpid <= 0) {
        err = MP_EAGAIN;
        goto fail_report;
    }
    mp__plat_close(report[0]);
    tracker_wfd = p[1];
    tracker_pidval = tpid;
    return 0;
fail_report:
    mp__plat_close(report[0]);
    mp__plat_close(report[1]);
fail_pipe:
    mp__plat_close(p[0]);
    mp__plat_close(p[1]);
    return err;
}

/* Closes the connection. Called with tracker_mutex held. */
static void
tracker_disconnect_locked(void)
{
    if (tracker_wfd >= 0) {
        mp__plat_close(tracker_wfd);
        tracker_wfd = -1;
        tracker_pidval = 0;
    }
}

/* Writes one message. Called with tracker_mutex held and a connection
 * open. Returns 0, MP_EPIPE (the tracker is dead) or another error. */
static int
tracker_write_locked(const char *msg, size_t len)
{
    for (;;) {
        ssize_t n = mp__plat_send_nb(tracker_wfd, msg, len);
        if (n == (ssize_t)len) {
            return 0;
        }
        if (n >= 0) {
            return MP_EIO; /* cannot happen: sends are atomic (the top) */
        }
        if (n == -ECONNRESET) {
            return MP_EPIPE;
        }
        if (n != -EAGAIN) {
            return (int)n;
        }
        /* Full: the tracker is pausing or slow; had it died, the send
         * would have failed with EPIPE, and POLLHUP ends this wait. */
        int r = mp__plat_poll_fd(tracker_wfd, POLLOUT, MP__NO_DEADLINE);
        if (r < 0) {
            return r;
        }
    }
}

/* Makes own_names this process's: in a child, the copy of its parent's
 * list is emptied (the mapping is the child's own copy, reused). Called
 * with tracker_mutex held. */
static void
own_names_adopt_locked(void)
{
    pid_t self = mp__getpid();
    if (own_names_pid != self) {
        own_names.used = 0;
        own_names_pid = self;
    }
}

/* Sends the new tracker a registration for each of own_names. Called with
 * tracker_mutex held and a connection open. Returns 0 or the error of a
 * write. */
static int
tracker_replay_locked(void)
{
    char buf[TRACKER_MSG_MAX + 1];
    int err = 0;
    for (size_t i = 0; i < own_names.used && err == 0; i++) {
        const tracker_slot_t *sl = &own_names.slots[i];
        buf[0] = 'R';
        buf[1] = ' ';
        memcpy(buf + 2, sl->name, sl->len);
        buf[2 + sl->len] = '\n';
        err = tracker_write_locked(buf, sl->len + 3);
    }
    return err;
}

/* Builds "<op> /name\n" into buf from name, with or without its '/'.
 * Returns the length, or 0 for a name the tracker could not hold. */
static size_t
tracker_format(char *buf, char op, const char *name)
{
    if (name[0] == '/') {
        name++;
    }
    size_t len = strnlen(name, TRACKER_NAME_MAX);
    if (len == 0 || len > TRACKER_NAME_MAX - 2) {
        return 0;
    }
    buf[0] = op;
    buf[1] = ' ';
    buf[2] = '/';
    memcpy(buf + 3, name, len);
    buf[3 + len] = '\n';
    return len + 4;
}

static int tracker_send(char op, const char *buf, size_t len);

/* Sends op ('R' or 'U') for the shared-memory name (see tracker_send).
 * Returns 0 or a negative error. */
static int
tracker_message(char op, const char *name)
{
    char buf[TRACKER_MSG_MAX + 1];
    size_t len = name != NULL ? tracker_format(buf, op, name) : 0;
    if (len == 0) {
        return MP_EINVAL;
    }
    return tracker_send(op, buf, len);
}

/* Sends the line buf (len bytes, op ('R' or 'U'), a space, a name, '\n')
 * and notes the name in own_names. Without a live tracker (none yet, or a
 * dead one), and while this process has names registered, starts one and
 * registers all of them with it: the new name of an 'R' among them.
 * Returns 0 or a negative error. */
static int
tracker_send(char op, const char *buf, size_t len)
{
    pthread_once(&tracker_once, tracker_once_fn);
    pthread_mutex_lock(&tracker_mutex);
    own_names_adopt_locked();
    /* The name without op, space and newline. A name the mapping cannot
     * take is still sent; only a replacement would miss it. */
    if (op == 'R') {
        table_add(&own_names, buf + 2, len - 3);
    } else {
        table_remove(&own_names, buf + 2, len - 3);
    }
    int err = 0;
    if (tracker_wfd >= 0) {
        err = tracker_write_locked(buf, len);
        if (err == MP_EPIPE) {
            tracker_disconnect_locked(); /* dead: replaced below */
            err = 0;
        }
    }
    if (tracker_wfd < 0 && (op == 'R' || own_names.used > 0)) {
        err = tracker_start_locked();
        if (err == 0) {
            err = tracker_replay_locked();
        }
        if (op == 'R' && err != 0) {
            table_remove(&own_names, buf + 2, len - 3); /* not created */
        }
    }
    pthread_mutex_unlock(&tracker_mutex);
    return err;
}

int
mp__tracker_register(const char *name)
{
    return tracker_message('R', name);
}

int
mp__tracker_unregister(const char *name)
{
    return tracker_message('U', name);
}

/* Sends op for a file name: kind ('S' or 'D'), the identity of st (NULL:
 * zeros), the absolute path. Returns 0 or a negative error. */
static int
tracker_file_message(char op, char kind, const char *path,
                     const struct stat *st)
{
    char buf[TRACKER_MSG_MAX + 1];
    const size_t pre = 3 + TRACKER_INO_DIGITS; /* "R S<ino>" */
    size_t len = path != NULL ? strnlen(path, TRACKER_NAME_MAX) : 0;
    if (len == 0 || path[0] != '/' || pre + len + 1 > TRACKER_NAME_MAX) {
        return MP_EINVAL;
    }
    buf[0] = op;
    buf[1] = ' ';
    buf[2] = kind;
    tracker_put_hex(buf + 3, st != NULL ? (unsigned long long)st->st_ino : 0);
    tracker_put_hex(buf + 19, st != NULL ? tracker_ctime_ns(st) : 0);
    memcpy(buf + pre, path, len);
    buf[pre + len] = '\n';
    return tracker_send(op, buf, pre + len + 1);
}

int
mp__tracker_register_file(const char *path, const struct stat *sock)
{
    return tracker_file_message('R', sock != NULL ? 'S' : 'D', path, sock);
}

int
mp__tracker_unregister_file(const char *path, const struct stat *sock)
{
    return tracker_file_message('U', sock != NULL ? 'S' : 'D', path, sock);
}

int
mp__tracker_register_pending(const char *path)
{
    return tracker_file_message('R', 'P', path, NULL);
}

int
mp__tracker_unregister_pending(const char *path)
{
    return tracker_file_message('U', 'P', path, NULL);
}

void
mp__tracker_disconnect(void)
{
    pthread_once(&tracker_once, tracker_once_fn);
    pthread_mutex_lock(&tracker_mutex);
    tracker_disconnect_locked();
    own_names_adopt_locked();
    own_names.used = 0; /* the tracker we leave removes them */
    pthread_mutex_unlock(&tracker_mutex);
}

pid_t
mp__tracker_pid(void)
{
    pthread_once(&tracker_once, tracker_once_fn);
    pthread_mutex_lock(&tracker_mutex);
    pid_t pid = tracker_pidval;
    pthread_mutex_unlock(&tracker_mutex);
    return pid;
}
