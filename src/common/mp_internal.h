/* SPDX-License-Identifier: MIT */
/* mp_internal.h - what every source file of the library shares: the
 * allocator, assertions, deadlines and the lazy library init.
 *
 * Naming: public functions are mp_<object>_<verb>; functions shared between
 * files of the library are mp__<area>_<verb>; everything else is static.
 * Layers (each calls only those before it):
 *   common <- platform <- wait <- shm <- sync <- values <- process
 *   common <- platform <- wait <- shm <- queue
 *   common <- platform <- ipc
 *   queue, ipc, process <- api <- pool
 * docs/design.md explains each layer. */
#ifndef MP_INTERNAL_H
#define MP_INTERNAL_H

#define MP_BUILDING_LIBRARY 1
#include "multiproc.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* MP__OPTS_BAD tells whether opts, a public options struct (or NULL: the
 * defaults), has a size this version does not know (api-conventions rule
 * 8: not set by its MP_<OBJECT>_OPTS_INIT). 1.0 knows its own size only; a
 * minor version that adds fields accepts each earlier size too. Every call
 * that reads an options struct answers a bad one with MP_EINVAL. */
#define MP__OPTS_BAD(opts) ((opts) != NULL && (opts)->size != sizeof *(opts))

/* Allocation: every process-local allocation of the library goes here, so
 * mp_set_allocator() covers all of it. */
void *mp__malloc(size_t size);
void *mp__calloc(size_t n, size_t size);
void *mp__realloc(void *ptr, size_t size);
void mp__free(void *ptr);
char *mp__strdup(const char *s);

/* Broken invariants (library bugs, corrupted shared state) abort with the
 * place and expression; environmental errors are returned, never asserted.
 * mp__panic writes to stderr, so it is defined in platform/linux_self.c. */
__attribute__((noreturn)) void mp__panic(const char *file, int line,
                                         const char *what);
#define MP__ASSERT(expr)                                                       \
    do {                                                                       \
        if (!(expr))                                                           \
            mp__panic(__FILE__, __LINE__, #expr);                              \
    } while (0)

/* Checked size arithmetic: mp__size_add and mp__size_mul store a + b
 * (a * b) in *out and return true, or return false with *out = SIZE_MAX
 * when the result does not fit in a size_t. Every size the library adds or
 * multiplies from a caller's lengths, a peer's message or shared memory
 * goes through them. */
static inline bool
mp__size_add(size_t a, size_t b, size_t *out)
{
    if (a > SIZE_MAX - b) {
        *out = SIZE_MAX;
        return false;
    }
    *out = a + b;
    return true;
}

static inline bool
mp__size_mul(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b) {
        *out = SIZE_MAX;
        return false;
    }
    *out = a * b;
    return true;
}

/* mp__siphash13 returns SipHash-1-3 of len bytes at data under the 128-bit
 * key (key[0] holds its first 8 bytes read little-endian, key[1] the
 * last 8): the hash for tables whose keys an adversary may choose. */
uint64_t mp__siphash13(const uint64_t key[2], const void *data, size_t len);

/* Spin learning (spin.c): whether a bounded spin before a sleep pays,
 * learnt per waiting object (a connection, a queue handle). A waiter asks
 * mp__spin_begin before it spins: false means it rests (sleeps at once;
 * the call counts one wait of the rest off). It reports each spin's end:
 * mp__spin_missed when the spin ended without what it waited for (the
 * peer was slow, or could not run because the spinner held its CPU, or a
 * stranger took the CPU at the spinner's yield), mp__spin_paid when it
 * caught it. A miss adds 8 to a debt and a paying spin takes 1 off; at 24
 * (3 misses in a row, or misses more often than 1 in 8 spins) the next 8
 * waits rest; a probe spin after a rest that misses again rests twice as
 * long (up to 1024 waits) until spins pay the debt off. A zeroed struct
 * spins. Its fields are relaxed atomics, so threads sharing the object
 * may race on it harmlessly (a lost update only moves a rest). */
typedef struct mp__spin_learn {
    _Atomic uint16_t debt;    /* misses weigh 8, paying spins -1 */
    _Atomic uint16_t rest;    /* waits left that do not spin */
    _Atomic uint16_t backoff; /* the next rest (0: the first one) */
} mp__spin_learn_t;
bool mp__spin_begin(mp__spin_learn_t *l);
void mp__spin_missed(mp__spin_learn_t *l);
void mp__spin_paid(mp__spin_learn_t *l);

/* Deadlines are absolute CLOCK_MONOTONIC times in nanoseconds;
 * MP__NO_DEADLINE means forever. */
#define MP__NO_DEADLINE INT64_MAX

/* Marks the code a child runs between fork and its target (fork handlers
 * included), and on its way out: GCC and Clang put "hot" functions
 * together (.text.hot), so a child, which faults in every page of code it
 * runs (fork copies no page tables of file mappings), faults in one page
 * of ours, not one per source file. */
#define MP__FORK_CHILD_PATH __attribute__((hot))

/* The clock and deadlines below are defined in platform/posix_clock.c.
 * mp__now_ns returns CLOCK_MONOTONIC in nanoseconds. */
int64_t mp__now_ns(void);

/* mp__deadline converts a public timeout into a deadline: MP_WAIT_FOREVER,
 * and any timeout whose deadline would pass INT64_MAX, is MP__NO_DEADLINE.
 * Returns 0, or MP_EINVAL for a negative timeout other than
 * MP_WAIT_FOREVER. Every timeout of the library is converted here (or by
 * mp__deadline_after_ns), never by an open-coded now + timeout. */
int mp__deadline(mp_duration_t timeout, int64_t *deadline);

/* mp__deadline_after_ns returns the deadline ns nanoseconds from now,
 * saturated at MP__NO_DEADLINE; ns <= 0 is now. */
int64_t mp__deadline_after_ns(int64_t ns);

/* mp__remaining_ms returns the milliseconds left until deadline, rounded up,
 * clamped to [0, INT32_MAX], or -1 for MP__NO_DEADLINE (poll()'s forever). */
int mp__remaining_ms(int64_t deadline);

/* Shutdown hooks (shutdown_hooks.c): mp__shutdown_hook_add records fn
 * (once, however often it is added) for mp_shutdown to call, in every
 * process, through mp__shutdown_hooks_run: how a layer the process layer
 * may not call (the ipc layer's fd sharer) gives back what it holds.
 * Returns 0 or MP_ENOMEM (the 4 slots are taken). Context: any thread. */
typedef void (*mp__shutdown_fn)(void);
int mp__shutdown_hook_add(mp__shutdown_fn fn);
void mp__shutdown_hooks_run(void);

/* The process basics below reach the OS, so platform/linux_self.c defines
 * them; they are declared here because every layer uses them. */

/* mp__init runs the library's one-time set-up for this process; every public
 * entry point that creates something calls it. Cheap after the first call. */
void mp__init(void);

/* The pid of this process, cached and refreshed after fork. */
pid_t mp__getpid(void);

/* The pid of the root of this process tree as the library sees it: the
 * process where the library was first used, inherited by forked children.
 * Names of shared-memory blocks carry it, so a tree's blocks can be found. */
pid_t mp__session_pid(void);

/* gettid(), cached per thread and refreshed after fork. */
pid_t mp__gettid(void);

/* mp__fork_local returns size bytes (zeroed, 64-byte aligned) of this
 * process's fork-local page: memory a child forked from it finds zeroed
 * again, with no fork handler and no copy-on-write fault in the parent
 * (MADV_WIPEONFORK). For process-local state a child must not inherit:
 * locks (zero is an unlocked pthread or futex mutex), lists of the
 * parent's children, caches of the pid. Call once per module (under its
 * pthread_once): the page is small and never freed; panics when full. */
void *mp__fork_local(size_t size);

#endif /* MP_INTERNAL_H */
