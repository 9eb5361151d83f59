/* SPDX-License-Identifier: MIT */
/* process_internal.h - the process layer inside the library: the handle
 * layout, the registry of this process's children (registry.c) and the
 * test-only fault-injection hook of mp_process_start (process.c).
 *
 * Locking: one process-local mutex, the registry lock, guards the children
 * list, every handle's state/pid/pidfd/exit code and the current/parent
 * handles. It is never held while blocking on a child, nor across fork()
 * (the fork handlers take it, so fork never copies a half-updated list). */
#ifndef MP_PROCESS_INTERNAL_H
#define MP_PROCESS_INTERNAL_H

#include "../shm/shm_internal.h"

#include <stdbool.h>

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
    const char *name; /* name_alloc, or a static string */
    char *name_alloc; /* owned copy, or NULL */
    char *identity;   /* "1:2" for Process-1:2; CHILD handles only */
    pid_t creator;    /* the process that made the handle */
    pid_t pid;        /* 0 until started */
    int pidfd;        /* the sentinel, or -1 */
    int exitcode;     /* valid once REAPED */
    struct mp_process *prev, *next; /* children list links */
};

/* mp__registry_init registers the fork handlers and the exit handler, once
 * per process tree (a forked child inherits both). */
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

/* mp__registry_new_identity numbers a new child handle of this process:
 * stores its identity ("N", or "<mine>:N" in a started child) in *out, a
 * string the caller frees with mp__free. Returns 0 or MP_ENOMEM. */
int mp__registry_new_identity(char **out);

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
 * process, with name and ident (copies of p's, made by the parent before
 * fork; the registry owns them now), the forking process (pid parent) its
 * parent, and its own child numbering restarts. Cannot fail. Context: the
 * child, right after fork, while it has one thread. */
void mp__registry_become_child(const mp_process_t *p, pid_t parent,
                               char *name, char *ident);

/* mp__registry_parent_wait waits until deadline for the parent process to
 * exit. Returns 0 (it has exited), MP_ETIMEDOUT, or an error opening its
 * sentinel. Registry lock not held. */
int mp__registry_parent_wait(int64_t deadline);

/* mp__registry_parent_sentinel returns the fd that becomes readable when
 * the parent exits (opened on first use), or a negative error. */
int mp__registry_parent_sentinel(void);

/* mp__process_start_deferred is mp_process_start, except that with
 * armed_fd not NULL it does not wait for a daemon child to arm its
 * parent-death signal: it stores the fd that report comes on in *armed_fd
 * (-1: nothing to wait for, also on failure), and the caller must pass it
 * to mp__process_await_armed, which waits for the report and closes it
 * (-1 is ignored). Until then the child may not yet die with its parent.
 * The pool starts all its workers this way, then waits for them together
 * (each wait is a wake-up of a child that first has to be scheduled). */
int mp__process_start_deferred(mp_process_t *p, int *armed_fd);
void mp__process_await_armed(int armed_fd);

/* mp__process_test_fail_setup makes the preparation of the next child
 * started by this process fail with errno value err (> 0; 0 disarms) once
 * it holds its resources, so that its mp_process_start returns -err and
 * frees them. For tests only. */
void mp__process_test_fail_setup(int err);

#endif /* MP_PROCESS_INTERNAL_H */
