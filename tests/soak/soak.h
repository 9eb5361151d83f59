/* SPDX-License-Identifier: MIT */
/* soak.h - the soak program's shared pieces (issue 21, "Keep it fixed"):
 * the round context every scenario gets, the seeded generator that picks
 * kill moments, and small process helpers. Scenarios use only the public
 * API (multiproc.h); their bookkeeping lives in anonymous shared mappings
 * of their own, so a fault in the library cannot corrupt the ledger that
 * judges it. */
#ifndef MP_SOAK_H
#define MP_SOAK_H

#include "multiproc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a round ends with (the round process's exit code). */
enum { SOAK_PASS = 0, SOAK_FAIL = 1, SOAK_SKIP = 77 };

/* One round: the seed it runs from, how hard it pushes, and what it
 * reports back to the driver through shared memory. */
typedef struct soak_round {
    uint64_t seed;   /* the round's seed (printed for --round-seed) */
    uint64_t rng;    /* generator state, starts at seed */
    int kills;       /* kills a scenario aims for this round */
    bool short_mode; /* --short: smaller counts */
    int report_fd;   /* write end of the driver's pipe (tree scenario) */
    /* Shared with the driver: kills done, and the first failure's text. */
    struct soak_shared *shared;
} soak_round_t;

typedef struct soak_shared {
    int kills_done;
    int failures;
    char note[512];    /* one line the driver prints with the round */
    char detail[1536]; /* the first failure's text */
} soak_shared_t;

/* A scenario: runs one round in a fresh process that leads its own
 * session; returns SOAK_PASS, SOAK_FAIL or SOAK_SKIP. */
typedef int (*soak_fn)(soak_round_t *r);

/* Scenarios (soak-*.c). */
int soak_queue(soak_round_t *r);
int soak_joinable_queue(soak_round_t *r);
int soak_pool_map(soak_round_t *r);
int soak_pool_imap_unordered(soak_round_t *r);
int soak_pool_apply_async(soak_round_t *r);
int soak_lock(soak_round_t *r);
int soak_semaphore(soak_round_t *r);
int soak_condition(soak_round_t *r);
int soak_barrier(soak_round_t *r);
int soak_manager(soak_round_t *r);
int soak_tree(soak_round_t *r);
int soak_recycled_pid(soak_round_t *r);

/* soak_rand returns the next 64 random bits of *state (splitmix64). */
uint64_t soak_rand(uint64_t *state);

/* soak_below returns a random number in [0, n) (n > 0). */
uint64_t soak_below(soak_round_t *r, uint64_t n);

/* soak_pause_us busy-waits a random 0..max_us microseconds, yielding the
 * CPU on every turn: it picks a random kill moment, it synchronises
 * nothing. */
void soak_pause_us(soak_round_t *r, unsigned max_us);

/* soak_fail records a failure of the round (the first one's text is kept
 * for the driver) and prints it to stderr with the round's seed. */
__attribute__((format(printf, 2, 3))) void soak_fail(soak_round_t *r,
                                                     const char *fmt, ...);

/* soak_note sets the round's one-line note (counts worth printing). */
__attribute__((format(printf, 2, 3))) void soak_note(soak_round_t *r,
                                                     const char *fmt, ...);

/* soak_count_kill adds one SIGKILL to the round's count. */
void soak_count_kill(soak_round_t *r);

/* soak_shared_map returns zeroed memory shared with children forked
 * afterwards (an anonymous MAP_SHARED mapping), or NULL; soak_shared_unmap
 * releases it. */
void *soak_shared_map(size_t size);
void soak_shared_unmap(void *p, size_t size);

/* soak_start creates and starts a process running fn(arg); NULL (and a
 * failure recorded) when that fails. */
mp_process_t *soak_start(soak_round_t *r, mp_target_fn fn, void *arg);

/* soak_start_ready is soak_start for a target that calls soak_say_ready
 * once it is at work: it returns once the target said so (a failure
 * recorded and NULL after 20 s without it), so that the next kill hits
 * a process at work, not one still starting. */
mp_process_t *soak_start_ready(soak_round_t *r, mp_target_fn fn, void *arg);
void soak_say_ready(void);

/* soak_kill SIGKILLs started process *p, reaps it (up to 10 s), destroys
 * the handle and sets *p to NULL. Returns 1 when the kill ended it (a
 * kill counted), 0 when it had already exited (*code, when not NULL, then
 * holds its exit code), -1 when it could not be reaped (a failure
 * recorded). */
int soak_kill(soak_round_t *r, mp_process_t **p, int *code);

/* soak_finish waits up to timeout_ms for p to exit, destroys it and
 * returns its exit code; a process still running then is SIGKILLed, a
 * failure recorded (a hang) and -1000 returned. NULL p returns 0. */
int soak_finish(soak_round_t *r, mp_process_t *p, long timeout_ms,
                const char *what);

/* soak_reap_all waits up to timeout_ms until the caller has no child left
 * (reaping them, adopted orphans included), then SIGKILLs and reaps what
 * is left. Returns how many were left at the deadline. */
int soak_reap_all(long timeout_ms);

#endif /* MP_SOAK_H */
