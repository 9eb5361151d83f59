/* SPDX-License-Identifier: MIT */
/* test-errors.c - the error table: every code has a distinct name and text,
 * system codes are -errno, unknown codes are answered, the _r variants
 * truncate safely; plus the version queries and the timeout conversion. */
#include "runner.h"

#include "common/mp_internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

static const int all_codes[] = {
#define XX(name, value, msg) value,
    MP_ERRNO_MAP(XX)
#undef XX
};

TEST(errors_table_is_consistent)
{
    size_t n = sizeof all_codes / sizeof all_codes[0];
    for (size_t i = 0; i < n; i++) {
        ASSERT_LT(all_codes[i], 0);
        ASSERT_STR_EQ(mp_err_name(all_codes[i]) == NULL ? "" : "x", "x");
        ASSERT(strcmp(mp_err_name(all_codes[i]), "UNKNOWN") != 0);
        ASSERT(strcmp(mp_strerror(all_codes[i]), "unknown error") != 0);
        for (size_t j = i + 1; j < n; j++) {
            ASSERT_NE(all_codes[i], all_codes[j]);
        }
    }
    ASSERT_EQ(MP_ETIMEDOUT, -ETIMEDOUT);
    ASSERT_EQ(MP_ENOENT, -ENOENT);
    ASSERT_STR_EQ(mp_err_name(MP_ETIMEDOUT), "ETIMEDOUT");
    ASSERT_STR_EQ(mp_strerror(MP_ETIMEDOUT), "timed out");
    ASSERT_STR_EQ(mp_err_name(MP_EOWNERDEAD), "EOWNERDEAD");
    ASSERT_STR_EQ(mp_err_name(MP_ECLOSED), "ECLOSED");
    ASSERT_STR_EQ(mp_strerror(MP_EOVERRELEASE),
                  "semaphore or lock released too many times");
}

TEST(errors_unknown_codes)
{
    ASSERT_STR_EQ(mp_strerror(0), "unknown error");
    ASSERT_STR_EQ(mp_strerror(12345), "unknown error");
    ASSERT_STR_EQ(mp_err_name(-3999), "UNKNOWN");
    char buf[64];
    ASSERT_STR_EQ(mp_strerror_r(-3999, buf, sizeof buf), "unknown error -3999");
    ASSERT_STR_EQ(mp_err_name_r(-3999, buf, sizeof buf), "UNKNOWN -3999");
    ASSERT_STR_EQ(mp_err_name_r(MP_EINVAL, buf, sizeof buf), "EINVAL");
    /* Truncation keeps the terminator; a zero-length buffer is untouched. */
    char small[4] = {'x', 'x', 'x', 'x'};
    ASSERT_STR_EQ(mp_strerror_r(MP_EINVAL, small, sizeof small), "inv");
    char none[1] = {'z'};
    ASSERT(mp_strerror_r(MP_EINVAL, none, 0) == none);
    ASSERT_EQ(none[0], 'z');
    ASSERT_NULL(mp_strerror_r(MP_EINVAL, NULL, 10));
}

TEST(version_queries)
{
    ASSERT_EQ(mp_version(), MP_VERSION_HEX);
    ASSERT_STR_EQ(mp_version_string(), MP_VERSION_STRING);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", MP_VERSION_MAJOR,
             MP_VERSION_MINOR, MP_VERSION_PATCH);
    ASSERT_STR_EQ(mp_version_string(), expect);
    ASSERT_OK(mp_init());
    ASSERT_OK(mp_init());
}

TEST(deadline_conversion)
{
    int64_t d;
    ASSERT_OK(mp__deadline(MP_WAIT_FOREVER, &d));
    ASSERT_EQ(d, MP__NO_DEADLINE);
    ASSERT_EQ(mp__remaining_ms(d), -1);
    ASSERT_OK(mp__deadline(MP_NO_WAIT, &d));
    ASSERT_EQ(mp__remaining_ms(d), 0);
    ASSERT_ERR(mp__deadline(-2, &d), MP_EINVAL);
    ASSERT_ERR(mp__deadline(INT64_MIN, &d), MP_EINVAL);
    ASSERT_OK(mp__deadline(INT64_MAX, &d));
    ASSERT_EQ(d, MP__NO_DEADLINE);
    ASSERT_OK(mp__deadline(60000, &d));
    ASSERT_GT(mp__remaining_ms(d), 0);
    ASSERT_LE(mp__remaining_ms(d), 60000);
}

TEST(allocator_hook_rules)
{
    ASSERT_ERR(mp_set_allocator(NULL, NULL, NULL, NULL), MP_EINVAL);
    /* Once the library has allocated, the allocator cannot change. */
    char *s = mp__strdup("x");
    ASSERT_NOT_NULL(s);
    mp_free(s);
    ASSERT_ERR(mp_set_allocator(malloc, realloc, calloc, free), MP_EBUSY);
    mp_free(NULL);
}

TEST(cpu_count_honours_affinity)
{
    int n = mp_cpu_count();
    ASSERT_GE(n, 1);
    cpu_set_t set;
    ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
    ASSERT_EQ(n, CPU_COUNT(&set));
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++) {
        if (CPU_ISSET(c, &set)) {
            CPU_SET(c, &one);
            break;
        }
    }
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    ASSERT_EQ(mp_cpu_count(), 1);
    ASSERT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
}
