/* SPDX-License-Identifier: MIT */
/* pool_internal.h - what every file of the pool shares: the messages
 * between the pool and its workers, the worker's main loop (worker.c),
 * the big buffers (buffers.c), result handles and condition waits
 * (result.c), jobs and how a task names its function (job.c), the
 * submission services (dispatch.c), the statistics (stats.c) and the
 * batch stores the handler calls (batch.c). The pool's own state is in
 * pool_state.h, a batch's in batch_internal.h (pool.c lists the files).
 *
 * Messages (all fields in host order; the peers run one build of one
 * program, which the function reference checks):
 *   inbox (one mp_queue per worker, pool -> worker):
 *     mp__task_hdr_t, the function's reference (ref_len bytes: fnref.h,
 *     its object's build-id and offset, or a registered name), zero
 *     padding up to mp__task_data_offset(), then nitems * item_size
 *     bytes of input; or a header of kind STOP. With item_size
 *     MP__ITEM_VAR the items have their own lengths: each is a 16-byte
 *     prefix (uint64 length, uint64 zero) then its bytes, zero-padded to a
 *     multiple of 16 (so that every item starts 16-aligned).
 *   results (one mp_queue, every worker -> pool):
 *     mp__reply_hdr_t; for DONE, when every item succeeded with results of
 *     one length (uniform_len), the results packed one after the other;
 *     otherwise (uniform_len MP__ITEM_VAR) a table of nitems
 *     mp__item_hdr_t, then each item's len bytes in order (the result, or
 *     the error message with its NUL when rc != 0).
 * Layer: above process, queue and wait (mp_wait_any). */
#ifndef MP_POOL_INTERNAL_H
#define MP_POOL_INTERNAL_H

#include "../common/mp_internal.h"
#include "../queue/queue_internal.h"
#include "../shm/shm_internal.h"

#include <pthread.h>

enum { MP__TASK_RUN = 1, MP__TASK_STOP = 2 };
/* mp__task_hdr_t.item_size of a task whose items have their own lengths. */
#define MP__ITEM_VAR UINT64_MAX

/* The bytes an item of len bytes takes in a MP__ITEM_VAR task (prefix and
 * padding included); len must leave room to round up. */
static inline size_t
mp__var_item_span(size_t len)
{
    return 16 + ((len + 15) & ~(size_t)15);
}

enum { MP__REPLY_READY = 1, MP__REPLY_INITFAIL = 2, MP__REPLY_DONE = 3 };

typedef struct mp__task_hdr {
    uint32_t kind;
    uint32_t ref_len; /* the function's reference that follows (fnref.h) */
    uint64_t id;
    uint64_t item_size;
    uint64_t nitems;
} mp__task_hdr_t;

/* mp__task_data_offset returns where a task message's input starts: after
 * the header and the function's reference, rounded up to 16 bytes, so that
 * the task function gets its input aligned as malloc would align it (the
 * worker receives the message in a fresh malloc'd buffer). */
static inline size_t
mp__task_data_offset(uint32_t ref_len)
{
    size_t end = sizeof(mp__task_hdr_t) + ref_len;
    return (end + 15) & ~(size_t)15;
}

typedef struct mp__reply_hdr {
    uint32_t kind;
    uint32_t slot; /* the worker's slot in the pool */
    uint64_t gen;  /* which incarnation of the slot */
    uint64_t id;   /* DONE: the task */
    uint64_t nitems;
    int64_t init_rc;      /* INITFAIL: what the initializer returned */
    uint64_t uniform_len; /* DONE: see the message layout above */
} mp__reply_hdr_t;

typedef struct mp__item_hdr {
    int32_t rc; /* 0, or what the task returned */
    uint32_t pad;
    uint64_t len;
} mp__item_hdr_t;

/* What a worker needs: for a forked worker the pool's copy, read after
 * fork; a spawn or forkserver worker builds its own from its boot record
 * (worker_boot.c). */
typedef struct mp__worker_ctx {
    mp_queue_t *inbox;
    mp_queue_t *results;
    mp_pool_init_fn init;
    void *initarg;
    long maxtasks;
    _Atomic uint64_t *started; /* shared: the id of the task it started */
    uint32_t slot;
    uint64_t gen;
    int init_err; /* not 0: the initializer could not be found here; the
                     worker reports it as the initializer's failure */
} mp__worker_ctx_t;

/* The worker process's target: arg is an mp__worker_ctx_t. */
int mp__pool_worker_main(void *arg);

/* worker_boot.c: how a pool starts its workers under its start method.
 * launch_init resolves the method of o (MP_START_DEFAULT: the process
 * default), checks that the initializer's argument can reach a worker,
 * and makes the started slots (nproc words; a named segment unless
 * fork); returns 0 or MP_EINVAL, MP_ENOTSUP, MP_ENOMEM or a segment's
 * error, with nothing left to free on failure. launch_fini frees it
 * (removing the segment). launch_queue makes one of the pool's queues
 * (bounded to maxsize): a private one under fork, a named one otherwise.
 * launch_worker starts the worker ctx describes (its queues, slot, gen
 * and maxtasks set; this fills in the rest) and stores its process in
 * *out; returns 0 or the error of starting it, with *out NULL. Context:
 * the pool's creating process. */
typedef struct mp__pool_launch {
    mp_start_method_t method; /* never MP_START_DEFAULT */
    mp_pool_init_fn init;
    void *initarg; /* fork: the caller's; else a copy (initarg_size) */
    size_t initarg_size;
    void *init_ref; /* forkserver/spawn: the initializer's fnref */
    size_t init_ref_len;
    mp_shm_t *slots; /* forkserver/spawn: the segment holding started */
    _Atomic uint64_t *started; /* per slot: the task its worker began */
} mp__pool_launch_t;
int mp__pool_launch_init(mp__pool_launch_t *l, const mp_pool_opts_t *o,
                         int nproc);
void mp__pool_launch_fini(mp__pool_launch_t *l);
int mp__pool_launch_queue(const mp__pool_launch_t *l, size_t maxsize,
                          mp_queue_t **out);
int mp__pool_launch_worker(const mp__pool_launch_t *l, mp__worker_ctx_t *ctx,
                           mp_process_t **out);

/* buffers.c. Large internal buffers (MP__POOL_BIG bytes and up) are
 * mappings with transparent huge pages asked for (mp__plat_map_huge): on a VM a
 * page fault costs microseconds, and a 2 MiB page takes one fault instead of
 * 512. From 64 KiB they get a plain mapping of their own (pages untouched until
 * used); smaller ones come from the library's allocator. big_alloc
 * returns size zeroed bytes (16-aligned) or NULL, big_alloc_raw the same
 * with the bytes not zeroed (for buffers that are written before read);
 * big_free frees what any of these gave (NULL is ignored).
 *
 * A worker never calls the library's allocator (nor malloc): its process
 * was forked, perhaps from a program with other threads, one of which may
 * have held the allocator's lock at the fork, and would never release it
 * there. (glibc's malloc guards against that; GCC 12's libasan and some
 * third-party mallocs do not.) So a worker's buffers are mappings:
 * map_grow grows *buf (of *cap bytes, NULL and 0 at first; a mapping from
 * map_grow, big_alloc or big_alloc_raw) to at least need bytes, keeping
 * its first keep bytes, doubling from one page; returns 0 or MP_ENOMEM.
 * Context: any thread. */
#define MP__POOL_BIG ((size_t)1 << 20)
void *mp__pool_big_alloc(size_t size);
void *mp__pool_big_alloc_raw(size_t size);
void mp__pool_big_free(void *p);
int mp__pool_map_grow(char **buf, size_t *cap, size_t need, size_t keep);

/* map.c: the default chunk size of map (see mp_pool_chunksize): Python's
 * ceil(nitems / (4 * nproc)), cut down so that a chunk of items of
 * item_bytes each stays within MP__POOL_CHUNK_BYTES; at least 1. That is
 * the queues' large-message threshold less MP__POOL_CHUNK_ROOM for the
 * task's header and function reference (or the reply's header) and the heap
 * block's header, so that a chunk's message stays under the threshold: a
 * chunk of exactly 64 KiB of items went over it and cost ~15 % more CPU
 * (docs/design.md, "Pool chunk size"). */
#define MP__POOL_CHUNK_ROOM ((size_t)1024)
#define MP__POOL_CHUNK_BYTES ((size_t)MP__QUEUE_LARGE_MIN - MP__POOL_CHUNK_ROOM)
size_t mp__pool_chunksize(size_t nitems, int nproc, size_t item_bytes);

/* result.c: conditions on CLOCK_MONOTONIC, and a wait until a deadline
 * (mu held).
 * Returns 0 when woken, MP_ETIMEDOUT when the deadline passed. */
void mp__pool_cond_init(pthread_cond_t *cv);
int mp__pool_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
                       int64_t deadline);
/* watch.c: the learned watch the pool's waiting threads run before they
 * sleep. Where watches pay (mp__spin_begin on learn), calls look(arg)
 * until look returns > 0 (what the caller waits for came: a paid watch),
 * look returns < 0 (the caller gives up: a miss) or the window closes
 * (window_ns from now, cut at deadline, an absolute mp__now_ns time or
 * MP__NO_DEADLINE: a miss), yielding the CPU after each look that
 * returned 0 (a thread we wait for that shares this CPU runs then; on an
 * idle CPU the yield returns at once). What a yield that overran the
 * window let in is not looked at: a stranger held the CPU, and a sleep
 * would have been woken sooner. count, unless NULL, counts the watches
 * that begin (for tests and statistics). Returns MP__WATCH_NONE (no watch:
 * no time left, or the learner rests; nothing reported), MP__WATCH_PAID
 * or MP__WATCH_MISSED. Context: any thread; look runs on it, under
 * whatever locks the caller holds. */
enum { MP__WATCH_NONE, MP__WATCH_PAID, MP__WATCH_MISSED };
int mp__pool_watch(mp__spin_learn_t *learn, int64_t window_ns, int64_t deadline,
                   int (*look)(void *arg), void *arg, _Atomic uint64_t *count);

/* mp__pool_cond_wait for something that is usually microseconds away
 * (the next of a stream of results): first, with mu released, watches
 * *seq (mp__pool_watch for up to spin_ns, learner learn), which whoever
 * broadcasts cv bumps under mu first; returns 0 at once when it moved (no
 * sleep, no wake-up call). Not for a single result, whose waiter would
 * take a CPU from the worker computing it. */
int mp__pool_cond_wait_spin(pthread_cond_t *cv, pthread_mutex_t *mu,
                            int64_t deadline, _Atomic uint32_t *seq,
                            int64_t spin_ns, mp__spin_learn_t *learn);

/* result.c: result handles. A new one holds two references (the caller's and
 * the job's). complete takes ownership of data (mp__malloc'd) and copies msg;
 * has_exit marks an exitcode for MP_EWORKER. Context: any thread. */
mp_result_t *mp__result_new(void);
/* Sets r's callbacks (cb may be NULL) and the bytes on_success gets when
 * the result carries none; before r is shared. */
void mp__result_set_callbacks(mp_result_t *r, const mp_pool_callbacks_t *cb,
                              const void *view, size_t view_len);
/* Runs r's callback (counting a non-zero return in *cb_errors unless it
 * is NULL), then marks r done. */
void mp__result_complete(mp_result_t *r, int rc, void *data, size_t len,
                         const char *msg, bool has_exit, int exitcode,
                         _Atomic uint64_t *cb_errors);
void mp__result_unref(mp_result_t *r);
/* Hands r the messages of a map_async's n items (errors: an array of n
 * strings or NULLs from mp__malloc, or NULL when none failed), which
 * mp_result_item_error reports and r frees; before mp__result_complete. */
void mp__result_set_item_messages(mp_result_t *r, char **errors, size_t n);
/* Names the pool of an apply whose result has no callbacks, and how to
 * take its replies (taker), before r is shared: a waiter of r may then
 * take the pool's replies itself while r is not done. */
struct mp__pool_taker;
void mp__result_set_pool(mp_result_t *r, mp_pool_t *pool,
                         const struct mp__pool_taker *taker);
/* Whether r names its pool (mp__result_set_pool). */
bool mp__result_takeable(const mp_result_t *r);
/* Before the waiter taking replies for r sleeps (fd: its waker): whoever
 * else ends r then signals fd; returns whether r is done already (then
 * it need not sleep). fd -1 after the sleep: no signal any more. */
bool mp__result_taker_sleep(mp_result_t *r, int fd);
/* Whether r is done (r->mu taken and let go). */
bool mp__result_done(mp_result_t *r);
/* The longest failure message a result keeps, with its NUL. */
#define MP__POOL_MSG_MAX 1024

/* One task: an apply (res) or a chunk of a map/imap (batch, start, count;
 * an apply has count 1). Jobs live in blocks, one allocation for one job
 * or for all the chunk jobs of a map, each job followed by its message;
 * a block is freed with its last job. */
typedef struct mp__job {
    struct mp__job *next;
    struct mp_pool *pool; /* its counters */
    void *block;
    uint64_t id;
    void *msg; /* the inbox message (in the block) */
    size_t msg_len;
    /* The rest of the message where the job reads its input in place (a
     * synchronous map's chunk in the caller's array, put after msg); NULL
     * where msg holds it all. ext_gone points at the flag that its owner
     * sets, under the pool's mu, once ext may be freed: the job is then
     * failed instead of queued again. */
    const void *ext;
    size_t ext_len;
    const bool *ext_gone;
    mp_result_t *res;
    struct mp_imap *batch;
    size_t start, count;
    int put_err; /* why its inbox put failed (dispatch.c's failed list) */
    /* A forwarded task's (remote.h, mp__pool_submit_raw): it ends there,
     * not in res or batch. */
    const struct mp__pool_sink *sink;
    void *sink_arg;
} mp__job_t;

/* How one item of a job ended. */
typedef struct mp__outcome {
    int rc; /* 0, or the library code (MP_EREMOTE, MP_EWORKER, ...) */
    const void *data;
    size_t len;
    const char *msg; /* rc != 0 */
    bool has_exit;
    int exitcode;
} mp__outcome_t;

/* How a task names its function: the bytes of its reference (fnref.h),
 * which the worker checks before it calls anything. */
typedef struct mp__fn_name {
    const void *ref;
    uint32_t ref_len;
} mp__fn_name_t;

/* job.c. fn_name finds fn's name: the pool encodes each function once and
 * keeps its reference for its life (a map names its function once, not
 * per chunk; an apply or a lazy imap finds it in the pool's list); the
 * view stays valid until the pool is freed. Returns 0 or the error of
 * naming it (mp__fnref_encode's: MP_ENOENT, MP_ENOTSUP, MP_ENOMEM).
 * fn_names_free frees the pool's list (pool_free).
 * job_span returns the bytes a job with data input bytes takes in a block
 * (0: too large); block_new makes a block of total bytes (NULL: out of
 * memory); job_place builds a job at offset *used of block (advancing
 * *used by its span), as job_alloc does. Every block holds at least one
 * job. A block lives while it holds a job not yet freed, or a hold
 * (block_hold, dropped by block_release): whoever places jobs in a block
 * while earlier ones of it are queued (and may be freed at any time) holds
 * it meanwhile. */
int mp__pool_fn_name(mp_pool_t *pool, mp_pool_fn fn, mp__fn_name_t *name);
void mp__pool_fn_names_free(mp_pool_t *pool);
size_t mp__pool_job_span(const mp__fn_name_t *name, size_t data);
void *mp__pool_block_new(size_t total);
void mp__pool_block_hold(void *block);
void mp__pool_block_release(void *block);
mp__job_t *mp__pool_job_place(mp_pool_t *pool, void *block, size_t *used,
                              const mp__fn_name_t *name, uint64_t item_size,
                              size_t nitems, size_t data, char **dst);

/* job.c, dispatch.c, stats.c and buffers.c: services to the API files
 * and batch.c. Context: any thread, no pool lock held. job_alloc builds a
 * job of nitems items (item_size bytes each, or MP__ITEM_VAR) with room
 * for data input bytes at *dst; job_new one over nitems items of
 * item_size bytes at in; both store it in *out and return 0, or return
 * MP_ENOMEM or the error of naming fn (mp__pool_fn_name). job_free frees a
 * job and drops its references. submit queues a list of jobs (first ..
 * last, linked by next), or returns the submission error
 * (MP_ECLOSED, MP_EBROKEN) with nothing queued; submit_error returns that
 * error now, or 0. count_item counts an item's final code in the stats;
 * cb_counter is where a job's failing callbacks are counted; dup_bytes
 * copies len bytes (a byte for len 0), or returns NULL. */
int mp__pool_job_alloc(mp_pool_t *pool, mp_pool_fn fn, uint64_t item_size,
                       size_t nitems, size_t data, char **dst, mp__job_t **out);
int mp__pool_job_new(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                     size_t item_size, size_t nitems, mp__job_t **out);
void mp__pool_job_free(mp__job_t *j);
int mp__pool_submit(mp_pool_t *pool, mp__job_t *first, mp__job_t *last);
/* submit_part queues one part of a batch queued in parts, so that workers
 * start on the first chunks while the caller still builds the others:
 * MP__SUBMIT_FIRST checks the pool as submit does (an error: nothing
 * queued, no part to follow); MP__SUBMIT_MORE and MP__SUBMIT_REST (the
 * last part; first may be NULL) are refused only by a broken or
 * terminated pool - a pool closed meanwhile takes the rest of a batch it
 * accepted, and does not stop its workers until the last part came. After
 * an error of MORE or REST no part follows, and the parts queued before
 * run (or fail) as any task. MP__SUBMIT_ALL is submit. */
typedef enum mp__submit_part {
    MP__SUBMIT_ALL,
    MP__SUBMIT_FIRST,
    MP__SUBMIT_MORE,
    MP__SUBMIT_REST
} mp__submit_part_t;
int mp__pool_submit_part(mp_pool_t *pool, mp__job_t *first, mp__job_t *last,
                         mp__submit_part_t part);
/* mp__pool_input_gone sets *gone (a job's ext_gone) under pool's mu: no
 * job that reads its input in place through it is queued afterwards, and
 * none is being copied into an inbox when it returns, so the input may be
 * freed. Context: the thread that owns the input, no pool lock held. */
void mp__pool_input_gone(mp_pool_t *pool, bool *gone);
/* Tests only (map.c): called in the caller's thread after each part of a
 * batch queued in parts, but the last. NULL: nothing. */
extern void (*mp__pool_part_hook)(void);
int mp__pool_submit_error(mp_pool_t *pool);
void mp__pool_count_item(mp_pool_t *pool, int rc);
_Atomic uint64_t *mp__pool_cb_counter(mp_pool_t *pool);
void *mp__pool_dup_bytes(const void *data, size_t len);

/* mp__pool_help_replies takes the replies waiting in pool's result queue
 * and handles them in the calling thread, as the handler thread would
 * (their jobs end there: sinks, results, callbacks), when the handler is
 * waiting for results (it holds hmu otherwise; then this does nothing),
 * then dispatches pending tasks to the workers they freed. A thread that
 * waits for a task's end can so take its reply itself instead of waiting
 * for the handler's wake-up and hand-over (the MPI rank's loop, whose
 * local pools end every task in a sink). Returns how many it took.
 * Context: any thread but the handler's, pool alive and not being
 * destroyed. */
size_t mp__pool_help_replies(mp_pool_t *pool);
/* mp__pool_owner_takes_replies makes the calling thread the one that
 * takes pool's replies (with mp__pool_help_replies, waiting on *replies,
 * which it stores: the result queue's waitable): the handler stops
 * waiting for the result queue, so a reply wakes only that thread, and
 * takes what it finds there only after a worker's exit (before handling
 * it). The caller must then call mp__pool_help_replies whenever *replies
 * is ready, until it destroys the pool. Context: the pool's owner, once,
 * before it submits tasks. */
void mp__pool_owner_takes_replies(mp_pool_t *pool, mp_waitable_t *replies);
/* mp__pool_take_reply handles a reply (len bytes at msg, as a worker puts
 * it on the result queue) in the calling thread instead of queueing it,
 * where that is safe: no callback of the user's was ever given to pool
 * (they run on the handler thread only), no reply waits in the queue
 * (they go first), and the handler is waiting (mp__pool_help_replies;
 * a caller draining the queue for its apply, mp__pool_taker, is waited
 * out).
 * Returns whether it took it; false: queue it as usual. The thread that
 * brings a transport's replies (the MPI funnel) so ends an apply without
 * waking the handler. Context: any thread but the handler's, pool alive. */
bool mp__pool_take_reply(mp_pool_t *pool, const void *msg, size_t len);
/* How a waiter of an apply's result takes the pool's replies itself
 * (handler.c's mp__pool_taker, which pool.c hands each such result:
 * result.c calls it without calling up into the handler's files).
 * begin makes the calling thread the pool's taker where that is allowed:
 * no other taker, the pool running and given no user callbacks, a waker
 * for the taker at hand; returns whether it did, and then own must be
 * called. Context: a waiter of the apply's result r, with r->mu held and
 * r not done (so that the pool is alive).
 * own waits until r is done or deadline passes, taking and handling the
 * pool's replies in the calling thread while the handler thread sleeps
 * with the result queue out of its wait (so a reply wakes only this
 * thread: one hand-over less per apply round trip); with a deadline
 * already past it only takes the replies queued now (no watch, no poll).
 * Every reply it takes ends whichever result it is for (and wakes that
 * result's waiters). It
 * gives up early, leaving r to the handler, where the handler holds hmu
 * with replies queued or a callback was given to the pool meanwhile. It
 * ends the taking, waking the handler where tasks are still out. The
 * caller then waits for r as usual. Context: after begin returned true. */
typedef struct mp__pool_taker {
    bool (*begin)(mp_pool_t *pool);
    void (*own)(mp_pool_t *pool, mp_result_t *r, int64_t deadline);
} mp__pool_taker_t;
extern const mp__pool_taker_t mp__pool_taker;
/* mp__pool_note_callbacks records that cb (NULL: none) is given to a
 * result of pool, before its tasks are submitted. */
void mp__pool_note_callbacks(mp_pool_t *pool, const mp_pool_callbacks_t *cb);

/* What the handler thread of pool did while it waited for results
 * (stats.c): *spins, the spin windows it opened, and *sleeps, the waits
 * in which it slept (mp_wait_any with a timeout), since the pool was
 * created. Returns whether it is in such a wait now (or about to be:
 * its spin, if any, is over). For tests of the spin policy. */
bool mp__pool_spin_counts(mp_pool_t *pool, uint64_t *spins, uint64_t *sleeps);

/* Final item codes counted locally, then added to the pool's statistics
 * at once (mp__pool_count_items, stats.c; pool may be NULL). */
typedef struct mp__tally {
    uint64_t done, failed, timed_out;
} mp__tally_t;

static inline void
mp__tally_add(mp__tally_t *t, int rc)
{
    t->done += rc == 0;
    t->failed += rc != 0;
    t->timed_out += rc == MP_ETIMEDOUT;
}

void mp__pool_count_items(mp_pool_t *pool, const mp__tally_t *t);

/* batch.c's side, called by the handler thread (reply.c) and job.c: batch_lock
 * locks batch b; batch_store_locked stores item idx's outcome in it and tallies
 * the item's final code in *t; batch_unlock wakes b's waiters, counts *t in
 * pool's stats and unlocks. batch_chunk_done (b not locked) ends one chunk
 * job of b (the last one of a map_async completes its handle) and drops
 * the job's reference. */
void mp__batch_lock(struct mp_imap *b);
void mp__batch_store_locked(struct mp_imap *b, size_t idx,
                            const mp__outcome_t *o, mp__tally_t *t);
void mp__batch_unlock(struct mp_imap *b, mp_pool_t *pool, const mp__tally_t *t);
/* batch_store_run_locked stores count successful results of len bytes
 * each, packed at data, as items idx .. idx + count - 1 of b (b locked),
 * as batch_store_locked would one by one. */
void mp__batch_store_run_locked(struct mp_imap *b, size_t idx, size_t count,
                                const char *data, size_t len, mp__tally_t *t);
void mp__batch_chunk_done(struct mp_imap *b, mp_pool_t *pool);

#endif /* MP_POOL_INTERNAL_H */
