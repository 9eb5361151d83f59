/* SPDX-License-Identifier: MIT */
/* posix_random.c - the library's two kinds of randomness (docs/design.md
 * "Randomness"): secret bytes straight from the kernel's CSPRNG, for
 * authkeys, challenges and hash keys; and cheap 64-bit values for names,
 * from a per-process generator (splitmix64 over a kernel-seeded state) so
 * that naming a new object costs no syscall after the first. The names'
 * generator is invertible - one value reveals its state - so it must never
 * serve a secret. */
#include "platform.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/random.h>
#include <unistd.h>

int
mp__plat_secret_bytes(void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t off = 0;
    while (off < len) {
        /* Flags 0: the urandom pool, blocking only until it is first
         * seeded at boot; reads of up to 256 bytes are never short, longer
         * ones may be (and a signal may interrupt them). */
        ssize_t n;
        MP__PLAT_NO_EINTR(n, getrandom(p + off, len - off, 0));
        if (n < 0) {
            return -errno;
        }
        off += (size_t)n;
    }
    return 0;
}

/* The generator, in the fork-local page (mp__fork_local): a forked child
 * finds it zeroed - mutex free, not seeded - and seeds its own, so it never
 * repeats its parent's sequence, with no fork handler. */
typedef struct random_local {
    pthread_mutex_t mutex;
    uint64_t state;
    bool seeded;
} random_local_t;

static random_local_t *rnd; /* set once by random_once_fn */
static pthread_once_t random_once = PTHREAD_ONCE_INIT;

static void
random_once_fn(void)
{
    rnd = mp__fork_local(sizeof *rnd);
}

static uint64_t
splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t
mp__plat_random_u64(void)
{
    pthread_once(&random_once, random_once_fn);
    pthread_mutex_lock(&rnd->mutex);
    if (!rnd->seeded) {
        uint64_t seed = 0;
        if (mp__plat_secret_bytes(&seed, sizeof seed) != 0) {
            /* Names need only differ (they are created with O_EXCL and
             * retried): a weak seed is acceptable here, never for a
             * secret. */
            seed ^= (uint64_t)mp__now_ns() ^ ((uint64_t)mp__getpid() << 32);
        }
        rnd->state = seed;
        rnd->seeded = true;
    }
    uint64_t v = splitmix64(&rnd->state);
    pthread_mutex_unlock(&rnd->mutex);
    return v;
}
