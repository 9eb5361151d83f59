/* SPDX-License-Identifier: MIT */
/* multiproc/pool.h - the process Pool, its AsyncResult handles, its statistics
 * and the progress bar. Included by multiproc.h; including it alone works too.
 */
#ifndef MULTIPROC_POOL_H
#define MULTIPROC_POOL_H

#include "common.h"
#include "process.h" /* mp_start_method_t */

#ifdef __cplusplus
extern "C" {
#endif

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
 * The function is named in the task by its object's build-id and offset
 * (or by the name given with mp_register_function), under every start
 * method: a worker checks the reference before it calls anything, and a
 * worker that cannot resolve it (another build, a name not registered
 * there) fails each item of the task with MP_ENOENT (MP_EPROTO: not code
 * of that object) and a message saying so, and goes on. Static functions
 * work. Context: a worker. */
typedef int (*mp_pool_fn)(const void *in, size_t in_len, mp_pool_out_t *out);

/* An initializer: runs once in every worker (replacements included) before
 * its first task. A non-zero return breaks the pool (see mp_pool_create). */
typedef int (*mp_pool_init_fn)(void *arg);

/* Options for mp_pool_create; MP_POOL_OPTS_INIT (or NULL) means the
 * defaults. */
typedef struct mp_pool_opts {
    size_t size;   /* sizeof(mp_pool_opts_t): set by MP_POOL_OPTS_INIT */
    int processes; /* workers; 0: mp_cpu_count() */
    mp_pool_init_fn initializer;    /* NULL: none */
    void *initarg;                  /* passed to initializer: see
                                       initarg_size */
    size_t maxtasksperchild;        /* tasks (chunks) before a worker is
                                       replaced; 0: no limit */
    mp_duration_t task_timeout;     /* a task (a map chunk) still running this
                                       long after a worker took it is killed
                                       with its worker (SIGKILL), fails with
                                       MP_ETIMEDOUT and the worker is replaced;
                                       0 or MP_WAIT_FOREVER: no limit */
    mp_start_method_t start_method; /* how workers are started; 0:
                                       mp_start_method() at create */
    size_t initarg_size; /* 0: initarg is a pointer passed as is (fork
                            only; NULL under any method); else initarg
                            points to initarg_size bytes, copied at create,
                            that a forkserver or spawn worker (replacements
                            too) gets a copy of, aligned for any type (fork
                            passes initarg as is: the same address, in
                            copied memory) */
} mp_pool_opts_t;
/* MP_POOL_OPTS_INIT: an mp_pool_opts_t with its size set and every other
 * field at its default (see common.h, "Options structs"). */
#define MP_POOL_OPTS_INIT MP__OPTS_INIT(mp_pool_opts_t)

/* mp_pool_chunksize returns the chunk size that mp_pool_map and its
 * relatives use with chunksize 0 (automatic) for nitems items of item_bytes
 * bytes each (the larger of an item's input and its result slot; for
 * mp_pool_map_buffers the average input length): Python's rule,
 * ceil(nitems / (4 * processes)), but no more items than keep a chunk's
 * message, headers included, under the size from which the queues treat a
 * message as large (docs/design.md, "Pool chunk size"; item_bytes 0 counts
 * as 1), and at least 1.
 * A task here costs
 * microseconds, not Python's hundreds, so smaller chunks lose nothing to
 * overhead, balance better and keep the messages within memory the
 * queues reuse. Returns it, or MP_EINVAL (NULL pool). Context: any
 * thread. */
MP_EXTERN ssize_t mp_pool_chunksize(const mp_pool_t *pool, size_t nitems,
                                    size_t item_bytes);

/* mp_pool_create starts the workers with the pool's start method and
 * returns once they run. Failing to start one terminates those already
 * started. Under fork a worker is a copy of the caller; under forkserver
 * and spawn it shares no memory with it (named queues carry the tasks, the
 * initializer is named across the exec as a process target is and gets
 * its argument as bytes), and a task function must be a function of the
 * program or of a library it loaded at start. The fault guarantees are the
 * same under every method. An initializer that returns non-zero (or that
 * a worker cannot find), or workers that keep dying before they finish
 * starting, break the pool: every pending task fails with MP_EBROKEN (the
 * message tells why) and later submissions return MP_EBROKEN. Returns 0 or
 * MP_EINVAL (NULL out, opts not initialised with MP_POOL_OPTS_INIT: a
 * wrong size, negative processes, a task_timeout below 0 other
 * than MP_WAIT_FOREVER, a start_method outside the enum, a non-NULL
 * initarg without initarg_size under forkserver or spawn, or
 * MULTIPROC_START_METHOD naming no method), MP_ENOMEM, MP_EAGAIN,
 * MP_ENOMAIN (forkserver or spawn in a program that did not call
 * mp_main), MP_ENOTSUP (forkserver or spawn with an initializer in an
 * object without a build-id), or the error of starting a worker.
 * Context: any thread; the pool belongs to the creating process. */
MP_EXTERN int mp_pool_create(mp_pool_t **out, const mp_pool_opts_t *opts);

/* mp_pool_processes returns the number of workers, or MP_EINVAL. Context:
 * any thread of the creating process. */
MP_EXTERN int mp_pool_processes(const mp_pool_t *pool);

/* mp_pool_apply_async queues fn(in) (the bytes are copied) and stores a
 * result handle in *out (free it with mp_result_destroy, whether or not the
 * task finished). Returns 0 or MP_EINVAL (NULL pool/fn/out, NULL in with
 * in_len > 0), MP_ECLOSED (the pool was closed or terminated: "pool not
 * running"), MP_EBROKEN, MP_ENOMEM, MP_ENOTSUP (fn's object has no
 * build-id and fn is not registered: mp_register_function), MP_ENOENT (fn
 * is in no loaded object). Context: the creating process, any thread. */
MP_EXTERN int mp_pool_apply_async(mp_pool_t *pool, mp_pool_fn fn,
                                  const void *in, size_t in_len,
                                  mp_result_t **out);

/* mp_pool_apply runs fn(in) in a worker and waits up to timeout for it:
 * apply_async, then mp_result_get. On success *out holds a fresh buffer (free
 * it with mp_free; out may be NULL) and the call returns its length. A task
 * that times out keeps running; its result is dropped. Returns the result's
 * length (>= 0) or the errors of both calls. Context: the creating process,
 * any thread (not a callback of this pool). */
MP_EXTERN ssize_t mp_pool_apply(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                                size_t in_len, void **out,
                                mp_duration_t timeout);

/* mp_pool_map runs fn on each of the nitems items of in_size bytes at in, in
 * chunks of chunksize items per task (0: automatic, see mp_pool_chunksize), and
 * writes the result of item i at out + i * out_size (a shorter result is
 * zero-padded). It waits for every chunk, also after a failure (no fail-fast).
 * status, when not NULL, gets one code per item: 0, MP_EREMOTE (fn failed),
 * MP_EMSGSIZE (result longer than out_size), MP_EWORKER (the worker died while
 * it ran the item's chunk), MP_EBROKEN or MP_ECANCELED (pool broken or
 * terminated), MP_ENOENT or MP_EPROTO (the worker could not resolve fn: see
 * mp_pool_fn). Returns 0 when every item succeeded (also for nitems 0), else
 * the code of the first failed item; or MP_ETIMEDOUT (the chunks still running
 * write nothing more to out or status, and those not yet started never run:
 * the items are read in place at in, which is not read after the call
 * returns), MP_EINVAL (NULL pool/fn, NULL in or out
 * with a non-zero size and nitems > 0, bad timeout), MP_ECLOSED, MP_EBROKEN,
 * MP_ENOMEM, MP_ENOTSUP or MP_ENOENT (fn cannot be named: see
 * mp_pool_apply_async). Each failed item's message: mp_pool_map_errors.
 * Context: the creating process, any thread. */
MP_EXTERN int mp_pool_map(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                          size_t in_size, size_t nitems, size_t chunksize,
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
                                 size_t in_size, size_t nitems,
                                 size_t chunksize, void *out, size_t out_size,
                                 int *status, char **errors,
                                 mp_duration_t timeout);

/* mp_pool_starmap and mp_pool_starmap_async are mp_pool_map and
 * mp_pool_map_async (same arguments, same returns): in C the tuple of a
 * starmap item is the struct the item already is, so they are plain
 * aliases for code written after Python's. Context: as mp_pool_map and
 * mp_pool_map_async: the creating process, any thread. */
MP_EXTERN int mp_pool_starmap(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                              size_t in_size, size_t nitems, size_t chunksize,
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
 * buffer with a non-zero length, lengths too big, bad timeout), MP_ECLOSED,
 * MP_EBROKEN, MP_ENOMEM. Context: the creating process, any thread. */
MP_EXTERN int mp_pool_map_buffers(mp_pool_t *pool, mp_pool_fn fn,
                                  const void *const *bufs, const size_t *lens,
                                  size_t n, size_t chunksize, void **outs,
                                  size_t *out_lens, int *status,
                                  mp_duration_t timeout);

/* An iterator over the results of mp_pool_imap or mp_pool_imap_unordered. */
typedef struct mp_imap mp_imap_t;

/* mp_pool_imap queues fn over nitems items of in_size bytes at in (copied
 * now), in chunks of chunksize items (0: automatic, which is 1, as in
 * Python), and stores an iterator in *out whose mp_imap_next yields the
 * results in item order; mp_pool_imap_unordered yields them as they
 * finish. Returns 0 or MP_EINVAL (NULL pool/fn/out, NULL in with a
 * non-zero size and nitems > 0), MP_ECLOSED,
 * MP_EBROKEN, MP_ENOMEM. Context: the creating process. */
MP_EXTERN int mp_pool_imap(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                           size_t in_size, size_t nitems, size_t chunksize,
                           mp_imap_t **out);
MP_EXTERN int mp_pool_imap_unordered(mp_pool_t *pool, mp_pool_fn fn,
                                     const void *in, size_t in_size,
                                     size_t nitems, size_t chunksize,
                                     mp_imap_t **out);

/* A source of input for mp_pool_imap_source: stores the next item in
 * *item and *len (the bytes are copied before the next call) and returns
 * 1; returns 0 at the end of the input, or a negative code (MP_E*) that
 * ends the iteration with that error. Context: called by
 * mp_pool_imap_source and mp_imap_next in their caller's thread, one call
 * at a time, with no lock of the pool held. */
typedef int (*mp_pool_source_fn)(void *arg, const void **item, size_t *len);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_pool_imap_source is imap over lazy input: each item src gives (of any
 * length) becomes one task. At most max_in_flight items are queued and not yet
 * taken by mp_imap_next: src is called only to refill that window (first here,
 * then by each mp_imap_next), so a slow consumer stops the input. ordered:
 * results in item order (mp_pool_imap), else as they finish
 * (mp_pool_imap_unordered). Once every queued item was taken, mp_imap_next
 * returns the error that ended the input (src's code, or MP_ECLOSED/MP_EBROKEN
 * when the pool stopped taking tasks, MP_ENOMEM) once, with *index the number
 * of items queued, then MP_EOF. The pool must outlive the iterator. Returns 0
 * or MP_EINVAL (NULL pool/fn/src/out, max_in_flight 0 or too big), MP_ECLOSED,
 * MP_EBROKEN, MP_ENOMEM. Context: the creating process. */
MP_EXTERN int mp_pool_imap_source(mp_pool_t *pool, mp_pool_fn fn,
                                  mp_pool_source_fn src, void *src_arg,
                                  size_t max_in_flight, bool ordered,
                                  mp_imap_t **out);

/* mp_imap_next waits up to timeout for the next result and stores its item
 * number in *index. On success *out gets the result (a buffer the caller
 * frees with mp_free) and the call returns its length; when the item failed
 * it returns the item's code (MP_EREMOTE, MP_EWORKER, MP_EBROKEN,
 * MP_ECANCELED, MP_ENOMEM) and *out gets the error message (a string, also
 * to free) - iteration goes on with the next item, as in Python. out and
 * index may be NULL. Returns the result's length (>= 0), an item's code,
 * MP_EOF (every result was taken: StopIteration), MP_ETIMEDOUT (the
 * iterator stays usable), MP_EINVAL. Context: any thread of the creating
 * process, one at a time. */
MP_EXTERN ssize_t mp_imap_next(mp_imap_t *it, void **out, size_t *index,
                               mp_duration_t timeout);

/* mp_imap_destroy frees the iterator; results not taken are dropped and
 * tasks still queued or running go on. NULL is ignored. Context: the
 * creating process, with no mp_imap_next on it under way. */
MP_EXTERN void mp_imap_destroy(mp_imap_t *it);

/* mp_pool_close stops new submissions; the workers exit once the queued
 * tasks are done. mp_pool_terminate stops at once: the workers are killed
 * (SIGKILL: bounded, a task cannot ignore it), every unfinished task fails
 * with MP_ECANCELED ("the pool was terminated"), and it returns once the
 * workers are reaped. Both are idempotent and return 0 or MP_EINVAL.
 * Context: the creating process, any thread; terminate not from a callback
 * of this pool (it waits for the result-handler thread). */
MP_EXTERN int mp_pool_close(mp_pool_t *pool);
MP_EXTERN int mp_pool_terminate(mp_pool_t *pool);

/* mp_pool_join waits up to timeout for the workers to exit after close or
 * terminate. Returns 0, MP_ERUNNING (neither close nor terminate was called:
 * Python's "Pool is still running"), MP_ETIMEDOUT, MP_EINVAL. Context: the
 * creating process, any thread, not a callback of this pool. */
MP_EXTERN int mp_pool_join(mp_pool_t *pool, mp_duration_t timeout);

/* mp_pool_destroy terminates a pool that is not yet joined, then frees it.
 * Result handles stay valid (unfinished ones report MP_ECANCELED). NULL is
 * ignored. Python: leaving `with Pool() as p:` (which terminates). Context:
 * the creating process, not a callback of this pool. */
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
 * fresh copy of its result in *out (free with mp_free; out may be NULL) and
 * returns its length. A timeout leaves the task running and the result
 * gettable. Returns the result's length (>= 0) or MP_ETIMEDOUT (also, with
 * mp_result_ready 1 and a message, for a task killed by the pool's
 * task_timeout), MP_EREMOTE (the task returned non-zero), MP_EWORKER (its
 * worker died: see mp_result_exitcode), MP_EBROKEN, MP_ECANCELED (pool
 * terminated), MP_ENOMEM, MP_EINVAL. The failures carry a message
 * (mp_result_error_message). mp_result_wait waits the same way and returns 0
 * once the task finished either way, or MP_ETIMEDOUT, MP_EINVAL. Context: any
 * thread of the creating process. */
MP_EXTERN ssize_t mp_result_get(mp_result_t *r, void **out,
                                mp_duration_t timeout);
MP_EXTERN int mp_result_wait(mp_result_t *r, mp_duration_t timeout);

/* mp_result_ready tells whether the task finished (false for NULL).
 * mp_result_successful stores in *successful whether the finished task
 * succeeded; it returns 0, MP_ERUNNING (not finished: Python's ValueError)
 * or MP_EINVAL (NULL). Neither blocks. An apply's result whose reply is
 * queued, waiting for its waiter to take it (the pool's handler thread may
 * leave it to the caller), is finished by either. Context: any thread of
 * the creating process. */
MP_EXTERN bool mp_result_ready(mp_result_t *r);
MP_EXTERN int mp_result_successful(mp_result_t *r, bool *successful);

/* mp_result_error_message returns the failure's text (the task's message,
 * "task returned N", "worker killed by signal 9", "the pool was
 * terminated", ...), or NULL when not finished or successful. Valid until
 * mp_result_destroy. Never blocks. Context: any thread of the creating
 * process. */
MP_EXTERN const char *mp_result_error_message(mp_result_t *r);

/* mp_result_item_error returns, for the handle of a mp_pool_map_async or
 * mp_pool_starmap_async, why item idx failed (the text mp_pool_map_errors
 * would give it), or NULL when the map is not finished, the item
 * succeeded, idx is out of range, or r is another kind of handle (or
 * NULL). Valid until mp_result_destroy. Never blocks. Context: any thread
 * of the creating process. */
MP_EXTERN const char *mp_result_item_error(mp_result_t *r, size_t idx);

/* mp_result_exitcode stores in *code how the worker of a task that failed
 * with MP_EWORKER ended: its exit status, or minus the signal that killed
 * it. Returns 0, MP_ERUNNING (not finished), MP_ENOENT (the task did not
 * fail with MP_EWORKER), MP_EINVAL. Context: any thread of the creating
 * process. */
MP_EXTERN int mp_result_exitcode(mp_result_t *r, int *code);

/* mp_result_destroy frees the handle; an unfinished task still runs and
 * its result is dropped. NULL is ignored. Context: any thread of the
 * creating process. */
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
 * none; *cb is copied). Same returns. Context: the creating process, any
 * thread. */
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
 * the handle yields no bytes (it returns length 0) when every item
 * succeeded, else the code of the first failed item, whose message
 * (mp_result_error_message, and on_error's) is "item N failed: " and that
 * item's own text; mp_result_item_error tells each item's. cb as in
 * mp_pool_apply_async_cb. Returns 0 or the argument errors of mp_pool_map
 * (NULL res), MP_ECLOSED, MP_EBROKEN, MP_ENOMEM. Context: the creating
 * process, any thread. */
MP_EXTERN int mp_pool_map_async(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                                size_t in_size, size_t nitems, size_t chunksize,
                                const mp_pool_callbacks_t *cb, void *out,
                                size_t out_size, int *status,
                                mp_result_t **res);
MP_EXTERN int mp_pool_starmap_async(mp_pool_t *pool, mp_pool_fn fn,
                                    const void *in, size_t in_size,
                                    size_t nitems, size_t chunksize,
                                    const mp_pool_callbacks_t *cb, void *out,
                                    size_t out_size, int *status,
                                    mp_result_t **res);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md): A
 * worker slot's state in mp_pool_stats. */
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

/* Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * mp_pool_stats takes a snapshot of the counters into *st and of the first
 * nworkers worker slots into workers (which may be NULL when nworkers is 0).
 * Never blocks for long. Returns the number of slots written, or MP_EINVAL
 * (NULL pool or st, NULL workers with nworkers > 0). Context: any thread of the
 * creating process, also after close or terminate (not after destroy). */
MP_EXTERN int mp_pool_stats(mp_pool_t *pool, mp_pool_stats_t *st,
                            mp_pool_worker_info_t *workers, size_t nworkers);

/* Experimental (not yet under the ABI promise of docs/api-conventions.md): A
 * terminal progress bar for long runs (any work, not only pools). On a TTY it
 * redraws one line ("\r"), at most about 10 times a second; on any other stream
 * it prints plain lines, at most one a second. Each shows the label, done/total
 * with a percentage, the rate per second, bytes (when given; of total_bytes
 * when that is set) and an ETA (from the byte rate when total_bytes is set,
 * else from the item rate; "?" during the first second); finish prints a final
 * line. */
typedef struct mp_progress mp_progress_t;

/* Options for mp_progress_create; MP_PROGRESS_OPTS_INIT (or NULL) means the
 * defaults. */
typedef struct mp_progress_opts {
    size_t size;  /* sizeof(mp_progress_opts_t): set by MP_PROGRESS_OPTS_INIT */
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
/* MP_PROGRESS_OPTS_INIT: an mp_progress_opts_t with its size set and every
 * other field at its default (see common.h, "Options structs"). */
#define MP_PROGRESS_OPTS_INIT MP__OPTS_INIT(mp_progress_opts_t)

/* mp_progress_create makes a bar for total items (0: unknown, no
 * percentage or ETA) labelled label (copied; NULL: ""). Returns 0 or
 * MP_EINVAL (NULL out, opts not initialised with MP_PROGRESS_OPTS_INIT: a
 * wrong size), MP_ENOMEM. mp_progress_update records done items
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

/* mp_progress_destroy frees the bar (without printing). NULL is ignored.
 * Context: any process, any thread. */
MP_EXTERN void mp_progress_destroy(mp_progress_t *p);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_POOL_H */
