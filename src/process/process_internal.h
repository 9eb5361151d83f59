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
    bool listed;              /* in the children list; guarded by the lock */
    bool destroyed;           /* mp_process_destroy ran while the child ran: the
                                 registry frees the handle once it reaps the child
                                 (mp__registry_reap_all_locked); guarded by the lock */
    mp_start_method_t method; /* as created (0: the default) until start
                                 resolves it; then the one used */
    mp_target_fn target;
    void *arg;
    size_t arg_size;      /* 0: arg is a pointer; else its bytes' size */
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

/* mp__registry_reap_all_locked reaps every listed child that has exited,
 * and frees the handles destroyed while their child ran (see destroyed).
 * Registry lock held. */
void mp__registry_reap_all_locked(void);

/* mp__registry_release_locked releases the OS resources of child handle p
 * (its sentinel and, in its creator, the write end of its parent-death
 * pipe) and marks it closed: the close part of mp_process_close and
 * destroy, once its child has been reaped (or in a process other than its
 * creator, which owns only its copies). Registry lock held. */
void mp__registry_release_locked(mp_process_t *p);

/* mp__registry_free_name_locked frees p's name copy (mp_process_set_name)
 * unless the registry uses it (the name of this process or of its parent,
 * in a started child). Registry lock held. */
void mp__registry_free_name_locked(mp_process_t *p);

/* mp__registry_free_locked frees closed child handle p: unlists it (in its
 * creator), frees its name copy and the handle itself, unless the registry
 * uses the handle (see mp__registry_holds_locked). Registry lock held. */
void mp__registry_free_locked(mp_process_t *p);

/* mp__registry_has_method_locked tells whether a listed (started, not
 * reaped) child of this process was started with method. Registry lock
 * held. */
bool mp__registry_has_method_locked(mp_start_method_t method);

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

/* mp__registry_name_self renames the calling process (a copy of name):
 * what a spawned child does with its parent's name before
 * mp__registry_become_child makes it the parent's. Returns 0 or
 * MP_ENOMEM. */
int mp__registry_name_self(const char *name);

/* mp__registry_own_method returns the method that started the calling
 * process (MP_START_DEFAULT in the main process). */
mp_start_method_t mp__registry_own_method(void);

/*--- start methods (start.c, boot.c, spawn.c, forkserver.c, main.c) ------*/

/* mp__start_resolve (the default method's home, src/shm/context.c, says
 * more) is declared in shm_internal.h. */

/* mp_main's record that the program has the entry hook, and its argv[0]
 * (the name a spawned child is started under). mp__start_argv0 never
 * returns NULL. mp__start_test_forget_hook makes this process behave as a
 * program without the hook (tests only). */
void mp__start_mark_hook(const char *argv0);
bool mp__start_hook_called(void);
const char *mp__start_argv0(void);
void mp__start_test_forget_hook(void);

/* The argv[1] that makes mp_main boot a spawned child or serve as the
 * forkserver; the channel is fd MP__BOOT_FD in both (argv[2] names it). A
 * spawned child has its sentinel pipe's write end at MP__BOOT_FD + 1 and
 * its parent-death pipe's read end at MP__BOOT_FD + 2 when the record says
 * so (without pidfds). */
#define MP__BOOT_ARG_SPAWN "--multiproc-spawn"
#define MP__BOOT_ARG_FORKSERVER "--multiproc-forkserver"
#define MP__BOOT_FD 3

/* The boot record (boot.c): its magic, version, fixed head (magic,
 * version, method, daemon, has_pipes, creator pid), and the longest one a
 * child accepts besides the argument's bytes (three u16 strings and an
 * fnref with a u16 path, with room to spare). */
#define MP__BOOT_MAGIC "MPBT"
#define MP__BOOT_VERSION 1
#define MP__BOOT_HEAD 12
#define MP__BOOT_META_MAX (4 * 65536 + 1024)

/* How long a creator waits for a new spawn or forkserver child to read its
 * boot record and report (an exec of the program under load included). */
#define MP__BOOT_TIMEOUT_NS (60 * 1000000000LL)

/* What a spawn or forkserver child is told (boot.c). */
typedef struct mp__boot_info {
    mp_start_method_t method;
    bool daemon;
    bool has_pipes; /* spawn without pidfds: the sentinel pipes' ends are
                       at MP__BOOT_FD + 1 and + 2 (set by mp__spawn_exec) */
    pid_t creator;
    const char *parent_name, *name, *identity;
    mp_target_fn target;
    const void *arg;
    size_t arg_size;
} mp__boot_info_t;

/* mp__boot_send writes the boot record of bi on socket fd (the creator's
 * end of a new child's boot channel) and waits until deadline for the
 * child's report. Returns 0 (the child runs its target), the child's
 * error (MP_ENOENT/MP_EPROTO: its target cannot be found in it),
 * MP_EPIPE (it died first), MP_ETIMEDOUT, MP_ENOTSUP (the target's object
 * has no build-id), MP_ENOMEM or another send error. */
int mp__boot_send(int fd, const mp__boot_info_t *bi, int64_t deadline);

/* mp__boot_child is the life of a spawn or forkserver child: it reads its
 * boot record from fd, becomes the process it describes (name, identity,
 * parent, daemon, start method), reports on fd, and exits with its
 * target's result; on a failure before the target it reports the error
 * and exits with 127. spawn_layout: the fds of a spawned child (see
 * MP__BOOT_FD); else pdeath_rfd is the read end of the creator's
 * parent-death pipe and a daemon dies with process server (its parent).
 * Context: a fresh process with one thread. */
__attribute__((noreturn)) void mp__boot_child(int fd, bool spawn_layout,
                                              int pdeath_rfd, pid_t server);

/* mp__spawn_exec starts a spawned child for bi: a fresh exec of this
 * program with stdin from devnull, the boot channel and (when not -1, as
 * without pidfds) sent_wr and pdeath_rd at its fixed fds, then boots it.
 * Returns 0 with *pid_out (a child of the caller, running its target), or a
 * negative error with no child left. Context: the creator, start lock held. */
int mp__spawn_exec(const mp__boot_info_t *bi, int devnull, int sent_wr,
                   int pdeath_rd, pid_t *pid_out);

/* mp__forkserver_start has this process's forkserver (started, or
 * restarted when it died) fork a child for bi, handing it pdeath_rd, and
 * boots it. Returns 0 with *pid_out (the server's child) and *status_out
 * (the sentinel: a socket that gets the exit code, see
 * mp__forkserver_status), or a negative error with no child left.
 * Context: the creator (start lock held by process.c). */
int mp__forkserver_start(const mp__boot_info_t *bi, int pdeath_rd,
                         pid_t *pid_out, int *status_out);

/* The forkserver's messages (forkserver.c): a request (magic, version,
 * daemon flag) and a stop. */
#define MP__FS_REQ_MAGIC "MPFQ"
#define MP__FS_STOP_MAGIC "MPFS"
#define MP__FS_REQ_VERSION 1
#define MP__FS_REQ_LEN 6

/* mp__forkserver_serve is the forkserver's life (mp_main with
 * MP__BOOT_ARG_FORKSERVER): it serves requests on ctl until every creator
 * closed it or asked it to stop. */
__attribute__((noreturn)) void mp__forkserver_serve(int ctl);

/* mp__forkserver_stop stops the forkserver this process started, if any,
 * and reaps it (mp_shutdown; a later start starts a new one). Children it
 * made keep running (their exit codes are then lost: 255). */
void mp__forkserver_stop(void);

/* mp__forkserver_pid returns the pid of this process's forkserver, or 0
 * (tests kill it to see it replaced). */
pid_t mp__forkserver_pid(void);

/* mp__forkserver_status reads the exit code a forkserver sent on status
 * socket fd without blocking: returns 1 with *code (255 when the server
 * died first: the code is lost), or 0 while the child runs. */
static inline int
mp__forkserver_status(int fd, int *code)
{
    int32_t v;
    ssize_t r = mp__plat_recv_nb(fd, &v, sizeof v);
    if (r == MP_EAGAIN) {
        return 0;
    }
    *code = r == (ssize_t)sizeof v ? (int)v : 255;
    return 1;
}

#endif /* MP_PROCESS_INTERNAL_H */
