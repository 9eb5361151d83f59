/* SPDX-License-Identifier: MIT */
/* handler.c - the pool's result-handler thread (mp__pool_handler_main):
 * it forks the first workers, then loops: dispatch, fail what an inbox
 * refused, stop the workers of a closed pool once idle, then wait with
 * mp_wait_any on the pool's waker, the result queue and every worker's
 * sentinel, and handle what came - replies (READY, INITFAIL, DONE), exits
 * (supervisor.c) and task timeouts. It ends after the workers are gone.
 *
 * While workers hold tasks it first watches the result queue for a short
 * while (HANDLER_SPIN_NS), yielding the CPU, before it sleeps: their
 * results are usually microseconds away, and a sleeping handler costs each
 * result a wake-up. It spins only while that pays (mp__spin_*, the rule of
 * every spinning wait of the library): windows that keep closing empty (a
 * slow task, or a yield that handed the CPU to another program for a
 * whole time slice) make the next waits sleep at once.
 *
 * Replies may also be handled by another thread while the handler waits
 * (it holds hmu but then): one that takes them from the queue
 * (mp__pool_help_replies; the owner of a pool that takes its replies,
 * mp__pool_owner_takes_replies, whose result queue the handler then
 * leaves out of its wait), or one that brings a transport's reply and
 * handles it instead of queueing it (mp__pool_take_reply, for a pool
 * given no user callbacks, which run on this thread only), or a caller
 * waiting for an apply's result (mp__pool_taker, one at a time), while
 * this thread sleeps "blind", with the result queue out of its wait.
 *
 * A per-task timeout (task_timeout) is a deadline set when a task goes
 * into an idle worker's inbox (dispatch.c); the wait ends at the nearest
 * deadline and the handler kills a worker whose task is still running
 * (SIGKILL: a task cannot ignore it). The exit is then handled like any
 * death, except that the task fails with MP_ETIMEDOUT (even if it never
 * started: requeueing it could time out again forever). */
#include "pool_state.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "../platform/platform.h"

/* How long the handler watches the result queue before it sleeps. */
#define HANDLER_SPIN_NS 50000

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
    mp__worker_t *w = &pool->workers[rh.slot];
    if (!mp__worker_live(w) || w->ctx.gen != rh.gen) {
        return; /* from an incarnation already reaped */
    }
    if (rh.kind == MP__REPLY_READY) {
        pthread_mutex_lock(&pool->mu);
        w->ready = true;
        pool->start_failures = 0;
        pool->winfo[rh.slot].state = MP_POOL_WORKER_IDLE;
        pthread_mutex_unlock(&pool->mu);
    } else if (rh.kind == MP__REPLY_INITFAIL) {
        char why[96];
        snprintf(why, sizeof why, "initializer failed (returned %lld)",
                 (long long)rh.init_rc);
        pthread_mutex_lock(&pool->mu);
        mp__pool_set_broken_locked(pool, why);
        pthread_mutex_unlock(&pool->mu);
    } else if (rh.kind == MP__REPLY_DONE) {
        pthread_mutex_lock(&pool->mu);
        mp__job_t *j = mp__pool_unlink_job_locked(w, rh.id);
        if (j != NULL) {
            pool->winfo[rh.slot].tasks++;
            if (w->head == NULL) {
                pool->winfo[rh.slot].state = MP_POOL_WORKER_IDLE;
            } else if (pool->task_timeout_ns > 0) {
                /* The next one starts about now. */
                w->deadline = mp__deadline_after_ns(pool->task_timeout_ns);
            }
        }
        pthread_mutex_unlock(&pool->mu);
        if (j != NULL) {
            mp__pool_job_complete(j, &rh, msg + sizeof rh, msg + len);
        }
    }
}

/* Takes every message from the result queue; with linger, waits a little
 * for messages still being put (a dead worker's result may sit behind a
 * live worker's half-written one). Each reply is read where it lies in the
 * queue's memory and given back once handled: a map's results go from
 * there straight into the caller's array, without a copy into a buffer of
 * the handler's first (issue 20). Returns how many it took (hmu held). */
static size_t
drain_results(mp_pool_t *pool, bool linger)
{
    mp_duration_t wait = linger ? 20 : 0;
    for (size_t taken = 0;; taken++) {
        void *msg = NULL;
        ssize_t n = mp_queue_get_begin(pool->results, &msg, wait);
        if (n < 0) {
            /* MP_EEMPTY, or no room to hold one (the reply stays queued,
             * and the next round tries again). */
            return taken;
        }
        handle_reply(pool, msg, (size_t)n);
        (void)mp_queue_get_release(pool->results, msg);
        pool->last_reply_ns = mp__now_ns();
    }
}

/* After replies were handled outside the handler thread (hmu not held):
 * the workers they freed take the pending tasks now, as after a
 * submission, and the handler, which no reply woke, is woken where they
 * leave it work: a task an inbox refused, a pool broken (an initializer
 * failed), or a closed or terminated pool, whose workers it stops once
 * idle. */
static void
after_helped(mp_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    mp__pool_dispatch_locked(pool);
    bool wake = pool->failed != NULL || pool->broken || pool->state != POOL_RUN;
    pthread_mutex_unlock(&pool->mu);
    if (wake) {
        mp__plat_waker_signal(pool->wake_fd);
    }
}

size_t
mp__pool_help_replies(mp_pool_t *pool)
{
    if (mp_queue_empty(pool->results) ||
        pthread_mutex_trylock(&pool->hmu) != 0) {
        return 0; /* nothing there, or the handler is at work: it takes them */
    }
    size_t taken = drain_results(pool, false);
    pthread_mutex_unlock(&pool->hmu);
    if (taken > 0) {
        after_helped(pool);
    }
    return taken;
}

void
mp__pool_note_callbacks(mp_pool_t *pool, const mp_pool_callbacks_t *cb)
{
    if (cb != NULL && (cb->on_success != NULL || cb->on_error != NULL)) {
        atomic_store(&pool->user_callbacks, true);
        /* A taker that began its drain before it could see the flag ends
         * that drain before this task is submitted: its reply (whose
         * callback runs on the handler thread only) cannot be in it. The
         * drain holds hmu, so this is never the handler thread waiting
         * for itself; it lasts as long as the replies queued then. */
        while (atomic_load(&pool->helping)) {
            mp__plat_yield();
        }
    }
}

bool
mp__pool_take_reply(mp_pool_t *pool, const void *msg, size_t len)
{
    /* Callbacks run on the handler thread only; an earlier reply still
     * queued goes first. */
    if (atomic_load(&pool->user_callbacks) || !mp_queue_empty(pool->results)) {
        return false;
    }
    /* A caller taking its apply's replies (mp__pool_taker) holds hmu only
     * while it drains the queue, which is empty here: that is waited out
     * rather than the reply queued for it. The handler holds hmu while it
     * works: the reply is then queued for it. */
    int busy = pthread_mutex_trylock(&pool->hmu);
    while (busy != 0 && atomic_load(&pool->helping)) {
        mp__plat_yield();
        busy = pthread_mutex_trylock(&pool->hmu);
    }
    if (busy != 0) {
        return false;
    }
    bool take = mp_queue_empty(pool->results);
    if (take) {
        handle_reply(pool, msg, len);
        pool->last_reply_ns = mp__now_ns();
    }
    pthread_mutex_unlock(&pool->hmu);
    if (take) {
        after_helped(pool);
    }
    return take;
}

void
mp__pool_owner_takes_replies(mp_pool_t *pool, mp_waitable_t *replies)
{
    atomic_store_explicit(&pool->owner_takes, true, memory_order_release);
    /* Its next wait leaves the queue out. */
    mp__plat_waker_signal(pool->wake_fd);
    *replies = (mp_waitable_t){.kind = MP_WAIT_QUEUE, .u.queue = pool->results};
}

/* Returns how long the handler may wait before a task times out: the
 * time to the nearest deadline, or MP_WAIT_FOREVER (handler thread, mu
 * held). */
static mp_duration_t
next_task_timeout_locked(const mp_pool_t *pool)
{
    int64_t next = MP__NO_DEADLINE;
    for (int i = 0; i < pool->nproc; i++) {
        const mp__worker_t *w = &pool->workers[i];
        if (mp__worker_live(w) && w->head != NULL && w->deadline != 0 &&
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
    if (pool->task_timeout_ns == 0) {
        return;
    }
    int64_t now = mp__now_ns();
    pthread_mutex_lock(&pool->mu);
    for (int i = 0; i < pool->nproc; i++) {
        mp__worker_t *w = &pool->workers[i];
        if (mp__worker_live(w) && w->head != NULL && w->deadline != 0 &&
            !w->timed_out && now >= w->deadline) {
            w->timed_out = true;
            mp__pool_worker_kill(pool, i);
        }
    }
    pthread_mutex_unlock(&pool->mu);
}

/* Whether some worker holds tasks (mu held). */
static bool
tasks_out_locked(const mp_pool_t *pool)
{
    bool out = false;
    for (int i = 0; i < pool->nproc && !out; i++) {
        out = pool->workers[i].head != NULL;
    }
    return out;
}

/* Whether some worker holds tasks (handler thread, mu not held). */
static bool
tasks_out(mp_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    bool out = tasks_out_locked(pool);
    pthread_mutex_unlock(&pool->mu);
    return out;
}

/* Whether the pool has nothing for the handler to wait for but new
 * submissions and exits: running, never given a callback, no task out,
 * pending or refused, every live worker ready, no reply queued (mu
 * held). The handler then sleeps
 * blind (without the result queue): the next apply's reply is taken by
 * its waiter, and any other submission wakes it (mp__pool_submit_part). */
static bool
idle_locked(const mp_pool_t *pool)
{
    if (pool->state != POOL_RUN || pool->broken || pool->pend_head != NULL ||
        atomic_load(&pool->user_callbacks) || pool->failed != NULL ||
        tasks_out_locked(pool) || !mp_queue_empty(pool->results)) {
        return false;
    }
    for (int i = 0; i < pool->nproc; i++) {
        const mp__worker_t *w = &pool->workers[i];
        if (mp__worker_live(w) && (!w->ready || w->stopping)) {
            return false;
        }
    }
    return true;
}

/* mp__pool_taker's begin. */
static bool
take_begin(mp_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    bool take = !pool->taking && pool->state == POOL_RUN && !pool->broken &&
                !pool->done && !atomic_load(&pool->user_callbacks) &&
                !atomic_load(&pool->owner_takes);
    if (take && pool->taker_fd < 0) {
        int fd = mp__plat_waker_open();
        pool->taker_fd = fd >= 0 ? fd : -1;
        take = fd >= 0;
    }
    if (take) {
        pool->taking = true;
    }
    pthread_mutex_unlock(&pool->mu);
    return take;
}

/* The taker's turn at the result queue: drains it under hmu and returns
 * whether it may go on waiting for it. Not where a callback was given to
 * the pool (they run on the handler thread), nor where the handler holds
 * hmu while replies are queued (then they are the handler's: the taker
 * would only spin on them). */
static bool
take_replies(mp_pool_t *pool)
{
    /* Set before hmu is tried and cleared after it is let go, so that a
     * thread that finds hmu held while it is set knows it is held for a
     * drain (mp__pool_take_reply). */
    atomic_store(&pool->helping, true);
    if (pthread_mutex_trylock(&pool->hmu) != 0) {
        atomic_store(&pool->helping, false);
        return mp_queue_empty(pool->results);
    }
    bool go_on = !atomic_load(&pool->user_callbacks);
    size_t taken = go_on ? drain_results(pool, false) : 0;
    pthread_mutex_unlock(&pool->hmu);
    atomic_store(&pool->helping, false);
    if (taken > 0) {
        after_helped(pool);
    }
    return go_on;
}

/* Ends the calling thread's taking (mp__pool_taker). */
static void
end_taking(mp_pool_t *pool)
{
    /* The handler may sleep with the result queue out of its wait: it
     * takes the replies of the tasks still out from now on. Under mu, so
     * that mp_pool_destroy, which waits for the taker to leave, frees
     * nothing this thread still touches. */
    pthread_mutex_lock(&pool->mu);
    pool->taking = false;
    /* A reply still queued (this thread gave up on it, or took the byte
     * of a handler that did not sleep blind) is the handler's, and so is
     * any work but new submissions (tasks out, a worker whose READY is
     * still to come). */
    if ((pool->handler_blind && !idle_locked(pool)) ||
        !mp_queue_empty(pool->results)) {
        mp__plat_waker_signal(pool->wake_fd);
    }
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

/* take_spin's look: drains the queued replies (a caller's own among
 * them, perhaps); 1 once r is done, -1 where the replies are the
 * handler's now (take_replies), 0 to look again. */
struct own_look {
    mp_pool_t *pool;
    mp_result_t *r;
};

static int
own_reply_came(void *arg)
{
    const struct own_look *l = arg;
    if (!mp_queue_empty(l->pool->results) && !take_replies(l->pool)) {
        return -1;
    }
    return mp__result_done(l->r) ? 1 : 0;
}

/* Before the taker sleeps: watches the result queue (mp__pool_watch, up
 * to HANDLER_SPIN_NS and the deadline, learner pool->taker_learn): a
 * worker on another CPU answers an apply in microseconds, sooner than a
 * sleeping thread is woken. It drains what comes; returns whether r is
 * done. Not counted as a waiter of the queue meanwhile, so a reply costs
 * its worker no write to the queue's waker. */
static bool
take_spin(mp_pool_t *pool, mp_result_t *r, int64_t deadline)
{
    struct own_look look = {pool, r};
    return mp__pool_watch(&pool->taker_learn, HANDLER_SPIN_NS, deadline,
                          own_reply_came, &look,
                          &pool->n_taker_watches) == MP__WATCH_PAID;
}

/* mp__pool_taker's own. */
static void
take_own(mp_pool_t *pool, mp_result_t *r, int64_t deadline)
{
    if (deadline <= mp__now_ns()) {
        /* A look (mp_result_ready, a wait out of time): what is queued
         * now is drained, without a watch or a poll. */
        (void)take_replies(pool);
        end_taking(pool);
        return;
    }
    if (take_spin(pool, r, deadline)) {
        end_taking(pool);
        return;
    }
    /* Counted as a waiter of the result queue for the whole time, so that
     * a reply put while this thread looks writes its byte to the queue's
     * waker. That byte is taken without being passed on (the
     * mp__queue_poll_ack of mp_wait_any passes it on, costing a write and
     * a needless wake-up a reply): the only other waiter of this queue is
     * the handler, which looks at the queue before every sleep, and every
     * reply that woke this thread is then drained by it, or by the
     * handler, which holds hmu. */
    int qfd = mp__queue_poll_fd(pool->results);
    if (qfd >= 0) {
        mp__queue_poll_begin(pool->results);
    }
    while (qfd >= 0 && take_replies(pool) &&
           !mp__result_taker_sleep(r, pool->taker_fd)) {
        struct pollfd pf[2] = {{.fd = qfd, .events = POLLIN},
                               {.fd = pool->taker_fd, .events = POLLIN}};
        int n = mp__plat_poll_many(pf, 2, deadline);
        (void)mp__result_taker_sleep(r, -1);
        if (n > 0 && pf[0].revents != 0) {
            (void)mp__plat_waker_drain(qfd);
        }
        if (n > 0 && pf[1].revents != 0) {
            (void)mp__plat_waker_drain(pool->taker_fd);
        }
        if (n <= 0) {
            break; /* timed out (or no way to wait): the caller says so */
        }
    }
    (void)mp__result_taker_sleep(r, -1);
    if (qfd >= 0) {
        mp__queue_poll_end(pool->results);
    }
    end_taking(pool);
}

const mp__pool_taker_t mp__pool_taker = {.begin = take_begin, .own = take_own};

/* spin_for_results's look: whether replies are queued. */
static int
results_queued(void *arg)
{
    const mp_pool_t *pool = arg;
    return !mp_queue_empty(pool->results);
}

/* While workers hold tasks, their results are usually microseconds away,
 * and right after a result the next task (of a caller looping over apply)
 * often is: watches the result queue (mp__pool_watch, HANDLER_SPIN_NS,
 * learner pool->spin_learn) before the handler sleeps in mp_wait_any,
 * which costs the workers a signal of the result queue's waker per result
 * and the handler a wake-up. Returns whether results came in time. */
static bool
spin_for_results(mp_pool_t *pool)
{
    if (mp__now_ns() - pool->last_reply_ns >= HANDLER_SPIN_NS &&
        !tasks_out(pool)) {
        return false;
    }
    /* A helper may take the replies meanwhile (mp__pool_help_replies). */
    pthread_mutex_unlock(&pool->hmu);
    int w = mp__pool_watch(&pool->spin_learn, HANDLER_SPIN_NS, MP__NO_DEADLINE,
                           results_queued, pool, &pool->n_spins);
    pthread_mutex_lock(&pool->hmu);
    return w == MP__WATCH_PAID;
}

/* Waits for a reply, a worker exit or a wake-up, and handles what came
 * (handler thread, mu not held). When the spin found results, the wait
 * only looks (exits, wake-ups), and only every few rounds. A pool whose
 * owner takes its replies (mp__pool_owner_takes_replies) leaves the
 * result queue out of the wait and does not spin for it: a reply then
 * wakes only the owner; the handler drains the queue only after an exit
 * (a dead worker's last replies come before its exit is handled). */
static void
wait_and_handle(mp_pool_t *pool)
{
    bool owner = atomic_load_explicit(&pool->owner_takes, memory_order_acquire);
    /* A caller taking replies (mp__pool_taker) gets them alone: the
     * wait leaves the queue out (blind) and does not spin for it; the
     * taker wakes this thread as it leaves while tasks are still out. */
    pthread_mutex_lock(&pool->mu);
    bool blind = !owner && (pool->taking || idle_locked(pool));
    pool->handler_blind = blind;
    pthread_mutex_unlock(&pool->mu);
    bool quick = !owner && !blind && spin_for_results(pool);
    if (quick && ++pool->quick_rounds % 8 != 0) {
        drain_results(pool, false);
        expire_tasks(pool);
        return;
    }
    mp_waitable_t *it = pool->items;
    int *map = pool->item_slot;
    size_t n = 0;
    it[n++] = (mp_waitable_t){.kind = MP_WAIT_FD, .u.fd = pool->wake_fd};
    if (!owner && !blind) {
        it[n++] =
            (mp_waitable_t){.kind = MP_WAIT_QUEUE, .u.queue = pool->results};
    }
    size_t fixed = n; /* it[fixed + k] is worker map[k]'s */
    for (int i = 0; i < pool->nproc; i++) {
        if (mp__worker_live(&pool->workers[i])) {
            map[n - fixed] = i;
            it[n++] = mp__pool_worker_waitable(pool, i);
        }
    }
    pthread_mutex_lock(&pool->mu);
    mp_duration_t timeout = quick ? 0 : next_task_timeout_locked(pool);
    pthread_mutex_unlock(&pool->mu);
    /* A helper may take the replies meanwhile (mp__pool_help_replies);
     * the exits and wake-ups are left to this thread. Counted as waiting
     * only once hmu is free (mp__pool_spin_counts). */
    pthread_mutex_unlock(&pool->hmu);
    if (!quick) {
        atomic_fetch_add_explicit(&pool->n_sleeps, 1, memory_order_relaxed);
    }
    int r = mp_wait_any(it, n, timeout);
    if (!quick) {
        atomic_fetch_add_explicit(&pool->n_woken, 1, memory_order_relaxed);
    }
    pthread_mutex_lock(&pool->hmu);
    if (r < 0) {
        /* Only MP_ENOMEM is possible here: without a way to wait, the
         * pool cannot go on. */
        char why[96];
        snprintf(why, sizeof why, "cannot wait for workers: %s",
                 mp_strerror(r));
        pthread_mutex_lock(&pool->mu);
        mp__pool_set_broken_locked(pool, why);
        pthread_mutex_unlock(&pool->mu);
        return;
    }
    if (it[0].ready) {
        (void)mp__plat_waker_drain(pool->wake_fd);
    }
    bool dead_with_job = false, exited = false;
    pthread_mutex_lock(&pool->mu);
    pool->handler_blind = false;
    for (size_t k = fixed; k < n; k++) {
        dead_with_job |=
            it[k].ready && pool->workers[map[k - fixed]].head != NULL;
        exited |= it[k].ready;
    }
    pthread_mutex_unlock(&pool->mu);
    /* Exits were seen before this drain: whatever a dead worker put before
     * it died is in the queue now. The owner of a pool that takes its
     * replies takes them but those (an exit is handled after them). */
    if (!owner || exited) {
        drain_results(pool, dead_with_job);
    }
    for (size_t k = fixed; k < n; k++) {
        if (it[k].ready) {
            mp__pool_worker_exited(pool, map[k - fixed]);
        }
    }
    expire_tasks(pool);
}

/* The result-handler thread. */
void *
mp__pool_handler_main(void *arg)
{
    mp_pool_t *pool = arg;
    int err = 0;
    /* Held but while it waits for results (wait_and_handle). */
    pthread_mutex_lock(&pool->hmu);
    for (int i = 0; i < pool->nproc && err == 0; i++) {
        err = mp__pool_spawn_worker(pool, i);
    }
    pthread_mutex_lock(&pool->mu);
    pool->started = true;
    pool->start_err = err;
    if (err != 0) {
        pool->state = POOL_TERMINATE;
    }
    /* Broadcasts after the unlock (here and at the end), so that the
     * creator it wakes does not find mu held by this thread, preempted on
     * a busy CPU, and sleep again; the pool outlives this thread. */
    pthread_mutex_unlock(&pool->mu);
    pthread_cond_broadcast(&pool->cv);
    for (;;) {
        pthread_mutex_lock(&pool->mu);
        if (pool->state == POOL_TERMINATE || pool->broken) {
            int code = pool->broken ? MP_EBROKEN : MP_ECANCELED;
            char why[sizeof pool->broken_msg];
            snprintf(why, sizeof why, "%s",
                     pool->broken ? pool->broken_msg
                                  : "the pool was terminated");
            pthread_mutex_unlock(&pool->mu);
            mp__pool_shutdown_all(pool, code, why);
            break;
        }
        mp__pool_dispatch_locked(pool);
        bool refused = pool->failed != NULL;
        pthread_mutex_unlock(&pool->mu);
        if (refused) {
            mp__pool_fail_refused(pool);
        }
        pthread_mutex_lock(&pool->mu);
        mp__pool_stop_idle_locked(pool);
        bool finished =
            pool->state == POOL_CLOSE && mp__pool_live_workers(pool) == 0;
        pthread_mutex_unlock(&pool->mu);
        if (finished) {
            break;
        }
        wait_and_handle(pool);
    }
    pthread_mutex_unlock(&pool->hmu);
    pthread_mutex_lock(&pool->mu);
    pool->done = true;
    pthread_mutex_unlock(&pool->mu);
    pthread_cond_broadcast(&pool->cv);
    return NULL;
}
