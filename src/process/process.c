/* SPDX-License-Identifier: MIT */
/* process.c - the mp_process_* API: Python's Process with the fork start
 * method.
 *
 * Start: the parent prepares everything the child's set-up needs that can
 * fail (/dev/null for stdin, copies of the name and identity), forks, and
 * returns at once: the child's set-up (parent-death signal for a daemon,
 * library state, stdin from /dev/null) then cannot fail, so start need not
 * wait for a report (a wake-up and two context switches on every start).
 * Only a daemon's start waits, on a close-on-exec pipe, until its
 * parent-death signal is armed.
 * The parent holds a pidfd of the child as its sentinel until
 * close/destroy; join polls it and reaps with waitpid, and every other
 * query reaps without blocking.
 *
 * Handles are process-local: a handle copied into a child by fork can be
 * closed and destroyed there (which frees the child's copy), but not used
 * to start, join, signal or query the process (MP_ENOTCHILD). */
#include "process_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Errno the next start's preparation fails with (tests only; 0: none). */
static _Atomic int test_fail_err;

/* Returns the error a call acting on child p reports, or 0 when p is a
 * started (or reaped) child handle of the calling process. Registry lock
 * held; p is not a library-owned handle. */
static int
child_check_locked(const mp_process_t *p)
{
    if (p->closed) {
        return MP_ECLOSED;
    }
    if (p->creator != mp__getpid()) {
        return MP_ENOTCHILD;
    }
    if (p->state == MP__PROC_INITIAL || p->state == MP__PROC_STARTING) {
        return MP_ENOTSTARTED;
    }
    return 0;
}

/* Replaces p's name with a copy of name. Registry lock held. Returns 0 or
 * MP_ENOMEM. */
static int
set_name_locked(mp_process_t *p, const char *name)
{
    char *copy = mp__strdup(name);
    if (copy == NULL) {
        return MP_ENOMEM;
    }
    mp__free(p->name_alloc);
    p->name_alloc = copy;
    p->name = copy;
    return 0;
}

int
mp_process_create(mp_process_t **out, mp_target_fn target, void *arg,
                  const mp_process_opts_t *opts)
{
    if (out == NULL || target == NULL) {
        return MP_EINVAL;
    }
    *out = NULL;
    mp__registry_init();
    mp_process_t *p = mp__calloc(1, sizeof *p);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    p->kind = MP__PROC_CHILD;
    p->state = MP__PROC_INITIAL;
    p->target = target;
    p->arg = arg;
    p->daemon = opts != NULL && opts->daemon;
    p->creator = mp__getpid();
    p->pidfd = -1;
    /* Python numbers a process when it is created, named or not. */
    int err = mp__registry_new_identity(&p->identity);
    if (err == 0) {
        if (opts != NULL && opts->name != NULL) {
            p->name_alloc = mp__strdup(opts->name);
        } else {
            size_t len = strlen("Process-") + strlen(p->identity) + 1;
            p->name_alloc = mp__malloc(len);
            if (p->name_alloc != NULL) {
                snprintf(p->name_alloc, len, "Process-%s", p->identity);
            }
        }
        err = p->name_alloc == NULL ? MP_ENOMEM : 0;
    }
    if (err != 0) {
        mp__free(p->identity);
        mp__free(p);
        return err;
    }
    p->name = p->name_alloc;
    *out = p;
    return 0;
}

/* Returns the error mp_process_start reports for p, or 0 when it may be
 * started. Registry lock held. Python's order: closed, started twice, not
 * ours, the caller is a daemon. */
static int
start_check_locked(const mp_process_t *p)
{
    if (p->kind != MP__PROC_CHILD) {
        return MP_ESTARTED; /* the current and parent processes run */
    }
    if (p->closed) {
        return MP_ECLOSED;
    }
    if (p->state != MP__PROC_INITIAL) {
        return MP_ESTARTED;
    }
    if (p->creator != mp__getpid()) {
        return MP_ENOTCHILD;
    }
    if (mp__registry_is_daemon_locked()) {
        return MP_EDAEMON;
    }
    return 0;
}

/* What a child's set-up needs that could fail to get: made by the parent
 * before fork (and copied into the child by it), so that nothing the child
 * does before its target can fail. */
typedef struct child_prep {
    int devnull;   /* /dev/null, read-only, close-on-exec, above stderr */
    char *name;    /* the child's copy of p->name */
    char *ident;   /* the child's copy of p->identity */
    int armed_fd;  /* a daemon's report pipe, write end; else -1 */
} child_prep_t;

/* Frees what prep_child() got (in the parent after fork, or on failure). */
static void
prep_free(child_prep_t *c)
{
    mp__plat_close(c->devnull);
    mp__free(c->name);
    mp__free(c->ident);
}

/* Opens /dev/null for the child's stdin, as Python's child bootstrap does,
 * and copies what mp__registry_become_child needs. Returns 0 or a negative
 * error, with nothing held. Context: the parent, before fork. */
static int
prep_child(child_prep_t *c, const mp_process_t *p)
{
    c->name = mp__strdup(p->name);
    c->ident = mp__strdup(p->identity);
    c->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int err = c->devnull < 0 ? -errno : 0;
    if (err == 0 && c->devnull <= STDERR_FILENO) {
        /* A closed standard fd was reused: move out of its way, so that
         * the parent's own stdin/stdout/stderr stay as they were. */
        int fd = fcntl(c->devnull, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        err = fd < 0 ? -errno : 0;
        mp__plat_close(c->devnull);
        c->devnull = fd;
    }
    if (err == 0 && (c->name == NULL || c->ident == NULL)) {
        err = MP_ENOMEM;
    }
    int injected = atomic_exchange(&test_fail_err, 0);
    if (err == 0 && injected > 0) {
        err = -injected;
    }
    if (err != 0) {
        prep_free(c);
    }
    return err;
}

/* The child's set-up after fork, with what prep_child() got (the child
 * owns it now). Failures here are out of the question short of a kernel
 * bug; should one happen, the child exits with 127. Context: the new
 * child, one thread. */
static void
child_setup(const mp_process_t *p, pid_t parent, child_prep_t *c)
{
    if (p->daemon) {
        /* Note: the signal comes when the thread that forked ends, which
         * for a start from another thread may be before the parent exits.
         * prctl fails only for a bad signal number. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
            _exit(127);
        }
        /* The parent may have died before prctl: no signal would come,
         * so do what it would have done. Start did not wait for this
         * child, so it may already have a pid its caller passed on. */
        if (getppid() != parent) {
            (void)kill(getpid(), SIGKILL);
            _exit(127);
        }
        /* Tell the parent the signal is armed (see spawn_child). */
        uint8_t armed = 1;
        (void)mp__plat_write_full(c->armed_fd, &armed, sizeof armed);
    }
    mp__plat_close(c->armed_fd);
    mp__registry_become_child(p, parent, c->name, c->ident);
    /* dup2 onto a valid fd below the limit fails only with EINTR. */
    int r;
    do {
        r = dup2(c->devnull, STDIN_FILENO);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        _exit(127);
    }
    mp__plat_close(c->devnull);
    /* Drop input the parent had buffered. */
    __fpurge(stdin);
}

/* The child's side of mp_process_start: set up, run the target. */
__attribute__((noreturn)) static void
run_child(mp_process_t *p, pid_t parent, child_prep_t *c)
{
    child_setup(p, parent, c);
    mp_process_exit(p->target(p->arg));
}

/* Waits for child pid to exit and reaps it (it is known to be exiting). */
static void
reap_blocking(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

/* Forks the child of p. On success stores its pid and pidfd, and, when
 * armed_out is not NULL, the fd a daemon's armed report comes on (-1 when
 * none: the caller waits with mp__process_await_armed) instead of waiting
 * for it here; on failure no child is left. Returns 0 or a negative
 * error. Registry lock not held (the fork handlers take it). */
static int
spawn_child(mp_process_t *p, pid_t *pid_out, int *pidfd_out, int *armed_out)
{
    pid_t parent = mp__getpid();
    child_prep_t c;
    int fds[2] = {-1, -1};
    mp__registry_start_lock();
    int err = prep_child(&c, p);
    if (err == 0 && p->daemon) {
        err = mp__plat_pipe(fds);
        if (err != 0) {
            prep_free(&c);
        }
    }
    if (err != 0) {
        mp__registry_start_unlock();
        return err;
    }
    c.armed_fd = fds[1];
    pid_t pid = fork();
    if (pid == 0) {
        mp__plat_close(fds[0]);
        run_child(p, parent, &c);
    }
    int fork_errno = errno;
    prep_free(&c);
    mp__plat_close(fds[1]);
    mp__registry_start_unlock();
    if (pid < 0) {
        mp__plat_close(fds[0]);
        return -fork_errno;
    }
    /* Until we reap it, pid cannot be reused: the pidfd is the child's. */
    int pidfd = mp__plat_pidfd_open(pid);
    if (pidfd >= 0 && armed_out != NULL) {
        *armed_out = fds[0];
    } else {
        mp__process_await_armed(fds[0]);
    }
    if (pidfd < 0) {
        (void)kill(pid, SIGKILL);
        reap_blocking(pid);
        return pidfd;
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    return 0;
}

void
mp__process_await_armed(int armed_fd)
{
    if (armed_fd >= 0) {
        /* A daemon: wait until its parent-death signal is armed, so that
         * it dies with us from now on. EOF (it died first) is fine: it
         * counts as started and its exit code tells. */
        uint8_t armed;
        (void)mp__plat_read_full(armed_fd, &armed, sizeof armed);
        mp__plat_close(armed_fd);
    }
}

int
mp_process_start(mp_process_t *p)
{
    return mp__process_start_deferred(p, NULL);
}

int
mp__process_start_deferred(mp_process_t *p, int *armed_fd)
{
    if (armed_fd != NULL) {
        *armed_fd = -1;
    }
    if (p == NULL) {
        return MP_EINVAL;
    }
    mp__registry_init();
    mp__registry_lock();
    int err = start_check_locked(p);
    if (err == 0) {
        p->state = MP__PROC_STARTING;
        mp__registry_reap_all_locked();
    }
    mp__registry_unlock();
    if (err != 0) {
        return err;
    }
    /* Flush so the child does not write the parent's buffered output a
     * second time. */
    fflush(NULL);
    pid_t pid = 0;
    int pidfd = -1;
    err = spawn_child(p, &pid, &pidfd, armed_fd);
    mp__registry_lock();
    if (err == 0) {
        p->pid = pid;
        p->pidfd = pidfd;
        p->state = MP__PROC_STARTED;
        mp__registry_add_locked(p);
    } else {
        p->state = MP__PROC_INITIAL; /* Python: it may be started again */
    }
    mp__registry_unlock();
    return err;
}

int
mp_process_join(mp_process_t *p, mp_duration_t timeout)
{
    int64_t deadline;
    if (p == NULL || mp__deadline(timeout, &deadline) != 0) {
        return MP_EINVAL;
    }
    if (p->kind == MP__PROC_CURRENT) {
        return MP_ENOTCHILD;
    }
    if (p->kind == MP__PROC_PARENT) {
        return mp__registry_parent_wait(deadline);
    }
    for (;;) {
        mp__registry_lock();
        int err = child_check_locked(p);
        bool done = err == 0 && mp__process_reap_locked(p);
        int fd = p->pidfd;
        mp__registry_unlock();
        if (err != 0) {
            return err;
        }
        if (done) {
            return 0;
        }
        /* The pidfd polls readable once the child has exited; another
         * thread may reap it first, which the next pass sees. */
        int r = mp__plat_poll_in(fd, deadline);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            return MP_ETIMEDOUT;
        }
    }
}

int
mp_process_is_alive(mp_process_t *p)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    if (p->kind == MP__PROC_CURRENT) {
        return 1;
    }
    if (p->kind == MP__PROC_PARENT) {
        int r = mp__registry_parent_wait(0);
        return r == MP_ETIMEDOUT ? 1 : r;
    }
    mp__registry_lock();
    int r = child_check_locked(p);
    if (r == 0) {
        r = mp__process_reap_locked(p) ? 0 : 1;
    } else if (r == MP_ENOTSTARTED) {
        r = 0;
    }
    mp__registry_unlock();
    return r;
}

/* Sends sig to child p unless it has been reaped. Returns 0 or an error. */
static int
send_signal(mp_process_t *p, int sig)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    if (p->kind != MP__PROC_CHILD) {
        return MP_ENOTCHILD;
    }
    mp__registry_lock();
    int err = child_check_locked(p);
    /* Not reaped means the pid is still the child's (a zombie at worst),
     * and only this process reaps it, under this lock. */
    if (err == 0 && p->state == MP__PROC_STARTED) {
        (void)kill(p->pid, sig);
    }
    mp__registry_unlock();
    return err;
}

int
mp_process_terminate(mp_process_t *p)
{
    return send_signal(p, SIGTERM);
}

int
mp_process_kill(mp_process_t *p)
{
    return send_signal(p, SIGKILL);
}

int
mp_process_exitcode(mp_process_t *p, int *code)
{
    if (p == NULL || code == NULL) {
        return MP_EINVAL;
    }
    if (p->kind == MP__PROC_CURRENT) {
        return MP_ERUNNING;
    }
    if (p->kind == MP__PROC_PARENT) {
        return MP_ENOTCHILD;
    }
    mp__registry_lock();
    int err = child_check_locked(p);
    if (err == 0) {
        if (mp__process_reap_locked(p)) {
            *code = p->exitcode;
        } else {
            err = MP_ERUNNING;
        }
    }
    mp__registry_unlock();
    return err;
}

pid_t
mp_process_pid(const mp_process_t *p)
{
    if (p == NULL) {
        return 0;
    }
    if (p->kind == MP__PROC_CURRENT) {
        return mp__getpid();
    }
    mp__registry_lock();
    pid_t pid = p->closed ? 0 : p->pid;
    mp__registry_unlock();
    return pid;
}

const char *
mp_process_name(const mp_process_t *p)
{
    if (p == NULL) {
        return NULL;
    }
    mp__registry_lock();
    const char *name = p->name;
    mp__registry_unlock();
    return name;
}

int
mp_process_set_name(mp_process_t *p, const char *name)
{
    if (p == NULL || name == NULL) {
        return MP_EINVAL;
    }
    mp__registry_lock();
    int err = p->closed ? MP_ECLOSED : set_name_locked(p, name);
    mp__registry_unlock();
    return err;
}

bool
mp_process_daemon(const mp_process_t *p)
{
    return p != NULL && p->daemon;
}

int
mp_process_set_daemon(mp_process_t *p, bool daemon)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    mp__registry_lock();
    int err = 0;
    if (p->closed) {
        err = MP_ECLOSED;
    } else if (p->kind != MP__PROC_CHILD || p->state != MP__PROC_INITIAL) {
        err = MP_ESTARTED;
    } else {
        p->daemon = daemon;
    }
    mp__registry_unlock();
    return err;
}

int
mp_process_sentinel(mp_process_t *p)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    if (p->kind == MP__PROC_CURRENT) {
        return MP_ENOTSTARTED; /* Python: the current process has none */
    }
    if (p->kind == MP__PROC_PARENT) {
        return mp__registry_parent_sentinel();
    }
    mp__registry_lock();
    int r = p->closed ? MP_ECLOSED : p->pidfd;
    if (r == -1) {
        r = MP_ENOTSTARTED;
    }
    mp__registry_unlock();
    return r;
}

/* Releases the OS resources of child handle p unless its child still runs:
 * the close part of close and destroy. Returns 0 or MP_ERUNNING. Registry
 * lock held. */
static int
close_locked(mp_process_t *p)
{
    if (p->creator == mp__getpid()) {
        if (p->state == MP__PROC_STARTING ||
            (p->state == MP__PROC_STARTED && !mp__process_reap_locked(p))) {
            return MP_ERUNNING;
        }
    }
    /* In any other process this is the copy fork made: only that copy of
     * the pidfd is ours to close. */
    mp__plat_close(p->pidfd);
    p->pidfd = -1;
    p->closed = true;
    return 0;
}

int
mp_process_close(mp_process_t *p)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    if (p->kind == MP__PROC_CURRENT) {
        return MP_ERUNNING;
    }
    if (p->kind == MP__PROC_PARENT) {
        return MP_ENOTCHILD;
    }
    mp__registry_lock();
    int err = close_locked(p);
    mp__registry_unlock();
    return err;
}

int
mp_process_destroy(mp_process_t *p)
{
    if (p == NULL || p->kind != MP__PROC_CHILD) {
        return 0;
    }
    mp__registry_lock();
    int err = close_locked(p);
    if (err == 0 && p->creator == mp__getpid()) {
        mp__registry_remove_locked(p);
    }
    mp__registry_unlock();
    if (err != 0) {
        return err;
    }
    mp__free(p->name_alloc);
    mp__free(p->identity);
    mp__free(p);
    return 0;
}

void
mp__process_test_fail_setup(int err)
{
    atomic_store(&test_fail_err, err);
}
