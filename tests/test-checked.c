/* SPDX-License-Identifier: MIT */
/* test-checked.c - the common helpers that keep bad input from
 * overflowing (issue 21 item 13): checked size sums and products, the one
 * timeout-to-deadline conversion at its edges, and SipHash-1-3 (the dict's
 * keyed hash) against known answers. */
#include "runner.h"

#include "common/mp_internal.h"

TEST(checked_size_add_mul_edges)
{
    size_t r = 7;
    ASSERT(mp__size_add(0, 0, &r));
    ASSERT_EQ(r, 0u);
    ASSERT(mp__size_add(SIZE_MAX - 5, 5, &r));
    ASSERT(r == SIZE_MAX);
    r = 7;
    ASSERT(!mp__size_add(SIZE_MAX - 5, 6, &r));
    ASSERT(r == SIZE_MAX);
    ASSERT(!mp__size_add(SIZE_MAX, SIZE_MAX, &r));
    ASSERT(!mp__size_add(1, SIZE_MAX, &r));

    ASSERT(mp__size_mul(0, SIZE_MAX, &r));
    ASSERT_EQ(r, 0u);
    ASSERT(mp__size_mul(SIZE_MAX, 0, &r));
    ASSERT_EQ(r, 0u);
    ASSERT(mp__size_mul(SIZE_MAX, 1, &r));
    ASSERT(r == SIZE_MAX);
    ASSERT(mp__size_mul(SIZE_MAX / 16, 16, &r));
    ASSERT(r == SIZE_MAX / 16 * 16);
    r = 7;
    ASSERT(!mp__size_mul(SIZE_MAX / 16 + 1, 16, &r));
    ASSERT(r == SIZE_MAX);
    size_t half = (size_t)1 << (sizeof(size_t) * 4);
    ASSERT(!mp__size_mul(half, half, &r));
    ASSERT(mp__size_mul(half - 1, half + 1, &r));
}

TEST(checked_deadline_saturates)
{
    int64_t d = 0;
    ASSERT_OK(mp__deadline(MP_WAIT_FOREVER, &d));
    ASSERT_EQ(d, MP__NO_DEADLINE);
    ASSERT_ERR(mp__deadline(-2, &d), MP_EINVAL);
    ASSERT_ERR(mp__deadline(INT64_MIN, &d), MP_EINVAL);
    /* Timeouts whose deadline passes INT64_MAX are forever, never a
     * wrapped (past) deadline. */
    const int64_t huge[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 1000000 + 1,
                            INT64_MAX / 1000000};
    for (size_t i = 0; i < MP__ARRAY_SIZE(huge); i++) {
        d = 0;
        ASSERT_OK(mp__deadline(huge[i], &d));
        ASSERT_EQ(d, MP__NO_DEADLINE);
    }
    int64_t before = mp__now_ns();
    ASSERT_OK(mp__deadline(0, &d));
    int64_t after = mp__now_ns();
    ASSERT(d >= before && d <= after);
    before = mp__now_ns();
    ASSERT_OK(mp__deadline(1500, &d));
    after = mp__now_ns();
    ASSERT(d >= before + 1500 * INT64_C(1000000) &&
           d <= after + 1500 * INT64_C(1000000));

    ASSERT_EQ(mp__deadline_after_ns(INT64_MAX), MP__NO_DEADLINE);
    ASSERT_EQ(mp__deadline_after_ns(INT64_MAX - mp__now_ns()), MP__NO_DEADLINE);
    before = mp__now_ns();
    int64_t past = mp__deadline_after_ns(INT64_MIN);
    int64_t zero = mp__deadline_after_ns(0);
    int64_t soon = mp__deadline_after_ns(1000);
    after = mp__now_ns();
    ASSERT(past >= before && past <= after);
    ASSERT(zero >= before && zero <= after);
    ASSERT(soon >= before + 1000 && soon <= after + 1000);
}

TEST(checked_siphash13_known_answers)
{
    /* Key 00 01 .. 0f, messages 00 01 .. (n-1): SipHash-1-3 as OpenSSL 3
     * computes it (EVP_MAC "SIPHASH", c-rounds 1, d-rounds 3). */
    static const struct {
        size_t len;
        uint64_t want;
    } cases[] = {
        {0, 0xabac0158050fc4dcull},  {1, 0xc9f49bf37d57ca93ull},
        {7, 0xd3927d989bb11140ull},  {8, 0x369095118d299a8eull},
        {15, 0xd320d86d2a519956ull}, {16, 0xcc4fdd1a7d908b66ull},
        {63, 0x9d199062b7bbb3a8ull},
    };
    const uint64_t key[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    uint8_t msg[64];
    for (int i = 0; i < 64; i++) {
        msg[i] = (uint8_t)i;
    }
    for (size_t i = 0; i < MP__ARRAY_SIZE(cases); i++) {
        ASSERT(mp__siphash13(key, msg, cases[i].len) == cases[i].want);
    }
    const uint64_t zero[2] = {0, 0};
    ASSERT(mp__siphash13(zero, "", 0) == 0xd1fba762150c532cull);
    /* Another key, another hash. */
    const uint64_t other[2] = {key[0] ^ 1, key[1]};
    ASSERT(mp__siphash13(other, msg, 15) != mp__siphash13(key, msg, 15));
}
