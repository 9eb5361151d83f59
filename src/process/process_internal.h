/* SPDX-License-Identifier: MIT */
/* process_internal.h - the process layer inside the library: the handle
 * layout, the registry of this process's children (registry.c) and the
 * test-only fault-injection hook of mp_process_start (process.c).
 *
 * Locking: one process-local mutex, the registry lock, guards the children
 * list, every handle's state/pid/pidfd/exit code and the current/parent
 * handles. It is never held while blocking on a child, nor across fork():
 * the lock and the list live in the fork-local page (mp__fork_local), so a
 * child starts with a free lock and an empty list, whatever another thread
 * was doing at the fork. */
#ifndef MP_PROCESS_INTERNAL_H
#define MP_PROCESS_INTERNAL_H

#include "../shm/shm_internal.h"

#include <stdbool.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#include <sys/single_threaded.h>
#define MP__HAVE_SINGLE_THREADED 1
#endif

/* mp__single_threaded tells whether the process surely has one thread
 * (glibc keeps __libc_single_threaded for this; false where unknown): then
 * nothing can race with the caller, which may skip a lock, and with it a
 * page of libc's code a new child would have to fault in. */
static inline bool
mp__single_threaded(void)
{
#ifdef MP__HAVE_SINGLE_THREADED
    return __libc_single_threaded;
#else
    return false;
#endif
}

/* What a handle stands for. */
typedef enum mp__proc_kind {
    MP__PROC_CHILD,   /* made by mp_process_create */
    MP__PROC_CURRENT, /* library-owned: mp_current_process() */
    MP__PROC_PARENT   /* library-owned: mp_parent_process() */
} mp__proc_kind_t;

/* Life cycle of a child handle. */
typedef enum mp__proc_state {
    MP__PROC_INITIAL,  /* created, not started */
    MP__PROC_STARTING, /* mp_process_start is forking it */
    MP__PROC_STARTED,  /* running, or exited but not yet reaped */
    MP__PROC_REAPED    /* exited and reaped: exitcode is known */
} mp__proc_state_t;

struct mp_process {
    mp__proc_kind_t kind;
    mp__proc_state_t state; /* guarded by the registry lock */
    bool closed;            /* guarded by the registry lock */
    bool daemon;
    bool listed; /* in the children list; guarded by the lock */
    mp_target_fn target;
    void *arg;
    const char *name;     /* in strs, name_alloc, or a static string */
    char *name_alloc;     /* owned copy (mp_process_set_name), or NULL */
    const char *identity; /* "1:2" for Process-1:2, in strs; CHILD only */
    pid_t creator;        /* the process that made the handle */
    pid_t pid;            /* 0 until started */
    int pidfd;            /* the sentinel, or -1 */
    int parent_wfd;       /* without pidfds: the write end of the child's
                             parent-death pipe (CHILD, creator only), or -1 */
    int exitcode;         /* valid once REAPED */
    struct mp_process *prev, *next; /* children list links */
    /* CHILD handles: the identity, then the name given at create (or
     * "Process-<identity>"), each NUL-terminated, in the handle's own
     * allocation: one block per handle, and the child started from it
     * uses them in place, so start copies nothing. */
    char strs[];
};

/* mp__registry_init sets up the registry's fork-local state and registers
 * the exit handler, once per process tree (a forked child inherits both). */
void mp__registry_init(void);

/* The registry lock (see above). */
void mp__registry_lock(void);
void mp__registry_unlock(void);

/* The start lock, held by mp_process_start from opening its child's
 * /dev/null (and a daemon's pipe) until the parent has closed them again,
 * so that no other child started meanwhile inherits them. Taken before the
 * registry lock, never after it. */
void mp__registry_start_lock(void);
void mp__registry_start_unlock(void);

/* mp__registry_new_child_number numbers a new child handle of this
 * process: returns N, and stores in *prefix the calling process's identity
 * (NULL in the main process; else valid as long as the process lives),
 * so that the handle's identity is "N" or "<prefix>:N". */
unsigned mp__registry_new_child_number(const char **prefix);

/* mp__registry_add_locked appends a freshly started child to the list.
 * Registry lock held. */
void mp__registry_add_locked(mp_process_t *p);

/* mp__registry_remove_locked unlinks p from the list if it is there.
 * Registry lock held. */
void mp__registry_remove_locked(mp_process_t *p);

/* mp__process_reap_locked reaps child p without blocking if it has exited
 * (recording its exit code and unlisting it). Returns true when p is
 * reaped (now or before). Registry lock held; p is a started handle of
 * this process. */
bool mp__process_reap_locked(mp_process_t *p);

/* mp__registry_reap_all_locked reaps every listed child that has exited.
 * Registry lock held. */
void mp__registry_reap_all_locked(void);

/* mp__registry_is_daemon_locked tells whether the calling process is a
 * daemonic child (which may not start children). Registry lock held. */
bool mp__registry_is_daemon_locked(void);

/* mp__registry_become_child makes the library state of a just-forked child
 * describe it: p (its handle, as copied by fork) becomes the current
 * process, named and numbered by p's strings in place, the forking
 * process (pid parent) its parent, and its own child numbering restarts.
 * Without pidfds (see process.c), parent_rfd is the read end of its
 * parent-death pipe (the parent's sentinel); else -1. Writes nothing on
 * the heap and cannot fail. Context: the child, right after fork, while it
 * has one thread. */
void mp__registry_become_child(const mp_process_t *p, pid_t parent,
                               int parent_rfd);

/* mp__registry_child_wfds closes the write ends a just-forked child
 * inherited (see mp__registry_hold_wfd_locked) and records own_wfd, the
 * write end of its own sentinel pipe (-1 with pidfds): the first thing a
 * child does, so that nothing it waits for delays those EOFs. Writes
 * nothing on the heap. Context: the child, right after fork, one
 * thread. */
void mp__registry_child_wfds(int own_wfd);

/* Without pidfds a process holds write ends whose EOF tells another
 * process that it exited: its own sentinel's, and each child's
 * parent-death pipe's. A child must hold none of them (it would delay the
 * EOF until it exits too): mp__registry_child_wfds closes them.
 * mp__registry_reserve_wfd_locked makes room for one more write end
 * (before fork: MP_ENOMEM is then still a clean failure);
 * mp__registry_hold_wfd_locked lists fd (room reserved), and
 * mp__registry_drop_wfd_locked unlists it before it is closed. Registry
 * lock held. */
int mp__registry_reserve_wfd_locked(void);
void mp__registry_hold_wfd_locked(int fd);
void mp__registry_drop_wfd_locked(int fd);

/* mp__registry_holds_locked tells whether the registry uses memory mem
 * (a handle or a name string), which must then not be freed: the copy of
 * the handle this process was started from, the one its parent was
 * started from, and the current and parent process names. Registry lock
 * held. */
bool mp__registry_holds_locked(const void *mem);

/* mp__registry_parent_wait waits until deadline for the parent process to
 * exit. Returns 0 (it has exited), MP_ETIMEDOUT, or an error opening its
 * sentinel. Registry lock not held. */
int mp__registry_parent_wait(int64_t deadline);

/* mp__registry_parent_sentinel returns the fd that becomes readable when
 * the parent exits (opened on first use), or a negative error. */
int mp__registry_parent_sentinel(void);


/* mp__process_flush_stdio is fflush(NULL), skipped when no stream has
 * output to write (which it tells without writing, where libc lets it):
 * what start does before fork and mp_process_exit before _exit. */
void mp__process_flush_stdio(void);

/* mp__process_test_fail_setup makes the preparation of the next child
 * started by this process fail with errno value err (> 0; 0 disarms) once
 * it holds its resources, so that its mp_process_start returns -err and
 * frees them. For tests only. */
void mp__process_test_fail_setup(int err);

/* mp__process_test_hold_daemons makes every daemon started from now on
 * (in this process and its children) read one byte from fd before it arms
 * its parent-death signal; -1 stops that. Tests only: they let the parent
 * die first. */
void mp__process_test_hold_daemons(int fd);

#endif /* MP_PROCESS_INTERNAL_H */
