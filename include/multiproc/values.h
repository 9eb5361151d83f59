/* SPDX-License-Identifier: MIT */
/* multiproc/values.h - shared values and arrays: Value, Array, RawValue,
 * RawArray. Included by multiproc.h; including it alone works too. */
#ifndef MULTIPROC_VALUES_H
#define MULTIPROC_VALUES_H

#include "sync.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Shared values: Value, Array, RawValue, RawArray =====================*/

/* Element types, named by Python's type codes. */
typedef enum mp_type {
    MP_TYPE_CHAR = 'c',   /* char (raw bytes) */
    MP_TYPE_WCHAR = 'u',  /* wchar_t */
    MP_TYPE_SCHAR = 'b',  /* signed char */
    MP_TYPE_UCHAR = 'B',  /* unsigned char */
    MP_TYPE_SHORT = 'h',  /* short */
    MP_TYPE_USHORT = 'H', /* unsigned short */
    MP_TYPE_INT = 'i',    /* int */
    MP_TYPE_UINT = 'I',   /* unsigned int */
    MP_TYPE_LONG = 'l',   /* long */
    MP_TYPE_ULONG = 'L',  /* unsigned long */
    MP_TYPE_LLONG = 'q',  /* long long */
    MP_TYPE_ULLONG = 'Q', /* unsigned long long */
    MP_TYPE_FLOAT = 'f',  /* float */
    MP_TYPE_DOUBLE = 'd'  /* double */
} mp_type_t;

/* mp_type_size returns the size in bytes of one element, or 0 for a code
 * that is not an mp_type_t (Python: "this type has no size"). Context: any
 * process, any thread; async-signal-safe. */
MP_EXTERN size_t mp_type_size(mp_type_t type);

/* How a shared value is guarded; NULL or MP_SHARED_OPTS_INIT means "a new
 * RLock". */
typedef struct mp_shared_opts {
    size_t size;     /* sizeof(mp_shared_opts_t): set by MP_SHARED_OPTS_INIT */
    mp_lock_t *lock; /* use this lock (the caller keeps it alive) */
    bool raw;        /* no lock at all: RawValue / RawArray */
} mp_shared_opts_t;
/* MP_SHARED_OPTS_INIT: an mp_shared_opts_t with its size set and every other
 * field at its default (see common.h, "Options structs"). */
#define MP_SHARED_OPTS_INIT MP__OPTS_INIT(mp_shared_opts_t)

typedef struct mp_value mp_value_t;
typedef struct mp_array mp_array_t;

/* mp_value_create makes a shared scalar of type, initialised from *init (or
 * zero when init is NULL). Returns 0 or MP_EINVAL (NULL out, unknown type,
 * both lock and raw given, opts not initialised with MP_SHARED_OPTS_INIT: a
 * wrong size), MP_ENOMEM. mp_raw_value_create is the same with
 * no lock. Context: any process, any thread; the value is shared with the
 * children forked after it. */
MP_EXTERN int mp_value_create(mp_value_t **out, mp_type_t type,
                              const void *init, const mp_shared_opts_t *opts);
MP_EXTERN int mp_raw_value_create(mp_value_t **out, mp_type_t type,
                                  const void *init);

/* mp_value_get copies the value into *out, mp_value_set copies *in into it,
 * each under the lock (if any; a lock whose holder died is recovered, since
 * one element is always whole). Return 0 or MP_EINVAL. Context: any process
 * that has the value, any thread, but not one that holds the value's lock
 * when it is a Lock (not an RLock): the call would wait for it forever. A
 * raw value has no guard: concurrent writers race. */
MP_EXTERN int mp_value_get(mp_value_t *val, void *out);
MP_EXTERN int mp_value_set(mp_value_t *val, const void *in);

/* The shared storage itself (Python's get_obj()), its type, and its lock
 * (NULL for a raw value). Take the lock around read-modify-write. Each
 * returns NULL (0 for the type) for NULL. Context: any process that has the
 * value, any thread. */
MP_EXTERN void *mp_value_ptr(mp_value_t *val);
MP_EXTERN mp_type_t mp_value_type(const mp_value_t *val);
MP_EXTERN mp_lock_t *mp_value_get_lock(mp_value_t *val);

/* Same ownership rule as mp_lock_destroy; a caller-given lock is not
 * destroyed. NULL is ignored. Context: any process that has the value. */
MP_EXTERN void mp_value_destroy(mp_value_t *val);

/* mp_context_value is mp_value_create in context ctx (NULL: the default);
 * a new lock is of that context too. Its token names the value, its type
 * and its lock; the handle mp_value_attach makes has a handle of the lock
 * of its own (mp_value_get_lock). See "Tokens and contexts" in
 * multiproc/sync.h. Python: ctx.Value(type, init, lock). Context: any
 * process, any thread (the token: any process that has the value). */
MP_EXTERN int mp_context_value(const mp_context_t *ctx, mp_value_t **out,
                               mp_type_t type, const void *init,
                               const mp_shared_opts_t *opts);
MP_EXTERN int mp_value_token(const mp_value_t *val, char *buf, size_t buflen);
MP_EXTERN int mp_value_attach(mp_value_t **out, const char *token);

/* mp_array_create makes a shared array of length elements (at least 1),
 * copied from init (length elements) or zero-filled when init is NULL.
 * Returns 0 or MP_EINVAL, MP_EFBIG (length * size overflows), MP_ENOMEM.
 * mp_raw_array_create is the same with no lock. Context: any process, any
 * thread; the array is shared with the children forked after it. */
MP_EXTERN int mp_array_create(mp_array_t **out, mp_type_t type, size_t length,
                              const void *init, const mp_shared_opts_t *opts);
MP_EXTERN int mp_raw_array_create(mp_array_t **out, mp_type_t type,
                                  size_t length, const void *init);

/* mp_array_get/mp_array_set copy one element, mp_array_read/mp_array_write
 * count elements from start (a slice), under the lock. Return 0 or
 * MP_ERANGE (outside the array), MP_EINVAL. Context: any process that has
 * the array, any thread, with mp_value_get's exceptions (a held Lock, a raw
 * array). */
MP_EXTERN int mp_array_get(mp_array_t *arr, size_t index, void *out);
MP_EXTERN int mp_array_set(mp_array_t *arr, size_t index, const void *in);
MP_EXTERN int mp_array_read(mp_array_t *arr, size_t start, size_t count,
                            void *out);
MP_EXTERN int mp_array_write(mp_array_t *arr, size_t start, size_t count,
                             const void *in);

/* The shared storage, its length in elements, type, and lock (NULL if raw).
 * Context: any process that has the array, any thread. */
MP_EXTERN void *mp_array_ptr(mp_array_t *arr);
MP_EXTERN size_t mp_array_length(const mp_array_t *arr);
MP_EXTERN mp_type_t mp_array_type(const mp_array_t *arr);
MP_EXTERN mp_lock_t *mp_array_get_lock(mp_array_t *arr);

/* Same ownership rule as mp_value_destroy. NULL is ignored. Context: any
 * process that has the array. */
MP_EXTERN void mp_array_destroy(mp_array_t *arr);

/* mp_context_array is mp_array_create in context ctx (NULL: the default),
 * with the token calls as for a value. Python: ctx.Array(type, init,
 * lock). Context: any process, any thread (the token: any process that has
 * the array). */
MP_EXTERN int mp_context_array(const mp_context_t *ctx, mp_array_t **out,
                               mp_type_t type, size_t length, const void *init,
                               const mp_shared_opts_t *opts);
MP_EXTERN int mp_array_token(const mp_array_t *arr, char *buf, size_t buflen);
MP_EXTERN int mp_array_attach(mp_array_t **out, const char *token);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_VALUES_H */
