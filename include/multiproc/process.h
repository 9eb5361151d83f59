/* SPDX-License-Identifier: MIT */
/* multiproc/process.h - processes: the start methods (fork, forkserver, spawn)
 * and the mp_process_* calls. Included by multiproc.h; including it alone
 * works too. */
#ifndef MULTIPROC_PROCESS_H
#define MULTIPROC_PROCESS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Start methods =======================================================*/

/* How mp_process_start makes a child (Python's start methods):
 *   MP_START_FORK        fork() of the caller: fastest, the child sees the
 *                        caller's memory, but a caller with threads can
 *                        leave its child holding a lock another thread had
 *                        (malloc's, a logger's): a deadlock hazard.
 *   MP_START_FORKSERVER  a server process, itself a fresh exec of the
 *                        program (one thread, no state of the caller),
 *                        forks each child on request: safe from threads.
 *   MP_START_SPAWN       a fresh exec of the program that runs only the
 *                        target: safe from threads, slowest.
 * Under forkserver and spawn the child shares no memory with its creator:
 * the target is named across the exec (its object's build-id and its
 * offset there, so static functions work), and the argument is copied as
 * bytes (mp_process_opts_t.arg_size). Both need mp_main() at the top of
 * main. MP_START_DEFAULT (0) means "the process-wide default". */
typedef enum {
    MP_START_DEFAULT = 0,
    MP_START_FORK = 1,
    MP_START_FORKSERVER = 2,
    MP_START_SPAWN = 3
} mp_start_method_t;

/* mp_main is the entry hook that spawn and forkserver need; call it first
 * thing in main: `int main(int argc, char **argv) { mp_main(argc, argv);
 * ... }`. In a normal run it records that the program has the hook and
 * returns 0 at once. In a process the library started with spawn (or the
 * forkserver it runs), it runs that process's target (or serves requests)
 * and exits: it never returns there, so main's own code never runs twice.
 * Starting a spawn or forkserver process from a program that did not call
 * it fails with MP_ENOMAIN. The library's execs are told apart by argv
 * (exactly `<argv0> --multiproc-spawn 3` or `--multiproc-forkserver 3`):
 * a program must not take those arguments itself. Context: main's
 * thread, before anything else but mp_register_function (names that a
 * spawned child's target or tasks use must be registered before it).
 * Python: the `if __name__ == '__main__':` guard. */
MP_EXTERN int mp_main(int argc, char **argv);

/* How a function reaches a process that was not forked from its creator
 * (a process target or pool initializer under forkserver and spawn, every
 * pool task, the distributed pool's ranks): by default as a reference to
 * the loaded object it lives in, named by that object's GNU build-id, and
 * its offset there, so static functions work. The receiver looks for an
 * object with that build-id and checks that the offset is code in it
 * before it calls anything: a different build fails with MP_ENOENT (no
 * such object) or MP_EPROTO (not its code), never a call into the wrong
 * code. A function registered by name (mp_register_function) travels as
 * that name instead, for workers that are another program or a build
 * without build-ids. mp_function_t is any function: cast yours to it. */
typedef void (*mp_function_t)(void);

/* The longest name mp_register_function takes, in bytes (no NUL). */
#define MP_FUNCTION_NAME_MAX 255

/* mp_register_function names fn name for every reference this process
 * makes to fn from then on (a process target, a pool initializer or task:
 * pass fn itself as usual), and resolves a reference to name that another
 * process sends to the fn registered here. A receiving program registers
 * the same names with its own functions (of the same types) before it
 * takes work: a spawned child or the forkserver registers before mp_main
 * runs its target (register first thing in main, or from a constructor),
 * a forked one inherits the registry. A name is 1..MP_FUNCTION_NAME_MAX
 * bytes; registering the same name for the same function again does
 * nothing. Returns 0, MP_EINVAL (name or fn NULL, name empty or longer
 * than MP_FUNCTION_NAME_MAX), MP_EEXIST (name is taken by another
 * function, or fn already has another name), MP_ENOMEM. A name that the
 * receiver has not registered fails there with MP_ENOENT: a process's
 * start, a pool's initializer (the pool breaks) or each item of a task
 * (with a message that says why). Names are never unregistered.
 * Context: any process, any thread; register before the references are
 * made. */
MP_EXTERN int mp_register_function(const char *name, mp_function_t fn);

/* mp_start_method_name returns "fork", "forkserver" or "spawn" (NULL for
 * MP_START_DEFAULT or a value outside the enum). mp_start_method_parse
 * stores the method named name in *out: 0 or MP_EINVAL. Context: any
 * process, any thread; mp_start_method_name is async-signal-safe. */
MP_EXTERN const char *mp_start_method_name(mp_start_method_t method);
MP_EXTERN int mp_start_method_parse(const char *name, mp_start_method_t *out);

/* mp_set_start_method sets the process-wide default method, once: a second
 * call (or one after the default was fixed by mp_start_method or by a
 * start) returns MP_EBUSY unless force is true. With force, method
 * MP_START_DEFAULT unsets it again. Returns 0, MP_EBUSY or MP_EINVAL (not
 * a method). A child inherits its creator's default (fork), or has its own
 * method as default (spawn, forkserver: as Python's). Context: any process,
 * any thread.
 * Python: multiprocessing.set_start_method(method, force). */
MP_EXTERN int mp_set_start_method(mp_start_method_t method, bool force);

/* mp_start_method returns the process-wide default method, fixing it on
 * first use as Python's get_start_method() does: the method set, else the
 * one the environment variable MULTIPROC_START_METHOD names ("fork",
 * "forkserver", "spawn"; so a program and its tests run under each method
 * unchanged), else MP_START_FORK. Returns the method (> 0), or MP_EINVAL
 * when the variable names no method (nothing is fixed then). Context: any
 * process, any thread. */
MP_EXTERN int mp_start_method(void);

/*===== Contexts ============================================================*/

/* A context names a start method (Python's get_context(method)): a value,
 * copied freely, never freed. Its method is what process, pool and manager
 * options take (`opts.start_method = ctx.method`), and the mp_context_*
 * factories (multiproc/sync.h, multiproc/values.h) make objects bound to
 * it: an object of the fork context lives in the process tree's fork arena
 * and reaches only children forked after it (its token is refused with
 * MP_ECONTEXT, as Python refuses a fork-context lock for a spawn process);
 * an object of the spawn or forkserver context lives in a named arena and
 * has a token (mp_lock_token ...) that any process of the same user opens
 * (mp_lock_attach ...) while the creating tree lives. The plain _create
 * calls use the default context. */
typedef struct mp_context {
    mp_start_method_t method; /* fork, forkserver or spawn, never 0 */
} mp_context_t;

/* mp_get_context stores in *out the context of method; MP_START_DEFAULT
 * gives the default one (which fixes the default, see mp_start_method).
 * Returns 0 or MP_EINVAL (NULL out, method outside the enum, or an unset
 * default while MULTIPROC_START_METHOD names no method). Context: any
 * thread. Python: multiprocessing.get_context(method). */
MP_EXTERN int mp_get_context(mp_start_method_t method, mp_context_t *out);

/*===== Processes ===========================================================*/

typedef struct mp_process mp_process_t;

/* A process target. Its return value becomes the child's exit code
 * (truncated to 8 bits by the OS, as for exit()). */
typedef int (*mp_target_fn)(void *arg);

/* Options for mp_process_create; MP_PROCESS_OPTS_INIT (or a NULL pointer)
 * means the defaults. */
typedef struct mp_process_opts {
    size_t size; /* sizeof(mp_process_opts_t): set by MP_PROCESS_OPTS_INIT */
    const char *name; /* NULL: "Process-N" (Python's identity numbering) */
    bool daemon;      /* killed when the parent exits, even by SIGKILL;
                         false: the creating process's own flag (Python's
                         default), which mp_process_set_daemon may change */
    mp_start_method_t start_method; /* 0: mp_start_method() at start */
    size_t arg_size; /* 0: arg is a pointer passed as is (fork only; NULL
                        under any method); else arg points to arg_size
                        bytes that a forkserver or spawn child gets a copy
                        of (its target is passed a pointer to the copy,
                        aligned for any type; fork passes arg as is) */
} mp_process_opts_t;
/* MP_PROCESS_OPTS_INIT: an mp_process_opts_t with its size set and every other
 * field at its default (see common.h, "Options structs"). */
#define MP_PROCESS_OPTS_INIT MP__OPTS_INIT(mp_process_opts_t)

/* mp_process_create makes a process object that will run target(arg) in a
 * child once started. The name is copied. With the fork start method arg is
 * passed as is (the child sees the same address, with a copy of the
 * parent's memory); under forkserver and spawn the opts' arg_size bytes at
 * arg are copied to the child when it starts (arg must stay valid until
 * mp_process_start returns). Returns 0 or MP_EINVAL (NULL out or target, a
 * start_method outside the enum, opts not initialised with
 * MP_PROCESS_OPTS_INIT: a wrong size), MP_ENOMEM. Context: any process, any
 * thread; the object belongs to the creating process. */
MP_EXTERN int mp_process_create(mp_process_t **out, mp_target_fn target,
                                void *arg, const mp_process_opts_t *opts);

/* mp_process_start starts the child with the handle's start method (the
 * default when it has none: which fixes the default, see
 * mp_start_method) and returns once it runs. A failure is reported here
 * with its reason and leaves no child behind. Before forking it flushes
 * stdio (so buffered output is not written twice) and reaps children that
 * have exited. Returns 0 or MP_ESTARTED (started before), MP_EDAEMON (the
 * caller is a daemon process), MP_ENOTCHILD (object made by another
 * process), MP_ECLOSED, MP_EAGAIN/MP_ENOMEM (fork failed), the error of
 * making the child's pidfd or, without pidfds, its pipes (a fork child's
 * own set-up after the fork cannot fail short of a kernel bug; if it did,
 * the child would exit with 127); under forkserver and spawn also
 * MP_ENOMAIN (the
 * program did not call mp_main), MP_EINVAL (a non-NULL arg without
 * arg_size, or MULTIPROC_START_METHOD names no method), MP_ENOTSUP (the
 * target's object has no build-id), MP_ENOENT/MP_EPROTO (the child found
 * no such code: another binary), MP_EPIPE (the child died before it could
 * run its target), MP_ETIMEDOUT (it did not report within a minute) and
 * errors starting the forkserver. Context: the creating process, any thread
 * (a second start of one handle gets MP_ESTARTED); under fork, see
 * MP_START_FORK for a caller with threads. */
MP_EXTERN int mp_process_start(mp_process_t *p);

/* mp_process_join waits up to timeout for the child to exit and reaps it.
 * Returns 0 when it has exited (mp_process_exitcode then has the code),
 * MP_ETIMEDOUT if it is still running, MP_ENOTSTARTED, MP_ENOTCHILD (not a
 * child of the caller, or the current process), MP_ECLOSED, MP_EINVAL (bad
 * timeout). On the handle from mp_parent_process() it waits for the parent
 * to exit. Context: the creating process (any thread). */
MP_EXTERN int mp_process_join(mp_process_t *p, mp_duration_t timeout);

/* mp_process_is_alive returns 1 if the process runs, 0 if it has not been
 * started or has exited (an exited child is reaped), or MP_ECLOSED. Always 1
 * for mp_current_process(). Never blocks. Also MP_ENOTCHILD (not a child
 * of the caller), MP_EINVAL (NULL). Context: the creating process, any
 * thread; the handles of mp_current_process() and mp_parent_process() in
 * the process they belong to. */
MP_EXTERN int mp_process_is_alive(mp_process_t *p);

/* mp_process_terminate sends SIGTERM, mp_process_kill SIGKILL. A process
 * that has already exited is left alone (returns 0). Returns 0 or
 * MP_ENOTSTARTED, MP_ENOTCHILD, MP_ECLOSED. The signal goes to the child
 * only, not to its descendants. A forkserver's child is reaped by the
 * server: as in Python, a signal sent in the moment between that reap and
 * its report could reach a process that reused the pid. Context: the
 * creating process, any thread. */
MP_EXTERN int mp_process_terminate(mp_process_t *p);
MP_EXTERN int mp_process_kill(mp_process_t *p);

/* mp_process_exitcode stores the exit code of an exited child in *code: the
 * target's return value, the value given to exit(), or minus the number of
 * the signal that killed it. Polls (and reaps) without blocking. Returns 0,
 * MP_ERUNNING (still running: Python's None), MP_ENOTSTARTED, MP_ECLOSED or
 * MP_EINVAL; MP_ENOTCHILD (not a child of the caller, or the parent's
 * handle). Context: the creating process, any thread. */
MP_EXTERN int mp_process_exitcode(mp_process_t *p, int *code);

/* mp_process_pid returns the pid, or 0 before start (and after close).
 * Context: any process that has the handle, any thread. */
MP_EXTERN pid_t mp_process_pid(const mp_process_t *p);

/* mp_process_name returns the name ("Process-1", "Process-1:2", the given
 * one, or "MainProcess"). Valid until the handle is destroyed or renamed.
 * Context: any process that has the handle, any thread. */
MP_EXTERN const char *mp_process_name(const mp_process_t *p);

/* mp_process_set_name copies a new name. Returns 0, MP_EINVAL, MP_ECLOSED or
 * MP_ENOMEM. Context: any process that has the handle, any thread; the old
 * name a concurrent mp_process_name returned is freed. */
MP_EXTERN int mp_process_set_name(mp_process_t *p, const char *name);

/* mp_process_daemon returns the daemon flag; mp_process_set_daemon sets it
 * before start (MP_ESTARTED after). Context: any process that has the
 * handle, any thread. */
MP_EXTERN bool mp_process_daemon(const mp_process_t *p);
MP_EXTERN int mp_process_set_daemon(mp_process_t *p, bool daemon);

/* mp_process_sentinel returns a file descriptor that becomes readable when
 * the process exits (a pidfd; a pipe without pidfds; for a forkserver's
 * child the socket the server reports its exit on), for
 * poll()/epoll/mp_wait_any. It stays owned by
 * the handle: do not close it. Returns the fd or MP_ENOTSTARTED, MP_ECLOSED.
 * For mp_parent_process() it becomes readable when the parent exits.
 * Context: the creating process (a forked child's copy of the handle gives
 * the same descriptor, inherited), any thread. */
MP_EXTERN int mp_process_sentinel(mp_process_t *p);

/* mp_process_close releases the handle's OS resources (the sentinel) of an
 * exited or never-started process; afterwards every call but destroy returns
 * MP_ECLOSED. Idempotent. Returns 0 or MP_ERUNNING (join or terminate it
 * first), MP_ENOTCHILD (mp_parent_process()'s handle). Context: any process
 * that has the handle, any thread; in a process other than the creating
 * one it releases only that process's copy. */
MP_EXTERN int mp_process_close(mp_process_t *p);

/* mp_process_destroy closes and frees the handle; the handle is invalid
 * afterwards, whatever the child's state. A child that still runs is
 * never abandoned: it stays in the creator's list of children and is
 * reaped as every child is (by the next mp_process_start,
 * mp_active_children or mp_shutdown; at exit the library joins it, after
 * SIGTERM if it is a daemon, as Python does), and its handle is freed
 * then; mp_active_children no longer lists it. To learn that a child
 * still runs, call mp_process_close first (MP_ERUNNING), as Python's
 * close() raises. NULL and the library-owned handles of
 * mp_current_process()/mp_parent_process() are ignored. Context: any
 * process that has the handle, any thread, no other call on the handle
 * under way; in a process other than the creating one it frees only that
 * process's copy. */
MP_EXTERN void mp_process_destroy(mp_process_t *p);

/* mp_process_start_method returns the method that started p: for a child
 * handle the one it was or will be started with (MP_START_DEFAULT while it
 * is to take the default and has not started), for mp_current_process()
 * the one that started the caller (MP_START_DEFAULT in the main process),
 * for mp_parent_process() MP_START_DEFAULT. NULL gives MP_START_DEFAULT.
 * Python: get_start_method() in the child, Process._start_method. Context:
 * any process that has the handle, any thread. */
MP_EXTERN mp_start_method_t mp_process_start_method(const mp_process_t *p);

/* mp_process_exit ends the calling process the way a target's return does:
 * it terminates daemon children, joins the others, flushes stdio and exits
 * with code without running atexit handlers inherited from the parent.
 * Python: sys.exit(code) inside a child. Context: any process, any thread
 * (the other threads do not run their cleanup). */
MP_EXTERN void mp_process_exit(int code) __attribute__((noreturn));

/* mp_current_process returns the handle of the calling process ("MainProcess"
 * in the process that did not come from mp_process_start). Library-owned;
 * never NULL. Context: any process, any thread. */
MP_EXTERN mp_process_t *mp_current_process(void);

/* mp_parent_process returns a handle on the parent of a process started with
 * mp_process_start, or NULL in the main process. mp_process_is_alive() on it
 * tells whether the parent still runs, mp_process_join() waits for it to
 * exit, and its sentinel becomes readable when it does: the way for a child
 * to learn that its parent died. Library-owned. Context: any process, any
 * thread. */
MP_EXTERN mp_process_t *mp_parent_process(void);

/* mp_active_children reaps children that have exited, then stores up to cap
 * handles of the caller's started, still running children in out (which may
 * be NULL when cap is 0), but for those whose handle was destroyed. Returns how
 * many there are (possibly more than cap), or MP_EINVAL. The handles stay owned
 * by their creator. Context: any process (it lists that process's own
 * children), any thread. */
MP_EXTERN int mp_active_children(mp_process_t **out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_PROCESS_H */
