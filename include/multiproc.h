/* SPDX-License-Identifier: MIT */
/* multiproc.h - Python's multiprocessing for C: processes and their start
 * methods, pipes and connections, queues, pools, shared memory, locks and
 * the other synchronisation objects, shared values, and managers.
 *
 * Introduction
 * ------------
 * Every object is an opaque handle the library allocates: `mp_x_create()`
 * hands it out, `mp_x_destroy()` releases it, and `destroy(NULL)` is a no-op.
 * Every call that can fail returns 0 (or a count) on success and a negative
 * code from MP_ERRNO_MAP on failure; mp_strerror() and mp_err_name() describe
 * it. Every call that can block takes an mp_duration_t timeout in
 * milliseconds: MP_WAIT_FOREVER, MP_NO_WAIT, or a positive count. Any other
 * negative timeout is answered with MP_EINVAL.
 *
 * Objects created before mp_process_start() are inherited by the child (the
 * fork start method): a lock, event, value or shared-memory block made by the
 * parent is the same object in the child. Shared state lives in shared memory
 * that the library maps; the handle itself is process-local. Each contract
 * names the process that may call it ("Context:").
 *
 * Sections, simple to advanced: Errors, Time, Library, Start methods,
 * Processes, Pipes and connections, Listeners and clients, Queues, Waiting
 * on many objects, Pools, Shared memory, Locks, Semaphores, Conditions,
 * Events, Barriers, Shared values, Managers.
 * docs/python-mapping.md maps every multiprocessing name to its mp_ twin.
 */
#ifndef MULTIPROC_H
#define MULTIPROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "multiproc/errno.h"
#include "multiproc/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MP_BUILDING_LIBRARY) && defined(__GNUC__)
#define MP_EXTERN __attribute__((visibility("default")))
#else
#define MP_EXTERN /* nothing */
#endif

/*===== Errors ==============================================================*/

/* The error codes, MP_EPERM ... MP_EOVERRELEASE, all negative. */
typedef enum {
#define MP__ERRNO_ENUM(name, value, msg) MP_##name = (value),
    MP_ERRNO_MAP(MP__ERRNO_ENUM)
#undef MP__ERRNO_ENUM
        MP_ERRNO_MAX = -4096
} mp_errno_t;

/* mp_strerror returns a static English message for err (for example
 * "timed out" for MP_ETIMEDOUT), or "unknown error" for a code outside the
 * table. Never NULL. Context: any thread. */
MP_EXTERN const char *mp_strerror(int err);

/* mp_err_name returns the code's name without the MP_ prefix ("ETIMEDOUT"),
 * or "UNKNOWN" for a code outside the table. Never NULL. */
MP_EXTERN const char *mp_err_name(int err);

/* mp_strerror_r and mp_err_name_r write the same text into buf (always
 * NUL-terminated when buflen > 0; unknown codes include their number) and
 * return buf. */
MP_EXTERN char *mp_strerror_r(int err, char *buf, size_t buflen);
MP_EXTERN char *mp_err_name_r(int err, char *buf, size_t buflen);

/*===== Time ================================================================*/

/* Milliseconds to wait. Every blocking call takes one. */
typedef int64_t mp_duration_t;
#define MP_WAIT_FOREVER ((mp_duration_t)-1)
#define MP_NO_WAIT ((mp_duration_t)0)
/* Only mp_barrier_wait() accepts this: use the barrier's default timeout. */
#define MP_WAIT_DEFAULT ((mp_duration_t)-2)

/*===== Library =============================================================*/

/* mp_version returns MP_VERSION_HEX of the library that is linked in, and
 * mp_version_string its "MAJOR.MINOR.PATCH". */
MP_EXTERN unsigned mp_version(void);
MP_EXTERN const char *mp_version_string(void);

/* mp_init prepares the library in this process (fork handlers, the exit
 * handler that joins children). Optional: every entry point calls it lazily.
 * Returns 0. Context: any thread; idempotent. */
MP_EXTERN int mp_init(void);

/* mp_shutdown releases what the library holds for this process and that can
 * be released without harming live objects: it closes its connection to the
 * shared-memory tracker (after which segments this process created but did
 * not unlink are removed once the rest of its process tree has exited) and
 * reaps children that have already exited. Live handles stay valid; a later
 * call into the library re-opens what it needs. Returns 0. Context: any
 * thread, typically just before the process exits or in a test's cleanup. */
MP_EXTERN int mp_shutdown(void);

/* mp_set_allocator replaces the allocator the library uses for its
 * process-local memory. All four functions are required. Call it before any
 * other mp_ call. Returns 0 or MP_EINVAL (a NULL function), MP_EBUSY (the
 * library already allocated memory). */
MP_EXTERN int mp_set_allocator(void *(*malloc_fn)(size_t),
                               void *(*realloc_fn)(void *, size_t),
                               void *(*calloc_fn)(size_t, size_t),
                               void (*free_fn)(void *));

/* mp_free releases a buffer that a library call handed to the caller. */
MP_EXTERN void mp_free(void *ptr);

/* mp_cpu_count returns the number of CPUs this process may run on (its
 * affinity mask), at least 1. Python: multiprocessing.cpu_count(), but
 * honouring the affinity mask as os.process_cpu_count() does. */
MP_EXTERN int mp_cpu_count(void);

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
 * thread, before anything else. Python: the `if __name__ == '__main__':`
 * guard. */
MP_EXTERN int mp_main(int argc, char **argv);

/* mp_start_method_name returns "fork", "forkserver" or "spawn" (NULL for
 * MP_START_DEFAULT or a value outside the enum). mp_start_method_parse
 * stores the method named name in *out: 0 or MP_EINVAL. */
MP_EXTERN const char *mp_start_method_name(mp_start_method_t method);
MP_EXTERN int mp_start_method_parse(const char *name, mp_start_method_t *out);

/* mp_set_start_method sets the process-wide default method, once: a second
 * call (or one after the default was fixed by mp_start_method or by a
 * start) returns MP_EBUSY unless force is true. With force, method
 * MP_START_DEFAULT unsets it again. Returns 0, MP_EBUSY or MP_EINVAL (not
 * a method). A child inherits its creator's default (fork), or has its own
 * method as default (spawn, forkserver: as Python's). Context: any thread.
 * Python: multiprocessing.set_start_method(method, force). */
MP_EXTERN int mp_set_start_method(mp_start_method_t method, bool force);

/* mp_start_method returns the process-wide default method, fixing it on
 * first use as Python's get_start_method() does: the method set, else the
 * one the environment variable MULTIPROC_START_METHOD names ("fork",
 * "forkserver", "spawn"; so a program and its tests run under each method
 * unchanged), else MP_START_FORK. Returns the method (> 0), or MP_EINVAL
 * when the variable names no method (nothing is fixed then). */
MP_EXTERN int mp_start_method(void);

/*===== Processes ===========================================================*/

typedef struct mp_process mp_process_t;

/* A process target. Its return value becomes the child's exit code
 * (truncated to 8 bits by the OS, as for exit()). */
typedef int (*mp_target_fn)(void *arg);

/* Options for mp_process_create; all-zero (or a NULL pointer) means the
 * defaults. */
typedef struct mp_process_opts {
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

/* mp_process_create makes a process object that will run target(arg) in a
 * child once started. The name is copied. With the fork start method arg is
 * passed as is (the child sees the same address, with a copy of the
 * parent's memory); under forkserver and spawn the opts' arg_size bytes at
 * arg are copied to the child when it starts (arg must stay valid until
 * mp_process_start returns). Returns 0 or MP_EINVAL (NULL out or target, a
 * start_method outside the enum), MP_ENOMEM. Context: any process; the
 * object belongs to the creating process. */
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
 * errors starting the forkserver. */
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
 * for mp_current_process(). Never blocks. */
MP_EXTERN int mp_process_is_alive(mp_process_t *p);

/* mp_process_terminate sends SIGTERM, mp_process_kill SIGKILL. A process
 * that has already exited is left alone (returns 0). Returns 0 or
 * MP_ENOTSTARTED, MP_ENOTCHILD, MP_ECLOSED. The signal goes to the child
 * only, not to its descendants. A forkserver's child is reaped by the
 * server: as in Python, a signal sent in the moment between that reap and
 * its report could reach a process that reused the pid. */
MP_EXTERN int mp_process_terminate(mp_process_t *p);
MP_EXTERN int mp_process_kill(mp_process_t *p);

/* mp_process_exitcode stores the exit code of an exited child in *code: the
 * target's return value, the value given to exit(), or minus the number of
 * the signal that killed it. Polls (and reaps) without blocking. Returns 0,
 * MP_ERUNNING (still running: Python's None), MP_ENOTSTARTED, MP_ECLOSED or
 * MP_EINVAL. */
MP_EXTERN int mp_process_exitcode(mp_process_t *p, int *code);

/* mp_process_pid returns the pid, or 0 before start (and after close). */
MP_EXTERN pid_t mp_process_pid(const mp_process_t *p);

/* mp_process_name returns the name ("Process-1", "Process-1:2", the given
 * one, or "MainProcess"). Valid until the handle is destroyed. */
MP_EXTERN const char *mp_process_name(const mp_process_t *p);

/* mp_process_set_name copies a new name. Returns 0, MP_EINVAL or MP_ENOMEM. */
MP_EXTERN int mp_process_set_name(mp_process_t *p, const char *name);

/* mp_process_daemon returns the daemon flag; mp_process_set_daemon sets it
 * before start (MP_ESTARTED after). */
MP_EXTERN bool mp_process_daemon(const mp_process_t *p);
MP_EXTERN int mp_process_set_daemon(mp_process_t *p, bool daemon);

/* mp_process_sentinel returns a file descriptor that becomes readable when
 * the process exits (a pidfd; a pipe without pidfds; for a forkserver's
 * child the socket the server reports its exit on), for
 * poll()/epoll/mp_wait_any. It stays owned by
 * the handle: do not close it. Returns the fd or MP_ENOTSTARTED, MP_ECLOSED.
 * For mp_parent_process() it becomes readable when the parent exits. */
MP_EXTERN int mp_process_sentinel(mp_process_t *p);

/* mp_process_close releases the handle's OS resources (the sentinel) of an
 * exited or never-started process; afterwards every call but destroy returns
 * MP_ECLOSED. Idempotent. Returns 0 or MP_ERUNNING (join or terminate it
 * first). */
MP_EXTERN int mp_process_close(mp_process_t *p);

/* mp_process_destroy closes and frees the handle. Returns 0, or MP_ERUNNING
 * when the child still runs (the handle stays valid: a running child is
 * never abandoned to become a zombie). NULL and the library-owned handles of
 * mp_current_process()/mp_parent_process() are ignored (0). */
MP_EXTERN int mp_process_destroy(mp_process_t *p);

/* mp_process_start_method returns the method that started p: for a child
 * handle the one it was or will be started with (MP_START_DEFAULT while it
 * is to take the default and has not started), for mp_current_process()
 * the one that started the caller (MP_START_DEFAULT in the main process),
 * for mp_parent_process() MP_START_DEFAULT. NULL gives MP_START_DEFAULT.
 * Python: get_start_method() in the child, Process._start_method. */
MP_EXTERN mp_start_method_t mp_process_start_method(const mp_process_t *p);

/* mp_process_exit ends the calling process the way a target's return does:
 * it terminates daemon children, joins the others, flushes stdio and exits
 * with code without running atexit handlers inherited from the parent.
 * Python: sys.exit(code) inside a child. */
MP_EXTERN void mp_process_exit(int code) __attribute__((noreturn));

/* mp_current_process returns the handle of the calling process ("MainProcess"
 * in the process that did not come from mp_process_start). Library-owned;
 * never NULL. */
MP_EXTERN mp_process_t *mp_current_process(void);

/* mp_parent_process returns a handle on the parent of a process started with
 * mp_process_start, or NULL in the main process. mp_process_is_alive() on it
 * tells whether the parent still runs, mp_process_join() waits for it to
 * exit, and its sentinel becomes readable when it does: the way for a child
 * to learn that its parent died. Library-owned. */
MP_EXTERN mp_process_t *mp_parent_process(void);

/* mp_active_children reaps children that have exited, then stores up to cap
 * handles of the caller's started, still running children in out (which may
 * be NULL when cap is 0). Returns how many there are (possibly more than
 * cap), or MP_EINVAL. The handles stay owned by their creator. */
MP_EXTERN int mp_active_children(mp_process_t **out, size_t cap);

/*===== Pipes and connections ===============================================*/

/* One end of a message pipe: Python's multiprocessing.connection.Connection.
 * Messages keep their boundaries and travel in Python's framing (a 4-byte
 * big-endian length, or FF FF FF FF and an 8-byte length above 2 GiB), so a
 * C end and a Python end can talk to each other. A connection must not be
 * used by two threads at once for the same direction (one sender and one
 * receiver at a time are fine). A connection made before mp_process_start()
 * is inherited by the child; each process should close the ends it does not
 * use, or the reader never sees end of stream. */
typedef struct mp_conn mp_conn_t;

/* mp_pipe makes a connected pair: an AF_UNIX socketpair. duplex true: both
 * ends read and write. duplex false: *end1 is read-only and *end2
 * write-only (Python's Pipe(duplex=False) returns (reader, writer)); the
 * unused directions are shut down. (Python uses os.pipe() there; a
 * socketpair carries large messages faster.) Both fds are close-on-exec.
 * Returns 0 or MP_EINVAL (a NULL or equal out pointer), MP_EMFILE,
 * MP_ENFILE, MP_ENOMEM. Context: any thread. */
MP_EXTERN int mp_pipe(mp_conn_t **end1, mp_conn_t **end2, bool duplex);

/* mp_conn_from_fd wraps an open pipe, socket or other stream fd (Python's
 * Connection(fd, readable, writable)). On success the connection owns fd
 * (mp_conn_close closes it) and fd is made close-on-exec; on failure the
 * caller still owns it. Returns 0 or MP_EINVAL (NULL out, fd < 0, neither
 * direction), MP_EBADF (fd not open), MP_ENOMEM. */
MP_EXTERN int mp_conn_from_fd(mp_conn_t **out, int fd, bool readable,
                              bool writable);

/* mp_conn_send_bytes sends len bytes of buf (len 0 sends an empty message)
 * as one whole message, blocking until the OS took all of it. The payload
 * is not copied. A peer that closed never kills the caller with SIGPIPE.
 * Returns 0 or MP_EINVAL (NULL c, or NULL buf with len > 0), MP_EBADF
 * (read-only end), MP_ECLOSED, MP_EPIPE (the reading end is closed; part
 * of the message may have been sent, so the stream is broken), or another
 * system error. Python: send_bytes(buf). */
MP_EXTERN int mp_conn_send_bytes(mp_conn_t *c, const void *buf, size_t len);

/* mp_conn_recv_bytes receives one whole message into a fresh buffer that
 * the caller frees with mp_free (non-NULL even for an empty message) and
 * returns its length. The timeout bounds the wait for the message to
 * start: once its first byte has arrived the rest is read without a
 * timeout, so a timeout never splits a message. maxlen 0 means no limit.
 * A message longer than maxlen (or too big to allocate) is read and
 * discarded, so the next call gets the next message (Python closes the
 * connection instead). *out is set only on success. On a socket, when no
 * data is there, the call retries without blocking for up to 30 us before
 * it sleeps (a reply is usually caught awake; not on a one-CPU process).
 * Returns the length, or MP_EINVAL (NULL c or out, bad timeout), MP_EBADF
 * (write-only end), MP_ECLOSED, MP_ETIMEDOUT (nothing arrived), MP_EOF (the
 * peer closed between messages), MP_EPROTO (end of stream inside a message,
 * or a malformed header: the stream cannot be trusted any more),
 * MP_EMSGSIZE, MP_ENOMEM. Python: recv_bytes(maxlength). */
MP_EXTERN ssize_t mp_conn_recv_bytes(mp_conn_t *c, void **out, size_t maxlen,
                                     mp_duration_t timeout);

/* mp_conn_recv_bytes_into receives one whole message into buf (buflen
 * bytes; buf may be NULL when buflen is 0) and returns its length. A
 * message longer than buflen is read and discarded (MP_EMSGSIZE; Python
 * raises BufferTooShort with the message). Timeout and other errors as for
 * mp_conn_recv_bytes. Python: recv_bytes_into(buf). */
MP_EXTERN ssize_t mp_conn_recv_bytes_into(mp_conn_t *c, void *buf,
                                          size_t buflen, mp_duration_t timeout);

/* mp_conn_poll waits up to timeout for data (or end of stream) to be
 * readable, consuming nothing. Returns 1 readable, 0 not within timeout,
 * or MP_EINVAL (NULL c, bad timeout), MP_EBADF (write-only end),
 * MP_ECLOSED. Python: poll(timeout) (MP_NO_WAIT is its default). */
MP_EXTERN int mp_conn_poll(mp_conn_t *c, mp_duration_t timeout);

/* mp_conn_fileno returns the connection's fd (still owned by it), or
 * MP_EINVAL (NULL), MP_ECLOSED. */
MP_EXTERN int mp_conn_fileno(const mp_conn_t *c);

/* mp_conn_readable and mp_conn_writable return the directions it was made
 * with; mp_conn_closed whether it is closed (false for NULL). */
MP_EXTERN bool mp_conn_readable(const mp_conn_t *c);
MP_EXTERN bool mp_conn_writable(const mp_conn_t *c);
MP_EXTERN bool mp_conn_closed(const mp_conn_t *c);

/* mp_conn_close closes the fd; afterwards every call but destroy returns
 * MP_ECLOSED. Idempotent. Returns 0 or MP_EINVAL (NULL). Must not race
 * with another thread's use of c. */
MP_EXTERN int mp_conn_close(mp_conn_t *c);

/* mp_conn_destroy closes (if needed) and frees the connection. NULL is
 * ignored. */
MP_EXTERN void mp_conn_destroy(mp_conn_t *c);

/*===== Listeners and clients ===============================================*/

/* A listening socket: Python's multiprocessing.connection.Listener. Each
 * accepted connection (and each mp_client_connect result) is an ordinary
 * mp_conn_t speaking Python's framing, so a C end and a Python
 * Listener/Client interoperate. Addresses are strings: one containing a
 * '/' is an AF_UNIX socket path (write "./name" for a relative one); any
 * other must be "HOST:PORT" (TCP over IPv4 or IPv6; "[::1]:PORT" for an
 * IPv6 literal; HOST may be a name; port 0 picks a free port).
 *
 * Authentication: with an authkey (authkey non-NULL; authkey_len may be 0
 * for the empty key, as Python 3.13 treats b'') both sides prove they
 * know the key with Python's challenge/response handshake before any
 * application data moves. The challenger sends "{sha256}"-prefixed
 * challenges (understood by Python 3.11 and 3.12+ alike) and accepts
 * both legacy HMAC-MD5 and "{digest}" answers; the answerer handles both
 * forms, so a C end interoperates with CPython 3.11 and newer. Handshake
 * messages over 256 bytes are refused before they are read. With a NULL
 * authkey there is no handshake (the peer must not use a key either:
 * Python would hang in that mismatch). */
typedef struct mp_listener mp_listener_t;

/* With an authkey, a listener runs the handshakes of up to
 * MP_LISTENER_PENDING_MAX accepted peers at once, without blocking; a
 * newer peer beyond that drops the oldest. A peer whose handshake has not
 * ended MP_LISTENER_HANDSHAKE_MS after it was accepted is dropped. */
#define MP_LISTENER_PENDING_MAX 64
#define MP_LISTENER_HANDSHAKE_MS 10000

/* mp_listener_create binds and listens on address. A socket file is
 * created with mode 0600 and removed by mp_listener_close/destroy in the
 * process that created it (not in a forked child), or, if its process tree
 * ends without that (SIGKILL), by the shared-memory tracker once the whole
 * tree is gone. An existing file is not replaced, except a stale socket
 * file: one nobody listens on (a connect to it is refused), left by a
 * killed process. To tell, a live listener there is connected to and left
 * at once (its accept sees a peer that hung up); binds in one directory
 * take turns (an flock held for a few system calls, waited for without a
 * timeout). backlog 0 means SOMAXCONN. The authkey is copied.
 * Returns 0 or MP_EINVAL (NULL out or address, bad address syntax or port,
 * negative backlog, NULL authkey with authkey_len > 0), MP_ENAMETOOLONG
 * (path too long for a socket), MP_EEXIST (a live socket or another
 * file is at the path),
 * MP_ENOENT (unknown host), MP_ENOMEM, or a system error (for example
 * -EADDRINUSE, MP_EACCES). Python: Listener(address, backlog=, authkey=). */
MP_EXTERN int mp_listener_create(mp_listener_t **out, const char *address,
                                 const void *authkey, size_t authkey_len,
                                 int backlog);

/* mp_listener_address returns the bound address, e.g. "127.0.0.1:40123"
 * with the port picked for port 0, or the socket path; valid until
 * destroy. NULL for a NULL listener. Python: Listener.address. */
MP_EXTERN const char *mp_listener_address(const mp_listener_t *l);

/* mp_listener_accept waits up to timeout for a client and returns the
 * first one that is ready: without an authkey, the next peer connected;
 * with one, the first peer to finish the server side of the handshake
 * (deliver_challenge then answer_challenge, as Python's accept does).
 * Handshakes run side by side and go on across calls (see
 * MP_LISTENER_PENDING_MAX: silent, slow or hostile peers do not hold up
 * the others; each handshake is bounded by MP_LISTENER_HANDSHAKE_MS, not
 * by the timeout). A peer whose handshake fails is closed and this call
 * returns its error (call again for the next client); a peer dropped for
 * time or room is closed silently. *out is set only on success. Returns 0
 * or MP_EINVAL (NULL l or out, bad timeout), MP_ECLOSED, MP_ETIMEDOUT (no
 * client finished in time), MP_EAUTH (wrong key or a malformed handshake;
 * the peer was sent "#FAILURE#" when it answered wrongly), MP_EMSGSIZE (a
 * handshake message over 256 bytes), MP_EOF / MP_EPROTO (the peer closed
 * during the handshake), MP_ENOMEM, or a system error. Context: one
 * thread at a time per listener. Python: Listener.accept(). */
MP_EXTERN int mp_listener_accept(mp_listener_t *l, mp_conn_t **out,
                                 mp_duration_t timeout);

/* mp_listener_fileno returns an fd that is readable when accept has work
 * (a client is waiting, or a handshake under way has news; usable with
 * mp_wait_any), or MP_EINVAL (NULL), MP_ECLOSED. In a forked child it changes
 * at the child's first accept. */
MP_EXTERN int mp_listener_fileno(const mp_listener_t *l);

/* mp_listener_close stops listening and removes the socket file; accepted
 * connections stay open. Idempotent. Returns 0 or MP_EINVAL (NULL).
 * Python: Listener.close(). */
MP_EXTERN int mp_listener_close(mp_listener_t *l);

/* mp_listener_destroy closes (if needed) and frees the listener. NULL is
 * ignored. */
MP_EXTERN void mp_listener_destroy(mp_listener_t *l);

/* mp_client_connect connects to a listener at address and (with an
 * authkey) runs the client side of the handshake (answer_challenge then
 * deliver_challenge, as Python's Client does). The timeout bounds the
 * connect and the handshake together; a listener whose backlog is full is
 * waited for (as Python's blocking connect waits) until room comes or the
 * timeout passes. *out is set only on success.
 * Returns 0 or MP_EINVAL (NULL out or address, bad address, NULL authkey
 * with authkey_len > 0, bad timeout), MP_ENAMETOOLONG, MP_ENOENT (no such
 * socket file or unknown host), -ECONNREFUSED (nobody listening),
 * MP_ETIMEDOUT, MP_EAUTH (the listener rejected our key, or proved it does
 * not know it: both ends fail), MP_EMSGSIZE, MP_EOF, MP_EPROTO, MP_ENOMEM
 * or another system error. Python: Client(address, authkey=). */
MP_EXTERN int mp_client_connect(mp_conn_t **out, const char *address,
                                const void *authkey, size_t authkey_len,
                                mp_duration_t timeout);

/*===== Queues: Queue, SimpleQueue, JoinableQueue ==========================*/

/* A multi-producer, multi-consumer FIFO of byte messages (0 bytes and up) in
 * shared memory. Any process that inherited the queue (fork) or attached it
 * by name (mp_queue_attach: a process that was already running, such as a
 * pool worker) may put and get. A put copies the message into the queue and
 * returns: nothing is buffered in the putting process, so a producer may
 * exit right after its last put. A process killed with SIGKILL at any moment
 * (mid-put, mid-get) never corrupts or wedges the queue for the others; at
 * most the one message it was handling is lost, and none is duplicated.
 * Messages from one producer arrive in the order they were put. */
typedef struct mp_queue mp_queue_t;

/* Options for mp_queue_create; all-zero (or NULL) means the defaults. */
typedef struct mp_queue_opts {
    size_t maxsize;  /* at most this many messages; 0: unbounded */
    bool joinable;   /* a JoinableQueue: task_done and join */
    size_t capacity; /* bytes reserved for message data; 0: 1 GiB. The
                        reservation is sparse: memory is used only for the
                        messages in the queue, and reused. A single message
                        may be as large as this. */
} mp_queue_opts_t;

/* mp_queue_create makes a queue (Python: Queue(maxsize), or JoinableQueue
 * with opts->joinable). mp_simple_queue_create makes an unbounded one
 * (SimpleQueue) and mp_joinable_queue_create a joinable one. Returns 0 or
 * MP_EINVAL, MP_ENOMEM, MP_ENOSPC. Context: any process; the queue is
 * removed once its creator destroys it or its whole process tree exits. */
MP_EXTERN int mp_queue_create(mp_queue_t **out, const mp_queue_opts_t *opts);
MP_EXTERN int mp_simple_queue_create(mp_queue_t **out);
MP_EXTERN int mp_joinable_queue_create(mp_queue_t **out, size_t maxsize);

/* mp_queue_name returns the name another process passes to mp_queue_attach
 * (valid while the handle lives). */
MP_EXTERN const char *mp_queue_name(const mp_queue_t *q);

/* mp_queue_attach opens an existing queue by name in a process that did not
 * inherit it. The queue names the processes working on it by pid, so the
 * attaching process must be in the creator's pid namespace. Returns 0 or
 * MP_ENOENT (no such queue, or destroyed), MP_EINVAL (not a queue's name),
 * MP_EPIDNS (made in another pid namespace), MP_ENOMEM. */
MP_EXTERN int mp_queue_attach(mp_queue_t **out, const char *name);

/* mp_queue_put copies len bytes from buf into the queue, waiting up to
 * timeout for room in a bounded queue. An unbounded queue never refuses a
 * put for lack of room and never waits long: when its ring is full (or many
 * large messages are queued) a put pauses at most 2 ms (never past timeout,
 * never with MP_NO_WAIT) for consumers to catch up, so memory is reused,
 * then stores the message in the overflow area. Returns 0, MP_EFULL (no
 * room within timeout, also for MP_NO_WAIT; in any queue also when 32 puts
 * of messages over 96 bytes are copying at once and none ends in time),
 * MP_EMSGSIZE (len above the queue's capacity), MP_ENOMEM (the data area
 * is full of unread messages), MP_ECLOSED (this handle was closed),
 * MP_EINVAL. mp_queue_put_nowait is put with MP_NO_WAIT. On failure nothing
 * was put. */
MP_EXTERN int mp_queue_put(mp_queue_t *q, const void *buf, size_t len,
                           mp_duration_t timeout);
MP_EXTERN int mp_queue_put_nowait(mp_queue_t *q, const void *buf, size_t len);

/* mp_queue_get takes the oldest message, waiting up to timeout for one, and
 * stores a fresh buffer holding it in *out (the caller frees it with
 * mp_free; non-NULL also for an empty message). Returns the message length,
 * or MP_EEMPTY (none within timeout; also for MP_NO_WAIT), MP_ECLOSED,
 * MP_ENOMEM (the message stays queued), MP_EINVAL. mp_queue_get_nowait is
 * get with MP_NO_WAIT. */
MP_EXTERN ssize_t mp_queue_get(mp_queue_t *q, void **out,
                               mp_duration_t timeout);
MP_EXTERN ssize_t mp_queue_get_nowait(mp_queue_t *q, void **out);

/* mp_queue_get_into is mp_queue_get into the caller's buffer. Returns the
 * length, or MP_EMSGSIZE when the next message is longer than buflen (it
 * stays queued), or the errors of mp_queue_get. */
MP_EXTERN ssize_t mp_queue_get_into(mp_queue_t *q, void *buf, size_t buflen,
                                    mp_duration_t timeout);

/* mp_queue_qsize returns the number of messages in the queue (a snapshot:
 * others may change it at once), or MP_EINVAL for NULL; mp_queue_empty
 * tells whether it is empty, mp_queue_full whether a bounded queue is at
 * maxsize (both false for NULL). Context: any process that has the queue. */
MP_EXTERN ssize_t mp_queue_qsize(const mp_queue_t *q);
MP_EXTERN bool mp_queue_empty(const mp_queue_t *q);
MP_EXTERN bool mp_queue_full(const mp_queue_t *q);

/* mp_queue_close marks this handle closed: later puts and gets through it
 * return MP_ECLOSED; other handles and processes are not affected.
 * Idempotent; returns 0 or MP_EINVAL. */
MP_EXTERN int mp_queue_close(mp_queue_t *q);

/* Python's join_thread/cancel_join_thread: puts are never buffered in the
 * process, so there is nothing to flush. mp_queue_join_thread returns 0 on a
 * closed handle and MP_EBUSY ("queue not closed") otherwise;
 * mp_queue_cancel_join_thread returns 0. */
MP_EXTERN int mp_queue_join_thread(mp_queue_t *q);
MP_EXTERN int mp_queue_cancel_join_thread(mp_queue_t *q);

/* JoinableQueue: every put counts an unfinished task; mp_queue_task_done
 * marks one finished (MP_EOVERRELEASE: more task_done calls than puts) and
 * mp_queue_join waits up to timeout until none is unfinished (MP_ETIMEDOUT).
 * Both return MP_EINVAL on a queue that is not joinable. As in Python, the
 * unfinished count is the puts completed minus the task_done calls, and it
 * stays exact when processes are killed at any moment: a put killed before
 * its message was in the queue counts nothing, one killed after counts it
 * (the message is there for consumers). A message whose consumer is killed
 * before its task_done - inside mp_queue_get or after - stays unfinished,
 * as in Python: whoever notices the death calls task_done for it. */
MP_EXTERN int mp_queue_task_done(mp_queue_t *q);
MP_EXTERN int mp_queue_join(mp_queue_t *q, mp_duration_t timeout);

/* mp_queue_destroy frees the handle. In the creating process it also
 * removes the queue (processes that still have it mapped keep working on
 * their mapping; new attaches fail); elsewhere it only unmaps. NULL is
 * ignored. */
MP_EXTERN void mp_queue_destroy(mp_queue_t *q);

/*===== Waiting on many objects =============================================*/

/* What an mp_waitable_t names. */
typedef enum mp_waitable_kind {
    MP_WAIT_FD,      /* u.fd: any fd; ready when readable or hung up */
    MP_WAIT_CONN,    /* u.conn: a readable end; ready: a message or EOF */
    MP_WAIT_PROCESS, /* u.process: a started process; ready: it exited */
    MP_WAIT_QUEUE    /* u.queue: ready when it holds a message (qsize > 0) */
} mp_waitable_kind_t;

/* One object to wait on; mp_wait_any sets ready. */
typedef struct mp_waitable {
    mp_waitable_kind_t kind;
    union {
        int fd;
        mp_conn_t *conn;
        mp_process_t *process;
        mp_queue_t *queue;
    } u;
    bool ready; /* out: the object was ready when mp_wait_any returned */
} mp_waitable_t;

/* mp_wait_any waits up to timeout until at least one of the n items is
 * ready, then marks every item that is ready (and clears the others'
 * ready). Readiness is a snapshot, as in Python: another process may take
 * a queue's message first, so a get after it may still time out. With n 0
 * it just waits out the timeout. A queue's first wait on a handle opens
 * one fd that the handle keeps until mp_queue_destroy. Returns how many
 * are ready (0 when the timeout passed), or MP_EINVAL (NULL items with
 * n > 0, n 0 with MP_WAIT_FOREVER, n too large, an unknown kind, a NULL
 * conn/process/queue, bad timeout), MP_EBADF (a negative or unopened fd, a
 * closed or write-only connection, a process not started or closed, a
 * closed queue handle), MP_ENOENT (a queue whose creator removed it, on a
 * handle that never waited before), MP_ENOMEM. Context: any thread of a
 * process that may use the objects. Python:
 * multiprocessing.connection.wait(objects, timeout), with queues. */
MP_EXTERN int mp_wait_any(mp_waitable_t *items, size_t n,
                          mp_duration_t timeout);

/*===== Pools ===============================================================*/

/* A pool of worker processes: Python's multiprocessing.Pool, without its
 * hangs. A task is a function of this program (or of a library it loaded)
 * called in a worker with bytes in and bytes out. When a worker dies while
 * it runs a task (a crash, exit(), SIGKILL) that task fails with
 * MP_EWORKER and the cause, the worker is replaced and every other task
 * completes. Workers are daemon processes: they die with the pool's owner,
 * even when it is killed with SIGKILL. */
typedef struct mp_pool mp_pool_t;
typedef struct mp_result mp_result_t;
typedef struct mp_pool_out mp_pool_out_t;

/* A task: reads in_len bytes at in, writes its result with
 * mp_pool_out_write and returns 0; any other return value fails the task
 * (MP_EREMOTE in the caller, with the text given to mp_pool_out_error).
 * The function is named in the task by its module and offset, so it must
 * be a function of a module loaded in the workers too. Context: a worker. */
typedef int (*mp_pool_fn)(const void *in, size_t in_len, mp_pool_out_t *out);

/* An initializer: runs once in every worker (replacements included) before
 * its first task. A non-zero return breaks the pool (see mp_pool_create). */
typedef int (*mp_pool_init_fn)(void *arg);

/* Options for mp_pool_create; all-zero (or NULL) means the defaults. */
typedef struct mp_pool_opts {
    int processes;               /* workers; 0: mp_cpu_count() */
    mp_pool_init_fn initializer; /* NULL: none */
    void *initarg;               /* passed to initializer (fork: same
                                    address, copied memory) */
    size_t maxtasksperchild;     /* tasks (chunks) before a worker is
                                    replaced; 0: no limit */
    mp_duration_t task_timeout;  /* a task (a map chunk) still running this
                                    long after a worker took it is killed
                                    with its worker (SIGKILL), fails with
                                    MP_ETIMEDOUT and the worker is replaced;
                                    0 or MP_WAIT_FOREVER: no limit */
} mp_pool_opts_t;

/* mp_pool_map's chunksize: the pool picks it (see mp_pool_chunksize). */
#define MP_POOL_CHUNKSIZE_AUTO (-1L)

/* mp_pool_chunksize returns the chunk size that mp_pool_map and its
 * relatives use with MP_POOL_CHUNKSIZE_AUTO for nitems items of item_bytes
 * bytes each (the larger of an item's input and its result slot; for
 * mp_pool_map_buffers the average input length): Python's rule,
 * ceil(nitems / (4 * processes)), but no more items than fit in 63 KiB
 * (so that a chunk's message, headers included, stays under the queues'
 * 64 KiB large-message path; item_bytes 0 counts as 1), and at least 1.
 * A task here costs
 * microseconds, not Python's hundreds, so smaller chunks lose nothing to
 * overhead, balance better and keep the messages within memory the
 * queues reuse. Returns it, or MP_EINVAL (NULL pool). Context: any
 * thread. */
MP_EXTERN long mp_pool_chunksize(const mp_pool_t *pool, size_t nitems,
                                 size_t item_bytes);

/* mp_pool_create starts the workers and returns once they are forked.
 * Failing to start one terminates those already started. An initializer
 * that returns non-zero, or workers that keep dying before they finish
 * starting, break the pool: every pending task fails with MP_EBROKEN (the
 * message tells why) and later submissions return MP_EBROKEN. Returns 0 or
 * MP_EINVAL (NULL out, negative processes, a task_timeout below 0 other
 * than MP_WAIT_FOREVER), MP_ENOMEM,
 * MP_EAGAIN, or the error of starting a worker. Context: any thread; the
 * pool belongs to the creating process. */
MP_EXTERN int mp_pool_create(mp_pool_t **out, const mp_pool_opts_t *opts);

/* mp_pool_processes returns the number of workers, or MP_EINVAL. */
MP_EXTERN int mp_pool_processes(const mp_pool_t *pool);

/* mp_pool_apply_async queues fn(in) (the bytes are copied) and stores a
 * result handle in *out (free it with mp_result_destroy, whether or not the
 * task finished). Returns 0 or MP_EINVAL (NULL pool/fn/out, NULL in with
 * in_len > 0), MP_ECLOSED (the pool was closed or terminated: "pool not
 * running"), MP_EBROKEN, MP_ENOMEM. Context: the creating process, any
 * thread. */
MP_EXTERN int mp_pool_apply_async(mp_pool_t *pool, mp_pool_fn fn,
                                  const void *in, size_t in_len,
                                  mp_result_t **out);

/* mp_pool_apply runs fn(in) in a worker and waits up to timeout for it:
 * apply_async, then mp_result_get. On success *out holds a fresh buffer (free
 * it with mp_free) of *out_len bytes; out and out_len may be NULL. A task
 * that times out keeps running; its result is dropped. Returns 0 or the
 * errors of both calls. */
MP_EXTERN int mp_pool_apply(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                            size_t in_len, void **out, size_t *out_len,
                            mp_duration_t timeout);

/* mp_pool_map runs fn on each of the nitems items of in_size bytes at in, in
 * chunks of chunksize items per task (MP_POOL_CHUNKSIZE_AUTO: see
 * mp_pool_chunksize), and writes the result of item i at out + i * out_size (a
 * shorter result is zero-padded). It waits for every chunk, also after a
 * failure (no fail-fast). status, when not NULL, gets one code per item: 0,
 * MP_EREMOTE (fn failed), MP_EMSGSIZE (result longer than out_size), MP_EWORKER
 * (the worker died while it ran the item's chunk), MP_EBROKEN or MP_ECANCELED
 * (pool broken or terminated). Returns 0 when every item succeeded (also for
 * nitems 0), else the code of the first failed item; or MP_ETIMEDOUT (the
 * chunks still running write nothing more to out or status), MP_EINVAL (NULL
 * pool/fn, NULL in or out with a non-zero size and nitems > 0, chunksize 0 or
 * below -1, bad timeout), MP_ECLOSED, MP_EBROKEN, MP_ENOMEM. Each failed
 * item's message: mp_pool_map_errors. Context: the creating process, any
 * thread. */
MP_EXTERN int mp_pool_map(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                          size_t in_size, size_t nitems, long chunksize,
                          void *out, size_t out_size, int *status,
                          mp_duration_t timeout);

/* mp_pool_map_errors is mp_pool_map (and so starmap) that also hands out
 * why each item failed, as Python's map re-raises the task's own
 * exception: errors, when not NULL, has nitems entries, which are first set
 * to NULL; a failed item's entry then gets a fresh string (free with
 * mp_free) holding what mp_result_error_message says for an apply that
 * failed so: the task's mp_pool_out_error text (or "task returned N"), the
 * worker's death ("worker killed by signal 9"), "the pool was terminated",
 * ...; out of memory, an entry stays NULL and status has the code. After
 * MP_ETIMEDOUT nothing more is written. On any return the caller frees the
 * non-NULL entries. Same arguments (errors added) and returns as
 * mp_pool_map. Context: the creating process, any thread. */
MP_EXTERN int mp_pool_map_errors(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                                 size_t in_size, size_t nitems, long chunksize,
                                 void *out, size_t out_size, int *status,
                                 char **errors, mp_duration_t timeout);

/* mp_pool_starmap and mp_pool_starmap_async are mp_pool_map and
 * mp_pool_map_async (same arguments, same returns): in C the tuple of a
 * starmap item is the struct the item already is, so they are plain
 * aliases for code written after Python's. */
MP_EXTERN int mp_pool_starmap(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                              size_t in_size, size_t nitems, long chunksize,
                              void *out, size_t out_size, int *status,
                              mp_duration_t timeout);

/* mp_pool_map_buffers is mp_pool_map over n byte buffers of their own
 * lengths (bufs[i], lens[i] bytes; NULL with length 0 is allowed): the
 * result of buffer i is a fresh buffer in outs[i] (free with mp_free) of
 * out_lens[i] bytes. First every outs[i] is set to NULL, out_lens[i] to 0
 * and status[i] (status may be NULL) to MP_ETIMEDOUT; a failed item leaves
 * outs[i] NULL and sets status[i] as mp_pool_map does (MP_ENOMEM when its
 * copy failed). On any return the caller frees the non-NULL outs[i].
 * Returns 0 when every item succeeded (also for n 0), else the code of the
 * first failed item, or MP_ETIMEDOUT (nothing more is written), MP_EINVAL
 * (NULL pool/fn, NULL bufs, lens, outs or out_lens with n > 0, a NULL
 * buffer with a non-zero length, lengths too big, chunksize 0 or below -1,
 * bad timeout), MP_ECLOSED, MP_EBROKEN, MP_ENOMEM. Context: the creating
 * process, any thread. */
MP_EXTERN int mp_pool_map_buffers(mp_pool_t *pool, mp_pool_fn fn,
                                  const void *const *bufs, const size_t *lens,
                                  size_t n, long chunksize, void **outs,
                                  size_t *out_lens, int *status,
                                  mp_duration_t timeout);

/* An iterator over the results of mp_pool_imap or mp_pool_imap_unordered. */
typedef struct mp_imap mp_imap_t;

/* mp_pool_imap queues fn over nitems items of in_size bytes at in (copied
 * now), in chunks of chunksize items (MP_POOL_CHUNKSIZE_AUTO: 1, as in
 * Python), and stores an iterator in *out whose mp_imap_next yields the
 * results in item order; mp_pool_imap_unordered yields them as they
 * finish. Returns 0 or MP_EINVAL (NULL pool/fn/out, NULL in with a
 * non-zero size and nitems > 0, chunksize 0 or below -1), MP_ECLOSED,
 * MP_EBROKEN, MP_ENOMEM. Context: the creating process. */
MP_EXTERN int mp_pool_imap(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                           size_t in_size, size_t nitems, long chunksize,
                           mp_imap_t **out);
MP_EXTERN int mp_pool_imap_unordered(mp_pool_t *pool, mp_pool_fn fn,
                                     const void *in, size_t in_size,
                                     size_t nitems, long chunksize,
                                     mp_imap_t **out);

/* A source of input for mp_pool_imap_source: stores the next item in
 * *item and *len (the bytes are copied before the next call) and returns
 * 1; returns 0 at the end of the input, or a negative code (MP_E*) that
 * ends the iteration with that error. Context: called by
 * mp_pool_imap_source and mp_imap_next in their caller's thread, one call
 * at a time, with no lock of the pool held. */
typedef int (*mp_pool_source_fn)(void *arg, const void **item, size_t *len);

/* mp_pool_imap_source is imap over lazy input: each item src gives
 * (of any length) becomes one task. At most max_in_flight items are
 * queued and not yet taken by mp_imap_next: src is called only to refill
 * that window (first here, then by each mp_imap_next), so a slow consumer
 * stops the input. ordered: results in item order (mp_pool_imap), else as
 * they finish (mp_pool_imap_unordered). Once every queued item was taken,
 * mp_imap_next returns the error that ended the input (src's code, or
 * MP_ECLOSED/MP_EBROKEN when the pool stopped taking tasks, MP_ENOMEM) once,
 * with *index the number of items queued, then MP_EOF. The pool must
 * outlive the iterator. Returns 0 or MP_EINVAL (NULL pool/fn/src/out,
 * max_in_flight 0 or too big), MP_ECLOSED, MP_EBROKEN, MP_ENOMEM.
 * Context: the creating process. */
MP_EXTERN int mp_pool_imap_source(mp_pool_t *pool, mp_pool_fn fn,
                                  mp_pool_source_fn src, void *src_arg,
                                  size_t max_in_flight, bool ordered,
                                  mp_imap_t **out);

/* mp_imap_next waits up to timeout for the next result and stores its item
 * number in *index. On success *out gets the result (a buffer the caller
 * frees with mp_free) and *out_len its length; when the item failed it
 * returns the item's code (MP_EREMOTE, MP_EWORKER, MP_EBROKEN,
 * MP_ECANCELED, MP_ENOMEM) and *out gets the error message (a string, also
 * to free) - iteration goes on with the next item, as in Python. out,
 * out_len and index may be NULL. Returns 0, an item's code, MP_EOF (every
 * result was taken: StopIteration), MP_ETIMEDOUT (the iterator stays
 * usable), MP_EINVAL. Context: any thread of the creating process, one at a
 * time. */
MP_EXTERN int mp_imap_next(mp_imap_t *it, void **out, size_t *out_len,
                           size_t *index, mp_duration_t timeout);

/* mp_imap_destroy frees the iterator; results not taken are dropped and
 * tasks still queued or running go on. NULL is ignored. */
MP_EXTERN void mp_imap_destroy(mp_imap_t *it);

/* mp_pool_close stops new submissions; the workers exit once the queued
 * tasks are done. mp_pool_terminate stops at once: the workers are killed
 * (SIGKILL: bounded, a task cannot ignore it), every unfinished task fails
 * with MP_ECANCELED ("the pool was terminated"), and it returns once the
 * workers are reaped. Both are idempotent and return 0 or MP_EINVAL. */
MP_EXTERN int mp_pool_close(mp_pool_t *pool);
MP_EXTERN int mp_pool_terminate(mp_pool_t *pool);

/* mp_pool_join waits up to timeout for the workers to exit after close or
 * terminate. Returns 0, MP_ERUNNING (neither close nor terminate was called:
 * Python's "Pool is still running"), MP_ETIMEDOUT, MP_EINVAL. */
MP_EXTERN int mp_pool_join(mp_pool_t *pool, mp_duration_t timeout);

/* mp_pool_destroy terminates a pool that is not yet joined, then frees it.
 * Result handles stay valid (unfinished ones report MP_ECANCELED). NULL is
 * ignored. Python: leaving `with Pool() as p:` (which terminates). */
MP_EXTERN void mp_pool_destroy(mp_pool_t *pool);

/* In a task: mp_pool_out_write appends len bytes to the task's result;
 * mp_pool_out_error sets the message the caller reads with
 * mp_result_error_message when the task returns non-zero (its first 1023
 * bytes). Both return 0 or MP_EINVAL, MP_ENOMEM. Neither calls the
 * library's allocator (nor malloc): see "Pool workers and the allocator"
 * in docs/design.md. Context: the task's worker. */
MP_EXTERN int mp_pool_out_write(mp_pool_out_t *out, const void *buf,
                                size_t len);
MP_EXTERN int mp_pool_out_error(mp_pool_out_t *out, const char *msg);

/* mp_result_get waits up to timeout for the task and, on success, stores a
 * fresh copy of its result in *out (free with mp_free; out and out_len may
 * be NULL). A timeout leaves the task running and the result gettable.
 * Returns 0 or MP_ETIMEDOUT (also, with mp_result_ready 1 and a message,
 * for a task killed by the pool's task_timeout), MP_EREMOTE (the task
 * returned non-zero),
 * MP_EWORKER (its worker died: see mp_result_exitcode), MP_EBROKEN,
 * MP_ECANCELED (pool terminated), MP_ENOMEM, MP_EINVAL. The failures carry a
 * message (mp_result_error_message). mp_result_wait waits the same way and
 * returns 0 once the task finished either way, or MP_ETIMEDOUT, MP_EINVAL.
 * Context: any thread of the creating process. */
MP_EXTERN int mp_result_get(mp_result_t *r, void **out, size_t *out_len,
                            mp_duration_t timeout);
MP_EXTERN int mp_result_wait(mp_result_t *r, mp_duration_t timeout);

/* mp_result_ready tells whether the task finished (false for NULL).
 * mp_result_successful stores in *successful whether the finished task
 * succeeded; it returns 0, MP_ERUNNING (not finished: Python's ValueError)
 * or MP_EINVAL (NULL). Neither blocks. Context: any thread of the creating
 * process. */
MP_EXTERN bool mp_result_ready(mp_result_t *r);
MP_EXTERN int mp_result_successful(mp_result_t *r, bool *successful);

/* mp_result_error_message returns the failure's text (the task's message,
 * "task returned N", "worker killed by signal 9", "the pool was
 * terminated", ...), or NULL when not finished or successful. Valid until
 * mp_result_destroy. */
MP_EXTERN const char *mp_result_error_message(mp_result_t *r);

/* mp_result_item_error returns, for the handle of a mp_pool_map_async or
 * mp_pool_starmap_async, why item idx failed (the text mp_pool_map_errors
 * would give it), or NULL when the map is not finished, the item
 * succeeded, idx is out of range, or r is another kind of handle (or
 * NULL). Valid until mp_result_destroy. Never blocks. */
MP_EXTERN const char *mp_result_item_error(mp_result_t *r, size_t idx);

/* mp_result_exitcode stores in *code how the worker of a task that failed
 * with MP_EWORKER ended: its exit status, or minus the signal that killed
 * it. Returns 0, MP_ERUNNING (not finished), MP_ENOENT (the task did not
 * fail with MP_EWORKER), MP_EINVAL. Context: any thread of the creating
 * process. */
MP_EXTERN int mp_result_exitcode(mp_result_t *r, int *code);

/* mp_result_destroy frees the handle; an unfinished task still runs and
 * its result is dropped. NULL is ignored. */
MP_EXTERN void mp_result_destroy(mp_result_t *r);

/* Callbacks of mp_pool_apply_async_cb and mp_pool_map_async: Python's
 * callback and error_callback. Exactly one of them runs once per result,
 * before the result becomes ready (so after mp_result_get returns the
 * callback has run), in the pool's result-handler thread - or, for a
 * mp_pool_map_async of zero items, in the calling thread before it returns.
 * on_success gets the result bytes (map_async: the caller's out array,
 * nitems * out_size bytes), valid only during the call; on_error gets the
 * code and message mp_result_get would return. A callback must be quick
 * and must not block: while it runs no other result completes and no task
 * is dispatched; it must not wait on this pool's results, nor close,
 * terminate, join or destroy the pool. A callback that returns non-zero
 * breaks nothing: it is counted in mp_pool_stats's callback_errors. Either
 * may be NULL. */
typedef struct mp_pool_callbacks {
    int (*on_success)(const void *data, size_t len, void *arg);
    int (*on_error)(int err, const char *msg, void *arg);
    void *arg;
} mp_pool_callbacks_t;

/* mp_pool_apply_async_cb is mp_pool_apply_async with callbacks (cb NULL:
 * none; *cb is copied). Same returns. */
MP_EXTERN int mp_pool_apply_async_cb(mp_pool_t *pool, mp_pool_fn fn,
                                     const void *in, size_t in_len,
                                     const mp_pool_callbacks_t *cb,
                                     mp_result_t **out);

/* mp_pool_map_async (and its alias mp_pool_starmap_async, see
 * mp_pool_starmap) queues what mp_pool_map runs and returns at once with
 * a result handle in *res. The items' results land in out and status as
 * with mp_pool_map; out and status must stay valid until the handle is
 * ready (mp_result_wait), or until the pool was terminated or destroyed -
 * destroying the handle early does not stop the writes. mp_result_get on
 * the handle yields no bytes (out_len 0) and returns 0 when every item
 * succeeded, else the code of the first failed item, whose message
 * (mp_result_error_message, and on_error's) is "item N failed: " and that
 * item's own text; mp_result_item_error tells each item's. cb as in
 * mp_pool_apply_async_cb. Returns 0 or the argument errors of mp_pool_map
 * (NULL res), MP_ECLOSED, MP_EBROKEN, MP_ENOMEM. Context: the creating
 * process, any thread. */
MP_EXTERN int mp_pool_map_async(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                                size_t in_size, size_t nitems, long chunksize,
                                const mp_pool_callbacks_t *cb, void *out,
                                size_t out_size, int *status,
                                mp_result_t **res);
MP_EXTERN int mp_pool_starmap_async(mp_pool_t *pool, mp_pool_fn fn,
                                    const void *in, size_t in_size,
                                    size_t nitems, long chunksize,
                                    const mp_pool_callbacks_t *cb, void *out,
                                    size_t out_size, int *status,
                                    mp_result_t **res);

/* A worker slot's state in mp_pool_stats. */
enum {
    MP_POOL_WORKER_STOPPED = 0,    /* no process (pool closed or broken) */
    MP_POOL_WORKER_STARTING = 1,   /* forked, initializer not done */
    MP_POOL_WORKER_IDLE = 2,       /* waiting for a task */
    MP_POOL_WORKER_BUSY = 3,       /* running a task */
    MP_POOL_WORKER_RESTARTING = 4, /* died or was killed; being replaced */
};

typedef struct mp_pool_worker_info {
    pid_t pid;      /* 0 when STOPPED or RESTARTING */
    int state;      /* MP_POOL_WORKER_* */
    uint64_t tasks; /* tasks (chunks) this slot completed, all processes */
} mp_pool_worker_info_t;

/* Counters since the pool was created, counted in items (an apply is one
 * item, a map nitems). */
typedef struct mp_pool_stats {
    uint64_t submitted;       /* items queued */
    uint64_t done;            /* items that succeeded */
    uint64_t failed;          /* items that failed, timed out included */
    uint64_t timed_out;       /* items killed by task_timeout */
    uint64_t callback_errors; /* callbacks that returned non-zero */
    int processes;            /* worker slots */
} mp_pool_stats_t;

/* mp_pool_stats takes a snapshot of the counters into *st and of the
 * first nworkers worker slots into workers (which may be NULL when
 * nworkers is 0). Never blocks for long. Returns the number of slots
 * written, or MP_EINVAL (NULL pool or st, NULL workers with nworkers > 0).
 * Context: any thread of the creating process, also after close or
 * terminate (not after destroy). */
MP_EXTERN int mp_pool_stats(mp_pool_t *pool, mp_pool_stats_t *st,
                            mp_pool_worker_info_t *workers, size_t nworkers);

/* A terminal progress bar for long runs (any work, not only pools). On a
 * TTY it redraws one line ("\r"), at most about 10 times a second; on any
 * other stream it prints plain lines, at most one a second. Each shows the
 * label, done/total with a percentage, the rate per second, bytes (when
 * given; of total_bytes when that is set) and an ETA (from the byte rate
 * when total_bytes is set, else from the item rate; "?" during the first
 * second); finish prints a final line. */
typedef struct mp_progress mp_progress_t;

/* Options for mp_progress_create; all-zero (or NULL) means the defaults. */
typedef struct mp_progress_opts {
    FILE *stream; /* NULL: stderr */
    int tty;      /* 0: ask isatty(); 1: draw as on a TTY; -1: plain lines */
    /* The clock, in nanoseconds of any monotonic origin (NULL:
     * CLOCK_MONOTONIC): tests inject one. */
    int64_t (*clock)(void *arg);
    void *clock_arg;
    /* Bytes the work will have when done (0: unknown). When known, the
     * bytes show as done/total and the ETA follows the byte rate, which
     * moves while a few large items are worked on. */
    uint64_t total_bytes;
} mp_progress_opts_t;

/* mp_progress_create makes a bar for total items (0: unknown, no
 * percentage or ETA) labelled label (copied; NULL: ""). Returns 0 or
 * MP_EINVAL (NULL out), MP_ENOMEM. mp_progress_update records done items
 * and bytes so far (absolute counts, not increments)
 * and redraws when due; mp_progress_finish prints the final line (once).
 * Both return 0 or MP_EINVAL (NULL), MP_EIO (writing failed). Context: one
 * thread at a time per bar. */
MP_EXTERN int mp_progress_create(mp_progress_t **out, uint64_t total,
                                 const char *label,
                                 const mp_progress_opts_t *opts);
MP_EXTERN int mp_progress_update(mp_progress_t *p, uint64_t done,
                                 uint64_t bytes);
MP_EXTERN int mp_progress_finish(mp_progress_t *p);

/* mp_progress_destroy frees the bar (without printing). NULL is ignored. */
MP_EXTERN void mp_progress_destroy(mp_progress_t *p);

/*===== Shared memory =======================================================*/

/* Named shared-memory blocks: Python's shared_memory.SharedMemory. */
typedef struct mp_shm mp_shm_t;

/* Flags for mp_shm_create. */
#define MP_SHM_UNTRACKED 0x1u /* survive the creating process tree */

/* mp_shm_create creates a new block of size bytes (zero-filled) and maps it.
 * name NULL picks an unguessable one ("mp-<pid>-<16 hex>"); a given name may
 * start with one '/', holds no other '/', and is at most 250 bytes. The
 * object is created with O_EXCL and mode 0600. Unless MP_SHM_UNTRACKED is
 * given, the block is removed once every process of the creating tree has
 * exited, even if they were killed (see docs/design.md, "tracker").
 * Returns 0 or MP_EINVAL (NULL out, size 0, bad name or flags), MP_EEXIST,
 * MP_ENAMETOOLONG, MP_EFBIG (size beyond what a mapping can hold),
 * MP_ENOSPC, MP_EACCES, MP_ENOMEM. */
MP_EXTERN int mp_shm_create(mp_shm_t **out, const char *name, size_t size,
                            unsigned flags);

/* mp_shm_attach maps an existing block by name (as mp_shm_name gives it, with
 * or without the leading '/'). Attaching never takes ownership: the block is
 * not removed when the attaching process exits. Returns 0 or MP_ENOENT,
 * MP_EINVAL, MP_ENAMETOOLONG, MP_EACCES, MP_ENOMEM. */
MP_EXTERN int mp_shm_attach(mp_shm_t **out, const char *name);

/* The block's memory (NULL once closed), size in bytes, and name (without
 * leading '/'). Context: the process that has the handle. */
MP_EXTERN void *mp_shm_buf(const mp_shm_t *shm);
MP_EXTERN size_t mp_shm_size(const mp_shm_t *shm);
MP_EXTERN const char *mp_shm_name(const mp_shm_t *shm);

/* mp_shm_unlink removes the block's name; mappings stay valid until closed.
 * Returns 0 or MP_ENOENT (already removed). */
MP_EXTERN int mp_shm_unlink(mp_shm_t *shm);

/* mp_shm_close unmaps the block (Python's close(); the name stays unless
 * unlinked): mp_shm_buf is NULL afterwards, while the size, the name and
 * mp_shm_unlink still work. Idempotent. Returns 0 or MP_EINVAL (NULL).
 * mp_shm_destroy closes the block if it is open and frees the handle. NULL
 * is ignored. Context: the process that has the handle. */
MP_EXTERN int mp_shm_close(mp_shm_t *shm);
MP_EXTERN void mp_shm_destroy(mp_shm_t *shm);

/*===== Locks: Lock and RLock ===============================================*/

/* One type for both: a Lock (not recursive, any process may release it) and
 * an RLock (recursive, owned by the acquiring thread). Both survive the death
 * of their holder: the next acquirer gets the lock with MP_EOWNERDEAD, also
 * when the dead holder's pid has been given to a new process meanwhile (a
 * holder is its pid and its pidfd's inode number, or before Linux 6.9 its
 * start time: there a pid reused within the same 10 ms clock tick is not
 * told apart; see docs/design.md). */
typedef struct mp_lock mp_lock_t;

/* mp_lock_create makes a Lock, mp_rlock_create an RLock, both unlocked.
 * Returns 0 or MP_EINVAL (NULL out), MP_ENOMEM. */
MP_EXTERN int mp_lock_create(mp_lock_t **out);
MP_EXTERN int mp_rlock_create(mp_lock_t **out);

/* mp_lock_acquire takes the lock, waiting up to timeout. An RLock already
 * held by the calling thread is taken once more. Returns 0, MP_ETIMEDOUT
 * (not acquired; also for MP_NO_WAIT on a held lock), MP_EOWNERDEAD (the
 * holder died while holding it: the caller now holds it, and should repair
 * the state and call mp_lock_consistent), MP_EINVAL. Context: any process
 * that created or inherited the lock, any thread. */
MP_EXTERN int mp_lock_acquire(mp_lock_t *lock, mp_duration_t timeout);

/* mp_lock_release releases the lock (an RLock: one level). Returns 0,
 * MP_EOVERRELEASE (a Lock that is not held), MP_ENOTOWNER (an RLock not held
 * by the calling thread), MP_EINVAL. */
MP_EXTERN int mp_lock_release(mp_lock_t *lock);

/* mp_lock_consistent marks the state a lock protects as repaired after
 * MP_EOWNERDEAD. Until it is called, every acquirer gets MP_EOWNERDEAD (with
 * the lock). Returns 0 or MP_ENOTOWNER (the caller does not hold it). */
MP_EXTERN int mp_lock_consistent(mp_lock_t *lock);

/* mp_lock_locked tells whether someone holds the lock (false for NULL).
 * Context: any process that has the lock. */
MP_EXTERN bool mp_lock_locked(const mp_lock_t *lock);

/* mp_lock_is_mine tells whether the calling thread holds the lock (for a
 * Lock: it was the last to acquire it and has not released it); false for
 * NULL. Context: any process that has the lock. */
MP_EXTERN bool mp_lock_is_mine(const mp_lock_t *lock);

/* mp_lock_recursion returns how many times an RLock is held (0 if free;
 * 0 or 1 for a Lock). */
MP_EXTERN int mp_lock_recursion(const mp_lock_t *lock);

/* mp_lock_destroy frees the lock. In the creating process it also frees the
 * shared state, so call it once no other process uses the lock; in any other
 * process it only drops the local handle. NULL is ignored. */
MP_EXTERN void mp_lock_destroy(mp_lock_t *lock);

/*===== Semaphores: Semaphore and BoundedSemaphore ==========================*/

typedef struct mp_semaphore mp_semaphore_t;

#define MP_SEM_VALUE_MAX 2147483647

/* mp_semaphore_create makes a counter starting at value; releases may raise
 * it up to MP_SEM_VALUE_MAX. mp_bounded_semaphore_create makes one that may
 * never exceed value. Returns 0 or MP_EINVAL (NULL out, value above
 * MP_SEM_VALUE_MAX), MP_ENOMEM. */
MP_EXTERN int mp_semaphore_create(mp_semaphore_t **out, unsigned value);
MP_EXTERN int mp_bounded_semaphore_create(mp_semaphore_t **out, unsigned value);

/* mp_semaphore_acquire decrements the counter, waiting up to timeout for it
 * to be positive. Returns 0, MP_ETIMEDOUT, MP_EINVAL. */
MP_EXTERN int mp_semaphore_acquire(mp_semaphore_t *sem, mp_duration_t timeout);

/* mp_semaphore_release increments the counter and wakes one waiter. Returns
 * 0, MP_EOVERRELEASE (a bounded semaphore at its initial value),
 * MP_EOVERFLOW (at MP_SEM_VALUE_MAX), MP_EINVAL. */
MP_EXTERN int mp_semaphore_release(mp_semaphore_t *sem);

/* mp_semaphore_get_value returns the counter (>= 0) or MP_EINVAL. */
MP_EXTERN int mp_semaphore_get_value(const mp_semaphore_t *sem);

/* Same ownership rule as mp_lock_destroy. NULL is ignored. */
MP_EXTERN void mp_semaphore_destroy(mp_semaphore_t *sem);

/*===== Conditions ==========================================================*/

typedef struct mp_condition mp_condition_t;

/* mp_condition_create makes a condition variable bound to lock (a Lock or an
 * RLock the caller keeps alive for the condition's lifetime), or to a new
 * RLock of its own when lock is NULL. Returns 0, MP_EINVAL, MP_ENOMEM. */
MP_EXTERN int mp_condition_create(mp_condition_t **out, mp_lock_t *lock);

/* The condition's lock, to acquire and release around waits and notifies. */
MP_EXTERN mp_lock_t *mp_condition_get_lock(mp_condition_t *cond);
MP_EXTERN int mp_condition_acquire(mp_condition_t *cond, mp_duration_t timeout);
MP_EXTERN int mp_condition_release(mp_condition_t *cond);

/* mp_condition_wait releases the lock (all levels of an RLock), waits up to
 * timeout for a notify, and takes the lock back before returning, whatever
 * the result. Returns 0 (notified), MP_ETIMEDOUT, MP_ENOTOWNER (the caller
 * does not hold the lock; nothing waited), MP_EOWNERDEAD (notified or timed
 * out, but the lock's previous holder died: the caller holds it), MP_EINVAL.
 * A waiter whose notifier died is not held past its timeout. */
MP_EXTERN int mp_condition_wait(mp_condition_t *cond, mp_duration_t timeout);

/* A predicate for mp_condition_wait_for: non-zero means "done". */
typedef int (*mp_predicate_fn)(void *arg);

/* mp_condition_wait_for waits until pred(arg) is non-zero, checking it with
 * the lock held first and after every wake-up, for up to timeout in all.
 * Returns 0 (the predicate holds), MP_ETIMEDOUT (it still does not), or the
 * errors of mp_condition_wait. */
MP_EXTERN int mp_condition_wait_for(mp_condition_t *cond, mp_predicate_fn pred,
                                    void *arg, mp_duration_t timeout);

/* mp_condition_notify wakes up to n waiters; mp_condition_notify_all wakes
 * them all. The caller must hold the lock. Never blocks. Returns 0,
 * MP_ENOTOWNER, MP_EINVAL. */
MP_EXTERN int mp_condition_notify(mp_condition_t *cond, unsigned n);
MP_EXTERN int mp_condition_notify_all(mp_condition_t *cond);

/* Same ownership rule as mp_lock_destroy; the lock given at creation is not
 * destroyed. NULL is ignored. */
MP_EXTERN void mp_condition_destroy(mp_condition_t *cond);

/*===== Events ==============================================================*/

typedef struct mp_event mp_event_t;

/* mp_event_create makes an event flag, initially clear. */
MP_EXTERN int mp_event_create(mp_event_t **out);

/* mp_event_set sets the flag and wakes every waiter; mp_event_clear clears
 * it. Both return 0 or MP_EINVAL. */
MP_EXTERN int mp_event_set(mp_event_t *ev);
MP_EXTERN int mp_event_clear(mp_event_t *ev);

/* mp_event_is_set tells whether the flag is set (false for NULL). Context:
 * any process that has the event. */
MP_EXTERN bool mp_event_is_set(const mp_event_t *ev);

/* mp_event_wait returns 0 once the flag is set (at once if it is),
 * MP_ETIMEDOUT if it was not set within timeout, or MP_EINVAL. */
MP_EXTERN int mp_event_wait(mp_event_t *ev, mp_duration_t timeout);

/* Same ownership rule as mp_lock_destroy. NULL is ignored. */
MP_EXTERN void mp_event_destroy(mp_event_t *ev);

/*===== Barriers ============================================================*/

typedef struct mp_barrier mp_barrier_t;

/* Run once per generation by the last process to arrive, before anyone is
 * released. A non-zero return breaks the barrier. */
typedef int (*mp_barrier_action_fn)(void *arg);

typedef struct mp_barrier_opts {
    mp_barrier_action_fn action; /* NULL: none */
    void *action_arg;
    mp_duration_t timeout; /* default for MP_WAIT_DEFAULT; 0 means forever */
} mp_barrier_opts_t;

/* mp_barrier_create makes a barrier for parties waiters (at least 1).
 * Returns 0, MP_EINVAL, MP_ENOMEM. */
MP_EXTERN int mp_barrier_create(mp_barrier_t **out, unsigned parties,
                                const mp_barrier_opts_t *opts);

/* mp_barrier_wait waits until parties callers have arrived, then returns a
 * distinct index 0..parties-1 to each (exactly one gets 0). Errors:
 * MP_ETIMEDOUT (this caller timed out; the barrier is now broken),
 * MP_EBROKEN (the barrier is or became broken: aborted, reset while waiting,
 * a peer timed out, or the action failed), MP_EINVAL. */
MP_EXTERN int mp_barrier_wait(mp_barrier_t *bar, mp_duration_t timeout);

/* mp_barrier_abort breaks the barrier: current and future waiters get
 * MP_EBROKEN until mp_barrier_reset, which makes it usable again (current
 * waiters get MP_EBROKEN). Both return 0 or MP_EINVAL. */
MP_EXTERN int mp_barrier_abort(mp_barrier_t *bar);
MP_EXTERN int mp_barrier_reset(mp_barrier_t *bar);

/* mp_barrier_parties and mp_barrier_n_waiting return the parties and the
 * number now waiting, or MP_EINVAL for NULL; mp_barrier_broken tells
 * whether the barrier is broken (false for NULL). Context: any process that
 * has the barrier. */
MP_EXTERN int mp_barrier_parties(const mp_barrier_t *bar);
MP_EXTERN int mp_barrier_n_waiting(const mp_barrier_t *bar);
MP_EXTERN bool mp_barrier_broken(const mp_barrier_t *bar);

/* Same ownership rule as mp_lock_destroy. NULL is ignored. */
MP_EXTERN void mp_barrier_destroy(mp_barrier_t *bar);

/*===== Shared values: Value, Array, RawValue, RawArray =====================*/

/* Element types, named by Python's type codes. */
typedef enum mp_type {
    MP_TYPE_CHAR = 'c',   /* char (raw bytes) */
    MP_TYPE_WCHAR = 'u',  /* wchar_t */
    MP_TYPE_SCHAR = 'b',  /* signed char */
    MP_TYPE_UCHAR = 'B',  /* unsigned char */
    MP_TYPE_SHORT = 'h',  /* short */
    MP_TYPE_USHORT = 'H', /* unsigned short */
    MP_TYPE_INT = 'i',    /* int */
    MP_TYPE_UINT = 'I',   /* unsigned int */
    MP_TYPE_LONG = 'l',   /* long */
    MP_TYPE_ULONG = 'L',  /* unsigned long */
    MP_TYPE_LLONG = 'q',  /* long long */
    MP_TYPE_ULLONG = 'Q', /* unsigned long long */
    MP_TYPE_FLOAT = 'f',  /* float */
    MP_TYPE_DOUBLE = 'd'  /* double */
} mp_type_t;

/* mp_type_size returns the size in bytes of one element, or 0 for a code
 * that is not an mp_type_t (Python: "this type has no size"). */
MP_EXTERN size_t mp_type_size(mp_type_t type);

/* How a shared value is guarded; NULL or all-zero means "a new RLock". */
typedef struct mp_shared_opts {
    mp_lock_t *lock; /* use this lock (the caller keeps it alive) */
    bool raw;        /* no lock at all: RawValue / RawArray */
} mp_shared_opts_t;

typedef struct mp_value mp_value_t;
typedef struct mp_array mp_array_t;

/* mp_value_create makes a shared scalar of type, initialised from *init (or
 * zero when init is NULL). Returns 0 or MP_EINVAL (NULL out, unknown type,
 * both lock and raw given), MP_ENOMEM. mp_raw_value_create is the same with
 * no lock. */
MP_EXTERN int mp_value_create(mp_value_t **out, mp_type_t type,
                              const void *init, const mp_shared_opts_t *opts);
MP_EXTERN int mp_raw_value_create(mp_value_t **out, mp_type_t type,
                                  const void *init);

/* mp_value_get copies the value into *out, mp_value_set copies *in into it,
 * each under the lock (if any; a lock whose holder died is recovered, since
 * one element is always whole). Return 0 or MP_EINVAL. */
MP_EXTERN int mp_value_get(mp_value_t *val, void *out);
MP_EXTERN int mp_value_set(mp_value_t *val, const void *in);

/* The shared storage itself (Python's get_obj()), its type, and its lock
 * (NULL for a raw value). Take the lock around read-modify-write. */
MP_EXTERN void *mp_value_ptr(mp_value_t *val);
MP_EXTERN mp_type_t mp_value_type(const mp_value_t *val);
MP_EXTERN mp_lock_t *mp_value_get_lock(mp_value_t *val);

/* Same ownership rule as mp_lock_destroy; a caller-given lock is not
 * destroyed. NULL is ignored. */
MP_EXTERN void mp_value_destroy(mp_value_t *val);

/* mp_array_create makes a shared array of length elements (at least 1),
 * copied from init (length elements) or zero-filled when init is NULL.
 * Returns 0 or MP_EINVAL, MP_EFBIG (length * size overflows), MP_ENOMEM.
 * mp_raw_array_create is the same with no lock. */
MP_EXTERN int mp_array_create(mp_array_t **out, mp_type_t type, size_t length,
                              const void *init, const mp_shared_opts_t *opts);
MP_EXTERN int mp_raw_array_create(mp_array_t **out, mp_type_t type,
                                  size_t length, const void *init);

/* mp_array_get/mp_array_set copy one element, mp_array_read/mp_array_write
 * count elements from start (a slice), under the lock. Return 0 or
 * MP_ERANGE (outside the array), MP_EINVAL. */
MP_EXTERN int mp_array_get(mp_array_t *arr, size_t index, void *out);
MP_EXTERN int mp_array_set(mp_array_t *arr, size_t index, const void *in);
MP_EXTERN int mp_array_read(mp_array_t *arr, size_t start, size_t count,
                            void *out);
MP_EXTERN int mp_array_write(mp_array_t *arr, size_t start, size_t count,
                             const void *in);

/* The shared storage, its length in elements, type, and lock (NULL if raw). */
MP_EXTERN void *mp_array_ptr(mp_array_t *arr);
MP_EXTERN size_t mp_array_length(const mp_array_t *arr);
MP_EXTERN mp_type_t mp_array_type(const mp_array_t *arr);
MP_EXTERN mp_lock_t *mp_array_get_lock(mp_array_t *arr);

/* Same ownership rule as mp_value_destroy. NULL is ignored. */
MP_EXTERN void mp_array_destroy(mp_array_t *arr);

/*===== Managers ============================================================*/

/* A manager: Python's multiprocessing.managers.SyncManager. A server
 * process owns shared objects (dict, list, Namespace, queues, Value, Array,
 * locks, semaphores, conditions, events, barriers and registered user
 * types) and hands out proxies that work from any process: children forked
 * after the proxy was made, processes that are already running (pass them
 * a token, see mp_proxy_token), and other machines over TCP.
 *
 * Two transports, one set of semantics: a proxy in a process that can map
 * the manager's shared store (its own process tree, or any process of the
 * same user on the same host that connects) runs each call directly on the
 * shared memory; any other proxy sends the call to the server, which runs
 * the very same code on the same memory. Calls made after the server died
 * or was shut down return MP_ENOSERVER; a call blocked in a wait notices
 * within 100 ms. Byte strings stored in a dict, list or Namespace are
 * copied in and copied out (Python: values are returned by value).
 *
 * The server guards itself against its peers: it keeps at most 64
 * connections in the authkey handshake at once (one more hangs up on the
 * oldest of them) and gives each 10 s for it; it counts every object
 * reference against the client connection that took it, so a client can
 * drop only references it holds, and a client that goes (even SIGKILLed)
 * releases exactly its own; one client process holds at most 65,536
 * references to one manager's objects (MP_ENOSPC beyond); a request is at
 * most the store's size (MP_EMSGSIZE beyond). */
typedef struct mp_manager mp_manager_t;
typedef struct mp_proxy mp_proxy_t;

/* What a proxy refers to. */
typedef enum {
    MP_PROXY_DICT = 1,
    MP_PROXY_LIST,
    MP_PROXY_NAMESPACE,
    MP_PROXY_QUEUE,
    MP_PROXY_JOINABLE_QUEUE,
    MP_PROXY_VALUE,
    MP_PROXY_ARRAY,
    MP_PROXY_LOCK,
    MP_PROXY_RLOCK,
    MP_PROXY_SEMAPHORE,
    MP_PROXY_BOUNDED_SEMAPHORE,
    MP_PROXY_CONDITION,
    MP_PROXY_EVENT,
    MP_PROXY_BARRIER,
    MP_PROXY_USER /* a type registered with mp_manager_register */
} mp_proxy_kind_t;

/* A byte string handed out by the snapshot calls (keys, items, slices). */
typedef struct mp_buf {
    void *data;
    size_t len;
} mp_buf_t;

/* Options for mp_manager_create; all-zero (or NULL) means the defaults. */
typedef struct mp_manager_opts {
    /* Where the server listens (mp_listener_create's syntax): NULL picks a
     * fresh AF_UNIX path; "HOST:PORT" is TCP (port 0: any free port; use
     * "0.0.0.0:PORT" to be reachable from other machines). For
     * mp_manager_connect it is the server's address. */
    const char *address;
    /* The key clients must prove they know (Python's authkey). NULL: 32
     * random bytes from the kernel's CSPRNG (mp_manager_authkey tells
     * them). */
    const void *authkey;
    size_t authkey_len;
    /* Bytes reserved for the shared state (sparse: only what is used costs
     * memory); 0: 1 GiB. */
    size_t store_size;
    /* mp_manager_shutdown waits this long for the server to exit before it
     * kills it; 0: 1000 ms. */
    long shutdown_timeout_ms;
    /* How long a proxy call that takes no timeout of its own (a dict, list,
     * Namespace, Value or Array call ...) waits for the server's reply
     * before it returns MP_ETIMEDOUT (the call may or may not have taken
     * effect on the server); 0: MP_WAIT_FOREVER. A call with a timeout of
     * its own (a queue put or get, an acquire, a wait, a join) waits that
     * timeout plus 2 s for its reply. Whatever the timeouts, a server that
     * died or whose link went silent ends every waiting call with
     * MP_ENOSERVER: at once over AF_UNIX or when the server exits, within
     * 11 s over TCP (keep-alive). */
    mp_duration_t call_timeout;
    /* mp_manager_connect only: never map the store, send every call to the
     * server (what a client on another machine does). */
    bool remote_only;
} mp_manager_opts_t;

/* mp_manager_create makes a manager handle (nothing runs yet): start it
 * with mp_manager_start, or attach to a running server with
 * mp_manager_connect. Returns 0 or MP_EINVAL (NULL out, negative timeout,
 * authkey_len > 0 with a NULL key), MP_ENOMEM, or the kernel's error when
 * no random authkey can be had from getrandom (MP_ENOSYS ...). */
MP_EXTERN int mp_manager_create(mp_manager_t **out,
                                const mp_manager_opts_t *opts);

/* A user type the server can hold (Python: BaseManager.register). The
 * callbacks run in the server process, one call at a time per object.
 * create builds an object from args (args_len bytes) and stores it in *obj;
 * call runs method on it with in/in_len and stores a malloc()ed result in
 * *out / *out_len (NULL/0 for none); destroy frees it. create and call
 * return 0 or a negative mp error (passed to the caller as is); any other
 * value reaches the caller as MP_EREMOTE. arg is passed to every callback.*/
typedef struct mp_manager_type {
    int (*create)(void **obj, const void *args, size_t args_len, void *arg);
    int (*call)(void *obj, const char *method, const void *in, size_t in_len,
                void **out, size_t *out_len, void *arg);
    void (*destroy)(void *obj, void *arg);
    void *arg;
} mp_manager_type_t;

/* mp_manager_register adds a user type named type_id (1..63 bytes) before
 * mp_manager_start (the server is forked with it). Returns 0 or MP_EINVAL
 * (NULL, bad name, NULL create/call/destroy), MP_EEXIST (name taken),
 * MP_ESTARTED (already started or connected), MP_ENOMEM. */
MP_EXTERN int mp_manager_register(mp_manager_t *m, const char *type_id,
                                  const mp_manager_type_t *type);

/* mp_manager_start forks the server and returns once it listens. The
 * server is a daemon of the calling process: it dies with it (even under
 * SIGKILL), and everything it held (shared memory, sockets) is removed.
 * Returns 0 or MP_EINVAL, MP_ESTARTED (started or connected before),
 * MP_ECLOSED (shut down), an error of mp_listener_create (-EADDRINUSE,
 * MP_EEXIST ...) or of starting the process. Context: the creating process. */
MP_EXTERN int mp_manager_start(mp_manager_t *m);

/* mp_manager_connect attaches to the running server at opts->address,
 * authenticating with opts->authkey (Python: BaseManager.connect), within
 * timeout (connect, handshake and the first exchange together). Returns 0
 * or MP_EINVAL (NULL, no address, bad timeout), MP_ESTARTED, MP_EAUTH
 * (wrong key), -ECONNREFUSED / MP_ENOENT (nothing listens there),
 * MP_ETIMEDOUT, MP_EPROTO (not a manager). A client on the server's host
 * maps the server's store and runs calls there itself, unless it is in
 * another pid namespace (or cannot map it): then every call goes to the
 * server. Context: any thread; the handle then belongs to the calling
 * process. */
MP_EXTERN int mp_manager_connect(mp_manager_t *m, mp_duration_t timeout);

/* The server's address (valid while m lives), or NULL before start or
 * connect. */
MP_EXTERN const char *mp_manager_address(const mp_manager_t *m);

/* mp_manager_authkey points *key at the authkey (valid while m lives) and
 * sets *len. Returns 0 or MP_EINVAL. */
MP_EXTERN int mp_manager_authkey(const mp_manager_t *m, const void **key,
                                 size_t *len);

/* The server's pid for a started manager; 0 otherwise. */
MP_EXTERN pid_t mp_manager_pid(const mp_manager_t *m);

/* mp_manager_shutdown stops the server (Python: shutdown()): asks it to
 * exit, waits up to shutdown_timeout_ms, then kills it. Every proxy of it,
 * in any process, then returns MP_ENOSERVER. Idempotent. Returns 0 or
 * MP_EINVAL, MP_ENOTSTARTED (never started), MP_ENOTOWNER (a connected
 * handle, or a process other than the starter). */
MP_EXTERN int mp_manager_shutdown(mp_manager_t *m);

/* mp_manager_destroy shuts a started manager down (in its starting
 * process) and frees the handle. Destroy its proxies first. NULL is
 * ignored. */
MP_EXTERN void mp_manager_destroy(mp_manager_t *m);

/* Object factories: each makes a new object in the server and a proxy to
 * it in *out (free with mp_proxy_destroy). Python's defaults apply: a
 * queue with maxsize <= 0 is unbounded; init NULL is zeroes; a condition
 * made with lock NULL gets a new RLock. Return 0 or MP_EINVAL (NULL m or
 * out, bad type, parties 0, length 0, a lock proxy of another manager),
 * MP_EKIND (lock is no Lock/RLock), MP_ENOTSTARTED, MP_ENOSERVER, MP_ENOMEM
 * (the store is full), MP_ENOSPC (this process already holds 65,536
 * references to m's objects), MP_ENOENT (create_object: no such type_id),
 * or the error the user type's create returned. Context: any process or
 * thread that has the handle. */
MP_EXTERN int mp_manager_dict(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_list(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_namespace(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_queue(mp_manager_t *m, long maxsize, mp_proxy_t **out);
MP_EXTERN int mp_manager_joinable_queue(mp_manager_t *m, long maxsize,
                                        mp_proxy_t **out);
MP_EXTERN int mp_manager_value(mp_manager_t *m, mp_type_t type,
                               const void *init, mp_proxy_t **out);
MP_EXTERN int mp_manager_array(mp_manager_t *m, mp_type_t type, size_t length,
                               const void *init, mp_proxy_t **out);
MP_EXTERN int mp_manager_lock(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_rlock(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_semaphore(mp_manager_t *m, unsigned value,
                                   mp_proxy_t **out);
MP_EXTERN int mp_manager_bounded_semaphore(mp_manager_t *m, unsigned value,
                                           mp_proxy_t **out);
MP_EXTERN int mp_manager_condition(mp_manager_t *m, mp_proxy_t *lock,
                                   mp_proxy_t **out);
MP_EXTERN int mp_manager_event(mp_manager_t *m, mp_proxy_t **out);
MP_EXTERN int mp_manager_barrier(mp_manager_t *m, unsigned parties,
                                 mp_proxy_t **out);
MP_EXTERN int mp_manager_create_object(mp_manager_t *m, const char *type_id,
                                       const void *args, size_t args_len,
                                       mp_proxy_t **out);

/* The longest token mp_proxy_token writes, terminator included. */
#define MP_PROXY_TOKEN_MAX 64

/* mp_proxy_token writes a text token naming the object (not the manager)
 * into buf, to hand the object to a process that did not inherit the proxy
 * (through a queue, a pipe, a pool task, a file ...). Returns 0 or
 * MP_EINVAL, MP_ERANGE (buflen < MP_PROXY_TOKEN_MAX). */
MP_EXTERN int mp_proxy_token(const mp_proxy_t *p, char *buf, size_t buflen);

/* mp_proxy_from_token makes a proxy of m (started or connected in this
 * process or inherited) for the object a token names; the object lives at
 * least as long as this proxy. Returns 0 or MP_EINVAL (NULL, malformed
 * token), MP_ECLOSED (the object no longer exists), MP_ENOTSTARTED,
 * MP_ENOSERVER, MP_ENOMEM, MP_ENOSPC (this process already holds 65,536
 * references to m's objects). */
MP_EXTERN int mp_proxy_from_token(mp_proxy_t **out, mp_manager_t *m,
                                  const char *token);

/* The kind of object a proxy refers to, or MP_EINVAL for NULL. */
MP_EXTERN int mp_proxy_kind(const mp_proxy_t *p);

/* mp_proxy_destroy drops the proxy. An object lives while a proxy made by
 * a factory or by mp_proxy_from_token exists; a proxy a child inherited
 * through fork does not hold it (destroying it in the child only frees
 * the child's copy). The server counts each process's references on its
 * own connection: a process that ends, or destroys its manager handle,
 * without destroying its proxies drops their references all the same.
 * NULL is ignored. */
MP_EXTERN void mp_proxy_destroy(mp_proxy_t *p);

/* Every call below returns MP_EINVAL for a NULL proxy or argument, MP_EKIND
 * for a proxy of another kind, MP_ENOSERVER once the server is gone,
 * MP_ECLOSED when the object was destroyed, MP_ENOMEM when the store or
 * the caller's memory is exhausted. Results handed out (void **out,
 * mp_buf_t **out) are malloc()ed: free them with mp_free. Timeouts are
 * mp_duration_t: MP_WAIT_FOREVER, MP_NO_WAIT or milliseconds; any other
 * negative value is MP_EINVAL. */

/* Dict (and Namespace, whose keys are attribute names): byte-string keys
 * of 1 byte or more and values of 0 bytes or more.
 * mp_dict_set stores a copy. mp_dict_get copies the value into *out and
 * returns its length, or MP_ENOENT (Python: KeyError). mp_dict_delete and
 * mp_dict_pop remove the key (MP_ENOENT when absent); pop hands the value
 * out like get. mp_dict_contains stores in *found whether the key is there
 * (returns 0 or an error); mp_dict_len returns the count.
 * mp_dict_keys and mp_dict_items take a snapshot: *out is one allocation
 * holding *n buffers (keys; or key, value, key, value ...) in no
 * particular order. */
MP_EXTERN int mp_dict_set(mp_proxy_t *d, const void *key, size_t klen,
                          const void *val, size_t vlen);
MP_EXTERN ssize_t mp_dict_get(mp_proxy_t *d, const void *key, size_t klen,
                              void **out);
MP_EXTERN int mp_dict_delete(mp_proxy_t *d, const void *key, size_t klen);
MP_EXTERN ssize_t mp_dict_pop(mp_proxy_t *d, const void *key, size_t klen,
                              void **out);
MP_EXTERN int mp_dict_contains(mp_proxy_t *d, const void *key, size_t klen,
                               bool *found);
MP_EXTERN ssize_t mp_dict_len(mp_proxy_t *d);
MP_EXTERN int mp_dict_clear(mp_proxy_t *d);
MP_EXTERN int mp_dict_keys(mp_proxy_t *d, mp_buf_t **out, size_t *n);
MP_EXTERN int mp_dict_items(mp_proxy_t *d, mp_buf_t **out, size_t *n);

/* Namespace: attributes by name (a C string of 1..255 bytes). get returns
 * the value's length or MP_ENOENT (Python: AttributeError). names works
 * like mp_dict_keys (the buffers hold the names without terminator). */
MP_EXTERN int mp_namespace_set(mp_proxy_t *ns, const char *name,
                               const void *val, size_t vlen);
MP_EXTERN ssize_t mp_namespace_get(mp_proxy_t *ns, const char *name,
                                   void **out);
MP_EXTERN int mp_namespace_delete(mp_proxy_t *ns, const char *name);
MP_EXTERN int mp_namespace_names(mp_proxy_t *ns, mp_buf_t **out, size_t *n);

/* List of byte strings. Indexes are Python's: negative ones count from the
 * end; out of range is MP_ERANGE (IndexError). mp_list_insert clamps like
 * list.insert; mp_list_slice clamps like lst[start:stop] (step 1) and
 * hands out a snapshot like mp_dict_keys; mp_list_index returns the first
 * index holding an equal value, or MP_ENOENT (ValueError); mp_list_pop
 * removes and hands out the element at index (MP_ERANGE on an empty
 * list); mp_list_extend appends n buffers in order as one atomic step. */
MP_EXTERN ssize_t mp_list_len(mp_proxy_t *l);
MP_EXTERN int mp_list_append(mp_proxy_t *l, const void *val, size_t len);
MP_EXTERN int mp_list_extend(mp_proxy_t *l, const mp_buf_t *vals, size_t n);
MP_EXTERN ssize_t mp_list_get(mp_proxy_t *l, ssize_t index, void **out);
MP_EXTERN int mp_list_set(mp_proxy_t *l, ssize_t index, const void *val,
                          size_t len);
MP_EXTERN int mp_list_delete(mp_proxy_t *l, ssize_t index);
MP_EXTERN int mp_list_insert(mp_proxy_t *l, ssize_t index, const void *val,
                             size_t len);
MP_EXTERN ssize_t mp_list_pop(mp_proxy_t *l, ssize_t index, void **out);
MP_EXTERN ssize_t mp_list_index(mp_proxy_t *l, const void *val, size_t len);
MP_EXTERN int mp_list_slice(mp_proxy_t *l, ssize_t start, ssize_t stop,
                            mp_buf_t **out, size_t *n);
MP_EXTERN int mp_list_reverse(mp_proxy_t *l);
MP_EXTERN int mp_list_clear(mp_proxy_t *l);

/* Queue and JoinableQueue proxies: put and get as mp_queue_put /
 * mp_queue_get (MP_EFULL / MP_EEMPTY when the timeout runs out, also for
 * MP_NO_WAIT), qsize, and for a JoinableQueue task_done (MP_EOVERRELEASE
 * when called more often than put) and join (MP_ETIMEDOUT). */
MP_EXTERN int mp_proxy_put(mp_proxy_t *q, const void *buf, size_t len,
                           mp_duration_t timeout);
MP_EXTERN ssize_t mp_proxy_get(mp_proxy_t *q, void **out,
                               mp_duration_t timeout);
MP_EXTERN long mp_proxy_qsize(mp_proxy_t *q);
MP_EXTERN int mp_proxy_task_done(mp_proxy_t *q);
MP_EXTERN int mp_proxy_join(mp_proxy_t *q, mp_duration_t timeout);

/* Lock, RLock, Semaphore, BoundedSemaphore, Condition: acquire (0,
 * MP_ETIMEDOUT, or MP_EOWNERDEAD when a holder's process died: held anyway)
 * and release (MP_ENOTOWNER for an RLock or Condition the caller does not
 * hold; MP_EOVERRELEASE for a free Lock or a BoundedSemaphore at its
 * value). The holder is the calling process when the proxy maps the store,
 * else the server's thread for the caller's connection: a remote client
 * that disconnects releases what it held. */
MP_EXTERN int mp_proxy_acquire(mp_proxy_t *p, mp_duration_t timeout);
MP_EXTERN int mp_proxy_release(mp_proxy_t *p);

/* Event: set, clear, is_set (the answer in *is_set; returns 0 or an error,
 * so that a dead server never reads as "set"), wait (0 once set, MP_ETIMEDOUT;
 * a waiter that was waiting when set() ran returns 0 even if clear() followed
 * at once, as in Python). Condition: wait (the caller must hold it:
 * MP_ENOTOWNER), notify n, notify_all. Barrier: wait returns this party's index
 * (0..parties-1) or MP_EBROKEN / MP_ETIMEDOUT; abort, reset; parties and
 * n_waiting return those numbers, broken stores the answer in *broken (returns
 * 0 or an error). */
MP_EXTERN int mp_proxy_set(mp_proxy_t *ev);
MP_EXTERN int mp_proxy_clear(mp_proxy_t *ev);
MP_EXTERN int mp_proxy_is_set(mp_proxy_t *ev, bool *is_set);
MP_EXTERN int mp_proxy_wait(mp_proxy_t *p, mp_duration_t timeout);
MP_EXTERN int mp_proxy_notify(mp_proxy_t *cond, unsigned n);
MP_EXTERN int mp_proxy_notify_all(mp_proxy_t *cond);
MP_EXTERN int mp_proxy_abort(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_reset(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_parties(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_n_waiting(mp_proxy_t *bar);
MP_EXTERN int mp_proxy_broken(mp_proxy_t *bar, bool *broken);

/* Value and Array (elements of an mp_type_t): get copies out one value of
 * mp_type_size(type) bytes, set copies one in; each call is atomic.
 * Arrays: index out of range is MP_ERANGE; mp_proxy_array_len returns the
 * length. */
MP_EXTERN int mp_proxy_value_get(mp_proxy_t *v, void *out);
MP_EXTERN int mp_proxy_value_set(mp_proxy_t *v, const void *in);
MP_EXTERN int mp_proxy_array_get(mp_proxy_t *a, size_t index, void *out);
MP_EXTERN int mp_proxy_array_set(mp_proxy_t *a, size_t index, const void *in);
MP_EXTERN ssize_t mp_proxy_array_len(mp_proxy_t *a);

/* mp_proxy_call runs method (1..63 bytes) of a registered user type's
 * object in the server and hands its result out in *out / *out_len (NULL
 * / 0 when it gave none). Returns 0, the negative mp error the callback
 * returned, MP_EREMOTE for any other failure, MP_EKIND for a built-in
 * object. */
MP_EXTERN int mp_proxy_call(mp_proxy_t *p, const char *method, const void *in,
                            size_t in_len, void **out, size_t *out_len);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_H */
