/* SPDX-License-Identifier: MIT */
/* dispatch.c - who runs what: the pending list of submitted jobs, handing
 * them out to the workers' inboxes, stealing for idle workers, stopping
 * the workers of a closed pool, and the submission services the API files
 * call (mp__pool_submit, mp__pool_submit_error).
 *
 * A worker that said READY (its initializer ran) gets up to pool->depth
 * tasks queued ahead in its inbox (prefetch: it takes the next one without
 * waiting for the pool), handed out breadth-first, while its inbox holds
 * less than POOL_PREFETCH_BYTES. Each task is put on the worker's task
 * list, oldest first, before its inbox put, so the worker's death always
 * names the tasks it held (supervisor.c settles them). An idle worker
 * takes the oldest not yet taken task from a busier worker's inbox (a get
 * from that inbox: the queue hands a message out once, so the two cannot
 * both run it).
 *
 * Submissions dispatch in the caller's thread: the handler is woken (its
 * waker) only when it has something to do now - fail a job an inbox
 * refused, or wait for a new task's timeout. A pool with a task timeout
 * queues nothing ahead, so its deadline is set when a task goes into an
 * idle worker's inbox (the worker starts it at once).
 *
 * Every *_locked function runs with pool->mu held, in any thread; the
 * others take it themselves. */
#include "pool_state.h"

#include <string.h>

#include "../platform/platform.h"

/* Unlinks the task numbered id from worker w's list and returns it, or
 * NULL when w does not hold it (mu held). */
mp__job_t *
mp__pool_unlink_job_locked(mp__worker_t *w, uint64_t id)
{
    mp__job_t *prev = NULL;
    for (mp__job_t *j = w->head; j != NULL; prev = j, j = j->next) {
        if (j->id != id) {
            continue;
        }
        if (prev != NULL) {
            prev->next = j->next;
        } else {
            w->head = j->next;
        }
        if (w->tail == j) {
            w->tail = prev;
        }
        w->njobs--;
        w->bytes -= j->msg_len + j->ext_len;
        j->next = NULL;
        return j;
    }
    return NULL;
}

/* Puts the list of jobs first .. (linked by next) back at the head of the
 * pending list, in their order (mu held). */
void
mp__pool_requeue_locked(mp_pool_t *pool, mp__job_t *first)
{
    if (first == NULL) {
        return;
    }
    mp__job_t *last = first;
    while (last->next != NULL) {
        last = last->next;
    }
    last->next = pool->pend_head;
    pool->pend_head = first;
    if (pool->pend_tail == NULL) {
        pool->pend_tail = last;
    }
}

/* Whether worker w may be given job j, one more task (mu held). */
static bool
can_take_locked(const mp_pool_t *pool, const mp__worker_t *w,
                const mp__job_t *j)
{
    return w->ready && !w->stopping && w->njobs < pool->depth &&
           (w->njobs == 0 ||
            w->bytes + j->msg_len + j->ext_len <= POOL_PREFETCH_BYTES) &&
           (pool->maxtasks == 0 || w->ntasks < pool->maxtasks);
}

/* Whether job j reads its input in place and that input is gone: its map
 * returned (timed out, or a later part was refused; mu held). */
static bool
input_gone_locked(const mp__job_t *j)
{
    return j->ext != NULL && *j->ext_gone;
}

/* Puts job j on the failed list, which the handler fails with err outside
 * the lock (mu held). */
static void
fail_later_locked(mp_pool_t *pool, mp__job_t *j, int err)
{
    j->put_err = err;
    j->next = pool->failed;
    pool->failed = j;
}

/* Puts job j into the inbox of slot i's worker and appends it to the
 * worker's list. A job the inbox refuses goes back to the pending list
 * when the worker has tasks queued already (they may be what fills it),
 * else to the failed list, and so does a job whose input in place is gone
 * (one taken back from an inbox: pending ones are dropped before they
 * come here). Returns whether j was queued (mu held). */
static bool
assign_locked(mp_pool_t *pool, int i, mp__job_t *j)
{
    mp__worker_t *w = &pool->workers[i];
    bool gone = input_gone_locked(j);
    int err = gone ? MP_ETIMEDOUT
                   : mp__queue_put_two(w->inbox, j->msg, j->msg_len, j->ext,
                                       j->ext_len, MP_NO_WAIT);
    if (err != 0 && !gone && (err == MP_EFULL || w->njobs > 0)) {
        j->next = NULL;
        mp__pool_requeue_locked(pool, j);
        return false;
    }
    if (err != 0) {
        fail_later_locked(pool, j, err);
        return false;
    }
    j->next = NULL;
    if (w->tail != NULL) {
        w->tail->next = j;
    } else {
        w->head = j;
        /* The worker starts it now, so the timeout counts from here (a
         * pool with a timeout queues nothing ahead). */
        w->deadline = pool->task_timeout_ns > 0
                          ? mp__deadline_after_ns(pool->task_timeout_ns)
                          : 0;
    }
    w->tail = j;
    w->njobs++;
    w->bytes += j->msg_len + j->ext_len;
    w->ntasks++;
    pool->winfo[i].state = MP_POOL_WORKER_BUSY;
    return true;
}

void
mp__pool_input_gone(mp_pool_t *pool, bool *gone)
{
    pthread_mutex_lock(&pool->mu);
    *gone = true;
    pthread_mutex_unlock(&pool->mu);
}

/* Pops the head of the pending list (mu held, list not empty). */
static mp__job_t *
pop_pending_locked(mp_pool_t *pool)
{
    mp__job_t *j = pool->pend_head;
    pool->pend_head = j->next;
    if (pool->pend_head == NULL) {
        pool->pend_tail = NULL;
    }
    j->next = NULL;
    return j;
}

/* Moves the jobs at the head of the pending list whose input in place is
 * gone to the failed list (mu held). Done before every hand-out, so that
 * a timed-out map's unrun chunks, however many, never take a round of
 * dispatch from the tasks queued behind them. */
static void
drop_gone_pending_locked(mp_pool_t *pool)
{
    while (pool->pend_head != NULL && input_gone_locked(pool->pend_head)) {
        fail_later_locked(pool, pop_pending_locked(pool), MP_ETIMEDOUT);
    }
}

/* Gives idle slot i's worker the oldest task not yet taken from the
 * busiest other worker's inbox. Returns whether it got one (mu held). */
static bool
steal_locked(mp_pool_t *pool, int i)
{
    int victim = -1;
    for (int k = 0; k < pool->nproc; k++) {
        const mp__worker_t *v = &pool->workers[k];
        if (k != i && v->ready && v->njobs >= 2 &&
            (victim < 0 || v->njobs > pool->workers[victim].njobs)) {
            victim = k;
        }
    }
    if (victim < 0) {
        return false;
    }
    mp__worker_t *v = &pool->workers[victim];
    void *msg;
    ssize_t n = mp_queue_get(v->inbox, &msg, MP_NO_WAIT);
    if (n < 0) {
        return false; /* it took them all meanwhile */
    }
    mp__task_hdr_t th = {0};
    if ((size_t)n >= sizeof th) {
        memcpy(&th, msg, sizeof th);
    }
    mp_free(msg);
    /* Only tasks are in a busy worker's inbox; the worker never sees this
     * one, and its copy lives on in the job. */
    mp__job_t *j =
        th.kind == MP__TASK_RUN ? mp__pool_unlink_job_locked(v, th.id) : NULL;
    if (j == NULL) {
        return false;
    }
    v->ntasks--;
    return assign_locked(pool, i, j);
}

/* Gives pending tasks to workers with room, breadth-first, then lets idle
 * workers take queued-ahead tasks from busy ones (mu held; any thread). */
void
mp__pool_dispatch_locked(mp_pool_t *pool)
{
    drop_gone_pending_locked(pool);
    for (int round = 0; round < pool->depth && pool->pend_head != NULL;
         round++) {
        for (int i = 0; i < pool->nproc && pool->pend_head != NULL; i++) {
            mp__worker_t *w = &pool->workers[i];
            if (w->njobs <= round &&
                can_take_locked(pool, w, pool->pend_head)) {
                (void)assign_locked(pool, i, pop_pending_locked(pool));
                drop_gone_pending_locked(pool);
            }
        }
    }
    if (pool->pend_head != NULL || pool->depth < 2) {
        return;
    }
    for (int i = 0; i < pool->nproc; i++) {
        mp__worker_t *w = &pool->workers[i];
        if (w->njobs == 0 && w->ready && !w->stopping &&
            (pool->maxtasks == 0 || w->ntasks < pool->maxtasks)) {
            (void)steal_locked(pool, i);
        }
    }
}

/* Once a closed pool has no work left, tells the workers to stop
 * (handler thread, mu held). A batch still being queued in parts is work
 * to come. */
void
mp__pool_stop_idle_locked(mp_pool_t *pool)
{
    bool busy =
        pool->pend_head != NULL || pool->failed != NULL || pool->submitting > 0;
    for (int i = 0; i < pool->nproc; i++) {
        busy |= pool->workers[i].head != NULL;
    }
    if (pool->state != POOL_CLOSE || busy) {
        return;
    }
    mp__task_hdr_t stop = {.kind = MP__TASK_STOP};
    for (int i = 0; i < pool->nproc; i++) {
        mp__worker_t *w = &pool->workers[i];
        if (mp__worker_live(w) && !w->stopping) {
            /* A put that fails leaves the worker to the kill below. */
            w->stopping =
                mp_queue_put(w->inbox, &stop, sizeof stop, MP_NO_WAIT) == 0;
        }
    }
}

/* Fails the jobs of the failed list with their put errors (handler
 * thread, mu not held). */
void
mp__pool_fail_refused(mp_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    mp__job_t *j = pool->failed;
    pool->failed = NULL;
    pthread_mutex_unlock(&pool->mu);
    while (j != NULL) {
        mp__job_t *next = j->next;
        mp__pool_job_fail(j, j->put_err, mp_strerror(j->put_err), false, 0);
        j = next;
    }
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

/* The error a part of a batch being queued in parts (after its first)
 * gets now, or 0: a pool closed since the first part still takes the
 * rest of the batch (the batch was accepted before the close, as Python's
 * map is), a broken or terminated one does not; mu held. */
static int
submit_more_error_locked(const mp_pool_t *pool)
{
    return pool->broken                    ? MP_EBROKEN
           : pool->state == POOL_TERMINATE ? MP_ECLOSED
                                           : 0;
}

int
mp__pool_submit_part(mp_pool_t *pool, mp__job_t *first, mp__job_t *last,
                     mp__submit_part_t part)
{
    pthread_mutex_lock(&pool->mu);
    bool later = part == MP__SUBMIT_MORE || part == MP__SUBMIT_REST;
    int err =
        later ? submit_more_error_locked(pool) : submit_error_locked(pool);
    if (err == 0 && part == MP__SUBMIT_FIRST) {
        pool->submitting++;
    } else if (later && (err != 0 || part == MP__SUBMIT_REST)) {
        pool->submitting--; /* the batch's parts end here */
    }
    if (err == 0 && first != NULL) {
        uint64_t items = 0;
        for (mp__job_t *j = first; j != NULL; j = j->next) {
            items += j->count;
            j->id = ++pool->next_id;
            memcpy((char *)j->msg + offsetof(mp__task_hdr_t, id), &j->id,
                   sizeof j->id);
        }
        atomic_fetch_add(&pool->n_submitted, items);
        if (pool->pend_tail != NULL) {
            pool->pend_tail->next = first;
        } else {
            pool->pend_head = first;
        }
        pool->pend_tail = last;
        mp__pool_dispatch_locked(pool);
    }
    /* The handler is woken only when it has something to do now: fail a
     * job an inbox refused, wait for a new task's timeout, or stop the
     * workers of a closed pool whose last parts were queued (or failed)
     * while it slept. */
    bool wake =
        (err == 0 && (pool->failed != NULL || pool->task_timeout_ns > 0)) ||
        (later && (err != 0 || part == MP__SUBMIT_REST) &&
         pool->state != POOL_RUN);
    /* A handler that sleeps with the result queue out of its wait (a
     * caller took the replies, mp__pool_taker) must see these replies,
     * unless they are an apply's that its waiter takes and the task is in
     * a worker's inbox already: whoever waits for such a result, or asks
     * whether it is ready, takes the replies itself (and the handler's
     * next wake-up for anything else brings the queue back into its
     * wait). A task left pending waits for a reply to free a worker: the
     * handler is woken to take them. */
    bool takeable = first != NULL && first == last && first->res != NULL &&
                    mp__result_takeable(first->res);
    wake |= err == 0 && first != NULL && pool->handler_blind && !pool->taking &&
            (!takeable || pool->pend_head != NULL);
    pthread_mutex_unlock(&pool->mu);
    if (wake) {
        mp__plat_waker_signal(pool->wake_fd);
    }
    return err;
}

int
mp__pool_submit(mp_pool_t *pool, mp__job_t *first, mp__job_t *last)
{
    return mp__pool_submit_part(pool, first, last, MP__SUBMIT_ALL);
}
