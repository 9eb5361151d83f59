/* SPDX-License-Identifier: MIT */
/* posix_clock.c - the monotonic clock and the one conversion from timeouts
 * (public mp_duration_t milliseconds, or internal nanoseconds) to absolute
 * deadlines, saturating at MP__NO_DEADLINE so that no timeout overflows.
 * Declared in common/mp_internal.h (every layer keeps deadlines), defined
 * here because the clock is the OS's. */
#include "platform.h"

#include <time.h>

int64_t
mp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
mp__deadline_after_ns(int64_t ns)
{
    int64_t now = mp__now_ns();
    if (ns <= 0) {
        return now;
    }
    /* A sum past INT64_MAX (~292 years of uptime) is forever. */
    return ns >= MP__NO_DEADLINE - now ? MP__NO_DEADLINE : now + ns;
}

int
mp__deadline(mp_duration_t timeout, int64_t *deadline)
{
    if (timeout == MP_WAIT_FOREVER) {
        *deadline = MP__NO_DEADLINE;
        return 0;
    }
    if (timeout < 0) {
        return MP_EINVAL;
    }
    /* Milliseconds past INT64_MAX nanoseconds are forever too. */
    *deadline = timeout > INT64_MAX / 1000000
                    ? MP__NO_DEADLINE
                    : mp__deadline_after_ns(timeout * 1000000);
    return 0;
}

int
mp__remaining_ms(int64_t deadline)
{
    if (deadline == MP__NO_DEADLINE) {
        return -1;
    }
    int64_t left = deadline - mp__now_ns();
    if (left <= 0) {
        return 0;
    }
    int64_t ms = (left + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}
