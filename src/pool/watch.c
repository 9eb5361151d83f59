/* SPDX-License-Identifier: MIT */
/* watch.c - the learned watch the pool's waiting threads run before they
 * sleep (mp__pool_watch): the handler before it sleeps in mp_wait_any, a
 * caller taking its own reply before it polls, an iterator before it
 * sleeps on its condition. Look, yield, look again, for a short window,
 * only while such watches pay (mp__spin_*, one learner per waiting
 * object). The library's other spinning waits run the same learner in
 * loops of their own: a connection's receive (each look is a system
 * call) and a queue's wait step (pauses between looks, then yields). */
#include "pool_internal.h"

int
mp__pool_watch(mp__spin_learn_t *learn, int64_t window_ns, int64_t deadline,
               int (*look)(void *arg), void *arg, _Atomic uint64_t *count)
{
    int64_t now = mp__now_ns();
    int64_t until = now + window_ns;
    if (deadline < until) {
        until = deadline;
    }
    /* No time left to watch is no watch (and no miss). */
    if (until <= now || !mp__spin_begin(learn)) {
        return MP__WATCH_NONE;
    }
    if (count != NULL) {
        atomic_fetch_add_explicit(count, 1, memory_order_relaxed);
    }
    for (;;) {
        int seen = look(arg);
        if (seen > 0) {
            mp__spin_paid(learn);
            return MP__WATCH_PAID;
        }
        if (seen < 0) {
            break;
        }
        mp__plat_yield();
        if (mp__now_ns() >= until) {
            break; /* what the last yield let in is not looked at */
        }
    }
    mp__spin_missed(learn);
    return MP__WATCH_MISSED;
}
