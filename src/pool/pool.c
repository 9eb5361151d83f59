/* SPDX-License-Identifier: MIT */
/* pool.c - Pool: worker processes fed through per-worker inboxes, and the
 * result-handler thread that dispatches tasks, completes results and
 * replaces workers.
 *
 * Why one inbox per worker rather than one shared task queue: with a shared
 * queue a worker killed between taking a task and publishing its id loses
 * the task without a trace, and its result never completes (Python's hang,
 * gh-66587). Here the handler decides which worker gets a task and records
 * it before the put, so a worker's death always names the task it held.
 * The handler gives a worker one task at a time, and only once the worker
 * said READY (its initializer ran).
 *
 * The handler thread owns the workers: it forks them (so that a daemon
 * worker's parent-death signal is tied to the thread that lives as long as
 * the pool), waits with mp_wait_any on the result queue, every worker's
 * sentinel and an eventfd that submissions and close/terminate write to,
 * and ends after the workers are gone. When a worker exits it first drains
 * the result queue (a result put before the exit is found there), then
 * fails the task the worker still held with MP_EWORKER and the cause, and
 * starts a replacement. A task the dead worker had not started yet (it
 * publishes the id of the task it starts in a shared slot) goes back to
 * the head of the pending list instead: it never ran. A worker that dies before
 * READY counts as a failed start; too many in a row, or an initializer that
 * fails, break the pool.
 *
 * A per-task timeout (task_timeout_ms) is a deadline set when the handler
 * hands the task to an idle worker; the handler's wait ends at the nearest
 * deadline and kills a worker whose task is still running (SIGKILL: a task
 * cannot ignore it). The exit is then handled like any death, except that
 * the task fails with MP_ETIMEDOUT (even if it never started: requeueing
 * it could time out again forever).
 *
 * Callbacks (apply_async_cb, map_async) run in the handler thread, inside
 * mp__result_complete, before the result is ready.
 *
 * The many-item calls (map, map_buffers, starmap, imap) live in batch.c:
 * they cut their input into jobs queued here (mp__pool_submit), and the
 * handler hands each item's outcome back to them (mp__batch_store).
 *
 * Locking: pool->mu guards state, the pending list, the handler's
 * progress flags and winfo (mp_pool_stats's view of the workers). Only the
 * handler touches workers[] while it runs; the counters are atomics. */
#include "pool_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../platform/platform.h"

enum { POOL_RUN, POOL_CLOSE, POOL_TERMINATE };

typedef struct worker {
    mp_process_t *proc; /* NULL: the slot is empty */
    mp_queue_t *inbox;
    mp__job_t *job; /* the task it holds */
    long ntasks;
    bool ready;
    bool stopping;
    bool timed_out;   /* killed for running past the task timeout */
    int64_t deadline; /* when its task times out; 0: never */
    mp__worker_ctx_t ctx;
} worker_t;

struct mp_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* handler progress: started, done */
    int state;
    bool broken;
    char broken_msg[128];
    int nproc;
    long maxtasks;
    mp_pool_init_fn init;
    void *initarg;
    worker_t *workers;
    mp_queue_t *results;
    /* Shared (mp__shared_alloc), one per slot: the task its worker began. */
    _Atomic uint64_t *task_started;
    int wake_fd;
    mp__job_t *pend_head, *pend_tail;
    uint64_t next_id;
    uint64_t next_gen;
    int start_failures;
    pthread_t thread;
    bool started; /* the handler started its first workers */
    int start_err;
    bool done; /* the handler ended */
    bool reaped;
    mp_waitable_t *items; /* wait_and_handle's set */
    int *item_slot;       /* the worker slot of items[k + 2] */
    long task_timeout_ms;
    int64_t task_timeout_ns;      /* 0: none */
    mp_pool_worker_info_t *winfo; /* mp_pool_stats's view; under mu */
    _Atomic uint64_t n_submitted, n_done, n_failed, n_timed_out, n_cb_errors;
};

size_t
mp__pool_chunksize(size_t nitems, int nproc)
{
    size_t div = 4 * (size_t)(nproc > 0 ? nproc : 1);
    size_t chunk = nitems / div + (nitems % div != 0);
    return chunk > 0 ? chunk : 1;
}

/* Wakes the handler thread. */
static void
wake_handler(mp_pool_t *pool)
{
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(pool->wake_fd, &one, sizeof one);
    } while (r < 0 && errno == EINTR);
}

/* Where a job of pool counts failing callbacks (NULL without a pool). */
_Atomic uint64_t *
mp__pool_cb_counter(mp_pool_t *pool)
{
    return pool != NULL ? &pool->n_cb_errors : NULL;
}

/* Returns a fresh copy of len bytes at data (a byte for len 0), or NULL. */
void *
mp__pool_dup_bytes(const void *data, size_t len)
{
    void *copy = mp__malloc(len > 0 ? len : 1);
    if (copy != NULL && len > 0) {
        memcpy(copy, data, len);
    }
    return copy;
}

/* Counts one item's final code rc in pool's statistics. */
void
mp__pool_count_item(mp_pool_t *pool, int rc)
{
    if (pool == NULL) {
        return;
    }
    atomic_fetch_add(rc == 0 ? &pool->n_done : &pool->n_failed, 1);
    if (rc == MP_ETIMEDOUT) {
        atomic_fetch_add(&pool->n_timed_out, 1);
    }
}

/* Delivers the outcome of item i of job j to whoever waits for it. */
static void
deliver(mp__job_t *j, size_t i, const mp__outcome_t *o)
{
    if (j->res != NULL) {
        void *data = o->rc == 0 ? mp__pool_dup_bytes(o->data, o->len) : NULL;
        if (o->rc == 0 && data == NULL) {
            mp__pool_count_item(j->pool, MP_ENOMEM);
            mp__result_complete(j->res, MP_ENOMEM, NULL, 0, "out of memory",
                                false, 0, mp__pool_cb_counter(j->pool));
        } else {
            mp__pool_count_item(j->pool, o->rc);
            mp__result_complete(j->res, o->rc, data, o->len, o->msg,
                                o->has_exit, o->exitcode,
                                mp__pool_cb_counter(j->pool));
        }
        return;
    }
    mp__batch_store(j->batch, j->start + i, o, j->pool);
}

/* Frees a job and drops what it references. */
void
mp__pool_job_free(mp__job_t *j)
{
    if (j->res != NULL) {
        mp__result_unref(j->res);
    }
    if (j->batch != NULL) {
        mp__batch_chunk_done(j->batch, j->pool);
    }
    mp__free(j->msg);
    mp__free(j);
}

/* Fails items from..count-1 of job j with err and msg (exitcode when
 * has_exit), then frees it. */
static void
job_fail_from(mp__job_t *j, size_t from, int err, const char *msg,
              bool has_exit, int exitcode)
{
    mp__outcome_t o = {
        .rc = err, .msg = msg, .has_exit = has_exit, .exitcode = exitcode};
    for (size_t i = from; i < j->count; i++) {
        deliver(j, i, &o);
    }
    mp__pool_job_free(j);
}

/* Fails every item of job j, then frees it. */
static void
job_fail(mp__job_t *j, int err, const char *msg, bool has_exit, int exitcode)
{
    job_fail_from(j, 0, err, msg, has_exit, exitcode);
}

/* Completes job j from the items of a DONE reply (p .. end), then frees
 * it. Items a malformed reply lacks fail with MP_EPROTO. */
static void
job_complete(mp__job_t *j, const char *p, const char *end, uint64_t nitems)
{
    size_t i = 0;
    for (; nitems == j->count && i < j->count; i++) {
        mp__item_hdr_t ih;
        if ((size_t)(end - p) < sizeof ih) {
            break;
        }
        memcpy(&ih, p, sizeof ih);
        p += sizeof ih;
        if ((size_t)(end - p) < ih.len) {
            break;
        }
        mp__outcome_t o = {.data = p, .len = ih.len};
        char msg[1024];
        if (ih.rc != 0) {
            /* The worker sent the text with its NUL; trust nothing. */
            size_t n = ih.len < sizeof msg ? ih.len : sizeof msg - 1;
            memcpy(msg, p, n);
            msg[n] = '\0';
            o = (mp__outcome_t){.rc = MP_EREMOTE, .msg = msg};
        }
        deliver(j, i, &o);
        p += ih.len;
    }
    job_fail_from(j, i, MP_EPROTO, "malformed reply from a worker", false, 0);
}

/* Marks the pool broken with why; pool->mu held. */
static void
set_broken_locked(mp_pool_t *pool, const char *why)
{
    if (!pool->broken) {
        pool->broken = true;
        /* A longer reason is cut to fit; the precision says so to GCC. */
        snprintf(pool->broken_msg, sizeof pool->broken_msg, "%.*s",
                 (int)sizeof pool->broken_msg - 1, why);
    }
}

/* Sets slot i's state and pid in the stats view (mu not held). */
static void
set_winfo(mp_pool_t *pool, int i, int state, pid_t pid)
{
    pthread_mutex_lock(&pool->mu);
    pool->winfo[i].state = state;
    pool->winfo[i].pid = pid;
    pthread_mutex_unlock(&pool->mu);
}

/* Forks the worker of slot i (handler thread, mu not held). Returns 0 or
 * a negative error with the slot left empty. */
static int
spawn_worker(mp_pool_t *pool, int i)
{
    worker_t *w = &pool->workers[i];
    char name[48];
    int err = mp_simplequeue_create(&w->inbox);
    if (err != 0) {
        w->inbox = NULL;
        return err;
    }
    w->ctx = (mp__worker_ctx_t){.inbox = w->inbox,
                                .results = pool->results,
                                .init = pool->init,
                                .initarg = pool->initarg,
                                .maxtasks = pool->maxtasks,
                                .started = &pool->task_started[i],
                                .slot = (uint32_t)i,
                                .gen = ++pool->next_gen};
    snprintf(name, sizeof name, "ForkPoolWorker-%llu",
             (unsigned long long)pool->next_gen);
    mp_process_opts_t po = {.name = name, .daemon = true};
    err = mp_process_create(&w->proc, mp__pool_worker_main, &w->ctx, &po);
    if (err == 0) {
        err = mp_process_start(w->proc);
        if (err != 0) {
            mp_process_destroy(w->proc);
        }
    }
    if (err != 0) {
        w->proc = NULL;
        mp_queue_destroy(w->inbox);
        w->inbox = NULL;
        set_winfo(pool, i, MP_POOL_WORKER_STOPPED, 0);
        return err;
    }
    w->job = NULL;
    w->ntasks = 0;
    w->ready = false;
    w->stopping = false;
    w->timed_out = false;
    w->deadline = 0;
    set_winfo(pool, i, MP_POOL_WORKER_STARTING, mp_process_pid(w->proc));
    return 0;
}

/* Reaps the exited worker of slot i and empties the slot; the stats view
 * shows the slot in state, without a pid, before the pid can be reused. */
static void
reap_worker(mp_pool_t *pool, int i, int state, int *exitcode)
{
    worker_t *w = &pool->workers[i];
    set_winfo(pool, i, state, 0);
    MP__ASSERT(mp_process_join(w->proc, MP_WAIT_FOREVER) == 0);
    MP__ASSERT(mp_process_exitcode(w->proc, exitcode) == 0);
    MP__ASSERT(mp_process_destroy(w->proc) == 0);
    mp_queue_destroy(w->inbox);
    w->proc = NULL;
    w->inbox = NULL;
}

/* Describes how a worker ended into buf. */
static void
describe_exit(char *buf, size_t len, int code)
{
    if (code < 0) {
        snprintf(buf, len, "worker killed by signal %d (%s)", -code,
                 strsignal(-code));
    } else {
        snprintf(buf, len, "worker exited with status %d", code);
    }
}

/* Handles one message from the result queue (handler thread, mu not
 * held). */
static void
handle_reply(mp_pool_t *pool, const char *msg, size_t len)
{
    mp__reply_hdr_t rh;
    if (len < sizeof rh) {
        return;
    }
    memcpy(&rh, msg, sizeof rh);
    if (rh.slot >= (uint32_t)pool->nproc) {
        return;
    }
    worker_t *w = &pool->workers[rh.slot];
    if (w->proc == NULL || w->ctx.gen != rh.gen) {
        return; /* from an incarnation already reaped */
    }
    if (rh.kind == MP__REPLY_READY) {
        w->ready = true;
        pool->start_failures = 0;
        set_winfo(pool, (int)rh.slot, MP_POOL_WORKER_IDLE,
                  mp_process_pid(w->proc));
    } else if (rh.kind == MP__REPLY_INITFAIL) {
        char why[96];
        snprintf(why, sizeof why, "initializer failed (returned %lld)",
                 (long long)rh.init_rc);
        pthread_mutex_lock(&pool->mu);
        set_broken_locked(pool, why);
        pthread_mutex_unlock(&pool->mu);
    } else if (rh.kind == MP__REPLY_DONE && w->job != NULL &&
               w->job->id == rh.id) {
        mp__job_t *j = w->job;
        w->job = NULL;
        pthread_mutex_lock(&pool->mu);
        pool->winfo[rh.slot].state = MP_POOL_WORKER_IDLE;
        pool->winfo[rh.slot].tasks++;
        pthread_mutex_unlock(&pool->mu);
        job_complete(j, msg + sizeof rh, msg + len, rh.nitems);
    }
}

/* Takes every message from the result queue; with linger, waits a little
 * for messages still being put (a dead worker's result may sit behind a
 * live worker's half-written one). */
static void
drain_results(mp_pool_t *pool, bool linger)
{
    for (;;) {
        void *msg;
        ssize_t n = mp_queue_get(pool->results, &msg, linger ? 20 : 0);
        if (n < 0) {
            return;
        }
        handle_reply(pool, msg, (size_t)n);
        mp_free(msg);
    }
}

/* Gives pending tasks to idle workers and, once a closed pool has no work
 * left, tells the workers to stop (mu held). */
static void
dispatch_locked(mp_pool_t *pool)
{
    bool busy = pool->pend_head != NULL;
    for (int i = 0; i < pool->nproc; i++) {
        worker_t *w = &pool->workers[i];
        if (w->proc == NULL || !w->ready || w->stopping || w->job != NULL ||
            (pool->maxtasks > 0 && w->ntasks >= pool->maxtasks)) {
            busy |= w->job != NULL;
            continue;
        }
        while (pool->pend_head != NULL) {
            mp__job_t *j = pool->pend_head;
            pool->pend_head = j->next;
            if (pool->pend_head == NULL) {
                pool->pend_tail = NULL;
            }
            int err = mp_queue_put(w->inbox, j->msg, j->msg_len, MP_NO_WAIT);
            if (err == 0) {
                /* The worker is idle: it starts the task now, so the
                 * timeout counts from here. */
                w->job = j;
                w->ntasks++;
                w->deadline = pool->task_timeout_ns > 0
                                  ? mp__now_ns() + pool->task_timeout_ns
                                  : 0;
                pool->winfo[i].state = MP_POOL_WORKER_BUSY;
                busy = true;
                break;
            }
            job_fail(j, err, mp_strerror(err), false, 0);
        }
    }
    if (pool->state == POOL_CLOSE && !busy) {
        mp__task_hdr_t stop = {.kind = MP__TASK_STOP};
        for (int i = 0; i < pool->nproc; i++) {
            worker_t *w = &pool->workers[i];
            if (w->proc != NULL && !w->stopping) {
                /* A put that fails leaves the worker to the kill below. */
                w->stopping =
                    mp_queue_put(w->inbox, &stop, sizeof stop, MP_NO_WAIT) == 0;
            }
        }
    }
}

/* Counts live workers. */
static int
live_workers(const mp_pool_t *pool)
{
    int n = 0;
    for (int i = 0; i < pool->nproc; i++) {
        n += pool->workers[i].proc != NULL;
    }
    return n;
}

/* Deals with the worker of slot i, which exited: fails the task it held,
 * counts a failed start, and replaces it while the pool has work for it
 * (handler thread, mu not held, results drained). */
static void
worker_exited(mp_pool_t *pool, int i)
{
    worker_t *w = &pool->workers[i];
    bool was_ready = w->ready;
    bool stopping = w->stopping;
    bool timed_out = w->timed_out;
    mp__job_t *j = w->job;
    int code;
    w->job = NULL;
    reap_worker(pool, i, MP_POOL_WORKER_RESTARTING, &code);
    /* A timed-out task fails even if it never started: requeueing it
     * could time out again forever. */
    bool started = j != NULL &&
                   (timed_out || atomic_load(&pool->task_started[i]) == j->id);
    if (started && timed_out) {
        char why[128];
        snprintf(why, sizeof why,
                 "task timed out after %ld ms; its worker was killed",
                 pool->task_timeout_ms);
        job_fail(j, MP_ETIMEDOUT, why, false, 0);
    } else if (started) {
        char why[128];
        describe_exit(why, sizeof why, code);
        job_fail(j, MP_EWORKER, why, true, code);
    }
    pthread_mutex_lock(&pool->mu);
    if (j != NULL && !started) {
        /* It died before starting the task (idle, or just taking it). */
        j->next = pool->pend_head;
        pool->pend_head = j;
        if (pool->pend_tail == NULL) {
            pool->pend_tail = j;
        }
    }
    bool wanted = !stopping && !pool->broken &&
                  (pool->state == POOL_RUN ||
                   (pool->state == POOL_CLOSE && pool->pend_head != NULL));
    if (!was_ready && !stopping &&
        ++pool->start_failures > 2 * pool->nproc + 2) {
        /* Workers die before they can take work: stop forking. */
        char why[128];
        describe_exit(why, sizeof why, code);
        char msg[160];
        snprintf(msg, sizeof msg, "workers keep dying at start (%s)", why);
        set_broken_locked(pool, msg);
        wanted = false;
    }
    pool->winfo[i].state =
        wanted ? MP_POOL_WORKER_RESTARTING : MP_POOL_WORKER_STOPPED;
    pool->winfo[i].pid = 0;
    pthread_mutex_unlock(&pool->mu);
    if (wanted && spawn_worker(pool, i) != 0) {
        pthread_mutex_lock(&pool->mu);
        if (live_workers(pool) == 0) {
            set_broken_locked(pool, "cannot start a worker");
        }
        pthread_mutex_unlock(&pool->mu);
    }
}

/* Kills and reaps every worker, then fails every task left with err
 * (handler thread, mu not held). */
static void
shutdown_all(mp_pool_t *pool, int err, const char *why)
{
    for (int i = 0; i < pool->nproc; i++) {
        if (pool->workers[i].proc != NULL) {
            (void)mp_process_kill(pool->workers[i].proc);
        }
    }
    for (int i = 0; i < pool->nproc; i++) {
        worker_t *w = &pool->workers[i];
        if (w->proc != NULL) {
            int code;
            reap_worker(pool, i, MP_POOL_WORKER_STOPPED, &code);
        }
        if (w->job != NULL) {
            job_fail(w->job, err, why, false, 0);
            w->job = NULL;
        }
    }
    pthread_mutex_lock(&pool->mu);
    mp__job_t *j = pool->pend_head;
    pool->pend_head = pool->pend_tail = NULL;
    pthread_mutex_unlock(&pool->mu);
    while (j != NULL) {
        mp__job_t *next = j->next;
        job_fail(j, err, why, false, 0);
        j = next;
    }
}

/* Drains the wake-up eventfd. */
static void
drain_wake(mp_pool_t *pool)
{
    uint64_t v;
    while (read(pool->wake_fd, &v, sizeof v) < 0 && errno == EINTR) {
    }
}

/* Returns how long the handler may wait before a task times out: the
 * time to the nearest deadline, or MP_WAIT_FOREVER (handler thread). */
static mp_duration_t
next_task_timeout(const mp_pool_t *pool)
{
    int64_t next = MP__NO_DEADLINE;
    for (int i = 0; i < pool->nproc; i++) {
        const worker_t *w = &pool->workers[i];
        if (w->proc != NULL && w->job != NULL && w->deadline != 0 &&
            !w->timed_out && w->deadline < next) {
            next = w->deadline;
        }
    }
    return next == MP__NO_DEADLINE ? MP_WAIT_FOREVER
                                   : (mp_duration_t)mp__remaining_ms(next);
}

/* Kills the workers whose task ran past its deadline; their exit, seen
 * by the next wait, fails the task with MP_ETIMEDOUT (handler thread). */
static void
expire_tasks(mp_pool_t *pool)
{
    int64_t now = mp__now_ns();
    for (int i = 0; i < pool->nproc; i++) {
        worker_t *w = &pool->workers[i];
        if (w->proc != NULL && w->job != NULL && w->deadline != 0 &&
            !w->timed_out && now >= w->deadline) {
            w->timed_out = true;
            (void)mp_process_kill(w->proc);
        }
    }
}

/* Waits for a reply, a worker exit or a wake-up, and handles what came
 * (handler thread, mu not held). */
static void
wait_and_handle(mp_pool_t *pool)
{
    mp_waitable_t *it = pool->items;
    int *map = pool->item_slot;
    size_t n = 0;
    it[n++] = (mp_waitable_t){.kind = MP_WAIT_FD, .u.fd = pool->wake_fd};
    it[n++] = (mp_waitable_t){.kind = MP_WAIT_QUEUE, .u.queue = pool->results};
    for (int i = 0; i < pool->nproc; i++) {
        if (pool->workers[i].proc != NULL) {
            map[n - 2] = i;
            it[n++] = (mp_waitable_t){.kind = MP_WAIT_PROCESS,
                                      .u.process = pool->workers[i].proc};
        }
    }
    int r = mp_wait_any(it, n, next_task_timeout(pool));
    if (r < 0) {
        /* Only MP_ENOMEM is possible here: without a way to wait, the
         * pool cannot go on. */
        char why[96];
        snprintf(why, sizeof why, "cannot wait for workers: %s",
                 mp_strerror(r));
        pthread_mutex_lock(&pool->mu);
        set_broken_locked(pool, why);
        pthread_mutex_unlock(&pool->mu);
        return;
    }
    if (it[0].ready) {
        drain_wake(pool);
    }
    bool dead_with_job = false;
    for (size_t k = 2; k < n; k++) {
        dead_with_job |= it[k].ready && pool->workers[map[k - 2]].job != NULL;
    }
    /* Exits were seen before this drain: whatever a dead worker put before
     * it died is in the queue now. */
    drain_results(pool, dead_with_job);
    for (size_t k = 2; k < n; k++) {
        if (it[k].ready) {
            worker_exited(pool, map[k - 2]);
        }
    }
    expire_tasks(pool);
}

/* The result-handler thread. */
static void *
handler_main(void *arg)
{
    mp_pool_t *pool = arg;
    int err = 0;
    for (int i = 0; i < pool->nproc && err == 0; i++) {
        err = spawn_worker(pool, i);
    }
    pthread_mutex_lock(&pool->mu);
    pool->started = true;
    pool->start_err = err;
    if (err != 0) {
        pool->state = POOL_TERMINATE;
    }
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        if (pool->state == POOL_TERMINATE || pool->broken) {
            int code = pool->broken ? MP_EBROKEN : MP_ECANCELED;
            char why[sizeof pool->broken_msg];
            snprintf(why, sizeof why, "%s",
                     pool->broken ? pool->broken_msg
                                  : "the pool was terminated");
            pthread_mutex_unlock(&pool->mu);
            shutdown_all(pool, code, why);
            break;
        }
        dispatch_locked(pool);
        bool finished = pool->state == POOL_CLOSE && live_workers(pool) == 0;
        pthread_mutex_unlock(&pool->mu);
        if (finished) {
            break;
        }
        wait_and_handle(pool);
    }
    pthread_mutex_lock(&pool->mu);
    pool->done = true;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* Frees a pool whose handler never ran or was reaped. */
static void
pool_free(mp_pool_t *pool)
{
    if (pool->results != NULL) {
        mp_queue_destroy(pool->results);
    }
    if (pool->wake_fd >= 0) {
        mp__plat_close(pool->wake_fd);
    }
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    mp__shared_free((void *)pool->task_started);
    mp__free(pool->items);
    mp__free(pool->item_slot);
    mp__free(pool->winfo);
    mp__free(pool->workers);
    mp__free(pool);
}

int
mp_pool_create(mp_pool_t **out, const mp_pool_opts_t *opts)
{
    mp_pool_opts_t o = opts != NULL ? *opts : (mp_pool_opts_t){0};
    if (out == NULL || o.processes < 0 || o.maxtasksperchild < 0 ||
        o.task_timeout_ms < 0) {
        return MP_EINVAL;
    }
    mp__init();
    mp_pool_t *pool = mp__calloc(1, sizeof *pool);
    if (pool == NULL) {
        return MP_ENOMEM;
    }
    pthread_mutex_init(&pool->mu, NULL);
    mp__pool_cond_init(&pool->cv);
    pool->nproc = o.processes > 0 ? o.processes : mp_cpu_count();
    pool->maxtasks = o.maxtasksperchild;
    pool->init = o.initializer;
    pool->initarg = o.initarg;
    pool->task_timeout_ms = o.task_timeout_ms;
    /* Capped far beyond any real run, so that now + timeout never
     * overflows. */
    pool->task_timeout_ns = o.task_timeout_ms > INT64_MAX / 4 / 1000000
                                ? INT64_MAX / 4
                                : (int64_t)o.task_timeout_ms * 1000000;
    pool->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int err = pool->wake_fd < 0 ? -errno : 0;
    pool->workers = mp__calloc((size_t)pool->nproc, sizeof *pool->workers);
    pool->items = mp__calloc((size_t)pool->nproc + 2, sizeof *pool->items);
    pool->item_slot = mp__calloc((size_t)pool->nproc, sizeof(int));
    pool->winfo = mp__calloc((size_t)pool->nproc, sizeof *pool->winfo);
    pool->task_started =
        mp__shared_alloc((size_t)pool->nproc * sizeof *pool->task_started);
    if (err == 0 && (pool->workers == NULL || pool->items == NULL ||
                     pool->item_slot == NULL || pool->task_started == NULL ||
                     pool->winfo == NULL)) {
        err = MP_ENOMEM;
    }
    if (err == 0) {
        err = mp_simplequeue_create(&pool->results);
    }
    if (err == 0) {
        err = -pthread_create(&pool->thread, NULL, handler_main, pool);
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

/* Builds a job running fn over nitems items (item_size bytes each, or
 * MP__ITEM_VAR) whose input takes data bytes, and stores where the input
 * goes in *dst. Returns it, or NULL when out of memory. */
mp__job_t *
mp__pool_job_alloc(mp_pool_t *pool, mp_pool_fn fn, uint64_t item_size,
                   size_t nitems, size_t data, char **dst)
{
    Dl_info di;
    mp__task_hdr_t th = {
        .kind = MP__TASK_RUN, .item_size = item_size, .nitems = nitems};
    void *addr = (void *)(uintptr_t)fn;
    const char *fname = "";
    if (dladdr(addr, &di) != 0 && di.dli_fname != NULL &&
        di.dli_fbase != NULL) {
        fname = di.dli_fname;
        th.offset = (uintptr_t)addr - (uintptr_t)di.dli_fbase;
    } else {
        th.offset = (uintptr_t)addr; /* not in a module: the fork's address */
    }
    th.fname_len = (uint32_t)strlen(fname);
    mp__job_t *j = mp__calloc(1, sizeof *j);
    if (j == NULL) {
        return NULL;
    }
    size_t data_at = mp__task_data_offset(th.fname_len);
    j->msg_len = data_at + data;
    j->msg = mp__calloc(1, j->msg_len); /* zeroed padding */
    if (j->msg == NULL) {
        mp__free(j);
        return NULL;
    }
    char *p = j->msg;
    memcpy(p + sizeof th, fname, th.fname_len);
    j->count = nitems;
    j->pool = pool;
    /* The id goes in when the job is queued. */
    memcpy(p, &th, sizeof th);
    *dst = p + data_at;
    return j;
}

/* Builds a job running fn over nitems items of item_size bytes at in.
 * Returns it, or NULL when out of memory. */
mp__job_t *
mp__pool_job_new(mp_pool_t *pool, mp_pool_fn fn, const void *in,
                 size_t item_size, size_t nitems)
{
    char *dst;
    size_t data = item_size * nitems;
    mp__job_t *j = mp__pool_job_alloc(pool, fn, item_size, nitems, data, &dst);
    if (j != NULL && data > 0) {
        memcpy(dst, in, data);
    }
    return j;
}

/* Returns the error a submission to pool gets now, or 0; mu held. */
static int
submit_error_locked(const mp_pool_t *pool)
{
    return pool->broken ? MP_EBROKEN : pool->state != POOL_RUN ? MP_ECLOSED : 0;
}

int
mp__pool_submit_error(mp_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    int err = submit_error_locked(pool);
    pthread_mutex_unlock(&pool->mu);
    return err;
}

/* Queues jobs (a list linked by next) on the pending list, numbering
 * them. Returns 0, or the pool's submission error (nothing queued). */
int
mp__pool_submit(mp_pool_t *pool, mp__job_t *first, mp__job_t *last)
{
    pthread_mutex_lock(&pool->mu);
    int err = submit_error_locked(pool);
    if (err == 0) {
        for (mp__job_t *j = first; j != NULL; j = j->next) {
            atomic_fetch_add(&pool->n_submitted, j->count);
            j->id = ++pool->next_id;
            memcpy((char *)j->msg + offsetof(mp__task_hdr_t, id), &j->id,
                   sizeof j->id);
        }
        if (pool->pend_tail != NULL) {
            pool->pend_tail->next = first;
        } else {
            pool->pend_head = first;
        }
        pool->pend_tail = last;
    }
    pthread_mutex_unlock(&pool->mu);
    if (err == 0) {
        wake_handler(pool);
    }
    return err;
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
    mp__job_t *j = mp__pool_job_new(pool, fn, in, in_len, 1);
    mp_result_t *r = j != NULL ? mp__result_new() : NULL;
    if (r == NULL) {
        if (j != NULL) {
            mp__pool_job_free(j);
        }
        return MP_ENOMEM;
    }
    mp__result_set_callbacks(r, cb, NULL, 0);
    j->res = r;
    int err = mp__pool_submit(pool, j, j);
    if (err != 0) {
        mp__pool_job_free(j);
        mp__result_unref(r);
        return err;
    }
    *out = r;
    return 0;
}

int
mp_pool_apply(mp_pool_t *pool, mp_pool_fn fn, const void *in, size_t in_len,
              void **out, size_t *out_len, mp_duration_t timeout)
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
    err = mp_result_get(r, out, out_len, timeout);
    mp_result_destroy(r);
    return err;
}

int
mp_pool_stats(mp_pool_t *pool, mp_pool_stats_t *st,
              mp_pool_worker_info_t *workers, size_t nworkers)
{
    if (pool == NULL || st == NULL || (workers == NULL && nworkers > 0)) {
        return MP_EINVAL;
    }
    *st = (mp_pool_stats_t){
        .submitted = atomic_load(&pool->n_submitted),
        .done = atomic_load(&pool->n_done),
        .failed = atomic_load(&pool->n_failed),
        .timed_out = atomic_load(&pool->n_timed_out),
        .callback_errors = atomic_load(&pool->n_cb_errors),
        .processes = pool->nproc,
    };
    size_t n = nworkers < (size_t)pool->nproc ? nworkers : (size_t)pool->nproc;
    pthread_mutex_lock(&pool->mu);
    if (n > 0) {
        memcpy(workers, pool->winfo, n * sizeof *workers);
    }
    pthread_mutex_unlock(&pool->mu);
    return (int)n;
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
    wake_handler(pool);
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
    pool_free(pool);
}
