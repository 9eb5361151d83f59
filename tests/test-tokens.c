/* SPDX-License-Identifier: MIT */
/* test-tokens.c - objects as tokens and contexts (issue 17): every shared
 * object of a spawn or forkserver context reaches a spawn and a forkserver
 * child through its token and works both ways (a lock held by one blocks
 * the other, a value written is seen, an event set is seen, a semaphore,
 * condition, barrier, array, queue and shared-memory block cross); a program
 * exec'd apart from the creator opens tokens; bad, stale and forged tokens are
 * refused with an error; an object of the fork context is refused (Python's
 * mixed context check); contexts as values. */
#include "runner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const mp_start_method_t exec_methods[] = {MP_START_SPAWN,
                                                 MP_START_FORKSERVER};

/* Starts target under method with a copy of the size bytes at arg. */
static mp_process_t *
start_with_bytes(mp_start_method_t method, mp_target_fn target, void *arg,
                 size_t size)
{
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    o.start_method = method;
    o.arg_size = size;
    mp_process_t *p;
    ASSERT_OK(mp_process_create(&p, target, arg, &o));
    ASSERT_OK(mp_process_start(p));
    return p;
}

/* What the first child gets: the tokens of the objects it opens. */
struct lock_toks {
    char lock[MP_TOKEN_MAX];
    char ready[MP_TOKEN_MAX]; /* event: child -> parent */
    char go[MP_TOKEN_MAX];    /* event: parent -> child */
    char val[MP_TOKEN_MAX];   /* int value */
    char sem[MP_TOKEN_MAX];   /* semaphore: lets the child end */
};

/* Opens the tokens; checks the parent's lock blocks it; reports through
 * the value and an event; takes the lock once released and holds it until
 * the semaphore lets it go. Exit codes name the step that failed. */
static int
lock_child(void *arg)
{
    const struct lock_toks *t = arg;
    mp_lock_t *lock;
    mp_event_t *ready, *go;
    mp_value_t *val;
    mp_semaphore_t *sem;
    if (mp_lock_attach(&lock, t->lock) != 0 ||
        mp_event_attach(&ready, t->ready) != 0 ||
        mp_event_attach(&go, t->go) != 0 ||
        mp_value_attach(&val, t->val) != 0 ||
        mp_semaphore_attach(&sem, t->sem) != 0) {
        return 10;
    }
    if (mp_lock_acquire(lock, MP_NO_WAIT) != MP_ETIMEDOUT) {
        return 11; /* the parent holds it */
    }
    int one = 1, v42 = 42;
    if (mp_value_set(val, &one) != 0 || mp_event_set(ready) != 0 ||
        mp_event_wait(go, MP_WAIT_FOREVER) != 0) {
        return 12;
    }
    if (mp_lock_acquire(lock, MP_WAIT_FOREVER) != 0 ||
        mp_value_set(val, &v42) != 0 || mp_event_set(ready) != 0) {
        return 13;
    }
    if (mp_semaphore_acquire(sem, MP_WAIT_FOREVER) != 0 ||
        mp_lock_release(lock) != 0) {
        return 14;
    }
    mp_lock_destroy(lock);
    mp_event_destroy(ready);
    mp_event_destroy(go);
    mp_value_destroy(val);
    mp_semaphore_destroy(sem);
    return 0;
}

TEST_TIMEOUT(tokens_lock_event_value_semaphore_reach_exec_children, 60)
{
    for (size_t i = 0; i < 2; i++) {
        mp_context_t ctx;
        ASSERT_OK(mp_get_context(exec_methods[i], &ctx));
        ASSERT_EQ(ctx.method, exec_methods[i]);
        mp_lock_t *lock;
        mp_event_t *ready, *go;
        mp_value_t *val;
        mp_semaphore_t *sem;
        ASSERT_OK(mp_context_lock(&ctx, &lock));
        ASSERT_OK(mp_context_event(&ctx, &ready));
        ASSERT_OK(mp_context_event(&ctx, &go));
        ASSERT_OK(mp_context_value(&ctx, &val, MP_TYPE_INT, NULL, NULL));
        ASSERT_OK(mp_context_semaphore(&ctx, &sem, 0));
        struct lock_toks t;
        ASSERT_OK(mp_lock_token(lock, t.lock, sizeof t.lock));
        ASSERT_OK(mp_event_token(ready, t.ready, sizeof t.ready));
        ASSERT_OK(mp_event_token(go, t.go, sizeof t.go));
        ASSERT_OK(mp_value_token(val, t.val, sizeof t.val));
        ASSERT_OK(mp_semaphore_token(sem, t.sem, sizeof t.sem));

        ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
        mp_process_t *p =
            start_with_bytes(ctx.method, lock_child, &t, sizeof t);
        ASSERT_OK(mp_event_wait(ready, MP_WAIT_FOREVER));
        int x = 0;
        ASSERT_OK(mp_value_get(val, &x));
        ASSERT_EQ(x, 1);
        ASSERT_OK(mp_event_clear(ready));
        ASSERT_OK(mp_lock_release(lock));
        ASSERT_OK(mp_event_set(go));
        ASSERT_OK(mp_event_wait(ready, MP_WAIT_FOREVER));
        ASSERT_OK(mp_value_get(val, &x));
        ASSERT_EQ(x, 42);
        /* The child holds the lock now: it blocks us. */
        ASSERT_ERR(mp_lock_acquire(lock, MP_NO_WAIT), MP_ETIMEDOUT);
        ASSERT_OK(mp_semaphore_release(sem));
        mpt_process_finish(p, 0);
        ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
        ASSERT_OK(mp_lock_release(lock));
        mp_lock_destroy(lock);
        mp_event_destroy(ready);
        mp_event_destroy(go);
        mp_value_destroy(val);
        mp_semaphore_destroy(sem);
    }
}

/* What the second child gets. */
struct more_toks {
    char cond[MP_TOKEN_MAX];
    char bar[MP_TOKEN_MAX];
    char arr[MP_TOKEN_MAX];   /* 4 doubles */
    char rlock[MP_TOKEN_MAX]; /* an RLock */
    char bsem[MP_TOKEN_MAX];  /* a bounded semaphore at 1 */
    char queue[MP_TOKEN_MAX]; /* a queue's name */
    char shm[MP_TOKEN_MAX];   /* a shared-memory block's name */
};

/* Writes the array, meets the parent at the barrier, sets element 0 under
 * the condition's lock and notifies, takes the RLock twice, checks the
 * bounded semaphore's bound, and puts an item on the queue. */
static int
more_child(void *arg)
{
    const struct more_toks *t = arg;
    mp_condition_t *cond;
    mp_barrier_t *bar;
    mp_array_t *arr;
    mp_lock_t *rlock;
    mp_semaphore_t *bsem;
    mp_queue_t *q;
    mp_shm_t *shm;
    if (mp_condition_attach(&cond, t->cond) != 0 ||
        mp_barrier_attach(&bar, t->bar) != 0 ||
        mp_array_attach(&arr, t->arr) != 0 ||
        mp_lock_attach(&rlock, t->rlock) != 0 ||
        mp_semaphore_attach(&bsem, t->bsem) != 0 ||
        mp_queue_attach(&q, t->queue) != 0 ||
        mp_shm_attach(&shm, t->shm) != 0) {
        return 10;
    }
    memcpy(mp_shm_buf(shm), "block", 6);
    mp_shm_destroy(shm);
    if (mp_array_length(arr) != 4 || mp_array_type(arr) != MP_TYPE_DOUBLE ||
        mp_barrier_parties(bar) != 2) {
        return 11;
    }
    const double w[3] = {1.5, 2.5, 3.5};
    if (mp_array_write(arr, 1, 3, w) != 0 ||
        mp_barrier_wait(bar, MP_WAIT_FOREVER) < 0) {
        return 12;
    }
    double seven = 7;
    if (mp_condition_acquire(cond, MP_WAIT_FOREVER) != 0 ||
        mp_array_set(arr, 0, &seven) != 0 || mp_condition_notify_all(cond) ||
        mp_condition_release(cond) != 0) {
        return 13;
    }
    if (mp_lock_acquire(rlock, MP_NO_WAIT) != 0 ||
        mp_lock_acquire(rlock, MP_NO_WAIT) != 0 ||
        mp_lock_recursion(rlock) != 2 || mp_lock_release(rlock) != 0 ||
        mp_lock_release(rlock) != 0) {
        return 14;
    }
    if (mp_semaphore_release(bsem) != MP_EOVERRELEASE ||
        mp_queue_put(q, "hi", 3, MP_WAIT_FOREVER) != 0) {
        return 15;
    }
    mp_condition_destroy(cond);
    mp_barrier_destroy(bar);
    mp_array_destroy(arr);
    mp_lock_destroy(rlock);
    mp_semaphore_destroy(bsem);
    mp_queue_close(q);
    mp_queue_join_thread(q);
    mp_queue_destroy(q);
    return 0;
}

/* The condition's predicate: element 0 of the array is 7. */
static int
first_is_seven(void *arg)
{
    double d = 0;
    return mp_array_get(arg, 0, &d) == 0 && d == 7;
}

TEST_TIMEOUT(tokens_condition_barrier_array_rlock_queue_reach_exec_children, 60)
{
    for (size_t i = 0; i < 2; i++) {
        mp_context_t ctx;
        ASSERT_OK(mp_get_context(exec_methods[i], &ctx));
        mp_condition_t *cond;
        mp_barrier_t *bar;
        mp_array_t *arr;
        mp_lock_t *rlock;
        mp_semaphore_t *bsem;
        mp_queue_t *q;
        ASSERT_OK(mp_context_condition(&ctx, &cond, NULL));
        ASSERT_OK(mp_context_barrier(&ctx, &bar, 2, NULL));
        ASSERT_OK(mp_context_array(&ctx, &arr, MP_TYPE_DOUBLE, 4, NULL, NULL));
        ASSERT_OK(mp_context_rlock(&ctx, &rlock));
        ASSERT_OK(mp_context_bounded_semaphore(&ctx, &bsem, 1));
        ASSERT_OK(mp_queue_create(&q, NULL));
        mp_shm_t *shm;
        ASSERT_OK(mp_shm_create(&shm, NULL, 4096, 0));
        struct more_toks t;
        ASSERT_OK(mp_condition_token(cond, t.cond, sizeof t.cond));
        ASSERT_OK(mp_barrier_token(bar, t.bar, sizeof t.bar));
        ASSERT_OK(mp_array_token(arr, t.arr, sizeof t.arr));
        ASSERT_OK(mp_lock_token(rlock, t.rlock, sizeof t.rlock));
        ASSERT_OK(mp_semaphore_token(bsem, t.bsem, sizeof t.bsem));
        ASSERT(strlen(mp_queue_name(q)) < sizeof t.queue);
        strcpy(t.queue, mp_queue_name(q));
        ASSERT(strlen(mp_shm_name(shm)) < sizeof t.shm);
        strcpy(t.shm, mp_shm_name(shm));

        ASSERT_OK(mp_condition_acquire(cond, MP_WAIT_FOREVER));
        mp_process_t *p =
            start_with_bytes(ctx.method, more_child, &t, sizeof t);
        /* The barrier: the child wrote elements 1..3 before it. */
        ASSERT_OK(mp_condition_release(cond));
        ASSERT(mp_barrier_wait(bar, MP_WAIT_FOREVER) >= 0);
        double got[4];
        ASSERT_OK(mp_array_read(arr, 1, 3, got));
        ASSERT(got[0] == 1.5 && got[1] == 2.5 && got[2] == 3.5);
        ASSERT_OK(mp_condition_acquire(cond, MP_WAIT_FOREVER));
        ASSERT_OK(
            mp_condition_wait_for(cond, first_is_seven, arr, MP_WAIT_FOREVER));
        ASSERT_OK(mp_condition_release(cond));
        void *item = NULL;
        ASSERT_EQ(mp_queue_get(q, &item, MP_WAIT_FOREVER), 3);
        ASSERT_STR_EQ(item, "hi");
        mp_free(item);
        mpt_process_finish(p, 0);
        ASSERT_STR_EQ(mp_shm_buf(shm), "block");
        ASSERT_OK(mp_shm_unlink(shm));
        mp_shm_destroy(shm);
        mp_condition_destroy(cond);
        mp_barrier_destroy(bar);
        mp_array_destroy(arr);
        mp_lock_destroy(rlock);
        mp_semaphore_destroy(bsem);
        mp_queue_close(q);
        mp_queue_destroy(q);
    }
}

/* A program exec'd apart from the creator (it shares no memory with it):
 * opens the tokens in TOKENS_LOCK, TOKENS_VALUE and TOKENS_EVENT, finds
 * the lock held, writes 99 and sets the event. */
TEST_HELPER(tokens_exec_opener)
{
    mp_lock_t *lock;
    mp_value_t *val;
    mp_event_t *ev;
    ASSERT_OK(mp_lock_attach(&lock, getenv("TOKENS_LOCK")));
    ASSERT_OK(mp_value_attach(&val, getenv("TOKENS_VALUE")));
    ASSERT_OK(mp_event_attach(&ev, getenv("TOKENS_EVENT")));
    ASSERT_ERR(mp_lock_acquire(lock, MP_NO_WAIT), MP_ETIMEDOUT);
    long v = 99;
    ASSERT_OK(mp_value_set(val, &v));
    ASSERT_OK(mp_event_set(ev));
    mp_lock_destroy(lock);
    mp_value_destroy(val);
    mp_event_destroy(ev);
}

TEST(tokens_open_in_a_program_not_forked_from_the_creator)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(MP_START_SPAWN, &ctx));
    mp_lock_t *lock;
    mp_value_t *val;
    mp_event_t *ev;
    ASSERT_OK(mp_context_lock(&ctx, &lock));
    ASSERT_OK(mp_context_value(&ctx, &val, MP_TYPE_LONG, NULL, NULL));
    ASSERT_OK(mp_context_event(&ctx, &ev));
    char tl[MP_TOKEN_MAX], tv[MP_TOKEN_MAX], te[MP_TOKEN_MAX];
    ASSERT_OK(mp_lock_token(lock, tl, sizeof tl));
    ASSERT_OK(mp_value_token(val, tv, sizeof tv));
    ASSERT_OK(mp_event_token(ev, te, sizeof te));
    ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        setenv("TOKENS_LOCK", tl, 1);
        setenv("TOKENS_VALUE", tv, 1);
        setenv("TOKENS_EVENT", te, 1);
        mpt_exec_helper("tokens_exec_opener");
    }
    int status;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ASSERT(mp_event_is_set(ev));
    long v = 0;
    ASSERT_OK(mp_value_get(val, &v));
    ASSERT_EQ(v, 99);
    ASSERT_OK(mp_lock_release(lock));
    mp_lock_destroy(lock);
    mp_value_destroy(val);
    mp_event_destroy(ev);
}

/* Replaces the field number field (0: "mpt1") of token with with. */
static void
set_field(char *token, int field, const char *with)
{
    char out[MP_TOKEN_MAX * 2] = "";
    char *save = NULL;
    int i = 0;
    for (char *f = strtok_r(token, ":", &save); f != NULL;
         f = strtok_r(NULL, ":", &save), i++) {
        if (i > 0) {
            strcat(out, ":");
        }
        strcat(out, i == field ? with : f);
    }
    strcpy(token, out);
}

/* Writes token with field number field replaced by with into out
 * (MP_TOKEN_MAX * 2 bytes) and returns out. */
static const char *
forge(const char *token, int field, const char *with, char *out)
{
    strcpy(out, token);
    set_field(out, field, with);
    return out;
}

TEST(tokens_bad_stale_and_forged_are_refused)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(MP_START_SPAWN, &ctx));
    mp_lock_t *lock, *l2;
    mp_event_t *ev;
    ASSERT_OK(mp_context_lock(&ctx, &lock));
    ASSERT_OK(mp_context_event(&ctx, &ev));
    char tok[MP_TOKEN_MAX], etok[MP_TOKEN_MAX], t[MP_TOKEN_MAX * 2];
    ASSERT_OK(mp_lock_token(lock, tok, sizeof tok));
    ASSERT_OK(mp_event_token(ev, etok, sizeof etok));
    ASSERT(strncmp(tok, "mpt1:L:", 7) == 0);

    /* Arguments and buffers. */
    ASSERT_ERR(mp_lock_token(NULL, t, sizeof t), MP_EINVAL);
    ASSERT_ERR(mp_lock_token(lock, NULL, 10), MP_EINVAL);
    ASSERT_ERR(mp_lock_token(lock, t, 8), MP_ERANGE);
    ASSERT_ERR(mp_lock_token(lock, t, strlen(tok)), MP_ERANGE);
    ASSERT_OK(mp_lock_token(lock, t, strlen(tok) + 1));
    ASSERT_STR_EQ(t, tok);
    ASSERT_ERR(mp_lock_attach(NULL, tok), MP_EINVAL);
    ASSERT_ERR(mp_lock_attach(&l2, NULL), MP_EINVAL);

    /* Not a token, another kind's token, cut short, trailing bytes. */
    ASSERT_ERR(mp_lock_attach(&l2, "hello"), MP_EINVAL);
    ASSERT_ERR(mp_lock_attach(&l2, ""), MP_EINVAL);
    ASSERT_ERR(mp_lock_attach(&l2, etok), MP_EINVAL);
    ASSERT_ERR(mp_event_attach(&ev, tok), MP_EINVAL);
    ASSERT_OK(mp_lock_attach(&l2, tok)); /* the real one opens */
    mp_lock_destroy(l2);
    for (size_t n = 0; n < strlen(tok); n++) {
        memcpy(t, tok, n);
        t[n] = '\0';
        int r = mp_lock_attach(&l2, t);
        ASSERT(r == MP_EINVAL || r == MP_ECLOSED);
    }
    snprintf(t, sizeof t, "%s:0", tok);
    ASSERT_ERR(mp_lock_attach(&l2, t), MP_EINVAL);
    snprintf(t, sizeof t, "%sx", tok);
    ASSERT_ERR(mp_lock_attach(&l2, t), MP_EINVAL);

    /* Forged fields: an arena name of the wrong shape, of no segment, of a
     * segment that is not an arena; an offset elsewhere; another
     * generation; the event's reference under a lock's tag. */
    ASSERT_ERR(mp_lock_attach(&l2, forge(tok, 2, "../etc", t)), MP_EINVAL);
    ASSERT_ERR(mp_lock_attach(&l2, forge(tok, 2, "mp-1-0123456789abcdef", t)),
               MP_ECLOSED);
    mp_shm_t *shm;
    ASSERT_OK(mp_shm_create(&shm, NULL, 4096, 0));
    ASSERT_ERR(mp_lock_attach(&l2, forge(tok, 2, mp_shm_name(shm), t)),
               MP_EINVAL);
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);
    const char *offs[] = {"0",
                          "10",
                          "200",
                          "7",
                          "3ffffff0",
                          "40000000",
                          "ffffffffffffff00",
                          "12345678912345678"};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        int r = mp_lock_attach(&l2, forge(tok, 3, offs[i], t));
        ASSERT(r == MP_ECLOSED || r == MP_EINVAL);
    }
    ASSERT_ERR(mp_lock_attach(&l2, forge(tok, 4, "1234", t)), MP_ECLOSED);
    ASSERT_ERR(mp_lock_attach(&l2, forge(tok, 4, "0", t)), MP_EINVAL);
    ASSERT_ERR(mp_lock_attach(&l2, forge(etok, 1, "L", t)), MP_ECLOSED);

    /* Stale: the lock destroyed, then its block handed out again. */
    mp_lock_destroy(lock);
    ASSERT_ERR(mp_lock_attach(&l2, tok), MP_ECLOSED);
    ASSERT_OK(mp_context_lock(&ctx, &lock));
    ASSERT_ERR(mp_lock_attach(&l2, tok), MP_ECLOSED);
    mp_lock_destroy(lock);
    mp_event_destroy(ev);
}

/* A barrier's action, never run here. */
static int
no_action(void *arg)
{
    (void)arg;
    return 0;
}

TEST(tokens_fork_context_objects_are_refused)
{
    unsetenv("MULTIPROC_START_METHOD");
    mp_context_t fork_ctx, spawn_ctx, dflt;
    ASSERT_ERR(mp_get_context(MP_START_SPAWN, NULL), MP_EINVAL);
    ASSERT_ERR(mp_get_context((mp_start_method_t)9, &dflt), MP_EINVAL);
    ASSERT_OK(mp_get_context(MP_START_FORK, &fork_ctx));
    ASSERT_OK(mp_get_context(MP_START_SPAWN, &spawn_ctx));
    ASSERT_OK(mp_get_context(MP_START_DEFAULT, &dflt));
    ASSERT_EQ(dflt.method, MP_START_FORK);
    mp_context_t bogus = {(mp_start_method_t)9};
    mp_lock_t *lock;
    ASSERT_ERR(mp_context_lock(&bogus, &lock), MP_EINVAL);

    char t[MP_TOKEN_MAX];
    /* Python: "A SemLock created in a fork context is being shared with a
     * process in a spawn context". Here: no token. */
    ASSERT_OK(mp_context_lock(&fork_ctx, &lock));
    ASSERT_ERR(mp_lock_token(lock, t, sizeof t), MP_ECONTEXT);
    mp_lock_t *plain;
    ASSERT_OK(mp_lock_create(&plain)); /* the default: fork */
    ASSERT_ERR(mp_lock_token(plain, t, sizeof t), MP_ECONTEXT);
    mp_event_t *ev;
    ASSERT_OK(mp_context_event(&fork_ctx, &ev));
    ASSERT_ERR(mp_event_token(ev, t, sizeof t), MP_ECONTEXT);
    mp_semaphore_t *sem;
    ASSERT_OK(mp_context_semaphore(&fork_ctx, &sem, 1));
    ASSERT_ERR(mp_semaphore_token(sem, t, sizeof t), MP_ECONTEXT);
    mp_barrier_t *bar;
    ASSERT_OK(mp_context_barrier(&fork_ctx, &bar, 2, NULL));
    ASSERT_ERR(mp_barrier_token(bar, t, sizeof t), MP_ECONTEXT);
    mp_barrier_destroy(bar);
    mp_array_t *arr;
    ASSERT_OK(mp_context_array(&fork_ctx, &arr, MP_TYPE_INT, 3, NULL, NULL));
    ASSERT_ERR(mp_array_token(arr, t, sizeof t), MP_ECONTEXT);
    mp_array_destroy(arr);

    /* Mixed: a spawn-context object holding a fork-context lock. */
    mp_condition_t *cond;
    ASSERT_OK(mp_context_condition(&spawn_ctx, &cond, lock));
    ASSERT_ERR(mp_condition_token(cond, t, sizeof t), MP_ECONTEXT);
    mp_condition_destroy(cond);
    mp_value_t *val;
    mp_shared_opts_t with_lock = MP_SHARED_OPTS_INIT;
    with_lock.lock = lock;
    ASSERT_OK(
        mp_context_value(&spawn_ctx, &val, MP_TYPE_INT, NULL, &with_lock));
    ASSERT_ERR(mp_value_token(val, t, sizeof t), MP_ECONTEXT);
    mp_value_destroy(val);
    /* A raw one has no lock to refuse. */
    mp_shared_opts_t raw = MP_SHARED_OPTS_INIT;
    raw.raw = true;
    ASSERT_OK(mp_context_value(&spawn_ctx, &val, MP_TYPE_INT, NULL, &raw));
    ASSERT_OK(mp_value_token(val, t, sizeof t));
    mp_value_destroy(val);
    /* An action's argument (a pointer) cannot cross an exec. */
    mp_barrier_opts_t bo = MP_BARRIER_OPTS_INIT;
    bo.action = no_action;
    bo.action_arg = &bo;
    ASSERT_OK(mp_context_barrier(&spawn_ctx, &bar, 2, &bo));
    ASSERT_ERR(mp_barrier_token(bar, t, sizeof t), MP_ENOTSUP);
    mp_barrier_destroy(bar);

    /* The spawn context's objects still reach forked children: the named
     * arena is inherited as the fork arena is. */
    mp_lock_destroy(lock);
    mp_lock_destroy(plain);
    mp_event_destroy(ev);
    mp_semaphore_destroy(sem);
    ASSERT_STR_EQ(mp_err_name(MP_ECONTEXT), "ECONTEXT");
}

/* Child of tokens_spawn_objects_reach_forked_children: sets the event. */
static int
set_event(void *arg)
{
    return mp_event_set(arg) == 0 ? 0 : 1;
}

TEST(tokens_spawn_objects_reach_forked_children)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(MP_START_FORKSERVER, &ctx));
    mp_event_t *ev;
    ASSERT_OK(mp_context_event(&ctx, &ev));
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    o.start_method = MP_START_FORK;
    mp_process_t *p;
    ASSERT_OK(mp_process_create(&p, set_event, ev, &o));
    ASSERT_OK(mp_process_start(p));
    mpt_process_finish(p, 0);
    ASSERT(mp_event_is_set(ev));
    mp_event_destroy(ev);
}

TEST(tokens_default_context_follows_the_start_method)
{
    /* Under MULTIPROC_START_METHOD=spawn the plain creates make objects
     * with tokens: the whole suite runs under each method unchanged. */
    setenv("MULTIPROC_START_METHOD", "spawn", 1);
    mp_lock_t *lock;
    ASSERT_OK(mp_lock_create(&lock));
    /* Python: Lock() fixes the default context, as get_start_method(). */
    ASSERT_ERR(mp_set_start_method(MP_START_FORK, false), MP_EBUSY);
    ASSERT_EQ(mp_start_method(), MP_START_SPAWN);
    char t[MP_TOKEN_MAX];
    ASSERT_OK(mp_lock_token(lock, t, sizeof t));
    mp_lock_t *again;
    ASSERT_OK(mp_lock_attach(&again, t));
    ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
    ASSERT(mp_lock_locked(again));
    ASSERT_OK(mp_lock_release(again)); /* a Lock: anyone may release */
    mp_lock_destroy(again);
    ASSERT(!mp_lock_locked(lock));
    mp_lock_destroy(lock);
    unsetenv("MULTIPROC_START_METHOD");
}

/* Stores the arena name a token names (its field 2) in name. */
static void
arena_name_of(const char *token, char name[64])
{
    const char *a = strchr(token, ':');
    ASSERT_NOT_NULL(a);
    a = strchr(a + 1, ':');
    ASSERT_NOT_NULL(a);
    const char *b = strchr(a + 1, ':');
    ASSERT(b != NULL && b - a - 1 < 64);
    memcpy(name, a + 1, (size_t)(b - a - 1));
    name[b - a - 1] = '\0';
}

/* Tells whether /dev/shm has name. */
static bool
shm_exists(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return access(path, F_OK) == 0;
}

/* Child of tokens_arena_name_lives_while_an_object_does: makes a lock in
 * the arena it inherited, lets the parent destroy the parent's last
 * object, then destroys its own: the last one, so it removes the name. */
static mpt_pipe_t made, parent_done;

static int
child_outlives_parent_objects(void *arg)
{
    const mp_context_t *ctx = arg;
    mp_lock_t *lock;
    if (mp_context_lock(ctx, &lock) != 0) {
        return 1;
    }
    mpt_signal(&made, 1);
    if (mpt_wait_signal(&parent_done, NULL) != 0) {
        return 2;
    }
    mp_lock_destroy(lock);
    return 0;
}

TEST(tokens_arena_name_lives_while_an_object_does)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(MP_START_SPAWN, &ctx));
    mp_lock_t *l1;
    mp_event_t *e1;
    char tok[MP_TOKEN_MAX], name[64], name2[64];
    ASSERT_OK(mp_context_lock(&ctx, &l1));
    ASSERT_OK(mp_context_event(&ctx, &e1));
    ASSERT_OK(mp_lock_token(l1, tok, sizeof tok));
    arena_name_of(tok, name);
    ASSERT(shm_exists(name));
    mp_lock_destroy(l1);
    ASSERT(shm_exists(name)); /* the event still lives there */
    mp_event_destroy(e1);
    ASSERT(!shm_exists(name)); /* the last object took the name along */
    ASSERT_ERR(mp_lock_attach(&l1, tok), MP_ECLOSED);

    /* The next object makes a new arena. */
    ASSERT_OK(mp_context_lock(&ctx, &l1));
    ASSERT_OK(mp_lock_token(l1, tok, sizeof tok));
    arena_name_of(tok, name2);
    ASSERT(strcmp(name, name2) != 0 && shm_exists(name2));

    /* A forked child's object keeps the shared arena's name alive after
     * ours are gone, and its destroy removes it. */
    mpt_pipe_open(&made);
    mpt_pipe_open(&parent_done);
    pid_t pid = mpt_fork(child_outlives_parent_objects, &ctx);
    ASSERT_OK(mpt_wait_signal(&made, NULL));
    mp_lock_destroy(l1);
    ASSERT(shm_exists(name2));
    mpt_signal(&parent_done, 1);
    ASSERT_EQ(mpt_join(pid), 0);
    ASSERT(!shm_exists(name2));
    mpt_pipe_close(&made);
    mpt_pipe_close(&parent_done);
    /* Here the arena was retired by the child: a new one is made. */
    ASSERT_OK(mp_context_lock(&ctx, &l1));
    ASSERT_OK(mp_lock_token(l1, tok, sizeof tok));
    arena_name_of(tok, name);
    ASSERT(strcmp(name, name2) != 0 && shm_exists(name));
    mp_lock_destroy(l1);
    ASSERT(!shm_exists(name));
}

/* How many mappings of /dev/shm/name this process has. */
static int
mappings_of(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    ASSERT_NOT_NULL(f);
    char line[512], path[128];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        n += strstr(line, path) != NULL;
    }
    fclose(f);
    return n;
}

TEST(tokens_opened_handles_give_back_their_mapping)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(MP_START_FORKSERVER, &ctx));
    mp_semaphore_t *sem, *a, *b;
    char tok[MP_TOKEN_MAX], name[64];
    ASSERT_OK(mp_context_semaphore(&ctx, &sem, 2));
    ASSERT_OK(mp_semaphore_token(sem, tok, sizeof tok));
    arena_name_of(tok, name);
    ASSERT_EQ(mappings_of(name), 1);
    /* Opened handles map the arena once more, whatever their number. */
    ASSERT_OK(mp_semaphore_attach(&a, tok));
    ASSERT_OK(mp_semaphore_attach(&b, tok));
    ASSERT_EQ(mappings_of(name), 2);
    ASSERT_OK(mp_semaphore_acquire(a, MP_NO_WAIT));
    ASSERT_EQ(mp_semaphore_get_value(sem), 1);
    mp_semaphore_destroy(a);
    ASSERT_EQ(mappings_of(name), 2);
    mp_semaphore_destroy(b); /* the last: the mapping goes */
    ASSERT_EQ(mappings_of(name), 1);
    /* A token refused after its arena was mapped leaves nothing mapped. */
    char bad[MP_TOKEN_MAX * 2];
    snprintf(bad, sizeof bad, "%s:0", tok);
    ASSERT_ERR(mp_semaphore_attach(&a, bad), MP_EINVAL);
    ASSERT_EQ(mappings_of(name), 1);
    ASSERT_OK(mp_semaphore_release(sem));
    mp_semaphore_destroy(sem);
    ASSERT_EQ(mappings_of(name), 0);
}

TEST(tokens_forged_array_and_condition_fields_are_refused)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(MP_START_SPAWN, &ctx));
    mp_array_t *arr, *got;
    mp_condition_t *cond, *cgot;
    ASSERT_OK(mp_context_array(&ctx, &arr, MP_TYPE_DOUBLE, 4, NULL, NULL));
    ASSERT_OK(mp_context_condition(&ctx, &cond, NULL));
    char tok[MP_TOKEN_MAX], ctok[MP_TOKEN_MAX], t[MP_TOKEN_MAX * 2];
    ASSERT_OK(mp_array_token(arr, tok, sizeof tok));
    ASSERT_OK(mp_condition_token(cond, ctok, sizeof ctok));
    /* mpt1:A:<arena>:<off>:<gen>:<type>:<length>:<locked>:<lock ref> */
    ASSERT_ERR(mp_array_attach(&got, forge(tok, 5, "7a", t)),
               MP_EINVAL); /* 'z': no type */
    ASSERT_ERR(mp_array_attach(&got, forge(tok, 6, "0", t)), MP_EINVAL);
    /* More than its block holds; a size that overflows. */
    ASSERT_ERR(mp_array_attach(&got, forge(tok, 6, "100000", t)), MP_ECLOSED);
    ASSERT_ERR(mp_array_attach(&got, forge(tok, 6, "ffffffffffffffff", t)),
               MP_EINVAL);
    ASSERT_ERR(mp_array_attach(&got, forge(tok, 7, "2", t)), MP_EINVAL);
    ASSERT_ERR(mp_value_attach((mp_value_t **)&got, tok), MP_EINVAL);
    /* The condition's lock reference: another generation. */
    strcpy(t, ctok);
    set_field(t, 7, "1");
    ASSERT_ERR(mp_condition_attach(&cgot, t), MP_ECLOSED);
    ASSERT_OK(mp_condition_attach(&cgot, ctok));
    ASSERT(mp_condition_get_lock(cgot) != NULL);
    mp_condition_destroy(cgot);
    ASSERT_OK(mp_array_attach(&got, tok));
    ASSERT_EQ(mp_array_length(got), 4);
    ASSERT(mp_array_get_lock(got) != NULL);
    mp_array_destroy(got);
    mp_array_destroy(arr);
    mp_condition_destroy(cond);
}

/* The barrier action of tokens_barrier_action_runs_in_the_last_process:
 * each process points these at its own handle on the log and its own id.
 * The log: [0] the actions run so far, [1 + n] who ran action n. */
static mp_array_t *action_log;
static int action_who;

static int
log_action(void *arg)
{
    int n = 0;
    if (arg != NULL || mp_array_get(action_log, 0, &n) != 0 ||
        mp_array_set(action_log, (size_t)n + 1, &action_who) != 0) {
        return 1;
    }
    n++;
    return mp_array_set(action_log, 0, &n);
}

#define ACTION_ROUNDS 4

struct action_toks {
    char bar[MP_TOKEN_MAX];
    char log[MP_TOKEN_MAX];
};

/* Waits until the other party is waiting at the barrier (so that this one
 * is the last to arrive). */
static void
await_other(const mp_barrier_t *bar)
{
    while (mp_barrier_n_waiting(bar) != 1) {
    }
}

/* One round at the barrier: arriving last in odd rounds when child, in
 * even ones when parent; the last (index 1) checks it ran the action. */
static int
action_round(mp_barrier_t *bar, int round, int who)
{
    if ((round % 2 == 1) == (who == 2)) {
        await_other(bar);
    }
    int index = mp_barrier_wait(bar, MP_WAIT_FOREVER);
    int ran = 0;
    if (index < 0 || mp_array_get(action_log, (size_t)round + 1, &ran) != 0) {
        return -1;
    }
    return (index == 1) == (ran == who) ? index : -1;
}

/* Attaches the barrier (its action comes with it) and the log, and meets
 * the parent ACTION_ROUNDS times. */
static int
action_child(void *arg)
{
    const struct action_toks *t = arg;
    mp_barrier_t *bar;
    if (mp_barrier_attach(&bar, t->bar) != 0 ||
        mp_array_attach(&action_log, t->log) != 0) {
        return 10;
    }
    action_who = 2;
    for (int r = 0; r < ACTION_ROUNDS; r++) {
        if (action_round(bar, r, 2) != (r % 2 == 1 ? 1 : 0)) {
            return 11 + r;
        }
    }
    mp_barrier_destroy(bar);
    mp_array_destroy(action_log);
    return 0;
}

/* The parent's half under method: ACTION_ROUNDS rounds with a child that
 * attached the barrier, then the log says who ran each action. */
static void
action_rounds_under(mp_start_method_t method)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(method, &ctx));
    ASSERT_OK(mp_context_array(&ctx, &action_log, MP_TYPE_INT,
                               ACTION_ROUNDS + 1, NULL, NULL));
    action_who = 1;
    mp_barrier_opts_t bo = MP_BARRIER_OPTS_INIT;
    bo.action = log_action;
    mp_barrier_t *bar;
    ASSERT_OK(mp_context_barrier(&ctx, &bar, 2, &bo));
    struct action_toks t;
    ASSERT_OK(mp_barrier_token(bar, t.bar, sizeof t.bar));
    ASSERT_OK(mp_array_token(action_log, t.log, sizeof t.log));
    mp_process_t *p = start_with_bytes(method, action_child, &t, sizeof t);
    for (int r = 0; r < ACTION_ROUNDS; r++) {
        ASSERT_EQ(action_round(bar, r, 1), r % 2 == 0 ? 1 : 0);
    }
    mpt_process_finish(p, 0);
    /* Once per round, by whoever was last: parent, child, ... */
    int log[ACTION_ROUNDS + 1];
    ASSERT_OK(mp_array_read(action_log, 0, ACTION_ROUNDS + 1, log));
    ASSERT_EQ(log[0], ACTION_ROUNDS);
    for (int r = 0; r < ACTION_ROUNDS; r++) {
        ASSERT_EQ(log[r + 1], r % 2 == 0 ? 1 : 2);
    }
    mp_barrier_destroy(bar);
    mp_array_destroy(action_log);
}

TEST_TIMEOUT(tokens_barrier_action_runs_in_the_last_process, 60)
{
    action_rounds_under(MP_START_SPAWN);
    action_rounds_under(MP_START_FORKSERVER);
}

/* Registered by name here only, so a spawned child cannot resolve it. */
static int
named_action(void *arg)
{
    (void)arg;
    return 0;
}

/* Tries to attach the token at arg; exits with the error's number. */
static int
attach_child(void *arg)
{
    mp_barrier_t *bar;
    int err = mp_barrier_attach(&bar, arg);
    if (err == 0) {
        mp_barrier_destroy(bar);
    }
    return -err;
}

TEST_TIMEOUT(tokens_barrier_unresolvable_action_is_refused, 60)
{
    mp_context_t ctx;
    ASSERT_OK(mp_get_context(MP_START_SPAWN, &ctx));
    ASSERT_OK(mp_register_function("tokens-barrier-named-action",
                                   (mp_function_t)named_action));
    mp_barrier_opts_t bo = MP_BARRIER_OPTS_INIT;
    bo.action = named_action;
    mp_barrier_t *bar;
    ASSERT_OK(mp_context_barrier(&ctx, &bar, 2, &bo));
    char t[MP_TOKEN_MAX];
    ASSERT_OK(mp_barrier_token(bar, t, sizeof t));
    /* The name resolves here, not in a spawned child. */
    mp_barrier_t *here;
    ASSERT_OK(mp_barrier_attach(&here, t));
    mp_barrier_destroy(here);
    mp_process_t *p =
        start_with_bytes(MP_START_SPAWN, attach_child, t, strlen(t) + 1);
    mpt_process_finish(p, -MP_ENOENT);

    /* Forged lengths of the reference: refused, nothing called. */
    char *len = strrchr(t, ':');
    ASSERT(len != NULL);
    char forged[MP_TOKEN_MAX];
    const char *lens[] = {"0", "1", "100000", "ffffffffffffffff"};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        snprintf(forged, sizeof forged, "%.*s:%s", (int)(len - t), t, lens[i]);
        ASSERT_ERR(mp_barrier_attach(&here, forged), MP_EPROTO);
    }
    mp_barrier_destroy(bar);
}
