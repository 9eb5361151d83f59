/* SPDX-License-Identifier: MIT */
/* registry.c - the process-wide bookkeeping of the process layer: the list
 * of this process's started children (in the fork-local page, so that a
 * child starts without its parent's), the current and parent process
 * handles, and the exit handling (Python's order: terminate daemonic
 * children, then join every child).
 *
 * The list holds the children this process started and has not reaped
 * yet: Python's _children set, which active_children() reports. A forked
 * child starts with an empty list: its parent's children are not its own. */
#include "process_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

/* How long daemonic children get to obey SIGTERM at exit before SIGKILL. */
#define DAEMON_GRACE_NS (1000 * 1000000LL)
/* How long a reap waits for a child whose sentinel pipe fired to become a
 * zombie (see reap_exiting). */
#define EXITING_WAIT_NS (100 * 1000000LL)

static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

/* What a forked child must not inherit, in the fork-local page (see
 * mp__fork_local): a child finds the locks free (a zeroed glibc mutex is
 * PTHREAD_MUTEX_INITIALIZER), no children and its count at 0, with no
 * fork handler, and the parent's lock and list updates after a fork cost
 * it no copy-on-write fault. A fork needs no registry lock either: the
 * child copies nothing of this. */
typedef struct reg_local {
    pthread_mutex_t lock;       /* the registry lock */
    pthread_mutex_t start_lock; /* serializes starts (see process.c) */
    mp_process_t *child_head, *child_tail; /* guarded by lock */
    unsigned child_counter; /* children created by this process (lock) */
} reg_local_t;
static reg_local_t *reg; /* set once by reg_init_once */

/* Guarded by the registry lock. */
static const char *cur_identity; /* NULL in the main process */
static bool have_parent;         /* false in the main process */
/* In a started child: the copies fork made of the handle it was started
 * from, and of the one its parent was started from (NULL in the main
 * process). cur_proc and par_proc use their strings in place, so these
 * two are never freed (see mp__registry_holds_locked). */
static const mp_process_t *own_handle, *parent_handle;
static mp_process_t cur_proc = {
    .kind = MP__PROC_CURRENT,
    .state = MP__PROC_STARTED,
    .name = "MainProcess",
    .pidfd = -1,
};
static mp_process_t par_proc = {
    .kind = MP__PROC_PARENT,
    .state = MP__PROC_STARTED,
    .name = "",
    .pidfd = -1,
};
/* Without pidfds (see mp__registry_hold_wfd_locked): the write end of this
 * process's own sentinel pipe, which is -1 in the main process or with
 * pidfds, and the write ends of its children's parent-death pipes. Not
 * fork-local: a child must see them to close them. Registry lock. */
static int own_sentinel_wfd = -1;
static int *held_wfds;
static size_t held_n, held_cap;
/* par_proc.pidfd is a parent-death pipe without pidfds, not a pidfd. */
static bool par_pipe;

MP__FORK_CHILD_PATH static void run_exit_work(void);

/* The exit handler: Python's _exit_function for the process's children. */
static void
reg_exit_handler(void)
{
    run_exit_work();
}

/* One-time set-up. */
static void
reg_init_once(void)
{
    mp__init();
    reg = mp__fork_local(sizeof *reg);
    atexit(reg_exit_handler);
}

void
mp__registry_init(void)
{
    pthread_once(&reg_once, reg_init_once);
}

MP__FORK_CHILD_PATH void
mp__registry_lock(void)
{
    mp__registry_init();
    pthread_mutex_lock(&reg->lock);
}

MP__FORK_CHILD_PATH void
mp__registry_unlock(void)
{
    pthread_mutex_unlock(&reg->lock);
}

void
mp__registry_start_lock(void)
{
    mp__registry_init();
    pthread_mutex_lock(&reg->start_lock);
}

void
mp__registry_start_unlock(void)
{
    pthread_mutex_unlock(&reg->start_lock);
}

unsigned
mp__registry_new_child_number(const char **prefix)
{
    mp__registry_lock();
    unsigned n = ++reg->child_counter;
    *prefix = cur_identity;
    mp__registry_unlock();
    return n;
}

void
mp__registry_add_locked(mp_process_t *p)
{
    p->prev = reg->child_tail;
    p->next = NULL;
    if (reg->child_tail != NULL) {
        reg->child_tail->next = p;
    } else {
        reg->child_head = p;
    }
    reg->child_tail = p;
    p->listed = true;
}

void
mp__registry_remove_locked(mp_process_t *p)
{
    if (!p->listed) {
        return;
    }
    if (p->prev != NULL) {
        p->prev->next = p->next;
    } else {
        reg->child_head = p->next;
    }
    if (p->next != NULL) {
        p->next->prev = p->prev;
    } else {
        reg->child_tail = p->prev;
    }
    p->prev = p->next = NULL;
    p->listed = false;
}

/* Reaps child p without blocking: mp__plat_wait_pid's result (its pid
 * with *code set, 0 while it runs, or a negative error). Registry lock
 * held. */
static pid_t
reap_now(const mp_process_t *p, int *code)
{
    return mp__plat_wait_pid(p->pid, false, code);
}

/* Without pidfds (p->parent_wfd set), a child's sentinel pipe reports EOF
 * as the child closes its fds on the way out, a moment before it becomes
 * a zombie that waitpid can reap; whoever saw the sentinel fire expects
 * the child reaped. So once the sentinel has fired, this waits (yielding
 * the CPU) up to EXITING_WAIT_NS for the zombie: waitpid's result, 0 when
 * still running (a child that closed its sentinel itself). Registry lock
 * held. */
static pid_t
reap_exiting(const mp_process_t *p, int *code)
{
    if (p->parent_wfd < 0 || mp__plat_poll_in(p->pidfd, 0) != 1) {
        return 0;
    }
    int64_t until = mp__now_ns() + EXITING_WAIT_NS;
    pid_t r;
    do {
        mp__plat_yield();
        r = reap_now(p, code);
    } while (r == 0 && mp__now_ns() < until);
    return r;
}

bool
mp__process_reap_locked(mp_process_t *p)
{
    if (p->state == MP__PROC_REAPED) {
        return true;
    }
    if (p->state != MP__PROC_STARTED) {
        return false;
    }
    if (p->method == MP_START_FORKSERVER) {
        /* The server's child: the server reaps it and reports its code
         * on the sentinel (forkserver.c). */
        if (!mp__forkserver_status(p->pidfd, &p->exitcode)) {
            return false;
        }
        p->state = MP__PROC_REAPED;
        mp__registry_remove_locked(p);
        return true;
    }
    int code = 0;
    pid_t r = reap_now(p, &code);
    if (r == 0) {
        r = reap_exiting(p, &code);
    }
    if (r == 0) {
        return false; /* still running */
    }
    if (r == p->pid) {
        p->exitcode = code;
    } else {
        /* ECHILD: someone else reaped it (a wait for any child elsewhere, or
         * SIGCHLD ignored), so it is gone and its status is lost. */
        p->exitcode = 255;
    }
    p->state = MP__PROC_REAPED;
    mp__registry_remove_locked(p);
    return true;
}

void
mp__registry_reap_all_locked(void)
{
    mp_process_t *p = reg->child_head;
    while (p != NULL) {
        mp_process_t *next = p->next; /* p may be unlinked */
        if (mp__process_reap_locked(p) && p->destroyed) {
            mp__registry_release_locked(p);
            mp__registry_free_locked(p);
        }
        p = next;
    }
}

void
mp__registry_release_locked(mp_process_t *p)
{
    /* In any other process this is the copy fork made: only that copy of
     * the pidfd is ours to close. The parent-death pipe's write end is the
     * creator's alone (a child started since closed its copy; its number
     * may name another fd there now). */
    mp__plat_close(p->pidfd);
    p->pidfd = -1;
    if (p->parent_wfd >= 0 && p->creator == mp__getpid()) {
        mp__registry_drop_wfd_locked(p->parent_wfd);
        mp__plat_close(p->parent_wfd);
    }
    p->parent_wfd = -1;
    p->closed = true;
}

void
mp__registry_free_name_locked(mp_process_t *p)
{
    if (p->kind != MP__PROC_CHILD ||
        !mp__registry_holds_locked(p->name_alloc)) {
        mp__free(p->name_alloc);
    }
    p->name_alloc = NULL;
}

void
mp__registry_free_locked(mp_process_t *p)
{
    if (p->creator == mp__getpid()) {
        mp__registry_remove_locked(p);
    }
    mp__registry_free_name_locked(p);
    /* In a started child, the copy of the handle it was started from (or
     * its parent was) is the registry's: its strings name this process. */
    if (!mp__registry_holds_locked(p)) {
        mp__free(p);
    }
}

bool
mp__registry_has_method_locked(mp_start_method_t method)
{
    for (mp_process_t *p = reg->child_head; p != NULL; p = p->next) {
        if (p->method == method) {
            return true;
        }
    }
    return false;
}

mp_start_method_t
mp__registry_own_method(void)
{
    mp__registry_lock();
    mp_start_method_t m =
        own_handle != NULL ? own_handle->method : MP_START_DEFAULT;
    mp__registry_unlock();
    return m;
}

int
mp__registry_name_self(const char *name)
{
    mp__registry_lock();
    char *copy = mp__strdup(name);
    if (copy != NULL) {
        mp__free(cur_proc.name_alloc);
        cur_proc.name_alloc = copy;
        cur_proc.name = copy;
    }
    mp__registry_unlock();
    return copy != NULL ? 0 : MP_ENOMEM;
}

bool
mp__registry_is_daemon_locked(void)
{
    return cur_proc.daemon;
}

bool
mp__registry_holds_locked(const void *mem)
{
    return mem != NULL && (mem == own_handle || mem == parent_handle ||
                           mem == cur_proc.name || mem == par_proc.name);
}

int
mp__registry_reserve_wfd_locked(void)
{
    if (held_n < held_cap) {
        return 0;
    }
    size_t ncap = held_cap == 0 ? 8 : held_cap * 2;
    int *p = mp__realloc(held_wfds, ncap * sizeof *p);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    held_wfds = p;
    held_cap = ncap;
    return 0;
}

void
mp__registry_hold_wfd_locked(int fd)
{
    MP__ASSERT(held_n < held_cap);
    held_wfds[held_n++] = fd;
}

void
mp__registry_drop_wfd_locked(int fd)
{
    for (size_t i = 0; i < held_n; i++) {
        if (held_wfds[i] == fd) {
            held_wfds[i] = held_wfds[--held_n];
            return;
        }
    }
}

MP__FORK_CHILD_PATH void
mp__registry_child_wfds(int own_wfd)
{
    /* No lock: the child has one thread. The parent's write ends are the
     * parent's (see above). */
    if (own_sentinel_wfd >= 0 || held_n > 0) {
        mp__plat_close(own_sentinel_wfd);
        for (size_t i = 0; i < held_n; i++) {
            mp__plat_close(held_wfds[i]);
        }
        held_n = 0;
    }
    if (own_sentinel_wfd != own_wfd) {
        own_sentinel_wfd = own_wfd; /* with pidfds, no page written */
    }
}

MP__FORK_CHILD_PATH void
mp__registry_become_child(const mp_process_t *p, pid_t parent, int parent_rfd)
{
    /* No lock: the child has one thread (and its libc code for locking
     * would be one more page to fault in). */
    /* The inherited parent handle described our grandparent. */
    mp__plat_close(par_proc.pidfd);
    par_proc.pidfd = parent_rfd;
    if (par_pipe != (parent_rfd >= 0)) {
        par_pipe = parent_rfd >= 0;
    }
    mp__free(par_proc.name_alloc); /* NULL unless it renamed itself */
    /* The forking process's own name, as it was at fork, is our parent's. */
    par_proc.name_alloc = cur_proc.name_alloc;
    par_proc.name = cur_proc.name;
    par_proc.pid = parent;
    parent_handle = own_handle;
    have_parent = true;
    /* p's strings are in our copy of p, which stays (see
     * mp__registry_holds_locked): nothing to copy or free here. */
    own_handle = p;
    cur_proc.name_alloc = NULL;
    cur_proc.name = p->name;
    cur_proc.daemon = p->daemon;
    cur_identity = p->identity;
}

/* Opens the parent's sentinel if not yet open. Registry lock held; only
 * called in a started child. */
static int
parent_sentinel_locked(void)
{
    if (par_proc.pidfd >= 0) {
        return par_proc.pidfd;
    }
    int fd = mp__plat_pidfd_open(par_proc.pid);
    /* Children are re-parented before their parent's pid can be reused,
     * so while the parent pid still names it, the pidfd is the parent's. */
    if (fd >= 0 && mp__plat_parent_pid() == par_proc.pid) {
        par_proc.pidfd = fd;
        return fd;
    }
    if (fd >= 0) {
        mp__plat_close(fd);
    } else if (fd != MP_ESRCH) {
        return fd;
    }
    /* The parent is gone: stand in a pipe whose write end is closed, which
     * polls readable at once, as the parent's pidfd would have. */
    int fds[2];
    int err = mp__plat_pipe(fds);
    if (err < 0) {
        return err;
    }
    mp__plat_close(fds[1]);
    par_proc.pidfd = fds[0];
    return fds[0];
}

int
mp__registry_parent_sentinel(void)
{
    mp__registry_lock();
    int fd = parent_sentinel_locked();
    mp__registry_unlock();
    return fd;
}

int
mp__registry_parent_wait(int64_t deadline)
{
    /* Once open, the sentinel is never closed in this process: safe to
     * poll without the lock. */
    int fd = mp__registry_parent_sentinel();
    if (fd < 0) {
        return fd;
    }
    int r = mp__plat_poll_in(fd, deadline);
    if (r < 0) {
        return r;
    }
    if (r == 1 && par_pipe) {
        /* A pipe reports EOF as the parent closes its fds on the way out,
         * a moment before it has exited and we are re-parented (which a
         * pidfd waits for): wait for that too, as reap_exiting does. */
        int64_t until = mp__now_ns() + EXITING_WAIT_NS;
        while (mp__plat_parent_pid() == par_proc.pid && mp__now_ns() < until) {
            mp__plat_yield();
        }
    }
    return r == 1 ? 0 : MP_ETIMEDOUT;
}

/* Sends sig to every listed child whose daemon flag is daemons. Registry
 * lock held: listed children are not reaped, so their pids are theirs. */
MP__FORK_CHILD_PATH static void
signal_listed_locked(bool daemons, int sig)
{
    for (mp_process_t *p = reg->child_head; p != NULL; p = p->next) {
        if (p->daemon == daemons) {
            (void)mp__plat_kill(p->pid, sig);
        }
    }
}

/* Waits until no listed child with daemon flag daemons is left (reaping
 * them), or until deadline. Returns 0 or MP_ETIMEDOUT. Lock not held; it
 * is taken around each look at the list, and no handle pointer is kept
 * across a wait (another thread may destroy a handle meanwhile). */
static int
wait_listed(bool daemons, int64_t deadline)
{
    for (;;) {
        mp__registry_lock();
        mp__registry_reap_all_locked();
        mp_process_t *p = reg->child_head;
        while (p != NULL && p->daemon != daemons) {
            p = p->next;
        }
        if (p == NULL) {
            mp__registry_unlock();
            return 0;
        }
        pid_t pid = p->pid;
        int fd = mp__plat_dup(p->pidfd, 0);
        mp__registry_unlock();
        int r = -1;
        if (fd >= 0) {
            r = mp__plat_poll_in(fd, deadline);
            mp__plat_close(fd);
        }
        if (r == 0) {
            return MP_ETIMEDOUT;
        }
        if (r < 0) {
            if (deadline != MP__NO_DEADLINE) {
                return MP_ETIMEDOUT; /* no way to wait with a timeout */
            }
            /* Wait without reaping; the next pass reaps it under the
             * lock. ECHILD means another thread reaped it already. */
            mp__plat_wait_exited(pid);
        }
    }
}

/* What a process does for its children before it exits: SIGTERM to the
 * daemonic ones (SIGKILL for those still there after a grace period), then
 * join every other child. Lock not held. */
MP__FORK_CHILD_PATH static void
run_exit_work(void)
{
    mp__registry_init(); /* mp_process_exit may be the first call */
    /* Usually a child with one thread and no children on its way out:
     * then the lock is not needed (see mp__single_threaded). */
    bool locking = !mp__single_threaded();
    if (locking) {
        mp__registry_lock();
    }
    bool any = reg->child_head != NULL;
    signal_listed_locked(true, SIGTERM);
    if (locking) {
        mp__registry_unlock();
    }
    if (!any) {
        return;
    }
    if (wait_listed(true, mp__now_ns() + DAEMON_GRACE_NS) != 0) {
        mp__registry_lock();
        signal_listed_locked(true, SIGKILL);
        mp__registry_unlock();
        (void)wait_listed(true, MP__NO_DEADLINE);
    }
    (void)wait_listed(false, MP__NO_DEADLINE);
}

MP__FORK_CHILD_PATH void
mp_process_exit(int code)
{
    run_exit_work();
    mp__process_flush_stdio();
    mp__plat_exit_now(code);
}

mp_process_t *
mp_current_process(void)
{
    mp__registry_init();
    return &cur_proc;
}

mp_process_t *
mp_parent_process(void)
{
    mp__registry_init();
    mp__registry_lock();
    mp_process_t *p = have_parent ? &par_proc : NULL;
    mp__registry_unlock();
    return p;
}

int
mp_active_children(mp_process_t **out, size_t cap)
{
    if (out == NULL && cap > 0) {
        return MP_EINVAL;
    }
    mp__registry_lock();
    mp__registry_reap_all_locked();
    size_t n = 0;
    for (mp_process_t *p = reg->child_head; p != NULL; p = p->next) {
        if (p->destroyed) {
            continue; /* no longer the caller's to use */
        }
        if (n < cap) {
            out[n] = p;
        }
        n++;
    }
    mp__registry_unlock();
    return n > INT32_MAX ? INT32_MAX : (int)n;
}
