/* SPDX-License-Identifier: MIT */
/* multiproc/common.h - what every area needs: the error codes, time
 * (timeouts), the library itself (init, version, allocator) and the MP_EXTERN
 * marker. Included by multiproc.h; including it alone works too. */
#ifndef MULTIPROC_COMMON_H
#define MULTIPROC_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "errno.h"
#include "multiproc/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MP_BUILDING_LIBRARY) && defined(__GNUC__)
#define MP_EXTERN __attribute__((visibility("default")))
#else
#define MP_EXTERN /* nothing */
#endif

/*===== Errors ==============================================================*/

/* The error codes, one per row of MP_ERRNO_MAP (errno.h), all negative. */
typedef enum {
#define MP__ERRNO_ENUM(name, value, msg) MP_##name = (value),
    MP_ERRNO_MAP(MP__ERRNO_ENUM)
#undef MP__ERRNO_ENUM
        MP_ERRNO_MAX = -4096
} mp_errno_t;

/* mp_strerror returns a static English message for err (for example
 * "timed out" for MP_ETIMEDOUT), or "unknown error" for a code outside the
 * table. Never NULL. Context: any process, any thread; async-signal-safe. */
MP_EXTERN const char *mp_strerror(int err);

/* mp_err_name returns the code's name without the MP_ prefix ("ETIMEDOUT"),
 * or "UNKNOWN" for a code outside the table. Never NULL. Context: any
 * process, any thread; async-signal-safe. */
MP_EXTERN const char *mp_err_name(int err);

/* mp_strerror_r and mp_err_name_r write the same text into buf (always
 * NUL-terminated when buflen > 0; unknown codes include their number) and
 * return buf. Context: any process, any thread (they format with snprintf:
 * not async-signal-safe). */
MP_EXTERN char *mp_strerror_r(int err, char *buf, size_t buflen);
MP_EXTERN char *mp_err_name_r(int err, char *buf, size_t buflen);

/*===== Time ================================================================*/

/* Milliseconds to wait. Every blocking call takes one. */
typedef int64_t mp_duration_t;
#define MP_WAIT_FOREVER ((mp_duration_t)-1)
#define MP_NO_WAIT ((mp_duration_t)0)
/* Only mp_barrier_wait() accepts this: use the barrier's default timeout. */
#define MP_WAIT_DEFAULT ((mp_duration_t)-2)

/*===== Tokens ==============================================================*/

/* The most bytes, terminator included, of a token: the text that names a
 * shared object for a process not forked from its creator (mp_lock_token
 * and its siblings in multiproc/sync.h and multiproc/values.h,
 * mp_conn_token in multiproc/connection.h). */
#define MP_TOKEN_MAX 256

/*===== Options structs =====================================================*/

/* Every options struct (mp_process_opts_t, mp_pool_opts_t ...) starts with
 * size_t size, the sizeof of the struct the caller was built with, so that
 * a later minor version can add fields at the end (docs/api-conventions.md
 * rule 8). Initialise one with its initializer (MP_POOL_OPTS_INIT for
 * mp_pool_opts_t, MP_QUEUE_OPTS_INIT for mp_queue_opts_t ...), which sets
 * size and every other field to its default (zero), then set fields:
 *
 *     mp_pool_opts_t o = MP_POOL_OPTS_INIT;
 *     o.processes = 4;
 *
 * A call given an options struct whose size is not one it knows (not set
 * by the initializer) returns MP_EINVAL and does nothing; NULL means every
 * default. MP__OPTS_INIT is the initializers' common definition (in C++,
 * which has no designated initializers before C++20, a lambda). */
#ifdef __cplusplus
#define MP__OPTS_INIT(type)                                                    \
    ([] {                                                                      \
        type o_ = type();                                                      \
        o_.size = sizeof o_;                                                   \
        return o_;                                                             \
    }())
#else
/* clang-format off */
#define MP__OPTS_INIT(type) {.size = sizeof(type)}
/* clang-format on */
#endif

/*===== Library =============================================================*/

/* mp_version returns MP_VERSION_HEX of the library that is linked in, and
 * mp_version_string its "MAJOR.MINOR.PATCH". Context: any process, any
 * thread; async-signal-safe. */
MP_EXTERN unsigned mp_version(void);
MP_EXTERN const char *mp_version_string(void);

/* mp_init prepares the library in this process (fork handlers, the exit
 * handler that joins children). Optional: every entry point calls it lazily.
 * Returns 0. Context: any process, any thread; idempotent. */
MP_EXTERN int mp_init(void);

/* mp_shutdown releases what the library holds for this process and that can
 * be released without harming live objects: it closes its connection to the
 * shared-memory tracker (after which segments this process created but did
 * not unlink are removed once the rest of its process tree has exited) and
 * reaps children that have already exited. Live handles stay valid; a later
 * call into the library re-opens what it needs. Returns 0. Context: any
 * process, any thread, typically just before the process exits or in a
 * test's cleanup. */
MP_EXTERN int mp_shutdown(void);

/* mp_set_allocator replaces the allocator the library uses for its
 * process-local memory. All four functions are required. Call it before any
 * other mp_ call. Returns 0 or MP_EINVAL (a NULL function), MP_EBUSY (the
 * library already allocated memory). Context: one thread, before the
 * program's first other mp_ call (it swaps the functions without a lock). */
MP_EXTERN int mp_set_allocator(void *(*malloc_fn)(size_t),
                               void *(*realloc_fn)(void *, size_t),
                               void *(*calloc_fn)(size_t, size_t),
                               void (*free_fn)(void *));

/* mp_free releases a buffer that a library call handed to the caller; NULL
 * is ignored. Context: any thread of the process that holds the buffer (a
 * forked child may free its copy). */
MP_EXTERN void mp_free(void *ptr);

/* mp_cpu_count returns the number of CPUs this process may run on (its
 * affinity mask), at least 1. Python: multiprocessing.cpu_count(), but
 * honouring the affinity mask as os.process_cpu_count() does. Context: any
 * process, any thread. */
MP_EXTERN int mp_cpu_count(void);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_COMMON_H */
