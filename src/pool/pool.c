/* SPDX-License-Identifier: MIT */
/* pool.c - the Pool's public face: mp_pool_create and the life cycle
 * (mp_pool_close, _terminate, _join, _destroy), mp_pool_processes, and the
 * single-task calls (mp_pool_apply, _apply_async, _apply_async_cb). The
 * many-item calls live in map.c and imap.c.
 *
 * Why one inbox per worker rather than one shared task queue: with a shared
 * queue a worker killed between taking a task and publishing its id loses
 * the task without a trace, and its result never completes (Python's hang,
 * gh-66587). Here the pool decides which worker gets a task and records
 * it before the put (dispatch.c), so a worker's death always names the
 * tasks it held (supervisor.c). Submissions dispatch in the caller's
 * thread, under pool->mu, so the handler thread (handler.c) is woken only
 * by results, exits, close/terminate, and what a submission needs it for.
 *
 * The pool's files, each calling only the ones listed after it (see
 * docs/design.md, "Pool files"):
 *   remote.c      the bridge libmultiproc_mpi reaches the pool through
 *                 (remote.h: the hook for workers that are not forks)
 *   imap.c        imap, imap_unordered, imap_source and mp_imap_next
 *   map.c         map and its relatives; cuts a batch's input into chunks
 *   pool.c        this file (it starts handler.c's thread)
 *   handler.c     the handler thread: waits, takes replies, times tasks out
 *   supervisor.c  starts, reaps and replaces workers; settles a dead
 *                 worker's tasks; breaks and shuts down the pool
 *   worker_boot.c how workers start under each start method: queues,
 *                 started slots, a spawn/forkserver worker's boot record
 *   dispatch.c    which worker gets which task; queuing submitted jobs
 *   reply.c       decodes a worker's reply; completes or fails a job
 *   job.c         jobs, their task messages and the blocks they live in
 *   batch.c       a many-item call's results, stored by the handler
 *   stats.c       the pool's counters and mp_pool_stats
 *   result.c      AsyncResult handles; condition waits with deadlines
 *   worker.c      the worker process's main loop (the other side)
 *   buffers.c     large buffers: huge pages, and the workers' mappings
 * pool_state.h holds the pool's state and the contracts between the
 * handler-side files; pool_internal.h the messages and what every file
 * shares; batch_internal.h a batch.
 *
 * Life cycle: create starts the handler thread and waits until it has
 * started the first workers (with the pool's start method, worker_boot.c);
 * close lets the handler stop the workers once the work is done;
 * terminate kills them at once, failing what is left with MP_ECANCELED;
 * join and destroy wait for the handler to end and reap it. Callbacks
 * (apply_async_cb, map_async) run in the handler thread, inside
 * mp__result_complete, before the result is ready. */
#include "pool_state.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../platform/platform.h"

/* Frees a pool whose handler never ran or was reaped. */
static void
pool_free(mp_pool_t *pool)
{
    if (pool->results != NULL) {
        mp_queue_destroy(pool->results);
    }
    mp__plat_waker_close(pool->wake_fd);
    mp__plat_waker_close(pool->taker_fd);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    pthread_mutex_destroy(&pool->fn_mu);
    pthread_mutex_destroy(&pool->hmu);
    mp__pool_fn_names_free(pool);
    mp__pool_launch_fini(&pool->launch);
    if (pool->transport.release != NULL) {
        pool->transport.release(pool->transport.arg);
    }
    mp__free(pool->items);
    mp__free(pool->item_slot);
    mp__free(pool->winfo);
    mp__free(pool->workers);
    mp__free(pool);
}

int
mp_pool_create(mp_pool_t **out, const mp_pool_opts_t *opts)
{
    return mp__pool_create_transport(out, opts, NULL);
}

int
mp__pool_create_transport(mp_pool_t **out, const mp_pool_opts_t *opts,
                          const mp__pool_transport_t *t)
{
    if (MP__OPTS_BAD(opts)) {
        return MP_EINVAL;
    }
    mp_pool_opts_t o = opts != NULL ? *opts : (mp_pool_opts_t){0};
    if (out == NULL || o.processes < 0 ||
        (o.task_timeout < 0 && o.task_timeout != MP_WAIT_FOREVER)) {
        return MP_EINVAL;
    }
    /* MP_WAIT_FOREVER is no limit, as 0 is. */
    int64_t task_timeout_ms = o.task_timeout > 0 ? o.task_timeout : 0;
    mp__init();
    mp_pool_t *pool = mp__calloc(1, sizeof *pool);
    if (pool == NULL) {
        if (t != NULL && t->release != NULL) {
            t->release(t->arg);
        }
        return MP_ENOMEM;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_mutex_init(&pool->fn_mu, NULL);
    pthread_mutex_init(&pool->hmu, NULL);
    mp__pool_cond_init(&pool->cv);
    pool->taker_fd = -1;
    if (t != NULL) {
        pool->transport = *t;
    }
    pool->nproc = o.processes > 0 ? o.processes : mp_cpu_count();
    pool->maxtasks =
        o.maxtasksperchild > LONG_MAX ? LONG_MAX : (long)o.maxtasksperchild;
    pool->task_timeout_ms = task_timeout_ms;
    /* A timeout counts from when the worker takes the task: with tasks
     * queued ahead the pool would not know when that is. */
    pool->depth = task_timeout_ms > 0 ? 1 : 1 + POOL_PREFETCH;
    /* Capped far beyond any real run (the deadline saturates anyway). */
    pool->task_timeout_ns = task_timeout_ms > INT64_MAX / 4 / 1000000
                                ? INT64_MAX / 4
                                : task_timeout_ms * 1000000;
    pool->wake_fd = mp__plat_waker_open();
    int err = pool->wake_fd < 0 ? pool->wake_fd : 0;
    pool->workers = mp__calloc((size_t)pool->nproc, sizeof *pool->workers);
    pool->items = mp__calloc((size_t)pool->nproc + 2, sizeof *pool->items);
    pool->item_slot = mp__calloc((size_t)pool->nproc, sizeof(int));
    pool->winfo = mp__calloc((size_t)pool->nproc, sizeof *pool->winfo);
    if (err == 0 && (pool->workers == NULL || pool->items == NULL ||
                     pool->item_slot == NULL || pool->winfo == NULL)) {
        err = MP_ENOMEM;
    }
    if (err == 0) {
        err = mp__pool_launch_init(&pool->launch, &o, pool->nproc);
    }
    if (err == 0) {
        /* Bounded (by more than the workers can have answered and not yet
         * taken: their tasks and a status each), so that its ring is small
         * and quick to set up; a put that finds it full only waits for the
         * handler. */
        err = mp__pool_launch_queue(
            &pool->launch, (size_t)pool->nproc * (size_t)(pool->depth + 2) + 8,
            &pool->results);
    }
    if (err == 0) {
        err = -pthread_create(&pool->thread, NULL, mp__pool_handler_main, pool);
    }
    if (err != 0) {
        pool_free(pool);
        return err;
    }
    pthread_mutex_lock(&pool->mu);
    while (!pool->started) {
        pthread_cond_wait(&pool->cv, &pool->mu);
    }
    err = pool->start_err;
    pthread_mutex_unlock(&pool->mu);
    if (err != 0) {
        pthread_join(pool->thread, NULL);
        pool_free(pool);
        return err;
    }
    *out = pool;
    return 0;
}

int
mp_pool_processes(const mp_pool_t *pool)
{
    return pool != NULL ? pool->nproc : MP_EINVAL;
}

int
mp_pool_apply_async(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                    size_t in_len, mp_result_t **out)
{
    return mp_pool_apply_async_cb(pool, fn, in, in_len, NULL, out);
}

int
mp_pool_apply_async_cb(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                       size_t in_len, const mp_pool_callbacks_t *cb,
                       mp_result_t **out)
{
    if (pool == NULL || fn == NULL || out == NULL ||
        (in == NULL && in_len > 0)) {
        return MP_EINVAL;
    }
    mp__job_t *j = NULL;
    int err = mp__pool_job_new(pool, fn, in, in_len, 1, &j);
    if (err != 0) {
        return err;
    }
    mp_result_t *r = mp__result_new();
    if (r == NULL) {
        mp__pool_job_free(j);
        return MP_ENOMEM;
    }
    mp__result_set_callbacks(r, cb, NULL, 0);
    mp__pool_note_callbacks(pool, cb);
    if (cb == NULL || (cb->on_success == NULL && cb->on_error == NULL)) {
        /* Its waiter may take the replies itself (mp__pool_taker). */
        mp__result_set_pool(r, pool, &mp__pool_taker);
    }
    j->res = r;
    err = mp__pool_submit(pool, j, j);
    if (err != 0) {
        mp__pool_job_free(j);
        mp__result_unref(r);
        return err;
    }
    *out = r;
    return 0;
}

ssize_t
mp_pool_apply(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_len,
              void **out, mp_duration_t timeout)
{
    int64_t deadline;
    int err = mp__deadline(timeout, &deadline);
    mp_result_t *r;
    if (err == 0) {
        err = mp_pool_apply_async(pool, fn, in, in_len, &r);
    }
    if (err != 0) {
        return err;
    }
    ssize_t len = mp_result_get(r, out, timeout);
    mp_result_destroy(r);
    return len;
}

/* Moves a running pool to state (CLOSE or TERMINATE) and wakes the
 * handler. */
static int
set_state(mp_pool_t *pool, int state)
{
    if (pool == NULL) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&pool->mu);
    if (pool->state < state) {
        pool->state = state;
    }
    pthread_mutex_unlock(&pool->mu);
    mp__plat_waker_signal(pool->wake_fd);
    return 0;
}

int
mp_pool_close(mp_pool_t *pool)
{
    return set_state(pool, POOL_CLOSE);
}

/* Waits until the handler thread ended, then joins it once. Returns 0 or
 * MP_ETIMEDOUT. */
static int
wait_handler(mp_pool_t *pool, int64_t deadline)
{
    int err = 0;
    pthread_mutex_lock(&pool->mu);
    while (!pool->done && err == 0) {
        err = mp__pool_cond_wait(&pool->cv, &pool->mu, deadline);
    }
    if (pool->done) {
        err = 0;
        if (!pool->reaped) {
            /* The handler only returns after done: this is quick. */
            pthread_join(pool->thread, NULL);
            pool->reaped = true;
        }
    } else {
        err = MP_ETIMEDOUT;
    }
    pthread_mutex_unlock(&pool->mu);
    return err;
}

int
mp_pool_terminate(mp_pool_t *pool)
{
    int err = set_state(pool, POOL_TERMINATE);
    return err != 0 ? err : wait_handler(pool, MP__NO_DEADLINE);
}

int
mp_pool_join(mp_pool_t *pool, mp_duration_t timeout)
{
    int64_t deadline;
    if (pool == NULL) {
        return MP_EINVAL;
    }
    int err = mp__deadline(timeout, &deadline);
    if (err != 0) {
        return err;
    }
    pthread_mutex_lock(&pool->mu);
    bool running = pool->state == POOL_RUN;
    pthread_mutex_unlock(&pool->mu);
    return running ? MP_ERUNNING : wait_handler(pool, deadline);
}

void
mp_pool_destroy(mp_pool_t *pool)
{
    if (pool == NULL) {
        return;
    }
    pthread_mutex_lock(&pool->mu);
    bool done = pool->done;
    pthread_mutex_unlock(&pool->mu);
    if (!done) {
        (void)mp_pool_terminate(pool);
    } else {
        (void)wait_handler(pool, MP__NO_DEADLINE);
    }
    /* A caller taking replies (mp__pool_taker) was woken by the end of
     * its result; it leaves under mu. */
    pthread_mutex_lock(&pool->mu);
    while (pool->taking) {
        pthread_cond_wait(&pool->cv, &pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
    pool_free(pool);
}
