/* SPDX-License-Identifier: MIT */
/* stats.c - the pool's counters (submitted, done, failed, timed out,
 * failing callbacks: atomics, added to by the handler and by callers), the
 * handler's spin counts (mp__pool_spin_counts) and mp_pool_stats, which reads
 * them and each worker slot's state. Items are counted when their final code is
 * known, before anyone can see them, so a caller that has a result never reads
 * a count without it. */
#include "pool_state.h"

#include <string.h>

/* Where a job of pool counts failing callbacks (NULL without a pool). */
_Atomic uint64_t *
mp__pool_cb_counter(mp_pool_t *pool)
{
    return pool != NULL ? &pool->n_cb_errors : NULL;
}

bool
mp__pool_spin_counts(mp_pool_t *pool, uint64_t *spins, uint64_t *sleeps)
{
    uint64_t woken = atomic_load(&pool->n_woken);
    *spins = atomic_load(&pool->n_spins);
    *sleeps = atomic_load(&pool->n_sleeps);
    return *sleeps != woken;
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
