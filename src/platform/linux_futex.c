/* SPDX-License-Identifier: MIT */
/* linux_futex.c - futex wait/wake, the one wait primitive under every lock,
 * semaphore, condition, event and barrier of the library. Shared (not
 * FUTEX_PRIVATE) because the words live in memory mapped by many processes.
 * Also mp__plat_yield, the one way a spinning waiter gives up the CPU, and
 * mp__plat_nap, a plain pause. */
#include "platform.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int
mp__plat_futex_wait(_Atomic uint32_t *word, uint32_t expected, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline != MP__NO_DEADLINE) {
        if (deadline <= mp__now_ns()) {
            return MP_ETIMEDOUT;
        }
        ts.tv_sec = (time_t)(deadline / 1000000000);
        ts.tv_nsec = (long)(deadline % 1000000000);
        tsp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time, so a wait
     * restarted after a spurious wake-up never stretches the deadline. */
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected,
                     tsp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == -1 && errno == ETIMEDOUT) {
        return MP_ETIMEDOUT;
    }
    if (r == -1 && errno == EAGAIN) {
        return MP__PLAT_FUTEX_MOVED;
    }
    /* EINTR is a wake-up for the caller. */
    return 0;
}

int
mp__plat_futex_wake(_Atomic uint32_t *word, int n)
{
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
    return r < 0 ? 0 : (int)r;
}

void
mp__plat_yield(void)
{
    (void)sched_yield();
}

void
mp__plat_nap(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    (void)nanosleep(&ts, NULL);
}
