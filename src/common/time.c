/* SPDX-License-Identifier: MIT */
/* time.c - the monotonic clock and the conversion from public timeouts
 * (mp_duration_t milliseconds) to absolute deadlines. */
#include "mp_internal.h"

#include <time.h>

int64_t
mp__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
    /* Beyond ~292 years the sum would overflow: that is forever. */
    if (timeout > (INT64_MAX / 1000000) / 2) {
        *deadline = MP__NO_DEADLINE;
        return 0;
    }
    *deadline = mp__now_ns() + timeout * 1000000;
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
