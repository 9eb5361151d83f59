/* SPDX-License-Identifier: MIT */
/* process.c - the mp_process_* API: Python's Process with the fork start
 * method.
 *
 * Start: the parent prepares everything the child's set-up needs that can
 * fail (/dev/null for stdin), forks, and returns at once: the child's
 * set-up (parent-death signal for a daemon, library state, stdin from
 * /dev/null) then cannot fail, so start need not wait for a report (a
 * wake-up and two context switches on every start), not even a daemon's.
 *
 * Fork cost: after a fork every page either process writes costs it a
 * copy-on-write fault, and every page of code the child runs a fault too.
 * So a handle is one allocation holding its strings, which the child uses
 * in place; the parent writes no heap between fork and the end of start
 * except the handle; and the child's set-up skips libc calls with nothing
 * to do.
 *
 * The parent holds a pidfd of the child as its sentinel until
 * close/destroy; join polls it and reaps with waitpid, and every other
 * query reaps without blocking.
 *
 * Without pidfds (Linux before 5.3, valgrind before 3.20:
 * mp__plat_have_pidfd) the sentinel is a pipe, as in Python: the child
 * keeps the write end for life, so the parent's read end reports EOF once
 * it exited. A second pipe the other way round is the child's parent
 * sentinel: the parent keeps its write end in the handle (parent_wfd)
 * until close/destroy. Neither write end may stay in any other process:
 * both are made under the start lock, closed by the parent right after
 * fork where they are not its own, and the ones a process keeps are
 * closed by each child it starts (mp__registry_child_wfds). Liveness
 * checks without pidfds read /proc (mp__plat_pid_alive).
 *
 * Handles are process-local: a handle copied into a child by fork can be
 * closed and destroyed there (which frees the child's copy), but not used
 * to start, join, signal or query the process (MP_ENOTCHILD). */
#include "process_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>

/* Errno the next start's preparation fails with (tests only; 0: none). */
static _Atomic int test_fail_err;
/* An fd a new daemon reads one byte from before it arms its parent-death
 * signal (tests only; -1: none). */
static _Atomic int test_daemon_hold_fd = -1;

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

/* Replaces p's name with a copy of name. Registry lock held (but a fork
 * by another thread does not take it): the new name is in place before
 * the old one is freed, so a child forked meanwhile never inherits a
 * pointer to a freed name. Returns 0 or MP_ENOMEM. */
static int
set_name_locked(mp_process_t *p, const char *name)
{
    char *copy = mp__strdup(name);
    if (copy == NULL) {
        return MP_ENOMEM;
    }
    mp_process_t old = {.kind = p->kind, .name_alloc = p->name_alloc};
    p->name = copy;
    p->name_alloc = copy;
    mp__registry_free_name_locked(&old);
    return 0;
}

/* Writes n in decimal, NUL-terminated, at the end of buf[cap]; returns
 * where the digits start. Not snprintf: its stack frame reaches a stack
 * page nothing else on the start path writes (a fault per start). */
static char *
format_unsigned(char *buf, size_t cap, unsigned n)
{
    char *s = buf + cap - 1;
    *s = '\0';
    do {
        *--s = (char)('0' + n % 10);
        n /= 10;
    } while (n != 0);
    return s;
}

/* Allocates a child handle with room for its identity ("N" or
 * "<prefix>:N") and its name (name, or "Process-<identity>" when NULL)
 * after it, and stores both strings there. Returns NULL when out of
 * memory. */
static mp_process_t *
alloc_handle(const char *prefix, unsigned n, const char *name)
{
    char digits[sizeof(unsigned) * 3 + 1];
    const char *ident = format_unsigned(digits, sizeof digits, n);
    size_t pre_len = prefix == NULL ? 0 : strlen(prefix) + 1;
    size_t ident_len = pre_len + strlen(ident);
    size_t name_len =
        name != NULL ? strlen(name) : strlen("Process-") + ident_len;
    /* malloc, not calloc: glibc's calloc bypasses the thread cache, so
     * each create and destroy would also write the arena (libc's data). */
    size_t size = sizeof(mp_process_t) + ident_len + name_len + 2;
    mp_process_t *p = mp__malloc(size);
    if (p == NULL) {
        return NULL;
    }
    memset(p, 0, sizeof *p);
    char *id = p->strs;
    char *nm = id + ident_len + 1;
    if (prefix != NULL) {
        memcpy(id, prefix, pre_len - 1);
        id[pre_len - 1] = ':';
    }
    memcpy(id + pre_len, ident, strlen(ident) + 1);
    if (name != NULL) {
        memcpy(nm, name, name_len + 1);
    } else {
        memcpy(nm, "Process-", strlen("Process-"));
        memcpy(nm + strlen("Process-"), id, ident_len + 1);
    }
    p->identity = id;
    p->name = nm;
    return p;
}

int
mp_process_create(mp_process_t **out, mp_target_fn target, void *arg,
                  const mp_process_opts_t *opts)
{
    if (out == NULL || target == NULL || MP__OPTS_BAD(opts)) {
        return MP_EINVAL;
    }
    *out = NULL;
    if (opts != NULL && opts->start_method != MP_START_DEFAULT &&
        mp_start_method_name(opts->start_method) == NULL) {
        return MP_EINVAL;
    }
    mp__registry_init();
    /* Python numbers a process when it is created, named or not. */
    const char *prefix;
    unsigned n = mp__registry_new_child_number(&prefix);
    mp_process_t *p = alloc_handle(prefix, n, opts != NULL ? opts->name : NULL);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    p->kind = MP__PROC_CHILD;
    p->state = MP__PROC_INITIAL;
    p->target = target;
    p->arg = arg;
    p->method = opts != NULL ? opts->start_method : MP_START_DEFAULT;
    p->arg_size = opts != NULL ? opts->arg_size : 0;
    /* Python's default is the creator's flag: a process made inside a
     * daemon is a daemon unless set_daemon(false) says otherwise. */
    mp__registry_lock();
    p->daemon =
        (opts != NULL && opts->daemon) || mp__registry_is_daemon_locked();
    mp__registry_unlock();
    p->creator = mp__getpid();
    p->pidfd = -1;
    p->parent_wfd = -1;
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

/* Opens /dev/null for the child's stdin, as Python's child bootstrap does:
 * made by the parent before the fork, which copies it into the child, so
 * that nothing the child does before its target can fail. Returns the fd
 * (read-only, close-on-exec, above stderr) or a negative error. Context:
 * the parent, before fork. */
static int
open_child_stdin(void)
{
    /* Above stderr: where a closed standard fd would be reused, the
     * parent's own stdin/stdout/stderr stay as they were. */
    int fd = mp__plat_devnull_rd();
    int err = fd < 0 ? fd : 0;
    /* Load first: an exchange on every start would write the library's
     * data page (a copy-on-write fault after each fork). */
    int injected = atomic_load_explicit(&test_fail_err, memory_order_relaxed);
    if (injected != 0) {
        injected = atomic_exchange(&test_fail_err, 0);
    }
    if (err == 0 && injected > 0) {
        err = -injected;
        mp__plat_close(fd);
    }
    return err != 0 ? err : fd;
}

/* Tells whether stdin may hold input the parent had buffered (which the
 * child must drop). Reads glibc's public FILE fields where it can: an
 * empty buffer is the rule, and __fpurge would write stdin's FILE (a
 * copy-on-write fault) and run code the child does not otherwise fault
 * in. Context: the child, one thread. */
MP__FORK_CHILD_PATH static bool
stdin_may_hold_input(void)
{
#ifdef __GLIBC__
    /* Buffered bytes, an ungetc backup area, or a wide stream (whose
     * buffers are not public). */
    return stdin->_IO_read_ptr < stdin->_IO_read_end ||
           stdin->_IO_save_base != NULL || stdin->_mode > 0;
#else
    return true;
#endif
}

/* The two pipes of a child started without pidfds (see the top): the
 * child's sentinel, whose wr the child keeps, and its parent-death pipe,
 * whose wr the parent keeps; all -1 with pidfds. */
typedef struct sentinel_pipes {
    int sent_rd, sent_wr, pdeath_rd, pdeath_wr;
} sentinel_pipes_t;

/* Makes a child's parent-death pipe in b, with room in the registry to
 * list the parent's write end (b[1]). Returns 0 or a negative error
 * (nothing left open). Context: the parent, start lock held. */
static int
open_pdeath_pipe(int b[2])
{
    int err = mp__plat_pipe(b);
    if (err != 0) {
        return err;
    }
    mp__registry_lock();
    err = mp__registry_reserve_wfd_locked();
    mp__registry_unlock();
    if (err != 0) {
        mp__plat_close(b[0]);
        mp__plat_close(b[1]);
    }
    return err;
}

/* Makes the pipes of sp when pidfds are missing, with room to list the
 * parent's write end. Returns 0 or a negative error (nothing left open).
 * Context: the parent, start lock held. */
static int
open_sentinel_pipes(sentinel_pipes_t *sp)
{
    *sp = (sentinel_pipes_t){-1, -1, -1, -1};
    if (mp__plat_have_pidfd()) {
        return 0;
    }
    int a[2], b[2];
    int err = mp__plat_pipe(a);
    if (err != 0) {
        return err;
    }
    err = open_pdeath_pipe(b);
    if (err != 0) {
        mp__plat_close(a[0]);
        mp__plat_close(a[1]);
        return err;
    }
    *sp = (sentinel_pipes_t){a[0], a[1], b[0], b[1]};
    return 0;
}

/* The child's set-up after fork; devnull is open_child_stdin()'s fd (the
 * child owns it now), sp the sentinel pipes (all -1 with pidfds). Failures
 * here are out of the question short of a kernel bug; should one happen,
 * the child exits with 127. Context: the new child, one thread. */
MP__FORK_CHILD_PATH static void
child_setup(const mp_process_t *p, pid_t parent, int devnull,
            const sentinel_pipes_t *sp)
{
    if (sp->sent_rd >= 0) {
        mp__plat_close(sp->sent_rd);
        mp__plat_close(sp->pdeath_wr);
    }
    mp__registry_child_wfds(sp->sent_wr);
    if (p->daemon) {
        int hold =
            atomic_load_explicit(&test_daemon_hold_fd, memory_order_relaxed);
        if (hold >= 0) {
            uint8_t go;
            (void)mp__plat_read_full(hold, &go, sizeof go);
        }
        /* Note: the signal comes when the thread that forked ends, which
         * for a start from another thread may be before the parent exits.
         * A parent that died first gets this child killed at once: start
         * did not wait for it, so its pid may already be passed on. */
        if (mp__plat_die_with_parent(parent) != 0) {
            mp__plat_exit_now(127);
        }
    }
    mp__registry_become_child(p, parent, sp->pdeath_rd);
    /* dup2 onto a valid fd below the limit fails only with EINTR, which
     * the helper retries. */
    if (mp__plat_dup_onto(devnull, STDIN_FILENO) != 0) {
        mp__plat_exit_now(127);
    }
    mp__plat_close(devnull);
    /* Drop input the parent had buffered. */
    if (stdin_may_hold_input()) {
        __fpurge(stdin);
    }
}

/* The child's side of mp_process_start: set up, run the target. */
MP__FORK_CHILD_PATH __attribute__((noreturn, noinline)) static void
run_child(mp_process_t *p, pid_t parent, int devnull,
          const sentinel_pipes_t *sp)
{
    child_setup(p, parent, devnull, sp);
    mp_process_exit(p->target(p->arg));
}

/* Forks the child of p. On success stores its pid, its sentinel (a pidfd,
 * or a pipe's read end) and, without pidfds, the write end of its
 * parent-death pipe, else -1; on failure no child is left. Returns 0 or a
 * negative error. Registry lock not held (fork needs no registry lock).
 * Not inlined: the child returns from fork into it, so it belongs with the
 * child's path. */
MP__FORK_CHILD_PATH __attribute__((noinline)) static int
spawn_child(mp_process_t *p, const mp__boot_info_t *bi, pid_t *pid_out,
            int *pidfd_out, int *pwfd_out)
{
    pid_t parent = mp__getpid();
    mp__registry_start_lock();
    int devnull = open_child_stdin();
    if (devnull < 0) {
        mp__registry_start_unlock();
        return devnull;
    }
    sentinel_pipes_t sp;
    int err = open_sentinel_pipes(&sp);
    if (err != 0) {
        mp__plat_close(devnull);
        mp__registry_start_unlock();
        return err;
    }
    pid_t pid = -1;
    if (bi != NULL) {
        /* spawn: an exec that runs only the target (spawn.c). */
        err = mp__spawn_exec(bi, devnull, sp.sent_wr, sp.pdeath_rd, &pid);
    } else {
        pid = mp__plat_fork();
        if (pid == 0) {
            run_child(p, parent, devnull, &sp);
        }
        err = pid < 0 ? (int)pid : 0;
    }
    mp__plat_close(devnull);
    if (sp.sent_rd >= 0) {
        /* The child's ends; ours is listed before another start can fork
         * (under the start lock), so that its child closes it. */
        mp__plat_close(sp.sent_wr);
        mp__plat_close(sp.pdeath_rd);
        mp__registry_lock();
        if (err == 0) {
            mp__registry_hold_wfd_locked(sp.pdeath_wr);
        }
        mp__registry_unlock();
    }
    mp__registry_start_unlock();
    if (err != 0) {
        mp__plat_close(sp.sent_rd);
        mp__plat_close(sp.pdeath_wr);
        return err;
    }
    if (sp.sent_rd >= 0) {
        *pid_out = pid;
        *pidfd_out = sp.sent_rd;
        *pwfd_out = sp.pdeath_wr;
        return 0;
    }
    /* Until we reap it, pid cannot be reused: the pidfd is the child's. */
    int pidfd = mp__plat_pidfd_open(pid);
    if (pidfd < 0) {
        int code;
        (void)mp__plat_kill(pid, SIGKILL);
        (void)mp__plat_wait_pid(pid, true, &code);
        return pidfd;
    }
    *pid_out = pid;
    *pidfd_out = pidfd;
    *pwfd_out = -1;
    return 0;
}

/* Fills bi from p, about to be started with method (forkserver or spawn)
 * by this process. Returns 0 or MP_EINVAL (a non-NULL arg without
 * arg_size: a pointer cannot cross an exec). */
static int
boot_info_of(const mp_process_t *p, mp_start_method_t method,
             mp__boot_info_t *bi)
{
    if (p->arg != NULL && p->arg_size == 0) {
        return MP_EINVAL;
    }
    *bi = (mp__boot_info_t){
        .method = method,
        .daemon = p->daemon,
        .creator = mp__getpid(),
        .parent_name = mp_process_name(mp_current_process()),
        .name = p->name,
        .identity = p->identity,
        .target = p->target,
        .arg = p->arg,
        .arg_size = p->arg != NULL ? p->arg_size : 0,
    };
    return 0;
}

/* Has the forkserver make the child of p (forkserver.c): the parent-death
 * pipe it gets is made here, its write end kept in the handle and listed
 * as spawn_child does; the sentinel is the status socket the server
 * reports the exit code on. Returns 0 or a negative error (no child
 * left). */
static int
start_by_server(const mp__boot_info_t *bi, pid_t *pid_out, int *sent_out,
                int *pwfd_out)
{
    mp__registry_start_lock();
    int b[2];
    int err = open_pdeath_pipe(b);
    if (err == 0) {
        err = mp__forkserver_start(bi, b[0], pid_out, sent_out);
        mp__plat_close(b[0]);
        if (err == 0) {
            mp__registry_lock();
            mp__registry_hold_wfd_locked(b[1]);
            mp__registry_unlock();
            *pwfd_out = b[1];
        } else {
            mp__plat_close(b[1]);
        }
    }
    mp__registry_start_unlock();
    return err;
}

int
mp_process_start(mp_process_t *p)
{
    if (p == NULL) {
        return MP_EINVAL;
    }
    mp__registry_init();
    mp__registry_lock();
    int err = start_check_locked(p);
    mp__registry_unlock();
    if (err != 0) {
        return err;
    }
    /* The method (fixing the default) and, for an exec, what the child is
     * told; a fork reads none of this. */
    int method = mp__start_resolve(p->method);
    mp__boot_info_t bi;
    if (method > 0 && method != MP_START_FORK) {
        err = boot_info_of(p, (mp_start_method_t)method, &bi);
    }
    mp__registry_lock();
    if (err == 0 && method < 0) {
        err = method;
    }
    if (err == 0) {
        err = start_check_locked(p); /* again: another thread may start */
    }
    if (err == 0) {
        p->state = MP__PROC_STARTING;
        if ((int)p->method != method) {
            p->method = (mp_start_method_t)method; /* the child's copy too */
        }
        mp__registry_reap_all_locked();
    }
    mp__registry_unlock();
    if (err != 0) {
        return err;
    }
    /* Flush so the child does not write the parent's buffered output a
     * second time. */
    mp__process_flush_stdio();
    pid_t pid = 0;
    int pidfd = -1, pwfd = -1;
    if (method == MP_START_FORKSERVER) {
        err = start_by_server(&bi, &pid, &pidfd, &pwfd);
    } else {
        err = spawn_child(p, method == MP_START_SPAWN ? &bi : NULL, &pid,
                          &pidfd, &pwfd);
    }
    mp__registry_lock();
    if (err == 0) {
        p->pid = pid;
        p->pidfd = pidfd;
        p->parent_wfd = pwfd;
        p->state = MP__PROC_STARTED;
        mp__registry_add_locked(p);
    } else {
        p->state = MP__PROC_INITIAL; /* Python: it may be started again */
        if (p->destroyed) {
            /* Destroyed by another thread during the start: ours to free. */
            mp__registry_release_locked(p);
            mp__registry_free_locked(p);
        }
    }
    mp__registry_unlock();
    return err;
}

/* Waits, after child pid's sentinel fired and it could not be reaped, for
 * it to become reapable: a pipe sentinel fires when the child's fds are
 * closed, a moment before it is a zombie, or long before when it closed
 * its end itself. Without a deadline it blocks in a waitid that does not
 * reap; else it sleeps a millisecond, at most until deadline, so that join
 * does not spin. Registry lock not held. */
static void
wait_after_sentinel(pid_t pid, int64_t deadline)
{
    if (deadline == MP__NO_DEADLINE) {
        mp__plat_wait_exited(pid);
        return;
    }
    int64_t soon = mp__now_ns() + 1000 * 1000;
    /* No fd to watch (poll ignores -1): a sleep until the earlier time. */
    (void)mp__plat_poll_in(-1, soon < deadline ? soon : deadline);
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
    for (bool fired = false;; fired = true) {
        mp__registry_lock();
        int err = child_check_locked(p);
        bool done = err == 0 && mp__process_reap_locked(p);
        int fd = p->pidfd;
        pid_t pid = p->pid;
        mp__registry_unlock();
        if (err != 0) {
            return err;
        }
        if (done) {
            return 0;
        }
        if (fired) {
            wait_after_sentinel(pid, deadline);
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
     * and only this process reaps it, under this lock. A forkserver's
     * child is reaped by the server, which reports it: look first (the
     * pid is the child's until the server reaps it, as in Python). */
    if (err == 0 && p->method == MP_START_FORKSERVER) {
        (void)mp__process_reap_locked(p);
    }
    if (err == 0 && p->state == MP__PROC_STARTED) {
        (void)mp__plat_kill(p->pid, sig);
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
    mp__registry_release_locked(p);
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

void
mp_process_destroy(mp_process_t *p)
{
    if (p == NULL || p->kind != MP__PROC_CHILD) {
        return;
    }
    mp__registry_lock();
    if (close_locked(p) == 0) {
        mp__registry_free_locked(p);
    } else {
        /* Still running (or being started by another thread): never
         * abandoned. It stays listed, so it is reaped as every child is
         * (the next start, mp_active_children, mp_shutdown, the exit's
         * join), and the registry frees the handle then. */
        p->destroyed = true;
    }
    mp__registry_unlock();
}

mp_start_method_t
mp_process_start_method(const mp_process_t *p)
{
    if (p == NULL || p->kind == MP__PROC_PARENT) {
        return MP_START_DEFAULT;
    }
    if (p->kind == MP__PROC_CURRENT) {
        return mp__registry_own_method();
    }
    mp__registry_lock();
    mp_start_method_t m = p->method;
    mp__registry_unlock();
    return m;
}

void
mp__process_test_fail_setup(int err)
{
    atomic_store(&test_fail_err, err);
}

void
mp__process_test_hold_daemons(int fd)
{
    atomic_store(&test_daemon_hold_fd, fd);
}
