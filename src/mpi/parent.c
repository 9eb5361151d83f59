/* SPDX-License-Identifier: MIT */
/* parent.c - the parent's side of the distributed pool: mp_mpi_pool_create
 * (a pool whose transport, remote.h, makes each slot's worker a worker
 * rank) and the funnel thread, the one thread of rank 0 that calls MPI
 * once mp_mpi_init returned.
 *
 * A slot's worker ("remote") is a record the funnel serves: it sends the
 * rank an OPEN, forwards every message the pool puts in the slot's inbox
 * (tasks, STOP) as it appears, ends the rank's replies itself where the
 * pool lets it (mp__pool_take_reply: no user callbacks to run, nothing
 * queued ahead) or puts them on the pool's result queue (keeping them in
 * order, in a backlog, while the queue is full), and signals the slot's
 * waker once the rank said ENDED and the backlog is empty, so that the
 * pool sees the end after the last reply.
 * The funnel also pings every rank each quarter of the heartbeat timeout
 * and ends the job (MPI_Abort, with the rank and host) when a rank sent
 * nothing for a whole timeout. It never blocks: it polls the inboxes and
 * MPI, then waits as wire.c's idle back-off says. */
#include "mpi_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What mp_mpi_pool_create made: the transport's argument. */
typedef struct mpi_pool {
    mp_mpi_t *mpi;
    mp_pool_t *pool; /* once created (mpi->mu) */
    uint32_t id;
    void *open; /* the OPEN payload */
    size_t open_len;
} mpi_pool_t;

/* A reply waiting for room in the result queue. */
typedef struct backlog {
    struct backlog *next;
    void *buf;
    size_t len;
} backlog_t;

struct mp__mpi_remote {
    mp__mpi_remote_t *next;
    mpi_pool_t *p;
    int rank;
    uint32_t slot;
    uint64_t gen;
    mp_queue_t *inbox, *results;
    int waker;
    bool opened, kill_req, kill_sent, ended, signalled;
    int exitcode;
    size_t out; /* tasks sent and not answered */
    backlog_t *bl_head, *bl_tail;
};

/*---- the transport (pool handler thread) ----------------------------*/

static int
remote_start(void *arg, const mp__worker_ctx_t *ctx, void **worker, pid_t *pid)
{
    mpi_pool_t *p = arg;
    mp_mpi_t *mpi = p->mpi;
    mp__mpi_remote_t *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return MP_ENOMEM;
    }
    r->waker = mpi->br->waker_open();
    if (r->waker < 0) {
        int err = r->waker;
        free(r);
        return err;
    }
    r->p = p;
    r->slot = ctx->slot;
    r->rank = (int)ctx->slot % (mpi->size - 1) + 1;
    r->gen = ctx->gen;
    r->inbox = ctx->inbox;
    r->results = ctx->results;
    pthread_mutex_lock(&mpi->mu);
    r->next = mpi->remotes;
    mpi->remotes = r;
    *pid = mpi->peers[r->rank].pid;
    pthread_mutex_unlock(&mpi->mu);
    *worker = r;
    return 0;
}

static mp_waitable_t
remote_waitable(void *worker)
{
    mp__mpi_remote_t *r = worker;
    return (mp_waitable_t){.kind = MP_WAIT_FD, .u.fd = r->waker};
}

static void
remote_kill(void *worker)
{
    mp__mpi_remote_t *r = worker;
    mp_mpi_t *mpi = r->p->mpi;
    pthread_mutex_lock(&mpi->mu);
    r->kill_req = true;
    pthread_mutex_unlock(&mpi->mu);
}

static void
remote_reap(void *worker, int *exitcode)
{
    mp__mpi_remote_t *r = worker;
    mp_mpi_t *mpi = r->p->mpi;
    mp_waitable_t w = remote_waitable(r);
    /* Bounded: a rank answers KILL at once, or the heartbeat ends the
     * job. */
    while (mp_wait_any(&w, 1, MP_WAIT_FOREVER) < 0) {
    }
    pthread_mutex_lock(&mpi->mu);
    for (mp__mpi_remote_t **pp = &mpi->remotes; *pp != NULL;
         pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    pthread_mutex_unlock(&mpi->mu);
    *exitcode = r->exitcode;
    while (r->bl_head != NULL) {
        backlog_t *b = r->bl_head;
        r->bl_head = b->next;
        free(b->buf);
        free(b);
    }
    mpi->br->waker_close(r->waker);
    free(r);
}

static void
remote_release(void *arg)
{
    mpi_pool_t *p = arg;
    pthread_mutex_lock(&p->mpi->mu);
    p->mpi->pools--;
    pthread_mutex_unlock(&p->mpi->mu);
    free(p->open);
    free(p);
}

/* Builds pool p's OPEN payload from o. Returns 0, MP_ENOMEM or the error
 * of naming its initializer (MP_ENOTSUP, MP_ENOENT: mp__fnref_encode). */
static int
build_open(mpi_pool_t *p, const mp_mpi_pool_opts_t *o)
{
    /* The initializer's reference (fnref.h), checked by the rank. */
    void *ref = NULL;
    ssize_t flen = 0;
    if (o->initializer != NULL) {
        flen = p->mpi->br->fn_ref((void (*)(void))o->initializer, &ref);
        if (flen < 0) {
            return (int)flen;
        }
    }
    mp__mpi_open_t op = {.processes = o->processes,
                         .maxtasks = o->maxtasksperchild,
                         .task_timeout = o->task_timeout,
                         .init_ref_len = o->initializer != NULL ? (uint32_t)flen
                                                                : UINT32_MAX,
                         .initarg_len = o->initarg_len};
    if (o->initarg_len > SIZE_MAX / 2 || (size_t)flen >= UINT32_MAX) {
        p->mpi->br->fn_ref_free(ref);
        return MP_ENOMEM;
    }
    p->open_len = sizeof op + (size_t)flen + o->initarg_len;
    char *buf = malloc(p->open_len);
    if (buf == NULL) {
        p->mpi->br->fn_ref_free(ref);
        return MP_ENOMEM;
    }
    memcpy(buf, &op, sizeof op);
    if (flen > 0) {
        memcpy(buf + sizeof op, ref, (size_t)flen);
    }
    p->mpi->br->fn_ref_free(ref);
    if (o->initarg_len > 0) {
        memcpy(buf + sizeof op + flen, o->initarg, o->initarg_len);
    }
    p->open = buf;
    return 0;
}

int
mp_mpi_pool_create(mp_mpi_t *mpi, const mp_mpi_pool_opts_t *opts,
                   mp_pool_t **out)
{
    mp_mpi_pool_opts_t o =
        opts != NULL ? *opts : (mp_mpi_pool_opts_t)MP_MPI_POOL_OPTS_INIT;
    if (mpi == NULL || out == NULL || MP__OPTS_BAD(opts) || o.processes < 0 ||
        (o.task_timeout < 0 && o.task_timeout != MP_WAIT_FOREVER) ||
        (o.initarg == NULL && o.initarg_len > 0)) {
        return MP_EINVAL;
    }
    mpi_pool_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return MP_ENOMEM;
    }
    p->mpi = mpi;
    if (o.task_timeout == MP_WAIT_FOREVER) {
        o.task_timeout = 0;
    }
    int err = build_open(p, &o);
    if (err != 0) {
        free(p);
        return err;
    }
    pthread_mutex_lock(&mpi->mu);
    p->id = mpi->next_pool++;
    mpi->pools++;
    pthread_mutex_unlock(&mpi->mu);
    /* The ranks run the initializer, enforce the task timeout and recycle
     * their children; the pool itself only dispatches, so it queues ahead
     * (no timeout of its own) and never replaces a rank for its age. */
    mp_pool_opts_t po = MP_POOL_OPTS_INIT;
    po.processes = mpi->size - 1;
    /* Its queues stay in this process (the funnel's): private ones, as a
     * fork pool has, whatever the default start method. */
    po.start_method = MP_START_FORK;
    mp__pool_transport_t t = {.arg = p,
                              .start = remote_start,
                              .waitable = remote_waitable,
                              .kill = remote_kill,
                              .reap = remote_reap,
                              .release = remote_release};
    /* On failure the pool released p already. */
    err = mpi->br->pool_create(out, &po, &t);
    if (err == 0) {
        pthread_mutex_lock(&mpi->mu);
        p->pool = *out;
        pthread_mutex_unlock(&mpi->mu);
    }
    return err;
}

/*---- the funnel thread ----------------------------------------------*/

/* The funnel's own state. */
typedef struct funnel {
    mp_mpi_t *mpi;
    bool shutdown_sent;
    int byes;
    int64_t next_ping;
    mp_waitable_t *items; /* wait_inboxes' set */
    size_t items_cap;
} funnel_t;

/* With no task out, waits up to MP__MPI_WAIT_MS for a task in any inbox
 * (woken by the pool's put at once). mu stays held: a remote cannot go
 * (its inbox with it) meanwhile, and the pool's threads wait at most that
 * long for it. Returns false when there is nothing to wait on. */
static bool
wait_inboxes(funnel_t *f)
{
    mp_mpi_t *mpi = f->mpi;
    pthread_mutex_lock(&mpi->mu);
    size_t n = 0;
    for (mp__mpi_remote_t *r = mpi->remotes; r != NULL; r = r->next) {
        n++;
    }
    if (n > f->items_cap) {
        mp_waitable_t *items = realloc(f->items, n * sizeof *items);
        if (items == NULL) {
            pthread_mutex_unlock(&mpi->mu);
            return false;
        }
        f->items = items;
        f->items_cap = n;
    }
    n = 0;
    for (mp__mpi_remote_t *r = mpi->remotes; r != NULL; r = r->next) {
        if (r->opened && !r->ended && !r->kill_sent) {
            f->items[n++] =
                (mp_waitable_t){.kind = MP_WAIT_QUEUE, .u.queue = r->inbox};
        }
    }
    bool waited = n > 0 && mp_wait_any(f->items, n, MP__MPI_WAIT_MS) >= 0;
    pthread_mutex_unlock(&mpi->mu);
    return waited;
}

/* Sends or aborts: the funnel cannot lose a message. */
static void
must_send(mp_mpi_t *mpi, int dest, const mp__mpi_hdr_t *h, const void *a,
          size_t alen, const void *b, size_t blen)
{
    if (mp__mpi_wire_send2(&mpi->wire, dest, h, a, alen, b, blen) != 0) {
        mp__mpi_abort(mpi->comm, "out of memory sending a message");
    }
}

/* Puts r's backlog on its result queue while there is room, then signals
 * its end when due (mu held). */
static void
flush_backlog_locked(mp_mpi_t *mpi, mp__mpi_remote_t *r)
{
    while (r->bl_head != NULL) {
        backlog_t *b = r->bl_head;
        if (mp_queue_put(r->results, b->buf, b->len, MP_NO_WAIT) != 0) {
            break;
        }
        r->bl_head = b->next;
        if (r->bl_head == NULL) {
            r->bl_tail = NULL;
        }
        free(b->buf);
        free(b);
    }
    if (r->ended && r->bl_head == NULL && !r->signalled) {
        r->signalled = true;
        mpi->br->waker_signal(r->waker);
    }
}

/* Whether r's inbox messages go to its rank now (mu held). */
static bool
forwarding(const mp__mpi_remote_t *r)
{
    return r->opened && !r->ended && !r->kill_sent;
}

/* The sharing of the ranks between pools: each rank has
 * MP__MPI_RANK_WINDOW places for tasks in flight, shared equally by the
 * pools that have work for it (tasks out or queued in their inbox): a
 * pool forwards a task to a rank only while it has fewer than its share
 * out there (at least one), and the pools take turns, one message each
 * per round. A pool alone gets the whole window; a pool that comes while
 * another fills it gets its share at once (the other's tasks out are not
 * taken back, so for a while the rank holds more than the window), and
 * the other gets no more until it is back under its share.
 * Counts into mpi->work the pools with work per rank (mu held). */
static void
count_work_locked(mp_mpi_t *mpi)
{
    memset(mpi->work, 0, (size_t)mpi->size * sizeof *mpi->work);
    for (mp__mpi_remote_t *r = mpi->remotes; r != NULL; r = r->next) {
        if (forwarding(r) && (r->out > 0 || !mp_queue_empty(r->inbox))) {
            mpi->work[r->rank]++;
        }
    }
}

/* Pool r's share of its rank's window (count_work_locked's counts; mu
 * held). */
static size_t
share_locked(const mp_mpi_t *mpi, const mp__mpi_remote_t *r)
{
    size_t pools = mpi->work[r->rank] > 0 ? (size_t)mpi->work[r->rank] : 1;
    size_t share = MP__MPI_RANK_WINDOW / pools;
    return share > 0 ? share : 1;
}

/* Forwards the remotes' inbox messages (tasks, STOP) to their ranks as
 * the sharing above allows, one message per remote and round. Returns
 * whether any went (mu held). */
static bool
forward_tasks_locked(mp_mpi_t *mpi)
{
    count_work_locked(mpi);
    bool busy = false;
    for (bool sent = true; sent;) {
        sent = false;
        for (mp__mpi_remote_t *r = mpi->remotes; r != NULL; r = r->next) {
            if (!forwarding(r) || r->out >= share_locked(mpi, r)) {
                continue;
            }
            void *msg;
            ssize_t n = mp_queue_get(r->inbox, &msg, MP_NO_WAIT);
            if (n < 0) {
                continue;
            }
            mp__task_hdr_t th = {0};
            memcpy(&th, msg, (size_t)n < sizeof th ? (size_t)n : sizeof th);
            r->out += th.kind == MP__TASK_RUN;
            mp__mpi_hdr_t h = {.kind = MP__MPI_TASK,
                               .pool = r->p->id,
                               .slot = r->slot,
                               .gen = r->gen};
            must_send(mpi, r->rank, &h, msg, (size_t)n, NULL, 0);
            mp_free(msg);
            sent = busy = true;
        }
    }
    return busy;
}

/* Serves every remote: OPEN, KILL, the backlog, then the inboxes'
 * messages (forward_tasks_locked).
 * Returns whether anything was done, and in *out whether tasks are out
 * (mu held). */
static bool
serve_remotes_locked(mp_mpi_t *mpi, bool *out)
{
    bool busy = false;
    *out = false;
    for (mp__mpi_remote_t *r = mpi->remotes; r != NULL; r = r->next) {
        mp__mpi_hdr_t h = {.pool = r->p->id, .slot = r->slot, .gen = r->gen};
        if (!r->opened) {
            h.kind = MP__MPI_OPEN;
            must_send(mpi, r->rank, &h, r->p->open, r->p->open_len, NULL, 0);
            r->opened = true;
            busy = true;
        }
        if (r->kill_req && !r->kill_sent && !r->ended) {
            h.kind = MP__MPI_KILL;
            must_send(mpi, r->rank, &h, NULL, 0, NULL, 0);
            r->kill_sent = true;
            busy = true;
        }
        flush_backlog_locked(mpi, r);
    }
    busy |= forward_tasks_locked(mpi);
    for (mp__mpi_remote_t *r = mpi->remotes; r != NULL; r = r->next) {
        *out |= r->out > 0 && forwarding(r);
    }
    return busy;
}

/* Finds the remote a rank's message is about (mu held). */
static mp__mpi_remote_t *
find_remote_locked(mp_mpi_t *mpi, int from, const mp__mpi_hdr_t *h)
{
    for (mp__mpi_remote_t *r = mpi->remotes; r != NULL; r = r->next) {
        if (r->rank == from && r->p->id == h->pool && r->slot == h->slot &&
            r->gen == h->gen) {
            return r;
        }
    }
    return NULL;
}

/* Handles one message of rank from; takes payload. */
static void
handle(funnel_t *f, int from, const mp__mpi_hdr_t *h, void *payload, size_t len)
{
    mp_mpi_t *mpi = f->mpi;
    if (h->kind == MP__MPI_BYE) {
        if (!mpi->peers[from].bye) {
            mpi->peers[from].bye = true;
            f->byes++;
        }
    } else if (h->kind == MP__MPI_REPLY || h->kind == MP__MPI_ENDED) {
        pthread_mutex_lock(&mpi->mu);
        mp__mpi_remote_t *r = find_remote_locked(mpi, from, h);
        if (r != NULL && h->kind == MP__MPI_ENDED) {
            r->ended = true;
            r->exitcode = (int)h->arg;
        } else if (r != NULL && !r->kill_sent && !r->ended &&
                   len >= sizeof(mp__reply_hdr_t)) {
            mp__reply_hdr_t rh;
            memcpy(&rh, payload, sizeof rh);
            if (rh.kind == MP__REPLY_DONE && r->out > 0) {
                r->out--;
            }
            /* Handled here where that is safe (no callback of the user's
             * to run, none queued ahead): no wake-up of the pool's handler
             * thread and no hand-over to it. */
            if (r->bl_head == NULL && r->p->pool != NULL &&
                mpi->br->take_reply(r->p->pool, payload, len)) {
                pthread_mutex_unlock(&mpi->mu);
                free(payload);
                return;
            }
            backlog_t *b = malloc(sizeof *b);
            if (b == NULL) {
                mp__mpi_abort(mpi->comm, "out of memory taking a reply");
            }
            *b = (backlog_t){.buf = payload, .len = len};
            payload = NULL;
            if (r->bl_tail != NULL) {
                r->bl_tail->next = b;
            } else {
                r->bl_head = b;
            }
            r->bl_tail = b;
        }
        if (r != NULL) {
            flush_backlog_locked(mpi, r);
        }
        pthread_mutex_unlock(&mpi->mu);
    }
    free(payload);
}

/* Pings the ranks when due and ends the job when one went silent. */
static void
heartbeat(funnel_t *f)
{
    mp_mpi_t *mpi = f->mpi;
    if (mpi->heartbeat_ns == 0) {
        return;
    }
    int64_t now = mpi->br->now_ns();
    for (int r = 1; r < mpi->size; r++) {
        const mp__mpi_peer_t *peer = &mpi->peers[r];
        if (!peer->bye && now - peer->last_seen > mpi->heartbeat_ns) {
            char msg[512];
            snprintf(msg, sizeof msg,
                     "worker rank %d on %s (pid %d) sent nothing for %lld ms "
                     "(the heartbeat timeout): it died or hangs",
                     r, peer->host, peer->pid,
                     (long long)((now - peer->last_seen) / 1000000));
            mp__mpi_abort(mpi->comm, msg);
        }
    }
    if (now < f->next_ping) {
        return;
    }
    f->next_ping = now + mpi->heartbeat_ns / 4;
    mp__mpi_hdr_t h = {.kind = MP__MPI_PING};
    for (int r = 1; r < mpi->size; r++) {
        if (!mpi->peers[r].bye) {
            must_send(mpi, r, &h, NULL, 0, NULL, 0);
        }
    }
}

void *
mp__mpi_funnel_main(void *arg)
{
    funnel_t f = {.mpi = arg};
    mp_mpi_t *mpi = f.mpi;
    mp__mpi_idle_t idle;
    mp__mpi_idle_busy(&idle, mpi->br);
    for (;;) {
        pthread_mutex_lock(&mpi->mu);
        bool out;
        bool busy = serve_remotes_locked(mpi, &out);
        bool shut = mpi->stopping && mpi->remotes == NULL && mpi->pools == 0;
        pthread_mutex_unlock(&mpi->mu);
        if (shut && !f.shutdown_sent) {
            mp__mpi_hdr_t h = {.kind = MP__MPI_SHUTDOWN};
            for (int r = 1; r < mpi->size; r++) {
                must_send(mpi, r, &h, NULL, 0, NULL, 0);
            }
            f.shutdown_sent = true;
        }
        for (;;) {
            mp__mpi_hdr_t h;
            void *p;
            size_t len;
            int from =
                mp__mpi_wire_poll(&mpi->wire, MPI_ANY_SOURCE, &h, &p, &len);
            if (from < 0) {
                break;
            }
            busy = true;
            if (from > 0 && from < mpi->size) {
                mpi->peers[from].last_seen = mpi->br->now_ns();
                handle(&f, from, &h, p, len);
            } else {
                free(p);
            }
        }
        size_t sending = mp__mpi_wire_progress(&mpi->wire);
        if (f.shutdown_sent && f.byes == mpi->size - 1 && sending == 0) {
            break;
        }
        heartbeat(&f);
        /* With tasks out their replies are probably near: spin longer.
         * Without, the next thing is a task, which the inboxes' wait
         * wakes for at once. */
        if (busy) {
            mp__mpi_idle_busy(&idle, mpi->br);
        } else if (!mp__mpi_idle_spin(&idle, mpi->br,
                                      out ? MP__MPI_SPIN_LONG_NS
                                          : MP__MPI_SPIN_NS) &&
                   (out || !wait_inboxes(&f))) {
            mp__mpi_idle_nap(&idle, mpi->br);
        }
    }
    free(f.items);
    pthread_mutex_lock(&mpi->mu);
    mpi->funnel_done = true;
    pthread_mutex_unlock(&mpi->mu);
    return NULL;
}
