/* SPDX-License-Identifier: MIT */
/* pool_state.h - what the handler-side files of the pool share (pool.c,
 * handler.c, supervisor.c, dispatch.c, reply.c, stats.c): the pool's
 * state and a worker slot's, and the contracts between those files. They
 * call downward only: stats.c <- reply.c <- dispatch.c <- supervisor.c <-
 * handler.c <- pool.c (which starts handler.c's thread), and map.c calls
 * pool.c (pool.c lists every file of the pool in that order).
 *
 * Locking: pool->mu guards state, the pending and failed lists, the
 * handler's progress flags, winfo (mp_pool_stats's view of the workers)
 * and what dispatch uses of a worker slot (its task list, ready,
 * stopping, ntasks, deadline; its inbox while ready). Only the handler
 * forks, reaps and changes proc, inbox and timed_out; the counters are
 * atomics. */
#ifndef MP_POOL_STATE_H
#define MP_POOL_STATE_H

#include "pool_internal.h"
#include "remote.h"

#include "../process/process_internal.h"

enum { POOL_RUN, POOL_CLOSE, POOL_TERMINATE };

/* Tasks queued ahead per worker (beyond the one it runs) when the pool
 * has no task timeout: enough that a worker rarely finds its inbox empty
 * while the handler sleeps, and that the handler wakes once for many
 * results. Tasks are queued ahead only while the worker's inbox holds
 * less than POOL_PREFETCH_BYTES (large tasks gain nothing from it). */
#define POOL_PREFETCH 31
#define POOL_PREFETCH_BYTES (1u << 20)

/* A worker slot. */
typedef struct mp__worker {
    mp_process_t *proc; /* NULL: no process (empty, or remote) */
    void *remote;       /* a transport's worker (remote.h); NULL: none */
    mp_queue_t *inbox;
    /* The tasks put in its inbox, oldest first (linked by next): the
     * head is the one it runs, or runs next. */
    mp__job_t *head, *tail;
    int njobs;
    size_t bytes; /* their messages' lengths */
    long ntasks;
    bool ready;
    bool stopping;
    bool timed_out;   /* killed for running past the task timeout */
    int64_t deadline; /* when its head task times out; 0: never */
    mp__worker_ctx_t ctx;
} mp__worker_t;

struct mp_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* handler progress: started, done */
    int state;         /* POOL_* */
    bool broken;
    char broken_msg[128];
    int nproc;
    long maxtasks;
    /* The start method, the initializer, and the started slots (shared,
     * one per slot: the task its worker began, launch.started). */
    mp__pool_launch_t launch;
    /* Workers that are not its own children (start NULL: none). */
    mp__pool_transport_t transport;
    mp__worker_t *workers;
    mp_queue_t *results;
    int wake_fd; /* the handler's waker (mp__plat_waker_*) */
    mp__job_t *pend_head, *pend_tail;
    mp__job_t *failed; /* refused by an inbox: the handler fails them */
    int depth;         /* tasks a worker may hold: 1 + queued ahead */
    uint64_t next_id;
    int submitting; /* batches being queued in parts (mp__pool_submit_part) */
    uint64_t next_gen;
    int start_failures;
    pthread_t thread;
    bool started; /* the handler started its first workers */
    int start_err;
    bool done; /* the handler ended */
    bool reaped;
    mp_waitable_t *items;  /* wait_and_handle's set */
    unsigned quick_rounds; /* rounds whose results came while spinning */
    /* Whether the handler's spin for results pays (mp__spin_*), and what
     * it did: spin windows opened, waits that slept (mp_wait_any with a
     * timeout) and of those, the ones that ended, read by
     * mp__pool_spin_counts. Handler thread writes. */
    mp__spin_learn_t spin_learn;
    _Atomic uint64_t n_spins, n_sleeps, n_woken;
    int64_t last_reply_ns;        /* when the handler last took a reply */
    int *item_slot;               /* the worker slot of items[k + 2, or 1] */
    int64_t task_timeout_ms;      /* 0: no limit */
    int64_t task_timeout_ns;      /* 0: none */
    mp_pool_worker_info_t *winfo; /* mp_pool_stats's view; under mu */
    /* Held by the handler thread except while it waits for results (its
     * spin, mp_wait_any): whoever holds it takes replies from the result
     * queue and handles them, the handler or a helper
     * (mp__pool_help_replies); the handler's own state (items,
     * quick_rounds, last_reply_ns, the workers' processes) is the
     * holder's. */
    pthread_mutex_t hmu;
    /* Its owner takes the replies (mp__pool_owner_takes_replies): the
     * handler no longer waits for the result queue. */
    atomic_bool owner_takes;
    /* A callback of the user's was given to one of its results: replies
     * are then handled on the handler thread only (mp__pool_take_reply). */
    atomic_bool user_callbacks;
    /* A caller waiting for an apply's result takes the replies itself
     * (mp__pool_taker; one at a time, under mu): taking, while one
     * does; handler_blind, while the handler's wait leaves the result
     * queue out because of it (handler thread writes, under mu); taker_fd,
     * the taker's waker (opened on the first take; -1: none), signalled by
     * whoever else ends its result; helping, while it drains under hmu
     * (mp__pool_note_callbacks waits that out). */
    bool taking;
    bool handler_blind;
    /* Whether a taker's watch of the result queue before it sleeps pays
     * (mp__spin_*; the takers of the pool share it), and how many watches
     * takers began (tests count them). */
    mp__spin_learn_t taker_learn;
    _Atomic uint64_t n_taker_watches;
    int taker_fd;
    atomic_bool helping;
    /* The task functions it has named (job.c, mp__pool_fn_name): a list
     * that only grows, read without a lock; fn_mu orders its writers. */
    pthread_mutex_t fn_mu;
    struct mp__fn_entry *_Atomic fn_names;
    _Atomic uint64_t n_submitted, n_done, n_failed, n_timed_out, n_cb_errors;
};

/* Whether slot w holds a worker: a process, or a transport's. */
static inline bool
mp__worker_live(const mp__worker_t *w)
{
    return w->proc != NULL || w->remote != NULL;
}

/* handler.c: the result-handler thread's body (arg: the pool), which
 * pool.c's mp_pool_create starts. It forks the first workers, sets
 * started and start_err, and sets done when it ends. */
void *mp__pool_handler_main(void *arg);

/* supervisor.c, called by the handler thread only (mu not held unless
 * the name says _locked). spawn_worker starts the worker of slot i and
 * returns 0, or a negative error with the slot left empty; worker_exited
 * deals with slot i's worker, which exited (results drained first): fails
 * the task it was running, requeues the ones it had not started, counts a
 * failed start and replaces it while the pool has work for it;
 * shutdown_all kills and reaps every worker, then fails every task left
 * with err and why; live_workers counts live workers (mu held);
 * set_broken_locked marks the pool broken with why (mu held; the first
 * reason stays); worker_kill kills slot i's worker (live); worker_waitable
 * returns what becomes ready once it ended. */
int mp__pool_spawn_worker(mp_pool_t *pool, int i);
void mp__pool_worker_kill(mp_pool_t *pool, int i);
mp_waitable_t mp__pool_worker_waitable(mp_pool_t *pool, int i);
void mp__pool_worker_exited(mp_pool_t *pool, int i);
void mp__pool_shutdown_all(mp_pool_t *pool, int err, const char *why);
int mp__pool_live_workers(const mp_pool_t *pool);
void mp__pool_set_broken_locked(mp_pool_t *pool, const char *why);

/* dispatch.c (mu held for every _locked one; any thread).
 * dispatch_locked hands pending tasks to workers with room, then lets
 * idle workers steal; stop_idle_locked sends STOP to the workers of a
 * closed pool that has no work left (handler thread); unlink_job_locked
 * takes the task numbered id off worker w's list and returns it, or NULL
 * when w does not hold it; requeue_locked puts a list of jobs (linked by
 * next) back at the head of the pending list, in their order;
 * fail_refused (mu not held) fails the jobs an inbox refused with their
 * put errors (handler thread). */
void mp__pool_dispatch_locked(mp_pool_t *pool);
void mp__pool_stop_idle_locked(mp_pool_t *pool);
mp__job_t *mp__pool_unlink_job_locked(mp__worker_t *w, uint64_t id);
void mp__pool_requeue_locked(mp_pool_t *pool, mp__job_t *first);
void mp__pool_fail_refused(mp_pool_t *pool);

/* reply.c (no pool lock held). job_complete completes job j from a DONE
 * reply rh whose items are at p .. end (what a malformed reply lacks
 * fails with MP_EPROTO); job_fail fails every item of j with err and msg
 * (exitcode when has_exit). Both free j. */
void mp__pool_job_complete(mp__job_t *j, const mp__reply_hdr_t *rh,
                           const char *p, const char *end);
void mp__pool_job_fail(mp__job_t *j, int err, const char *msg, bool has_exit,
                       int exitcode);

#endif /* MP_POOL_STATE_H */
