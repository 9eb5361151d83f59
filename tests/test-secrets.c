/* SPDX-License-Identifier: MIT */
/* test-secrets.c - where the library's randomness comes from (issue 21
 * item 1): the kernel's CSPRNG fills buffers of any length, and the
 * manager's default authkey cannot be derived from the names' generator,
 * whose every output any local user can read in /dev/shm. */
#include "runner.h"

#include "platform/platform.h"

#include <stdlib.h>
#include <string.h>

/* splitmix64's constants (the names' generator in posix_random.c). */
#define SM_GAMMA 0x9e3779b97f4a7c15ull
#define SM_C1 0xbf58476d1ce4e5b9ull
#define SM_C2 0x94d049bb133111ebull

static uint64_t
sm_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * SM_C1;
    z = (z ^ (z >> 27)) * SM_C2;
    return z ^ (z >> 31);
}

/* The x with x ^ (x >> s) == y. */
static uint64_t
unxorshift(uint64_t y, int s)
{
    uint64_t x = y;
    for (int i = 0; i < 64 / s + 1; i++) {
        x = y ^ (x >> s);
    }
    return x;
}

/* The inverse of odd c modulo 2^64 (Newton's iteration). */
static uint64_t
inverse(uint64_t c)
{
    uint64_t x = c;
    for (int i = 0; i < 6; i++) {
        x *= 2 - c * x;
    }
    return x;
}

/* The generator's state after it returned out: what an observer of one
 * name learns. */
static uint64_t
sm_state_of(uint64_t out)
{
    uint64_t z = unxorshift(out, 31) * inverse(SM_C2);
    z = unxorshift(z, 27) * inverse(SM_C1);
    return unxorshift(z, 30);
}

TEST(secret_bytes_from_kernel)
{
    /* Longer than one getrandom() call is sure to return whole. */
    enum { N = 4096 };
    uint8_t *a = calloc(1, N), *b = calloc(1, N);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    ASSERT_OK(mp__plat_secret_bytes(a, N));
    ASSERT_OK(mp__plat_secret_bytes(b, N));
    ASSERT_OK(mp__plat_secret_bytes(b, 0));
    size_t zeros = 0;
    for (size_t i = 0; i < N; i++) {
        zeros += a[i] == 0;
    }
    /* 16 expected; a buffer left (partly) unfilled has thousands. */
    ASSERT_LT(zeros, 128u);
    ASSERT(memcmp(a, b, N) != 0);
    free(a);
    free(b);
}

TEST(secret_authkey_not_derivable_from_shm_names)
{
    /* The inversion is right: it recovers a state the generator had. */
    ASSERT_EQ(sm_state_of(sm_mix(0x0123456789abcdefull)),
              0x0123456789abcdefull);

    /* An observer reads one name of ours ... */
    mp_shm_t *shm = NULL;
    ASSERT_OK(mp_shm_create(&shm, NULL, 4096, 0));
    char name[64];
    ASSERT_LT(strlen(mp_shm_name(shm)), sizeof name);
    strcpy(name, mp_shm_name(shm));
    const char *dash = strrchr(name, '-');
    ASSERT_NOT_NULL(dash);
    ASSERT_EQ(strlen(dash + 1), 16u);
    uint64_t seen = strtoull(dash + 1, NULL, 16);
    ASSERT_OK(mp_shm_unlink(shm));
    mp_shm_destroy(shm);

    /* ... and from it every value the generator will draw next. */
    enum { AHEAD = 256 };
    uint64_t next[AHEAD];
    uint64_t state = sm_state_of(seen);
    for (int i = 0; i < AHEAD; i++) {
        state += SM_GAMMA;
        next[i] = sm_mix(state);
    }
    /* The prediction is right: the next name drawn is among them. */
    ASSERT_EQ(mp__plat_random_u64(), next[0]);

    /* The default authkey shares no 8 bytes with that stream. */
    mp_manager_t *m = NULL;
    ASSERT_OK(mp_manager_create(&m, NULL));
    const void *key = NULL;
    size_t klen = 0;
    ASSERT_OK(mp_manager_authkey(m, &key, &klen));
    ASSERT_EQ(klen, 32u);
    for (size_t off = 0; off + 8 <= klen; off++) {
        uint64_t w;
        memcpy(&w, (const uint8_t *)key + off, 8);
        for (int i = 0; i < AHEAD; i++) {
            if (w == next[i]) {
                mpt_fail(__FILE__, __LINE__,
                         "authkey bytes %zu..%zu are name generator output "
                         "%d after the name %s",
                         off, off + 7, i + 1, name);
            }
        }
    }
    mp_manager_destroy(m);
}
