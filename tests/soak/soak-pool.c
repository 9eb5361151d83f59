/* SPDX-License-Identifier: MIT */
/* soak-pool.c - pool workers SIGKILLed at random moments under map,
 * imap_unordered and apply_async. A killer thread picks a busy worker
 * (mp_pool_stats) and kills it while the round's main thread waits for
 * the results. A round passes when every item has either its right result
 * or its cause (MP_EWORKER, with a message and, for apply_async, the
 * signal), no more items failed than the kills can explain, and nothing
 * waited past its timeout. */
#include "soak.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The result the task must give for item. */
static int64_t
expected(int64_t item)
{
    return item * 2654435761 + 7;
}

/* A pool task: item -> expected(item) after (item % 13) * 4000 steps of
 * work, so that kills find workers busy. */
static int
pool_task(const void *in, size_t len, mp_pool_out_t *out)
{
    if (len != sizeof(int64_t)) {
        mp_pool_out_error(out, "bad item size");
        return -1;
    }
    int64_t item;
    memcpy(&item, in, sizeof item);
    volatile uint64_t x = (uint64_t)item;
    for (int64_t i = 0; i < (item % 13) * 4000; i++) {
        x = x * 6364136223846793005ull + 1;
    }
    int64_t res = expected(item);
    return mp_pool_out_write(out, &res, sizeof res);
}

typedef struct killer {
    soak_round_t *r;
    mp_pool_t *pool;
    uint64_t rng;
    atomic_int done;
    int kills, busy_kills;
} killer_t;

/* The killer thread: up to r->kills times, waits a random moment and
 * SIGKILLs a busy worker (an idle one if none is busy; never one that is
 * starting, which would break the pool rather than fail a task). */
static void *
killer_main(void *arg)
{
    killer_t *k = arg;
    soak_round_t rr = *k->r;
    rr.rng = k->rng;
    int attempts = 0;
    pid_t killed[64]; /* a killed worker shows until the pool reaps it */
    int nkilled = 0;
    while (k->kills < k->r->kills && k->kills < 64 && !atomic_load(&k->done) &&
           attempts++ < k->r->kills * 200) {
        soak_pause_us(&rr, 3000);
        mp_pool_stats_t st;
        mp_pool_worker_info_t w[8];
        pid_t busy = 0, idle = 0;
        /* Look a while for a busy worker: a kill should hit a task. */
        for (int look = 0; look < 200 && busy == 0; look++) {
            int n = mp_pool_stats(k->pool, &st, w, 8);
            for (int i = 0; i < n; i++) {
                bool dead = false;
                for (int j = 0; j < nkilled; j++) {
                    dead |= killed[j] == w[i].pid;
                }
                if (dead) {
                    continue;
                }
                if (w[i].state == MP_POOL_WORKER_BUSY && w[i].pid > 0) {
                    busy = w[i].pid;
                } else if (w[i].state == MP_POOL_WORKER_IDLE && w[i].pid > 0) {
                    idle = w[i].pid;
                }
            }
            if (busy == 0) {
                sched_yield();
            }
        }
        pid_t victim = busy != 0 ? busy : idle;
        if (victim != 0 && !atomic_load(&k->done) &&
            kill(victim, SIGKILL) == 0) {
            killed[nkilled++] = victim;
            k->kills++;
            k->busy_kills += busy != 0;
            soak_count_kill(k->r);
        }
    }
    return NULL;
}

enum { MODE_MAP, MODE_IMAP_UNORDERED, MODE_APPLY_ASYNC };

/* Checks item i's outcome: code 0 with result res, or a cause. Returns 1
 * when the item failed (with an accepted cause), 0 when it succeeded. */
static int
check_item(soak_round_t *r, size_t i, int code, int64_t res, const char *msg)
{
    if (code == 0) {
        if (res != expected((int64_t)i)) {
            soak_fail(r, "item %zu: wrong result %lld", i, (long long)res);
        }
        return 0;
    }
    if (code != MP_EWORKER) {
        soak_fail(r, "item %zu failed with %s (%s)", i, mp_err_name(code),
                  msg != NULL ? msg : "no message");
    } else if (msg == NULL || msg[0] == '\0') {
        soak_fail(r, "item %zu failed with MP_EWORKER but no cause", i);
    }
    return 1;
}

/* One pool round in mode (MODE_*): a pool of 2-3 workers, n items, the
 * killer thread at work until the results are in. */
static int
pool_round(soak_round_t *r, int mode)
{
    mp_pool_t *pool = NULL;
    mp_pool_opts_t po = MP_POOL_OPTS_INIT;
    po.processes = 2 + (int)soak_below(r, 2);
    int rc = mp_pool_create(&pool, &po);
    if (rc != 0) {
        soak_fail(r, "mp_pool_create: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    size_t n = r->short_mode ? 300 : 1000;
    int64_t *in = malloc(n * sizeof *in), *out = calloc(n, sizeof *out);
    int *status = calloc(n, sizeof *status);
    int *got = calloc(n, sizeof *got);
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)i;
    }
    killer_t k = {.r = r, .pool = pool, .rng = soak_rand(&r->rng)};
    pthread_t th;
    pthread_create(&th, NULL, killer_main, &k);
    size_t chunk = mode == MODE_MAP ? 1 + (size_t)soak_below(r, 6) : 1;
    size_t failed = 0;
    if (mode == MODE_MAP) {
        /* Every other round asks for each failed item's text too. */
        char **errors = soak_below(r, 2) ? calloc(n, sizeof *errors) : NULL;
        rc = mp_pool_map_errors(pool, pool_task, in, sizeof *in, n, chunk, out,
                                sizeof *out, status, errors, 60000);
        atomic_store(&k.done, 1);
        if (rc == MP_ETIMEDOUT) {
            soak_fail(r, "mp_pool_map: no result within 60 s (a hang)");
        } else {
            int first = 0;
            for (size_t i = 0; i < n; i++) {
                failed += (size_t)check_item(r, i, status[i], out[i],
                                             errors != NULL ? errors[i]
                                                            : "(status only)");
                if (first == 0 && status[i] != 0) {
                    first = status[i];
                }
            }
            if (rc != first) {
                soak_fail(r,
                          "mp_pool_map returned %s, its first failed "
                          "item %s",
                          mp_err_name(rc), mp_err_name(first));
            }
        }
        for (size_t i = 0; errors != NULL && i < n; i++) {
            mp_free(errors[i]);
        }
        free(errors);
    } else if (mode == MODE_IMAP_UNORDERED) {
        mp_imap_t *it = NULL;
        rc = mp_pool_imap_unordered(pool, pool_task, in, sizeof *in, n, 1, &it);
        if (rc != 0) {
            soak_fail(r, "mp_pool_imap_unordered: %s", mp_err_name(rc));
        }
        for (size_t taken = 0; it != NULL && taken <= n; taken++) {
            void *res = NULL;
            size_t index = 0;
            ssize_t got_len = mp_imap_next(it, &res, &index, 30000);
            rc = got_len < 0 ? (int)got_len : 0;
            size_t len = got_len < 0 ? 0 : (size_t)got_len;
            if (rc == MP_EOF) {
                if (taken != n) {
                    soak_fail(r, "imap ended after %zu of %zu items", taken, n);
                }
                break;
            }
            if (rc == MP_ETIMEDOUT || rc == MP_EINVAL) {
                soak_fail(r, "mp_imap_next: %s after %zu items (a hang)",
                          mp_err_name(rc), taken);
                mp_free(res);
                break;
            }
            if (index >= n || got[index]++ != 0) {
                soak_fail(r, "imap gave item %zu twice or out of range", index);
            } else {
                int64_t v = 0;
                if (rc == 0 && len == sizeof v) {
                    memcpy(&v, res, sizeof v);
                }
                failed +=
                    (size_t)check_item(r, index, rc, v, rc != 0 ? res : NULL);
            }
            mp_free(res);
        }
        atomic_store(&k.done, 1);
        mp_imap_destroy(it);
    } else {
        mp_result_t **res = calloc(n, sizeof *res);
        for (size_t i = 0; i < n; i++) {
            rc = mp_pool_apply_async(pool, pool_task, &in[i], sizeof in[i],
                                     &res[i]);
            if (rc != 0) {
                soak_fail(r, "mp_pool_apply_async: %s", mp_err_name(rc));
                break;
            }
        }
        for (size_t i = 0; i < n && res[i] != NULL; i++) {
            void *buf = NULL;
            ssize_t got_len = mp_result_get(res[i], &buf, 30000);
            rc = got_len < 0 ? (int)got_len : 0;
            size_t len = got_len < 0 ? 0 : (size_t)got_len;
            if (rc == MP_ETIMEDOUT) {
                soak_fail(r,
                          "apply_async item %zu: no result within 30 s "
                          "(a hang)",
                          i);
            } else {
                int64_t v = 0;
                if (rc == 0 && len == sizeof v) {
                    memcpy(&v, buf, sizeof v);
                }
                failed += (size_t)check_item(r, i, rc, v,
                                             mp_result_error_message(res[i]));
                int code = 0;
                if (rc == MP_EWORKER &&
                    (mp_result_exitcode(res[i], &code) != 0 ||
                     code != -SIGKILL)) {
                    soak_fail(r,
                              "apply_async item %zu: MP_EWORKER but the "
                              "worker's end is %d, not SIGKILL",
                              i, code);
                }
            }
            mp_free(buf);
        }
        atomic_store(&k.done, 1);
        for (size_t i = 0; i < n; i++) {
            mp_result_destroy(res[i]);
        }
        free(res);
    }
    pthread_join(th, NULL);
    /* A kill fails at most the chunk its worker ran. */
    if (failed > (size_t)k.kills * (size_t)chunk) {
        soak_fail(r, "%zu items failed after %d worker kills (chunks of %ld)",
                  failed, k.kills, chunk);
    }
    mp_pool_close(pool);
    rc = mp_pool_join(pool, 30000);
    if (rc != 0) {
        soak_fail(r, "mp_pool_join after close: %s", mp_err_name(rc));
    }
    mp_pool_destroy(pool);
    soak_note(r,
              "%d workers, %zu items, chunks of %ld, %d kills of busy "
              "workers, %zu failed",
              po.processes, n, chunk, k.busy_kills, failed);
    free(in), free(out), free(status), free(got);
    return SOAK_PASS;
}

int
soak_pool_map(soak_round_t *r)
{
    return pool_round(r, MODE_MAP);
}

int
soak_pool_imap_unordered(soak_round_t *r)
{
    return pool_round(r, MODE_IMAP_UNORDERED);
}

int
soak_pool_apply_async(soak_round_t *r)
{
    return pool_round(r, MODE_APPLY_ASYNC);
}
