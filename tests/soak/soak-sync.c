/* SPDX-License-Identifier: MIT */
/* soak-sync.c - Lock/RLock, Semaphore, Condition and Barrier holders and
 * waiters SIGKILLed at random moments. What each round checks:
 * - lock: a pair (a, b) that holders update as a++ ... b++ is whole
 *   (a == b) whenever the lock was taken normally; after a holder's death
 *   the next acquirer gets MP_EOWNERDEAD (never more of them than kills),
 *   repairs and marks it consistent; nobody waits past a timeout.
 * - semaphore: never more holders than units at once; the value never
 *   exceeds its start (a bounded one never over-releases) and ends
 *   within what the kills can have taken.
 * - condition: waiters are woken by live notifiers (no wait of 10 s), the
 *   lock is recovered after a holder's death, all exit when told.
 * - barrier: after a party's death the others return (MP_EBROKEN or
 *   MP_ETIMEDOUT), reset makes it usable, and the next generations hand
 *   out each index exactly once. */
#include "soak.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 8

typedef struct sledger {
    mp_lock_t *lock;
    mp_semaphore_t *sem;
    mp_condition_t *cond;
    mp_barrier_t *bar;
    bool rlock;
    unsigned units;
    atomic_int stop;
    atomic_long a, b, ticket;
    atomic_int inconsistent, ownerdead, bad_err, last_err, excl_bad,
        wait_timeouts, broken_seen;
    atomic_int holder; /* 1 + the slot that holds the lock, or 0 */
    int holder_kills;  /* kills of a slot that held it */
    int rec_fd[2];     /* a byte per MP_EOWNERDEAD (non-blocking read) */
    atomic_int state[SLOTS];
    atomic_int in_cs[SLOTS];
    atomic_int gen_index[64][SLOTS]; /* barrier: generation x index */
    int slot_arg[SLOTS];
    uint64_t seed;
} sledger_t;

static sledger_t *S;

/* Records an unexpected error in a child and returns its exit code. */
static int
child_err(int rc, int code)
{
    atomic_store(&S->last_err, rc);
    atomic_fetch_add(&S->bad_err, 1);
    return code;
}

/* A child's own generator, from the round's seed and its slot. */
static soak_round_t
child_rng(int slot)
{
    soak_round_t r = {.rng = S->seed ^ (uint64_t)(slot + 1) * 0x9e37u};
    soak_rand(&r.rng);
    return r;
}

/* Counts an MP_EOWNERDEAD and tells the round (a byte on rec_fd). */
static void
owner_dead_seen(void)
{
    atomic_fetch_add(&S->ownerdead, 1);
    char b = 'o';
    while (write(S->rec_fd[1], &b, 1) < 0 && errno == EINTR) {
    }
}

/* Takes lock l for a holder: 0 when taken, MP_EOWNERDEAD handled (the
 * pair repaired, the lock marked consistent), or the error. */
static int
take(mp_lock_t *l, bool repair)
{
    int rc = mp_lock_acquire(l, 10000);
    if (rc == MP_EOWNERDEAD) {
        owner_dead_seen();
        if (repair) {
            atomic_store(&S->b, atomic_load(&S->a));
        }
        int c = mp_lock_consistent(l);
        return c == 0 ? 1 : c;
    }
    return rc;
}

/* --- lock ---------------------------------------------------------------- */

/* A Lock/RLock holder in slot *arg: takes the lock (twice for an RLock),
 * checks the pair is whole, updates it in two steps, releases; until
 * stop. */
static int
lock_holder(void *arg)
{
    int w = *(int *)arg;
    soak_round_t rr = child_rng(w);
    soak_say_ready();
    while (!atomic_load(&S->stop)) {
        int rc = take(S->lock, true);
        if (rc < 0) {
            return child_err(rc, 3);
        }
        atomic_store(&S->holder, w + 1);
        if (rc == 0 && atomic_load(&S->a) != atomic_load(&S->b)) {
            atomic_fetch_add(&S->inconsistent, 1);
        }
        if (S->rlock && (rc = mp_lock_acquire(S->lock, 0)) != 0) {
            return child_err(rc, 4);
        }
        atomic_fetch_add(&S->a, 1);
        soak_pause_us(&rr, 20);
        atomic_fetch_add(&S->b, 1);
        atomic_store(&S->holder, 0);
        if (S->rlock && (rc = mp_lock_release(S->lock)) != 0) {
            return child_err(rc, 5);
        }
        if ((rc = mp_lock_release(S->lock)) != 0) {
            return child_err(rc, 6);
        }
    }
    return 0;
}

/* Kills random children of fn in nslots slots (replacing each) until
 * r->kills kills; on_kill(slot) runs after each kill, before the
 * replacement starts. Then sets stop, and joins them all. */
static void
storm(soak_round_t *r, mp_target_fn *fns, int nslots,
      void (*on_kill)(soak_round_t *r, int slot), void (*before_stop)(void))
{
    mp_process_t *p[SLOTS] = {0};
    for (int i = 0; i < nslots; i++) {
        S->slot_arg[i] = i;
        p[i] = soak_start_ready(r, fns[i], &S->slot_arg[i]);
    }
    int kills = 0, attempts = 0;
    while (kills < r->kills && attempts++ < r->kills * 4 &&
           r->shared->failures == 0) {
        soak_pause_us(r, 4000);
        /* Half the kills go to the lock's holder, if one is known. */
        int v = (int)soak_below(r, (uint64_t)nslots);
        int h = atomic_load(&S->holder);
        if (h > 0 && h <= nslots && soak_below(r, 2) == 1) {
            v = h - 1;
        }
        int code = 0;
        char b;
        while (read(S->rec_fd[0], &b, 1) == 1) {
            /* a recovery before this kill */
        }
        int k = soak_kill(r, &p[v], &code);
        if (k < 0) {
            break;
        }
        if (k == 1) {
            kills++;
            if (on_kill != NULL) {
                on_kill(r, v);
            }
            /* Killed holding the lock: the next acquirer must get it. */
            int was = v + 1;
            if (atomic_compare_exchange_strong(&S->holder, &was, 0)) {
                S->holder_kills++;
                struct pollfd pfd = {S->rec_fd[0], POLLIN, 0};
                if (poll(&pfd, 1, 10000) != 1) {
                    soak_fail(r,
                              "slot %d was killed holding the lock and "
                              "no acquirer recovered it within 10 s",
                              v);
                }
            }
        } else {
            soak_fail(r, "slot %d exited early with %d (%s)", v, code,
                      mp_err_name(atomic_load(&S->last_err)));
        }
        atomic_store(&S->state[v], 0);
        p[v] = soak_start_ready(r, fns[v], &S->slot_arg[v]);
    }
    if (before_stop != NULL) {
        before_stop();
    } else {
        atomic_store(&S->stop, 1);
    }
    for (int i = 0; i < nslots; i++) {
        int code = soak_finish(r, p[i], 30000, "a holder or waiter");
        if (code != 0 && code != -1000) {
            soak_fail(r, "slot %d exited with %d (%s)", i, code,
                      mp_err_name(atomic_load(&S->last_err)));
        }
    }
}

/* Maps the ledger; NULL (failure recorded) when it cannot. */
static sledger_t *
ledger(soak_round_t *r)
{
    S = soak_shared_map(sizeof *S);
    if (S == NULL) {
        soak_fail(r, "no memory for the ledger");
    } else {
        S->seed = soak_rand(&r->rng);
        if (pipe2(S->rec_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
            soak_fail(r, "pipe2: %s", strerror(errno));
            return NULL;
        }
    }
    return S;
}

/* The round's final acquire: the lock must be had within 10 s. */
static void
final_take(soak_round_t *r, mp_lock_t *l, const char *what)
{
    int rc = take(l, true);
    if (rc < 0) {
        soak_fail(r,
                  "%s not recovered: the round's acquire got %s after "
                  "the storm",
                  what, mp_err_name(rc));
        return;
    }
    if (atomic_load(&S->a) != atomic_load(&S->b)) {
        soak_fail(r, "%s: the pair it guards is torn (%ld/%ld)", what,
                  atomic_load(&S->a), atomic_load(&S->b));
    }
    mp_lock_release(l);
}

int
soak_lock(soak_round_t *r)
{
    if (ledger(r) == NULL) {
        return SOAK_FAIL;
    }
    S->rlock = soak_below(r, 2) == 1;
    int rc = S->rlock ? mp_rlock_create(&S->lock) : mp_lock_create(&S->lock);
    if (rc != 0) {
        soak_fail(r, "creating the lock: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    mp_target_fn fns[3] = {lock_holder, lock_holder, lock_holder};
    storm(r, fns, 3, NULL, NULL);
    final_take(r, S->lock, S->rlock ? "the RLock" : "the Lock");
    if (atomic_load(&S->inconsistent) > 0) {
        soak_fail(r, "%d normal acquires found the guarded pair torn",
                  atomic_load(&S->inconsistent));
    }
    if (atomic_load(&S->ownerdead) > r->shared->kills_done) {
        soak_fail(r, "%d MP_EOWNERDEAD after %d kills",
                  atomic_load(&S->ownerdead), r->shared->kills_done);
    }
    soak_note(r,
              "%s, %ld turns, %d holders killed, %d owner-dead "
              "recoveries",
              S->rlock ? "RLock" : "Lock", atomic_load(&S->a), S->holder_kills,
              atomic_load(&S->ownerdead));
    mp_lock_destroy(S->lock);
    return SOAK_PASS;
}

/* --- semaphore ----------------------------------------------------------- */

/* A semaphore user in slot *arg: acquires a unit, checks that no more
 * slots than units are inside, releases; its state word tells the round
 * where it was when killed. Until stop. */
static int
sem_worker(void *arg)
{
    int w = *(int *)arg;
    soak_round_t rr = child_rng(w);
    soak_say_ready();
    while (!atomic_load(&S->stop)) {
        atomic_store(&S->state[w], 1);
        int rc = mp_semaphore_acquire(S->sem, 2000);
        if (rc == MP_ETIMEDOUT) {
            atomic_store(&S->state[w], 0);
            continue;
        }
        if (rc != 0) {
            return child_err(rc, 3);
        }
        atomic_store(&S->state[w], 2);
        atomic_store(&S->in_cs[w], 1);
        int inside = 0;
        for (int i = 0; i < SLOTS; i++) {
            inside += atomic_load(&S->in_cs[i]);
        }
        if (inside > (int)S->units) {
            atomic_fetch_add(&S->excl_bad, 1);
        }
        soak_pause_us(&rr, 30);
        atomic_store(&S->in_cs[w], 0);
        atomic_store(&S->state[w], 3);
        if ((rc = mp_semaphore_release(S->sem)) != 0) {
            return child_err(rc, 4);
        }
        atomic_store(&S->state[w], 0);
    }
    return 0;
}

static int sem_ambiguous;

/* A worker killed holding a unit had it for sure: the round releases it;
 * killed inside acquire or release, it may or may not have. */
static void
sem_on_kill(soak_round_t *r, int w)
{
    int st = atomic_load(&S->state[w]);
    atomic_store(&S->in_cs[w], 0);
    if (st == 2) {
        int rc = mp_semaphore_release(S->sem);
        if (rc != 0) {
            soak_fail(r,
                      "releasing a dead holder's unit: %s (a unit "
                      "was duplicated)",
                      mp_err_name(rc));
        }
    } else if (st == 1 || st == 3) {
        sem_ambiguous++;
    }
}

int
soak_semaphore(soak_round_t *r)
{
    if (ledger(r) == NULL) {
        return SOAK_FAIL;
    }
    S->units = 1 + (unsigned)soak_below(r, 2);
    bool bounded = soak_below(r, 2) == 1;
    int rc = bounded ? mp_bounded_semaphore_create(&S->sem, S->units)
                     : mp_semaphore_create(&S->sem, S->units);
    if (rc != 0) {
        soak_fail(r, "creating the semaphore: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    mp_target_fn fns[4] = {sem_worker, sem_worker, sem_worker, sem_worker};
    storm(r, fns, 4, sem_on_kill, NULL);
    int v = mp_semaphore_get_value(S->sem);
    if (v > (int)S->units || v < (int)S->units - sem_ambiguous) {
        soak_fail(r,
                  "semaphore value %d after the storm: expected %u, or "
                  "down to %d after %d kills inside acquire/release",
                  v, S->units, (int)S->units - sem_ambiguous, sem_ambiguous);
    }
    if (atomic_load(&S->excl_bad) > 0) {
        soak_fail(r, "%d times more holders than the %u units",
                  atomic_load(&S->excl_bad), S->units);
    }
    soak_note(r, "%s of %u, final value %d, %d kills inside acquire/release",
              bounded ? "BoundedSemaphore" : "Semaphore", S->units, v,
              sem_ambiguous);
    mp_semaphore_destroy(S->sem);
    return SOAK_PASS;
}

/* --- condition ----------------------------------------------------------- */

/* A condition waiter in slot *arg: waits under the lock until the ticket
 * moves (or stop), counting waits that time out. */
static int
cond_waiter(void *arg)
{
    int w = *(int *)arg;
    mp_lock_t *l = mp_condition_get_lock(S->cond);
    soak_say_ready();
    while (!atomic_load(&S->stop)) {
        int rc = take(l, false);
        if (rc < 0) {
            return child_err(rc, 3);
        }
        atomic_store(&S->holder, w + 1);
        long seen = atomic_load(&S->ticket);
        while (atomic_load(&S->ticket) == seen && !atomic_load(&S->stop)) {
            atomic_store(&S->holder, 0);
            rc = mp_condition_wait(S->cond, 10000);
            if (rc == MP_EOWNERDEAD) {
                owner_dead_seen();
                mp_lock_consistent(l);
            } else if (rc == MP_ETIMEDOUT) {
                atomic_fetch_add(&S->wait_timeouts, 1);
            } else if (rc != 0) {
                return child_err(rc, 4);
            }
            atomic_store(&S->holder, w + 1);
        }
        atomic_store(&S->holder, 0);
        if ((rc = mp_condition_release(S->cond)) != 0) {
            return child_err(rc, 5);
        }
    }
    return 0;
}

/* A notifier in slot *arg: moves the ticket and notifies one or all
 * waiters under the lock, until stop. */
static int
cond_notifier(void *arg)
{
    int w = *(int *)arg;
    soak_round_t rr = child_rng(w);
    mp_lock_t *l = mp_condition_get_lock(S->cond);
    soak_say_ready();
    while (!atomic_load(&S->stop)) {
        int rc = take(l, false);
        if (rc < 0) {
            return child_err(rc, 3);
        }
        atomic_store(&S->holder, w + 1);
        atomic_fetch_add(&S->ticket, 1);
        rc = soak_below(&rr, 2) ? mp_condition_notify_all(S->cond)
                                : mp_condition_notify(S->cond, 1);
        if (rc != 0) {
            return child_err(rc, 4);
        }
        soak_pause_us(&rr, 30);
        atomic_store(&S->holder, 0);
        if ((rc = mp_condition_release(S->cond)) != 0) {
            return child_err(rc, 5);
        }
        soak_pause_us(&rr, 300);
    }
    return 0;
}

static soak_round_t *cond_round;

/* Stops the condition's children: stop and a last notify_all under the
 * lock, so no waiter goes back to sleep. */
static void
cond_stop(void)
{
    mp_lock_t *l = mp_condition_get_lock(S->cond);
    int rc = take(l, false);
    if (rc < 0) {
        soak_fail(cond_round, "the condition's lock not recovered: %s",
                  mp_err_name(rc));
    }
    atomic_store(&S->stop, 1);
    atomic_fetch_add(&S->ticket, 1);
    mp_condition_notify_all(S->cond);
    if (rc >= 0) {
        mp_condition_release(S->cond);
    }
}

int
soak_condition(soak_round_t *r)
{
    if (ledger(r) == NULL) {
        return SOAK_FAIL;
    }
    cond_round = r;
    bool own = soak_below(r, 2) == 1;
    if (!own) {
        int rc = mp_lock_create(&S->lock);
        if (rc != 0) {
            soak_fail(r, "creating the lock: %s", mp_err_name(rc));
            return SOAK_FAIL;
        }
    }
    int rc = mp_condition_create(&S->cond, own ? NULL : S->lock);
    if (rc != 0) {
        soak_fail(r, "creating the condition: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    mp_target_fn fns[5] = {cond_waiter, cond_waiter, cond_waiter, cond_notifier,
                           cond_notifier};
    storm(r, fns, 5, NULL, cond_stop);
    if (atomic_load(&S->wait_timeouts) > 0) {
        soak_fail(r, "%d waits timed out (10 s) while notifiers ran",
                  atomic_load(&S->wait_timeouts));
    }
    mp_lock_t *l = mp_condition_get_lock(S->cond);
    rc = take(l, false);
    if (rc < 0) {
        soak_fail(r, "the condition's lock not recovered: %s", mp_err_name(rc));
    } else {
        mp_condition_release(S->cond);
    }
    soak_note(r,
              "%s, %ld notifies, %d holders killed, %d owner-dead "
              "recoveries",
              own ? "own RLock" : "given Lock", atomic_load(&S->ticket),
              S->holder_kills, atomic_load(&S->ownerdead));
    mp_condition_destroy(S->cond);
    mp_lock_destroy(S->lock);
    return SOAK_PASS;
}

/* --- barrier ------------------------------------------------------------- */

#define PARTIES 3
#define CLEAN_GENS 6

/* A party in the storm: waits until the barrier breaks. */
static int
bar_party(void *arg)
{
    (void)arg;
    soak_say_ready();
    for (;;) {
        int rc = mp_barrier_wait(S->bar, 1500);
        if (rc == MP_EBROKEN || rc == MP_ETIMEDOUT) {
            atomic_fetch_add(&S->broken_seen, 1);
            return 0;
        }
        if (rc < 0) {
            return child_err(rc, 3);
        }
    }
}

/* A party of the clean phase: CLEAN_GENS generations, each index noted. */
static int
bar_clean(void *arg)
{
    (void)arg;
    for (int g = 0; g < CLEAN_GENS; g++) {
        int rc = mp_barrier_wait(S->bar, 20000);
        if (rc < 0 || rc >= PARTIES) {
            return child_err(rc, 3);
        }
        atomic_fetch_add(&S->gen_index[g][rc], 1);
    }
    return 0;
}

int
soak_barrier(soak_round_t *r)
{
    if (ledger(r) == NULL) {
        return SOAK_FAIL;
    }
    int rc = mp_barrier_create(&S->bar, PARTIES, NULL);
    if (rc != 0) {
        soak_fail(r, "creating the barrier: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    for (int cycle = 0; cycle < r->kills && r->shared->failures == 0; cycle++) {
        mp_process_t *p[PARTIES];
        for (int i = 0; i < PARTIES; i++) {
            p[i] = soak_start_ready(r, bar_party, NULL);
        }
        soak_pause_us(r, 20000);
        int v = (int)soak_below(r, PARTIES), code = 0;
        soak_kill(r, &p[v], &code);
        for (int i = 0; i < PARTIES; i++) {
            code = soak_finish(r, p[i], 15000, "a barrier party");
            if (code != 0 && code != -1000) {
                soak_fail(r, "a barrier party exited with %d (%s)", code,
                          mp_err_name(atomic_load(&S->last_err)));
            }
        }
        mp_barrier_reset(S->bar);
        if (mp_barrier_n_waiting(S->bar) != 0 || mp_barrier_broken(S->bar)) {
            soak_fail(r, "after reset: %d waiting, broken %d",
                      mp_barrier_n_waiting(S->bar), mp_barrier_broken(S->bar));
        }
        memset(S->gen_index, 0, sizeof S->gen_index);
        for (int i = 0; i < PARTIES; i++) {
            p[i] = soak_start(r, bar_clean, NULL);
        }
        for (int i = 0; i < PARTIES; i++) {
            code = soak_finish(r, p[i], 60000, "a clean barrier party");
            if (code != 0 && code != -1000) {
                soak_fail(r, "after a kill and reset, a party got %s",
                          mp_err_name(atomic_load(&S->last_err)));
            }
        }
        for (int g = 0; g < CLEAN_GENS; g++) {
            for (int i = 0; i < PARTIES; i++) {
                if (atomic_load(&S->gen_index[g][i]) != 1) {
                    soak_fail(r,
                              "generation %d handed out index %d %d "
                              "times",
                              g, i, atomic_load(&S->gen_index[g][i]));
                }
            }
        }
    }
    soak_note(r, "%d parties saw the break", atomic_load(&S->broken_seen));
    mp_barrier_destroy(S->bar);
    return SOAK_PASS;
}
