/* SPDX-License-Identifier: MIT */
/* rank.c - a worker rank: the handshake's answer, then the loop that
 * serves the parent's pools until SHUTDOWN.
 *
 * For each of the parent's pools (OPEN) the rank makes a local pool of
 * forked children (mp_pool_create), whose initializer first puts back the
 * default action of the fatal signals MPI catches (so that a crashing
 * child dies of its signal instead of printing MPI's backtrace) and then
 * runs the user's. A no-op task tells when the local pool is ready (READY)
 * or broken by its initializer (INITFAIL). Each task message (a chunk of
 * one or more items) goes to the local pool as it came
 * (mp__pool_submit_raw): a child runs it, and its DONE reply goes back to
 * the parent as it came, with the parent's slot and task id. This loop
 * takes the local pools' replies itself (mp__pool_owner_takes_replies,
 * mp__pool_help_replies): a child's reply wakes this loop, or is found by
 * its spin, without a wake-up of the local pool's handler thread and a
 * hand-over from it; the task ends in a sink, which this loop's next
 * round sends. The handler still ends the tasks of a child that died or
 * timed out (in the same sink).
 * When the task fails for a reason of the rank (its child killed or
 * crashed, the timeout, a broken local pool), each item carries its
 * library code (MP__ITEM_CODE) and a message naming the rank and host. STOP
 * closes the local pool and KILL terminates it; both end with ENDED. All MPI
 * calls are made by this one thread; idle, it waits with the back-off of
 * wire.c. */
#include "mpi_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The user's initializer and its argument's copy, for the children. */
typedef struct init_wrap {
    const mp__remote_bridge_t *br;
    mp_pool_init_fn fn;
    void *arg;
    mp_value_t *rc; /* shared: what a failed initializer returned */
} init_wrap_t;

/* One task message in the local pool. The sink sets reply and ended
 * under the rank's mu; the rest is the loop's. */
typedef struct rtask {
    struct rtask *next;
    struct rank *rk;
    uint32_t slot;
    uint64_t gen;
    uint64_t id; /* the parent's */
    size_t nitems;
    bool ended;
    void *reply; /* the parent's REPLY payload; NULL: out of memory */
    size_t reply_len;
} rtask_t;

/* One of the parent's pools, as this rank runs it. */
typedef struct lpool {
    struct lpool *next;
    uint32_t id, slot;
    uint64_t gen;
    mp_pool_t *pool;
    init_wrap_t wrap;
    mp_result_t *probe;
    mp_waitable_t replies; /* its result queue, whose replies the loop takes */
    bool stopping;
    rtask_t *tasks;
} lpool_t;

typedef struct rank {
    const mp__remote_bridge_t *br;
    mp__mpi_wire_t wire;
    int me;
    char host[MPI_MAX_PROCESSOR_NAME + 1];
    lpool_t *pools;
    bool shutdown;
    /* The sinks (run by this loop, or by a local pool's handler thread
     * for a task whose child died) and the loop: ended counts the tasks
     * ended and not yet sent. */
    pthread_mutex_t mu;
    size_t ended;
    mp_waitable_t *items; /* wait_task_end's set */
    size_t items_cap;
} rank_t;

/* A local pool's child starts here. */
static int
child_init(void *arg)
{
    init_wrap_t *w = arg;
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        w->br->signal_set(fatal[i], SIG_DFL);
    }
    int rc = w->fn != NULL ? w->fn(w->arg) : 0;
    if (rc != 0) {
        long long v = rc;
        (void)mp_value_set(w->rc, &v);
    }
    return rc;
}

/* The readiness probe's task. */
static int
probe_task(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in;
    (void)in_len;
    (void)out;
    return 0;
}

/* Sends or aborts: the parent waits for every message. */
static void
must_send(rank_t *rk, const mp__mpi_hdr_t *h, const void *a, size_t alen,
          const void *b, size_t blen)
{
    if (mp__mpi_wire_send2(&rk->wire, 0, h, a, alen, b, blen) != 0) {
        mp__mpi_abort(rk->wire.comm, "out of memory sending a message");
    }
}

/* Sends lp's slot a reply of kind (READY, INITFAIL) with init_rc. */
static void
send_status(rank_t *rk, const lpool_t *lp, uint32_t kind, int64_t init_rc)
{
    mp__mpi_hdr_t h = {.kind = MP__MPI_REPLY,
                       .pool = lp->id,
                       .slot = lp->slot,
                       .gen = lp->gen};
    mp__reply_hdr_t rh = {
        .kind = kind, .slot = lp->slot, .gen = lp->gen, .init_rc = init_rc};
    must_send(rk, &h, &rh, sizeof rh, NULL, 0);
}

static void
send_ended(rank_t *rk, const lpool_t *lp, int code)
{
    mp__mpi_hdr_t h = {.kind = MP__MPI_ENDED,
                       .pool = lp->id,
                       .slot = lp->slot,
                       .gen = lp->gen,
                       .arg = code};
    must_send(rk, &h, NULL, 0, NULL, 0);
}

/* Builds t's reply where every item failed with err and text (the rank's
 * place added unless the task itself failed), with the exit code of the
 * child it died with when has_exit (MP__ITEM_EXIT); NULL when out of
 * memory. */
static void *
fail_reply(const rtask_t *t, int err, const char *text, bool has_exit,
           int exitcode, size_t *len)
{
    char m[MP__POOL_MSG_MAX];
    if (err == MP_EREMOTE) {
        snprintf(m, sizeof m, "%s", text);
    } else {
        snprintf(m, sizeof m, "%s (rank %d on %s)", text, t->rk->me,
                 t->rk->host);
    }
    size_t ml = strlen(m) + 1;
    mp__reply_hdr_t rh = {.kind = MP__REPLY_DONE,
                          .slot = t->slot,
                          .gen = t->gen,
                          .id = t->id,
                          .nitems = t->nitems,
                          .uniform_len = MP__ITEM_VAR};
    size_t n = sizeof rh + t->nitems * (sizeof(mp__item_hdr_t) + ml);
    char *buf = malloc(n);
    if (buf == NULL) {
        return NULL;
    }
    memcpy(buf, &rh, sizeof rh);
    mp__item_hdr_t ih = {.rc = err,
                         .pad = has_exit ? MP__ITEM_EXIT_PAD(exitcode)
                                         : MP__ITEM_CODE,
                         .len = ml};
    char *tab = buf + sizeof rh, *at = tab + t->nitems * sizeof ih;
    for (size_t i = 0; i < t->nitems; i++) {
        memcpy(tab + i * sizeof ih, &ih, sizeof ih);
        memcpy(at + i * ml, m, ml);
    }
    *len = n;
    return buf;
}

/* Marks t ended with reply (len bytes; NULL: out of memory). */
static void
end_task(rtask_t *t, void *reply, size_t len)
{
    pthread_mutex_lock(&t->rk->mu);
    t->reply = reply;
    t->reply_len = len;
    t->ended = true;
    t->rk->ended++;
    pthread_mutex_unlock(&t->rk->mu);
}

/* The sink of a forwarded task: its child's reply, as the parent's. */
static void
sink_done(void *arg, const mp__reply_hdr_t *rh, const char *p, const char *end)
{
    rtask_t *t = arg;
    size_t n = sizeof *rh + (size_t)(end - p);
    char *buf = malloc(n);
    if (buf != NULL) {
        mp__reply_hdr_t h = *rh;
        h.slot = t->slot;
        h.gen = t->gen;
        h.id = t->id;
        memcpy(buf, &h, sizeof h);
        memcpy(buf + sizeof h, p, (size_t)(end - p));
    }
    end_task(t, buf, n);
}

static void
sink_fail(void *arg, int err, const char *msg, bool has_exit, int exitcode)
{
    rtask_t *t = arg;
    size_t n = 0;
    void *buf = fail_reply(t, err, msg != NULL ? msg : mp_strerror(err),
                           has_exit, exitcode, &n);
    end_task(t, buf, n);
}

static const mp__pool_sink_t task_sink = {.done = sink_done, .fail = sink_fail};

static void
rtask_free(rtask_t *t)
{
    free(t->reply);
    free(t);
}

/* Frees lp: terminates its local pool first unless it was joined. */
static void
lpool_free(lpool_t *lp)
{
    /* Destroying the pool ends its tasks first (their sinks run). */
    mp_result_destroy(lp->probe);
    mp_pool_destroy(lp->pool);
    while (lp->tasks != NULL) {
        rtask_t *t = lp->tasks;
        lp->tasks = t->next;
        if (t->ended) {
            pthread_mutex_lock(&t->rk->mu);
            t->rk->ended--;
            pthread_mutex_unlock(&t->rk->mu);
        }
        rtask_free(t);
    }
    mp_value_destroy(lp->wrap.rc);
    free(lp->wrap.arg);
    free(lp);
}

/* What lp's initializer returned where it failed (-1: it did not, the
 * children died before it could tell). */
static int64_t
init_failure(lpool_t *lp)
{
    long long v = 0;
    (void)mp_value_get(lp->wrap.rc, &v);
    return v != 0 ? v : -1;
}

/* Starts the parent's pool described by an OPEN. */
static void
open_pool(rank_t *rk, const mp__mpi_hdr_t *h, const char *p, size_t len)
{
    lpool_t *lp = calloc(1, sizeof *lp);
    mp__mpi_open_t op;
    if (lp == NULL || len < sizeof op) {
        mp__mpi_abort(rk->wire.comm, "cannot take a pool's OPEN");
    }
    memcpy(&op, p, sizeof op);
    lp->id = h->pool;
    lp->slot = h->slot;
    lp->gen = h->gen;
    lp->wrap.br = rk->br;
    size_t flen = op.init_ref_len == UINT32_MAX ? 0 : op.init_ref_len;
    if (flen > len - sizeof op || op.initarg_len > len - sizeof op - flen) {
        mp__mpi_abort(rk->wire.comm, "a malformed OPEN");
    }
    int init_err = 0; /* the initializer's reference is checked here */
    if (op.init_ref_len != UINT32_MAX) {
        void (*fn)(void) = NULL;
        init_err = rk->br->fn_resolve(p + sizeof op, flen, &fn);
        lp->wrap.fn = (mp_pool_init_fn)fn;
    }
    if (op.initarg_len > 0) {
        lp->wrap.arg = malloc(op.initarg_len);
        if (lp->wrap.arg == NULL) {
            mp__mpi_abort(rk->wire.comm, "out of memory opening a pool");
        }
        memcpy(lp->wrap.arg, p + sizeof op + flen, op.initarg_len);
    }
    lp->next = rk->pools;
    rk->pools = lp;
    if (init_err != 0) {
        fprintf(stderr,
                "multiproc: MPI: rank %d on %s: the pool's initializer "
                "cannot be called here: %s\n",
                rk->me, rk->host, mp_strerror(init_err));
        send_status(rk, lp, MP__REPLY_INITFAIL, init_err);
        return;
    }
    mp_pool_opts_t po = MP_POOL_OPTS_INIT;
    /* Forked children, whatever the default: the initializer's argument is
     * a pointer, and forwarded tasks name functions as a fork has them. */
    po.start_method = MP_START_FORK;
    po.processes = (int)op.processes;
    po.initializer = child_init;
    po.initarg = &lp->wrap;
    po.maxtasksperchild = op.maxtasks;
    po.task_timeout = op.task_timeout;
    int err = mp_raw_value_create(&lp->wrap.rc, MP_TYPE_LLONG, NULL);
    if (err == 0) {
        err = mp_pool_create(&lp->pool, &po);
    }
    if (err == 0) {
        rk->br->owner_takes_replies(lp->pool, &lp->replies);
    }
    if (err == 0 &&
        mp_pool_apply_async(lp->pool, probe_task, NULL, 0, &lp->probe) != 0) {
        /* Broken already (its initializer failed at once). */
        lp->probe = NULL;
        send_status(rk, lp, MP__REPLY_INITFAIL, init_failure(lp));
        return;
    }
    if (err != 0) {
        /* The parent counts it as a worker that died at start. */
        rk->pools = lp->next;
        send_ended(rk, lp, err);
        lpool_free(lp);
    }
}

static lpool_t *
find_pool(rank_t *rk, const mp__mpi_hdr_t *h)
{
    for (lpool_t *lp = rk->pools; lp != NULL; lp = lp->next) {
        if (lp->id == h->pool && lp->slot == h->slot && lp->gen == h->gen) {
            return lp;
        }
    }
    return NULL;
}

/* Starts a task message of lp in its local pool (msg is copied). */
static void
start_task(rank_t *rk, lpool_t *lp, const void *msg, size_t len)
{
    mp__task_hdr_t th;
    memcpy(&th, msg, sizeof th);
    rtask_t *t = calloc(1, sizeof *t);
    if (t == NULL || th.nitems == 0 || th.nitems > len) {
        mp__mpi_abort(rk->wire.comm, "cannot take a task");
    }
    *t = (rtask_t){.rk = rk,
                   .slot = lp->slot,
                   .gen = lp->gen,
                   .id = th.id,
                   .nitems = (size_t)th.nitems};
    t->next = lp->tasks;
    lp->tasks = t;
    int err = rk->br->submit_raw(lp->pool, msg, len, &task_sink, t);
    if (err != 0) {
        size_t n = 0;
        void *buf = fail_reply(t, err, mp_strerror(err), false, 0, &n);
        end_task(t, buf, n);
    }
}

/* Sends the replies of lp's ended tasks; returns whether there were. */
static bool
send_ended_tasks(rank_t *rk, lpool_t *lp)
{
    rtask_t *done = NULL;
    pthread_mutex_lock(&rk->mu);
    for (rtask_t **pp = &lp->tasks; *pp != NULL;) {
        rtask_t *t = *pp;
        if (t->ended) {
            *pp = t->next;
            t->next = done;
            done = t;
            rk->ended--;
        } else {
            pp = &t->next;
        }
    }
    pthread_mutex_unlock(&rk->mu);
    bool any = done != NULL;
    mp__mpi_hdr_t h = {.kind = MP__MPI_REPLY,
                       .pool = lp->id,
                       .slot = lp->slot,
                       .gen = lp->gen};
    while (done != NULL) {
        rtask_t *t = done;
        done = t->next;
        if (t->reply == NULL) {
            t->reply = fail_reply(t, MP_ENOMEM, "out of memory on the rank",
                                  false, 0, &t->reply_len);
        }
        if (t->reply == NULL) {
            mp__mpi_abort(rk->wire.comm, "out of memory answering a task");
        }
        must_send(rk, &h, t->reply, t->reply_len, NULL, 0);
        rtask_free(t);
    }
    return any;
}

/* Moves lp on: the probe, finished tasks, a stop. Returns whether
 * anything happened; frees lp (and returns true) once it ended. */
static bool
serve_pool(rank_t *rk, lpool_t *lp, bool *freed)
{
    bool busy = false;
    *freed = false;
    if (lp->probe != NULL && mp_result_ready(lp->probe)) {
        /* A length (>= 0) when the probe succeeded. */
        bool failed = mp_result_get(lp->probe, NULL, MP_NO_WAIT) < 0;
        send_status(rk, lp, failed ? MP__REPLY_INITFAIL : MP__REPLY_READY,
                    failed ? init_failure(lp) : 0);
        mp_result_destroy(lp->probe);
        lp->probe = NULL;
        busy = true;
    }
    busy |= send_ended_tasks(rk, lp);
    if (lp->stopping && lp->tasks == NULL &&
        (lp->pool == NULL || mp_pool_join(lp->pool, MP_NO_WAIT) == 0)) {
        send_ended(rk, lp, 0);
        *freed = true;
        return true;
    }
    return busy;
}

/* Handles one message from the parent; takes p. */
static void
handle(rank_t *rk, const mp__mpi_hdr_t *h, void *p, size_t len)
{
    lpool_t *lp = h->kind == MP__MPI_TASK || h->kind == MP__MPI_KILL
                      ? find_pool(rk, h)
                      : NULL;
    if (h->kind == MP__MPI_PING) {
        mp__mpi_hdr_t pong = {.kind = MP__MPI_PONG};
        must_send(rk, &pong, NULL, 0, NULL, 0);
    } else if (h->kind == MP__MPI_OPEN) {
        open_pool(rk, h, p, len);
    } else if (h->kind == MP__MPI_TASK && lp != NULL &&
               len >= sizeof(mp__task_hdr_t)) {
        mp__task_hdr_t th;
        memcpy(&th, p, sizeof th);
        if (th.kind == MP__TASK_STOP) {
            lp->stopping = true;
            if (lp->pool != NULL) {
                (void)mp_pool_close(lp->pool);
            }
        } else if (lp->pool != NULL) {
            start_task(rk, lp, p, len);
        }
    } else if (h->kind == MP__MPI_KILL && lp != NULL) {
        for (lpool_t **pp = &rk->pools; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == lp) {
                *pp = lp->next;
                break;
            }
        }
        send_ended(rk, lp, -SIGKILL);
        lpool_free(lp);
    } else if (h->kind == MP__MPI_SHUTDOWN) {
        rk->shutdown = true;
    }
    free(p);
}

/* Whether a task of some pool runs (in a local pool). */
static bool
tasks_running(const rank_t *rk)
{
    for (const lpool_t *lp = rk->pools; lp != NULL; lp = lp->next) {
        if (lp->tasks != NULL) {
            return true;
        }
    }
    return false;
}

/* Waits up to MP__MPI_WAIT_MS for a reply in the result queue of a
 * local pool with tasks (woken at once by a child's put); a task ended by
 * a handler (its child died) is seen after the wait at the latest. */
static void
wait_task_end(rank_t *rk)
{
    size_t n = 0;
    for (const lpool_t *lp = rk->pools; lp != NULL; lp = lp->next) {
        n += lp->pool != NULL && lp->tasks != NULL;
    }
    if (n > rk->items_cap) {
        mp_waitable_t *items = realloc(rk->items, n * sizeof *items);
        if (items == NULL) {
            rk->br->nap(MP__MPI_NAP_MIN_NS);
            return;
        }
        rk->items = items;
        rk->items_cap = n;
    }
    n = 0;
    for (const lpool_t *lp = rk->pools; lp != NULL; lp = lp->next) {
        if (lp->pool != NULL && lp->tasks != NULL) {
            rk->items[n++] = lp->replies;
        }
    }
    pthread_mutex_lock(&rk->mu);
    bool ended = rk->ended > 0;
    pthread_mutex_unlock(&rk->mu);
    if (!ended && n > 0) {
        (void)mp_wait_any(rk->items, n, MP__MPI_WAIT_MS);
    } else if (!ended) {
        rk->br->nap(MP__MPI_NAP_MIN_NS);
    }
}

/* Answers the parent's hello. Returns whether this rank accepted it. */
static bool
answer_hello(rank_t *rk, const void *caller)
{
    mp__mpi_idle_t idle;
    mp__mpi_idle_busy(&idle, rk->br);
    for (;;) {
        mp__mpi_hdr_t h;
        void *p;
        size_t len;
        if (mp__mpi_wire_poll(&rk->wire, 0, &h, &p, &len) < 0) {
            mp__mpi_idle_wait(&idle, rk->br);
            continue;
        }
        if (h.kind != MP__MPI_HELLO) {
            free(p);
            continue;
        }
        mp__mpi_hello_t mine, theirs = {0};
        mp__mpi_hello_fill(&mine, caller, rk->br);
        memcpy(&theirs, p, len < sizeof theirs ? len : sizeof theirs);
        free(p);
        mp__mpi_ack_t ack = {.pid =
                                 (int32_t)mp_process_pid(mp_current_process())};
        snprintf(ack.host, sizeof ack.host, "%.*s", (int)sizeof ack.host - 1,
                 rk->host);
        ack.ok = len == sizeof theirs &&
                 mp__mpi_hello_check(&mine, &theirs, ack.why, sizeof ack.why);
        if (len != sizeof theirs) {
            snprintf(ack.why, sizeof ack.why, "a hello of another size");
        }
        mp__mpi_hdr_t ah = {.kind = MP__MPI_ACK};
        must_send(rk, &ah, &ack, sizeof ack, NULL, 0);
        return ack.ok;
    }
}

int
mp__mpi_rank_main(MPI_Comm comm, const mp__remote_bridge_t *br,
                  const void *caller)
{
    rank_t rk = {.br = br};
    pthread_mutex_init(&rk.mu, NULL);
    mp__mpi_wire_init(&rk.wire, comm, br);
    MPI_Comm_rank(comm, &rk.me);
    int hl = 0;
    MPI_Get_processor_name(rk.host, &hl);
    rk.host[hl > 0 && hl <= MPI_MAX_PROCESSOR_NAME ? hl : 0] = '\0';
    bool accepted = answer_hello(&rk, caller);
    mp__mpi_idle_t idle;
    mp__mpi_idle_busy(&idle, br);
    while (!rk.shutdown) {
        bool busy = false;
        for (;;) {
            mp__mpi_hdr_t h;
            void *p;
            size_t len;
            if (mp__mpi_wire_poll(&rk.wire, 0, &h, &p, &len) < 0) {
                break;
            }
            busy = true;
            if (accepted || h.kind == MP__MPI_SHUTDOWN ||
                h.kind == MP__MPI_PING) {
                handle(&rk, &h, p, len);
            } else {
                free(p);
            }
        }
        /* The children's replies (and the probes' READY) are taken here,
         * not by the local pools' handlers: no wake-up of a handler and no
         * hand-over from it to this loop on the way back to the parent. */
        for (lpool_t *lp = rk.pools; lp != NULL; lp = lp->next) {
            if (lp->pool != NULL) {
                (void)br->help_replies(lp->pool);
            }
        }
        for (lpool_t **pp = &rk.pools; *pp != NULL;) {
            lpool_t *lp = *pp;
            bool freed;
            busy |= serve_pool(&rk, lp, &freed);
            if (freed) {
                *pp = lp->next;
                lpool_free(lp);
            } else {
                pp = &lp->next;
            }
        }
        (void)mp__mpi_wire_progress(&rk.wire);
        /* With tasks running, wait for one to end (woken at once) rather
         * than nap; without, the parent's next task is
         * probably near after an answer: spin longer. */
        bool running = tasks_running(&rk);
        if (busy) {
            mp__mpi_idle_busy(&idle, br);
        } else if (!mp__mpi_idle_spin(&idle, br,
                                      running ? MP__MPI_SPIN_NS
                                              : MP__MPI_SPIN_LONG_NS)) {
            if (running) {
                wait_task_end(&rk);
            } else {
                mp__mpi_idle_nap(&idle, br);
            }
        }
    }
    while (rk.pools != NULL) {
        lpool_t *lp = rk.pools;
        rk.pools = lp->next;
        lpool_free(lp);
    }
    mp__mpi_hdr_t bye = {.kind = MP__MPI_BYE};
    must_send(&rk, &bye, NULL, 0, NULL, 0);
    mp__mpi_wire_flush(&rk.wire);
    free(rk.items);
    pthread_mutex_destroy(&rk.mu);
    return accepted ? 0 : MP_EPROTO;
}
