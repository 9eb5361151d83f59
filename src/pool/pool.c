/* SPDX-License-Identifier: MIT */
/* pool.c - Pool: worker processes fed through per-worker inboxes, and the
 * result-handler thread that dispatches tasks, completes results and
 * replaces workers.
 *
 * Why one inbox per worker rather than one shared task queue: with a shared
 * queue a worker killed between taking a task and publishing its id loses
 * the task without a trace, and its result never completes (Python's hang,
 * gh-66587). Here the pool decides which worker gets a task and records
 * it before the put, so a worker's death always names the tasks it held.
 * A worker that said READY (its initializer ran) gets up to pool->depth
 * tasks queued ahead in its inbox (prefetch: it takes the next one without
 * waiting for the pool), handed out breadth-first. The worker runs them in
 * inbox order and publishes the id of each one it starts, so at a death
 * the tasks up to the started one failed with it and the ones after it
 * never ran: they go back to the pending list. An idle worker takes the
 * oldest not yet taken task from a busier worker's inbox (a get from that
 * inbox: the queue hands a message out once, so the two cannot both run
 * it). Submissions dispatch in the caller's thread (under pool->mu), so
 * the handler is woken only by results, exits and close/terminate.
 *
 * The handler thread owns the workers: it forks them (so that a daemon
 * worker's parent-death signal is tied to the thread that lives as long as
 * the pool), waits with mp_wait_any on the result queue, every worker's
 * sentinel and an eventfd that close/terminate (and submissions the
 * handler must act on) write to, and ends after the workers are gone.
 * While workers hold tasks it first watches the result queue for a short
 * while (their results are usually microseconds away) before it sleeps.
 * When a worker exits it first drains the result queue (a result put
 * before the exit is found there), then settles the tasks the worker held
 * as above (the started one fails with MP_EWORKER and the cause) and
 * starts a replacement. A worker that dies before READY counts as a
 * failed start; too many in a row, or an initializer that fails, break
 * the pool.
 *
 * A per-task timeout (task_timeout) is a deadline set when a task is
 * put into an idle worker's inbox (such a pool queues no task ahead, so the
 * worker starts it at once); the handler's wait ends at the nearest
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
 * handler hands the items' outcomes back to them (mp__batch_store_*).
 *
 * Locking: pool->mu guards state, the pending and failed lists, the
 * handler's progress flags, winfo (mp_pool_stats's view of the workers)
 * and what dispatch uses of a worker (its task list, ready, stopping,
 * ntasks, deadline; its inbox while ready). Only the handler forks, reaps
 * and changes proc, inbox and timed_out; the counters are atomics. */
#include "pool_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../platform/platform.h"
#include "../process/process_internal.h"
#include "../queue/queue_internal.h"

enum { POOL_RUN, POOL_CLOSE, POOL_TERMINATE };

/* Tasks queued ahead per worker (beyond the one it runs) when the pool
 * has no task timeout: enough that a worker rarely finds its inbox empty
 * while the handler sleeps, and that the handler wakes once for many
 * results. Tasks are queued ahead only while the worker's inbox holds
 * less than POOL_PREFETCH_BYTES (large tasks gain nothing from it). */
#define POOL_PREFETCH 31
#define POOL_PREFETCH_BYTES (1u << 20)

/* How long the handler watches the result queue before it sleeps. */
#define HANDLER_SPIN_NS 50000

typedef struct worker {
    mp_process_t *proc; /* NULL: the slot is empty */
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
    mp__job_t *failed; /* refused by an inbox: the handler fails them */
    int depth;         /* tasks a worker may hold: 1 + queued ahead */
    uint64_t next_id;
    uint64_t next_gen;
    int start_failures;
    pthread_t thread;
    bool started; /* the handler started its first workers */
    int start_err;
    bool done; /* the handler ended */
    bool reaped;
    char *rbuf; /* the handler's buffer for replies */
    size_t rbuf_cap;
    mp_waitable_t *items;         /* wait_and_handle's set */
    unsigned quick_rounds;        /* rounds whose results came while spinning */
    int64_t last_reply_ns;        /* when the handler last took a reply */
    int *item_slot;               /* the worker slot of items[k + 2] */
    int64_t task_timeout_ms;      /* 0: no limit */
    int64_t task_timeout_ns;      /* 0: none */
    mp_pool_worker_info_t *winfo; /* mp_pool_stats's view; under mu */
    _Atomic uint64_t n_submitted, n_done, n_failed, n_timed_out, n_cb_errors;
};

/* What precedes a big_alloc buffer: its mapping (map_len 0: it came from
 * the allocator). */
typedef struct big_hdr {
    void *map;
    size_t map_len;
} big_hdr_t;

/* big_alloc's buffers of this many bytes and up get a mapping of their
 * own (see there). */
#define BIG_MAP_MIN ((size_t)64 << 10)

/* The huge page size big_alloc aligns its mappings to (x86-64, arm64 with
 * 4 KiB pages): only whole aligned 2 MiB ranges get huge pages. */
#define HUGE_PAGE ((size_t)2 << 20)

/* For big_alloc and big_alloc_raw (heap true: small blocks from the
 * allocator, zeroed or not; mappings are zero pages in either case) and
 * map_grow (heap false: always a mapping). */
static void *
big_alloc(size_t size, bool zeroed, bool heap)
{
    if (size > SIZE_MAX / 2) {
        return NULL;
    }
    big_hdr_t *h;
    size_t total = sizeof *h + size;
    if (size < BIG_MAP_MIN && heap) {
        /* Not zeroed when not needed: clearing writes every page, a fault
         * each when fresh (or copy-on-write after a fork). */
        h = zeroed ? mp__calloc(1, total) : mp__malloc(total);
        if (h == NULL) {
            return NULL;
        }
        h->map = NULL;
        h->map_len = 0;
        return h + 1;
    }
    if (size < MP__POOL_BIG) {
        /* A mapping of its own: its zero pages cost nothing until used
         * (calloc could take them from a malloc heap and clear them all,
         * a page fault each, for a buffer big_take_into may never fill). */
        void *map = mmap(NULL, total, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map == MAP_FAILED) {
            return NULL;
        }
        h = map;
        h->map = map;
        h->map_len = total;
        return h + 1;
    }
    size_t len = (total + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    char *map = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        return NULL;
    }
    /* Starts at a huge page boundary inside the mapping. Only a hint:
     * without huge pages it is ordinary memory. */
    char *start = (char *)(((uintptr_t)map + HUGE_PAGE - 1) &
                           ~(uintptr_t)(HUGE_PAGE - 1));
    (void)madvise(start, len, MADV_HUGEPAGE);
    h = (big_hdr_t *)(void *)start;
    h->map = map;
    h->map_len = len + HUGE_PAGE;
    return h + 1;
}

void *
mp__pool_big_alloc(size_t size)
{
    return big_alloc(size, true, true);
}

void *
mp__pool_big_alloc_raw(size_t size)
{
    return big_alloc(size, false, true);
}

int
mp__pool_map_grow(char **buf, size_t *cap, size_t need, size_t keep)
{
    if (need <= *cap) {
        return 0;
    }
    /* From what fills the first page, doubling: a copy of all it holds
     * each time, so not too often. */
    size_t ncap = *cap > 0 ? *cap : 4096 - sizeof(big_hdr_t);
    while (ncap < need && ncap <= SIZE_MAX / 4) {
        ncap *= 2;
    }
    ncap = ncap < need ? need : ncap;
    char *nb = big_alloc(ncap, false, false);
    if (nb == NULL) {
        return MP_ENOMEM;
    }
    if (keep > 0) {
        memcpy(nb, *buf, keep);
    }
    mp__pool_big_free(*buf);
    *buf = nb;
    *cap = ncap;
    return 0;
}

void
mp__pool_big_free(void *p)
{
    if (p == NULL) {
        return;
    }
    big_hdr_t *h = (big_hdr_t *)p - 1;
    if (h->map_len == 0) {
        mp__free(h);
    } else {
        MP__ASSERT(munmap(h->map, h->map_len) == 0);
    }
}

ssize_t
mp__pool_big_take_into(mp_queue_t *q, char **buf, size_t *cap,
                       mp_duration_t timeout)
{
    for (;;) {
        ssize_t n = mp_queue_get_into(q, *buf, *cap, timeout);
        if (n != MP_EMSGSIZE) {
            return n;
        }
        /* Longer than the buffer (the message stays queued): double it.
         * Its old bytes need not survive. */
        if (*cap > SIZE_MAX / 4 ||
            mp__pool_map_grow(buf, cap, *cap < 4096 ? 8192 : *cap * 2, 0) !=
                0) {
            return MP_ENOMEM;
        }
    }
}

/* A job block's header; its jobs follow (see pool_internal.h). */
typedef struct job_block {
    _Atomic size_t refs; /* jobs placed and not yet freed */
    size_t pad;
} job_block_t;

size_t
mp__pool_chunksize(size_t nitems, int nproc, size_t item_bytes)
{
    size_t div = 4 * (size_t)(nproc > 0 ? nproc : 1);
    size_t chunk = nitems / div + (nitems % div != 0);
    size_t fit = MP__POOL_CHUNK_BYTES / (item_bytes > 0 ? item_bytes : 1);
    if (chunk > fit) {
        chunk = fit;
    }
    return chunk > 0 ? chunk : 1;
}

long
mp_pool_chunksize(const mp_pool_t *pool, size_t nitems, size_t item_bytes)
{
    if (pool == NULL) {
        return MP_EINVAL;
    }
    size_t chunk = mp__pool_chunksize(nitems, pool->nproc, item_bytes);
    return chunk > LONG_MAX ? LONG_MAX : (long)chunk;
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

/* Counts the final item codes tallied in *t in pool's statistics. */
void
mp__pool_count_items(mp_pool_t *pool, const mp__tally_t *t)
{
    if (pool == NULL) {
        return;
    }
    if (t->done > 0) {
        atomic_fetch_add(&pool->n_done, t->done);
    }
    if (t->failed > 0) {
        atomic_fetch_add(&pool->n_failed, t->failed);
    }
    if (t->timed_out > 0) {
        atomic_fetch_add(&pool->n_timed_out, t->timed_out);
    }
}

/* Counts one item's final code rc in pool's statistics. */
void
mp__pool_count_item(mp_pool_t *pool, int rc)
{
    mp__tally_t t = {0};
    mp__tally_add(&t, rc);
    mp__pool_count_items(pool, &t);
}

/* Completes the result handle of an apply job j with outcome o. */
static void
deliver_result(mp__job_t *j, const mp__outcome_t *o)
{
    void *data = o->rc == 0 ? mp__pool_dup_bytes(o->data, o->len) : NULL;
    if (o->rc == 0 && data == NULL) {
        mp__pool_count_item(j->pool, MP_ENOMEM);
        mp__result_complete(j->res, MP_ENOMEM, NULL, 0, "out of memory", false,
                            0, mp__pool_cb_counter(j->pool));
    } else {
        mp__pool_count_item(j->pool, o->rc);
        mp__result_complete(j->res, o->rc, data, o->len, o->msg, o->has_exit,
                            o->exitcode, mp__pool_cb_counter(j->pool));
    }
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
    job_block_t *bh = j->block;
    if (atomic_fetch_sub(&bh->refs, 1) == 1) {
        mp__pool_big_free(bh);
    }
}

/* Fails items from..count-1 of job j with err and msg (exitcode when
 * has_exit), then frees it. */
static void
job_fail_from(mp__job_t *j, size_t from, int err, const char *msg,
              bool has_exit, int exitcode)
{
    mp__outcome_t o = {
        .rc = err, .msg = msg, .has_exit = has_exit, .exitcode = exitcode};
    if (j->res != NULL && from == 0) {
        deliver_result(j, &o);
    } else if (j->batch != NULL && from < j->count) {
        mp__tally_t t = {0};
        mp__batch_lock(j->batch);
        for (size_t i = from; i < j->count; i++) {
            mp__batch_store_locked(j->batch, j->start + i, &o, &t);
        }
        mp__batch_unlock(j->batch, j->pool, &t);
    }
    mp__pool_job_free(j);
}

/* Fails every item of job j, then frees it. */
static void
job_fail(mp__job_t *j, int err, const char *msg, bool has_exit, int exitcode)
{
    job_fail_from(j, 0, err, msg, has_exit, exitcode);
}

/* Reads the items of a DONE reply, in order (see pool_internal.h). */
typedef struct reply_reader {
    const char *tab; /* the items' table; NULL: uniform */
    const char *data, *end;
    uint64_t uniform_len;
    size_t next; /* the item read next */
} reply_reader_t;

/* Starts reading the items of reply rh (p .. end after the header) for a
 * job of count items. Returns false when the reply does not fit them. */
static bool
reply_reader_init(reply_reader_t *r, const mp__reply_hdr_t *rh, const char *p,
                  const char *end, size_t count)
{
    size_t avail = (size_t)(end - p);
    *r =
        (reply_reader_t){.data = p, .end = end, .uniform_len = rh->uniform_len};
    if (rh->nitems != count) {
        return false;
    }
    if (rh->uniform_len != MP__ITEM_VAR) {
        return rh->uniform_len == 0 ? avail == 0
                                    : count == avail / rh->uniform_len &&
                                          avail % rh->uniform_len == 0;
    }
    if (count > avail / sizeof(mp__item_hdr_t)) {
        return false;
    }
    r->tab = p;
    r->data = p + count * sizeof(mp__item_hdr_t);
    return true;
}

/* Reads the next item's outcome into *o (an error text goes to msg, of
 * msg_len bytes). Returns false when the reply is malformed. */
static bool
reply_next(reply_reader_t *r, mp__outcome_t *o, char *msg, size_t msg_len)
{
    if (r->tab == NULL) {
        *o = (mp__outcome_t){.data = r->data + r->next * r->uniform_len,
                             .len = (size_t)r->uniform_len};
        r->next++;
        return true;
    }
    mp__item_hdr_t ih;
    memcpy(&ih, r->tab + r->next * sizeof ih, sizeof ih);
    r->next++;
    if ((size_t)(r->end - r->data) < ih.len) {
        return false;
    }
    *o = (mp__outcome_t){.data = r->data, .len = ih.len};
    if (ih.rc != 0) {
        /* The worker sent the text with its NUL; trust nothing. */
        size_t n = ih.len < msg_len ? ih.len : msg_len - 1;
        memcpy(msg, r->data, n);
        msg[n] = '\0';
        *o = (mp__outcome_t){.rc = MP_EREMOTE, .msg = msg};
    }
    r->data += ih.len;
    return true;
}

/* Completes job j from a DONE reply rh (its items at p .. end), then
 * frees it. Items a malformed reply lacks fail with MP_EPROTO. A map's
 * items are stored under one lock of their batch. */
static void
job_complete(mp__job_t *j, const mp__reply_hdr_t *rh, const char *p,
             const char *end)
{
    reply_reader_t r;
    bool ok = reply_reader_init(&r, rh, p, end, j->count);
    char msg[1024];
    size_t i = 0;
    mp__outcome_t o;
    if (j->res != NULL) {
        if (ok && reply_next(&r, &o, msg, sizeof msg)) {
            deliver_result(j, &o);
            i = 1;
        }
    } else if (ok) {
        mp__tally_t t = {0};
        mp__batch_lock(j->batch);
        if (r.tab == NULL) {
            mp__batch_store_run_locked(j->batch, j->start, j->count, r.data,
                                       (size_t)r.uniform_len, &t);
            i = j->count;
        }
        for (; i < j->count && reply_next(&r, &o, msg, sizeof msg); i++) {
            mp__batch_store_locked(j->batch, j->start + i, &o, &t);
        }
        mp__batch_unlock(j->batch, j->pool, &t);
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
    /* Bounded: it never holds more than depth tasks and a STOP, and a
     * small ring is quick to set up. */
    mp_queue_opts_t qo = {.maxsize = pool->depth + 1};
    int err = mp__queue_create_private(&w->inbox, &qo);
    if (err != 0) {
        w->inbox = NULL;
        return err;
    }
    /* No task of this slot's new worker has started. */
    atomic_store(&pool->task_started[i], 0);
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
    /* fork whatever the default: a worker's context is a pointer (pools
     * under spawn and forkserver are issue 17's later work). */
    mp_process_opts_t po = {
        .name = name, .daemon = true, .start_method = MP_START_FORK};
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
    pool->winfo[i].pid = mp_process_pid(w->proc);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

/* Reaps the exited worker of slot i and empties the slot; the stats view
 * shows the slot in state, without a pid, before the pid can be reused.
 * Its task list is left for the caller. */
static void
reap_worker(mp_pool_t *pool, int i, int state, int *exitcode)
{
    worker_t *w = &pool->workers[i];
    pthread_mutex_lock(&pool->mu);
    /* Dispatch stops using the inbox before it goes. */
    w->ready = false;
    pool->winfo[i].state = state;
    pool->winfo[i].pid = 0;
    pthread_mutex_unlock(&pool->mu);
    MP__ASSERT(mp_process_join(w->proc, MP_WAIT_FOREVER) == 0);
    MP__ASSERT(mp_process_exitcode(w->proc, exitcode) == 0);
    MP__ASSERT(mp_process_destroy(w->proc) == 0);
    mp_queue_destroy(w->inbox);
    w->proc = NULL;
    w->inbox = NULL;
}

/* Takes worker w's whole task list (mu held). */
static mp__job_t *
take_jobs_locked(worker_t *w)
{
    mp__job_t *list = w->head;
    w->head = w->tail = NULL;
    w->njobs = 0;
    w->bytes = 0;
    return list;
}

/* Unlinks the task numbered id from worker w's list and returns it, or
 * NULL when w does not hold it (mu held). */
static mp__job_t *
unlink_job_locked(worker_t *w, uint64_t id)
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
        w->bytes -= j->msg_len;
        j->next = NULL;
        return j;
    }
    return NULL;
}

/* Puts the list of jobs first .. (linked by next) back at the head of the
 * pending list, in their order (mu held). */
static void
requeue_locked(mp_pool_t *pool, mp__job_t *first)
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
        set_broken_locked(pool, why);
        pthread_mutex_unlock(&pool->mu);
    } else if (rh.kind == MP__REPLY_DONE) {
        pthread_mutex_lock(&pool->mu);
        mp__job_t *j = unlink_job_locked(w, rh.id);
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
            job_complete(j, &rh, msg + sizeof rh, msg + len);
        }
    }
}

/* Takes every message from the result queue; with linger, waits a little
 * for messages still being put (a dead worker's result may sit behind a
 * live worker's half-written one). */
static void
drain_results(mp_pool_t *pool, bool linger)
{
    mp_duration_t wait = linger ? 20 : 0;
    for (;;) {
        /* Into one buffer, kept: large replies reuse warm memory. */
        ssize_t n = mp__pool_big_take_into(pool->results, &pool->rbuf,
                                           &pool->rbuf_cap, wait);
        if (n < 0) {
            /* MP_EEMPTY, or MP_ENOMEM: the reply stays queued, and the
             * next round tries again. */
            return;
        }
        handle_reply(pool, pool->rbuf, (size_t)n);
        pool->last_reply_ns = mp__now_ns();
    }
}

/* Whether worker w may be given job j, one more task (mu held). */
static bool
can_take_locked(const mp_pool_t *pool, const worker_t *w, const mp__job_t *j)
{
    return w->ready && !w->stopping && w->njobs < pool->depth &&
           (w->njobs == 0 || w->bytes + j->msg_len <= POOL_PREFETCH_BYTES) &&
           (pool->maxtasks == 0 || w->ntasks < pool->maxtasks);
}

/* Puts job j into the inbox of slot i's worker and appends it to the
 * worker's list. A job the inbox refuses goes back to the pending list
 * when the worker has tasks queued already (they may be what fills it),
 * else to the failed list (the handler fails it, outside the lock).
 * Returns whether j was queued (mu held). */
static bool
assign_locked(mp_pool_t *pool, int i, mp__job_t *j)
{
    worker_t *w = &pool->workers[i];
    int err = mp_queue_put(w->inbox, j->msg, j->msg_len, MP_NO_WAIT);
    if (err != 0 && (err == MP_EFULL || w->njobs > 0)) {
        j->next = NULL;
        requeue_locked(pool, j);
        return false;
    }
    if (err != 0) {
        j->put_err = err;
        j->next = pool->failed;
        pool->failed = j;
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
    w->bytes += j->msg_len;
    w->ntasks++;
    pool->winfo[i].state = MP_POOL_WORKER_BUSY;
    return true;
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

/* Gives idle slot i's worker the oldest task not yet taken from the
 * busiest other worker's inbox. Returns whether it got one (mu held). */
static bool
steal_locked(mp_pool_t *pool, int i)
{
    int victim = -1;
    for (int k = 0; k < pool->nproc; k++) {
        const worker_t *v = &pool->workers[k];
        if (k != i && v->ready && v->njobs >= 2 &&
            (victim < 0 || v->njobs > pool->workers[victim].njobs)) {
            victim = k;
        }
    }
    if (victim < 0) {
        return false;
    }
    worker_t *v = &pool->workers[victim];
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
    mp__job_t *j = th.kind == MP__TASK_RUN ? unlink_job_locked(v, th.id) : NULL;
    if (j == NULL) {
        return false;
    }
    v->ntasks--;
    return assign_locked(pool, i, j);
}

/* Gives pending tasks to workers with room, breadth-first, then lets idle
 * workers take queued-ahead tasks from busy ones (mu held; any thread). */
static void
dispatch_locked(mp_pool_t *pool)
{
    for (int round = 0; round < pool->depth && pool->pend_head != NULL;
         round++) {
        for (int i = 0; i < pool->nproc && pool->pend_head != NULL; i++) {
            worker_t *w = &pool->workers[i];
            if (w->njobs <= round &&
                can_take_locked(pool, w, pool->pend_head)) {
                (void)assign_locked(pool, i, pop_pending_locked(pool));
            }
        }
    }
    if (pool->pend_head != NULL || pool->depth < 2) {
        return;
    }
    for (int i = 0; i < pool->nproc; i++) {
        worker_t *w = &pool->workers[i];
        if (w->njobs == 0 && w->ready && !w->stopping &&
            (pool->maxtasks == 0 || w->ntasks < pool->maxtasks)) {
            (void)steal_locked(pool, i);
        }
    }
}

/* Once a closed pool has no work left, tells the workers to stop
 * (handler thread, mu held). */
static void
stop_idle_locked(mp_pool_t *pool)
{
    bool busy = pool->pend_head != NULL || pool->failed != NULL;
    for (int i = 0; i < pool->nproc; i++) {
        busy |= pool->workers[i].head != NULL;
    }
    if (pool->state != POOL_CLOSE || busy) {
        return;
    }
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

/* Fails the jobs of the failed list with their put errors (handler
 * thread, mu not held). */
static void
fail_refused(mp_pool_t *pool)
{
    pthread_mutex_lock(&pool->mu);
    mp__job_t *j = pool->failed;
    pool->failed = NULL;
    pthread_mutex_unlock(&pool->mu);
    while (j != NULL) {
        mp__job_t *next = j->next;
        job_fail(j, j->put_err, mp_strerror(j->put_err), false, 0);
        j = next;
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
            job_fail(j, MP_ETIMEDOUT, why, false, 0);
        } else if (before) {
            char why[128];
            describe_exit(why, sizeof why, code);
            job_fail(j, MP_EWORKER, why, true, code);
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
static void
worker_exited(mp_pool_t *pool, int i)
{
    worker_t *w = &pool->workers[i];
    bool was_ready = w->ready;
    bool stopping = w->stopping;
    bool timed_out = w->timed_out;
    int code;
    reap_worker(pool, i, MP_POOL_WORKER_RESTARTING, &code);
    pthread_mutex_lock(&pool->mu);
    mp__job_t *list = take_jobs_locked(w);
    pthread_mutex_unlock(&pool->mu);
    mp__job_t *rq = settle_dead_jobs(
        pool, list, atomic_load(&pool->task_started[i]), timed_out, code);
    pthread_mutex_lock(&pool->mu);
    requeue_locked(pool, rq);
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

/* Fails every job of a list (linked by next) with err and why. */
static void
fail_list(mp__job_t *j, int err, const char *why)
{
    while (j != NULL) {
        mp__job_t *next = j->next;
        job_fail(j, err, why, false, 0);
        j = next;
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
        pthread_mutex_lock(&pool->mu);
        mp__job_t *list = take_jobs_locked(w);
        pthread_mutex_unlock(&pool->mu);
        fail_list(list, err, why);
    }
    fail_refused(pool);
    pthread_mutex_lock(&pool->mu);
    mp__job_t *j = pool->pend_head;
    pool->pend_head = pool->pend_tail = NULL;
    pthread_mutex_unlock(&pool->mu);
    fail_list(j, err, why);
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
 * time to the nearest deadline, or MP_WAIT_FOREVER (handler thread, mu
 * held). */
static mp_duration_t
next_task_timeout_locked(const mp_pool_t *pool)
{
    int64_t next = MP__NO_DEADLINE;
    for (int i = 0; i < pool->nproc; i++) {
        const worker_t *w = &pool->workers[i];
        if (w->proc != NULL && w->head != NULL && w->deadline != 0 &&
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
        worker_t *w = &pool->workers[i];
        if (w->proc != NULL && w->head != NULL && w->deadline != 0 &&
            !w->timed_out && now >= w->deadline) {
            w->timed_out = true;
            (void)mp_process_kill(w->proc);
        }
    }
    pthread_mutex_unlock(&pool->mu);
}

/* Whether some worker holds tasks (handler thread, mu not held). */
static bool
tasks_out(mp_pool_t *pool)
{
    bool out = false;
    pthread_mutex_lock(&pool->mu);
    for (int i = 0; i < pool->nproc && !out; i++) {
        out = pool->workers[i].head != NULL;
    }
    pthread_mutex_unlock(&pool->mu);
    return out;
}

/* While workers hold tasks, their results are usually microseconds away,
 * and right after a result the next task (of a caller looping over apply)
 * often is: watches the result queue for a short while, yielding the CPU,
 * before the handler sleeps in poll (which costs the workers a FIFO write
 * per result and the handler a wake-up). Returns whether results came. */
static bool
spin_for_results(mp_pool_t *pool)
{
    int64_t now = mp__now_ns();
    if (now - pool->last_reply_ns >= HANDLER_SPIN_NS && !tasks_out(pool)) {
        return false;
    }
    int64_t until = now + HANDLER_SPIN_NS;
    do {
        if (!mp_queue_empty(pool->results)) {
            return true;
        }
        mp__plat_yield();
    } while (mp__now_ns() < until);
    return false;
}

/* Waits for a reply, a worker exit or a wake-up, and handles what came
 * (handler thread, mu not held). When the spin found results, the wait
 * only looks (exits, wake-ups), and only every few rounds. */
static void
wait_and_handle(mp_pool_t *pool)
{
    bool quick = spin_for_results(pool);
    if (quick && ++pool->quick_rounds % 8 != 0) {
        drain_results(pool, false);
        expire_tasks(pool);
        return;
    }
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
    pthread_mutex_lock(&pool->mu);
    mp_duration_t timeout = quick ? 0 : next_task_timeout_locked(pool);
    pthread_mutex_unlock(&pool->mu);
    int r = mp_wait_any(it, n, timeout);
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
    pthread_mutex_lock(&pool->mu);
    for (size_t k = 2; k < n; k++) {
        dead_with_job |= it[k].ready && pool->workers[map[k - 2]].head != NULL;
    }
    pthread_mutex_unlock(&pool->mu);
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
            shutdown_all(pool, code, why);
            break;
        }
        dispatch_locked(pool);
        bool refused = pool->failed != NULL;
        pthread_mutex_unlock(&pool->mu);
        if (refused) {
            fail_refused(pool);
        }
        pthread_mutex_lock(&pool->mu);
        stop_idle_locked(pool);
        bool finished = pool->state == POOL_CLOSE && live_workers(pool) == 0;
        pthread_mutex_unlock(&pool->mu);
        if (finished) {
            break;
        }
        wait_and_handle(pool);
    }
    pthread_mutex_lock(&pool->mu);
    pool->done = true;
    pthread_mutex_unlock(&pool->mu);
    pthread_cond_broadcast(&pool->cv);
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
    mp__pool_big_free(pool->rbuf);
    mp__free(pool->winfo);
    mp__free(pool->workers);
    mp__free(pool);
}

int
mp_pool_create(mp_pool_t **out, const mp_pool_opts_t *opts)
{
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
        return MP_ENOMEM;
    }
    pthread_mutex_init(&pool->mu, NULL);
    mp__pool_cond_init(&pool->cv);
    pool->nproc = o.processes > 0 ? o.processes : mp_cpu_count();
    pool->maxtasks =
        o.maxtasksperchild > LONG_MAX ? LONG_MAX : (long)o.maxtasksperchild;
    pool->init = o.initializer;
    pool->initarg = o.initarg;
    pool->task_timeout_ms = task_timeout_ms;
    /* A timeout counts from when the worker takes the task: with tasks
     * queued ahead the pool would not know when that is. */
    pool->depth = task_timeout_ms > 0 ? 1 : 1 + POOL_PREFETCH;
    /* Capped far beyond any real run (the deadline saturates anyway). */
    pool->task_timeout_ns = task_timeout_ms > INT64_MAX / 4 / 1000000
                                ? INT64_MAX / 4
                                : task_timeout_ms * 1000000;
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
        /* Bounded (by more than the workers can have answered and not yet
         * taken: their tasks and a status each), so that its ring is small
         * and quick to set up; a put that finds it full only waits for the
         * handler. */
        mp_queue_opts_t qo = {.maxsize =
                                  (long)pool->nproc * (pool->depth + 2) + 8};
        err = mp__queue_create_private(&pool->results, &qo);
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

void
mp__pool_fn_name(mp_pool_fn fn, mp__fn_name_t *name)
{
    Dl_info di;
    void *addr = (void *)(uintptr_t)fn;
    if (dladdr(addr, &di) != 0 && di.dli_fname != NULL &&
        di.dli_fbase != NULL) {
        name->fname = di.dli_fname;
        name->offset = (uintptr_t)addr - (uintptr_t)di.dli_fbase;
    } else {
        name->fname = "";
        name->offset = (uintptr_t)addr; /* not in a module: the fork's */
    }
    name->fname_len = (uint32_t)strlen(name->fname);
}

/* Rounds n up to 16 bytes (n well below SIZE_MAX). */
static size_t
align16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

size_t
mp__pool_job_span(const mp__fn_name_t *name, size_t data)
{
    size_t fixed =
        align16(sizeof(mp__job_t)) + mp__task_data_offset(name->fname_len);
    return data > SIZE_MAX / 2 - fixed ? 0 : align16(fixed + data);
}

void *
mp__pool_block_new(size_t total)
{
    size_t bytes;
    if (!mp__size_add(sizeof(job_block_t), total, &bytes)) {
        return NULL;
    }
    /* Zeroed: the messages' padding must be. */
    return mp__pool_big_alloc(bytes);
}

mp__job_t *
mp__pool_job_place(mp_pool_t *pool, void *block, size_t *used,
                   const mp__fn_name_t *name, uint64_t item_size, size_t nitems,
                   size_t data, char **dst)
{
    job_block_t *bh = block;
    char *at = (char *)block + sizeof *bh + *used;
    *used += mp__pool_job_span(name, data);
    atomic_fetch_add(&bh->refs, 1);
    mp__job_t *j = (mp__job_t *)(void *)at;
    j->block = block;
    j->count = nitems;
    j->pool = pool;
    size_t data_at = mp__task_data_offset(name->fname_len);
    j->msg = at + align16(sizeof *j);
    j->msg_len = data_at + data;
    /* The id goes in when the job is queued. */
    mp__task_hdr_t th = {.kind = MP__TASK_RUN,
                         .fname_len = name->fname_len,
                         .offset = name->offset,
                         .item_size = item_size,
                         .nitems = nitems};
    memcpy(j->msg, &th, sizeof th);
    memcpy((char *)j->msg + sizeof th, name->fname, name->fname_len);
    *dst = (char *)j->msg + data_at;
    return j;
}

/* Builds a job running fn over nitems items (item_size bytes each, or
 * MP__ITEM_VAR) whose input takes data bytes, in a block of its own, and
 * stores where the input goes in *dst. Returns it, or NULL when out of
 * memory. */
mp__job_t *
mp__pool_job_alloc(mp_pool_t *pool, mp_pool_fn fn, uint64_t item_size,
                   size_t nitems, size_t data, char **dst)
{
    mp__fn_name_t name;
    mp__pool_fn_name(fn, &name);
    size_t span = mp__pool_job_span(&name, data);
    void *block = span > 0 ? mp__pool_block_new(span) : NULL;
    if (block == NULL) {
        return NULL;
    }
    size_t used = 0;
    return mp__pool_job_place(pool, block, &used, &name, item_size, nitems,
                              data, dst);
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
 * them, and hands out what workers have room for from this thread. The
 * handler is woken only when it has something to do now: fail a job an
 * inbox refused, or wait for a new task's timeout. Returns 0, or the
 * pool's submission error (nothing queued). */
int
mp__pool_submit(mp_pool_t *pool, mp__job_t *first, mp__job_t *last)
{
    pthread_mutex_lock(&pool->mu);
    int err = submit_error_locked(pool);
    if (err == 0) {
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
        dispatch_locked(pool);
    }
    bool wake = err == 0 && (pool->failed != NULL || pool->task_timeout_ns > 0);
    pthread_mutex_unlock(&pool->mu);
    if (wake) {
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
