/* SPDX-License-Identifier: MIT */
/* posix_random.c - unpredictable 64-bit values for names, from a per-process
 * generator (splitmix64 over a kernel-seeded state) so that naming a new
 * object costs no syscall after the first. */
#include "platform.h"

#include <pthread.h>
#include <sys/random.h>
#include <unistd.h>

static pthread_mutex_t random_mutex = PTHREAD_MUTEX_INITIALIZER;
static uint64_t random_state;
static pid_t random_pid; /* the process that seeded random_state */

static pthread_once_t random_once = PTHREAD_ONCE_INIT;

/* Hold the mutex across fork so that a child never inherits it locked. */
static void
random_prepare(void)
{
    pthread_mutex_lock(&random_mutex);
}

/* Also the child's fork handler. */
MP__FORK_CHILD_PATH static void
random_release(void)
{
    pthread_mutex_unlock(&random_mutex);
}

static void
random_once_fn(void)
{
    pthread_atfork(random_prepare, random_release, random_release);
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
    pid_t pid = mp__getpid();
    pthread_once(&random_once, random_once_fn);
    pthread_mutex_lock(&random_mutex);
    /* A forked child must not repeat its parent's sequence: reseed. */
    if (random_pid != pid) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
            seed ^= (uint64_t)mp__now_ns() ^ ((uint64_t)pid << 32);
        }
        random_state ^= seed;
        random_pid = pid;
    }
    uint64_t v = splitmix64(&random_state);
    pthread_mutex_unlock(&random_mutex);
    return v;
}
