/* SPDX-License-Identifier: MIT */
/* supervisor.c - the pool's workers as processes: starting one into a
 * slot, reaping it, what happens when one exits (its tasks settled, a
 * replacement started, failed starts counted), breaking the pool, and the
 * final shutdown that kills every worker and fails what is left.
 *
 * Only the handler thread calls these (handler.c): it owns the workers,
 * and starts them itself so that a daemon worker's parent-death signal is
 * tied to the thread that lives as long as the pool. A worker is started
 * with the pool's start method (worker_boot.c) with its own bounded inbox;
 * its slot's incarnation number (gen) tells its replies from those of the
 * worker it replaced.
 *
 * At an exit, the handler has first drained the result queue (a result
 * put before the exit is found there). The worker published the id of
 * each task it started (launch.started, in shared memory), and runs its
 * inbox in order: the tasks up to the started one failed with it
 * (MP_EWORKER, with the exit status as cause; MP_ETIMEDOUT for a worker
 * killed for the task timeout), the ones after it never ran and go back
 * to the pending list. A worker that dies before READY counts as a failed
 * start; too many in a row, or an initializer that fails, break the pool:
 * every task then fails with MP_EBROKEN.
 *
 * Locking: only the handler forks, reaps and changes a slot's proc, inbox
 * and timed_out; what dispatch uses of a slot changes under pool->mu. */
#include "pool_state.h"

#include <stdio.h>
#include <string.h>

/* Marks the pool broken with why; pool->mu held. */
void
mp__pool_set_broken_locked(mp_pool_t *pool, const char *why)
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

/* Starts the worker of slot i with the pool's start method (handler
 * thread, mu not held). Returns 0 or a negative error with the slot left
 * empty. */
int
mp__pool_spawn_worker(mp_pool_t *pool, int i)
{
    mp__worker_t *w = &pool->workers[i];
    /* Bounded: it never holds more than depth tasks and a STOP, and a
     * small ring is quick to set up. */
    int err = mp__pool_launch_queue(&pool->launch, (size_t)pool->depth + 1,
                                    &w->inbox);
    if (err != 0) {
        w->inbox = NULL;
        return err;
    }
    /* No task of this slot's new worker has started. */
    atomic_store(&pool->launch.started[i], 0);
    w->ctx = (mp__worker_ctx_t){.inbox = w->inbox,
                                .results = pool->results,
                                .maxtasks = pool->maxtasks,
                                .slot = (uint32_t)i,
                                .gen = ++pool->next_gen};
    pid_t pid = 0;
    if (pool->transport.start != NULL) {
        err = pool->transport.start(pool->transport.arg, &w->ctx, &w->remote,
                                    &pid);
    } else {
        err = mp__pool_launch_worker(&pool->launch, &w->ctx, &w->proc);
        pid = err == 0 ? mp_process_pid(w->proc) : 0;
    }
    if (err != 0) {
        mp_queue_destroy(w->inbox);
        w->inbox = NULL;
        set_winfo(pool, i, MP_POOL_WORKER_STOPPED, 0);
        return err;
    }
    w->timed_out = false;
    pthread_mutex_lock(&pool->mu);
    w->head = w->tail = NULL;
    w->njobs = 0;
    w->bytes = 0;
    w->ntasks = 0;
    w->ready = false;
    w->stopping = false;
    w->deadline = 0;
    pool->winfo[i].state = MP_POOL_WORKER_STARTING;
    pool->winfo[i].pid = pid;
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

/* Reaps the exited worker of slot i and empties the slot; the stats view
 * shows the slot in state, without a pid, before the pid can be reused.
 * Its task list is left for the caller. */
static void
reap_worker(mp_pool_t *pool, int i, int state, int *exitcode)
{
    mp__worker_t *w = &pool->workers[i];
    pthread_mutex_lock(&pool->mu);
    /* Dispatch stops using the inbox before it goes. */
    w->ready = false;
    pool->winfo[i].state = state;
    pool->winfo[i].pid = 0;
    pthread_mutex_unlock(&pool->mu);
    if (w->remote != NULL) {
        pool->transport.reap(w->remote, exitcode);
    } else {
        MP__ASSERT(mp_process_join(w->proc, MP_WAIT_FOREVER) == 0);
        MP__ASSERT(mp_process_exitcode(w->proc, exitcode) == 0);
        mp_process_destroy(w->proc);
    }
    mp_queue_destroy(w->inbox);
    w->proc = NULL;
    w->remote = NULL;
    w->inbox = NULL;
}

/* Takes worker w's whole task list (mu held). */
static mp__job_t *
take_jobs_locked(mp__worker_t *w)
{
    mp__job_t *list = w->head;
    w->head = w->tail = NULL;
    w->njobs = 0;
    w->bytes = 0;
    return list;
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

void
mp__pool_worker_kill(mp_pool_t *pool, int i)
{
    mp__worker_t *w = &pool->workers[i];
    if (w->remote != NULL) {
        pool->transport.kill(w->remote);
    } else {
        (void)mp_process_kill(w->proc);
    }
}

mp_waitable_t
mp__pool_worker_waitable(mp_pool_t *pool, int i)
{
    mp__worker_t *w = &pool->workers[i];
    if (w->remote != NULL) {
        return pool->transport.waitable(w->remote);
    }
    return (mp_waitable_t){.kind = MP_WAIT_PROCESS, .u.process = w->proc};
}

/* Counts live workers. */
int
mp__pool_live_workers(const mp_pool_t *pool)
{
    int n = 0;
    for (int i = 0; i < pool->nproc; i++) {
        n += mp__worker_live(&pool->workers[i]);
    }
    return n;
}

/* Settles the tasks a dead worker held (list, oldest first; mu not held):
 * those up to the one it started (by the published id; every earlier one
 * should have been answered) fail with MP_EWORKER and the cause, or the
 * head with MP_ETIMEDOUT when the worker was killed for the timeout (even
 * if it never started: requeueing it could time out again forever); the
 * ones after it never ran and are returned, in order, for the pending
 * list. */
static mp__job_t *
settle_dead_jobs(mp_pool_t *pool, mp__job_t *list, uint64_t started,
                 bool timed_out, int code)
{
    bool found = false;
    for (mp__job_t *j = list; j != NULL; j = j->next) {
        found |= j->id == started;
    }
    /* Whether we are at or before the started task. */
    bool before = found;
    mp__job_t *rq_head = NULL, *rq_tail = NULL;
    for (mp__job_t *j = list, *next; j != NULL; j = next) {
        next = j->next;
        j->next = NULL;
        bool is_started = j->id == started;
        if (timed_out && j == list) {
            char why[128];
            snprintf(why, sizeof why,
                     "task timed out after %lld ms; its worker was killed",
                     (long long)pool->task_timeout_ms);
            mp__pool_job_fail(j, MP_ETIMEDOUT, why, false, 0);
        } else if (before) {
            char why[128];
            describe_exit(why, sizeof why, code);
            mp__pool_job_fail(j, MP_EWORKER, why, true, code);
        } else if (rq_tail != NULL) {
            rq_tail->next = j;
            rq_tail = j;
        } else {
            rq_head = rq_tail = j;
        }
        if (is_started) {
            before = false;
        }
    }
    return rq_head;
}

/* Deals with the worker of slot i, which exited: fails the task it was
 * running, requeues the ones it had not started, counts a failed start,
 * and replaces it while the pool has work for it (handler thread, mu not
 * held, results drained). */
void
mp__pool_worker_exited(mp_pool_t *pool, int i)
{
    mp__worker_t *w = &pool->workers[i];
    bool was_ready = w->ready;
    bool stopping = w->stopping;
    bool timed_out = w->timed_out;
    int code;
    reap_worker(pool, i, MP_POOL_WORKER_RESTARTING, &code);
    pthread_mutex_lock(&pool->mu);
    mp__job_t *list = take_jobs_locked(w);
    pthread_mutex_unlock(&pool->mu);
    mp__job_t *rq = settle_dead_jobs(
        pool, list, atomic_load(&pool->launch.started[i]), timed_out, code);
    pthread_mutex_lock(&pool->mu);
    mp__pool_requeue_locked(pool, rq);
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
        mp__pool_set_broken_locked(pool, msg);
        wanted = false;
    }
    pool->winfo[i].state =
        wanted ? MP_POOL_WORKER_RESTARTING : MP_POOL_WORKER_STOPPED;
    pool->winfo[i].pid = 0;
    pthread_mutex_unlock(&pool->mu);
    if (wanted && mp__pool_spawn_worker(pool, i) != 0) {
        pthread_mutex_lock(&pool->mu);
        if (mp__pool_live_workers(pool) == 0) {
            mp__pool_set_broken_locked(pool, "cannot start a worker");
        }
        pthread_mutex_unlock(&pool->mu);
    }
}

/* Fails every job of a list (linked by next) with err and why. */
static void
fail_list(mp__job_t *j, int err, const char *why)
{
    while (j != NULL) {
        mp__job_t *next = j->next;
        mp__pool_job_fail(j, err, why, false, 0);
        j = next;
    }
}

/* Kills and reaps every worker, then fails every task left with err
 * (handler thread, mu not held). */
void
mp__pool_shutdown_all(mp_pool_t *pool, int err, const char *why)
{
    for (int i = 0; i < pool->nproc; i++) {
        if (mp__worker_live(&pool->workers[i])) {
            mp__pool_worker_kill(pool, i);
        }
    }
    for (int i = 0; i < pool->nproc; i++) {
        mp__worker_t *w = &pool->workers[i];
        if (mp__worker_live(w)) {
            int code;
            reap_worker(pool, i, MP_POOL_WORKER_STOPPED, &code);
        }
        pthread_mutex_lock(&pool->mu);
        mp__job_t *list = take_jobs_locked(w);
        pthread_mutex_unlock(&pool->mu);
        fail_list(list, err, why);
    }
    mp__pool_fail_refused(pool);
    pthread_mutex_lock(&pool->mu);
    mp__job_t *j = pool->pend_head;
    pool->pend_head = pool->pend_tail = NULL;
    pthread_mutex_unlock(&pool->mu);
    fail_list(j, err, why);
}
