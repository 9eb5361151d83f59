/* SPDX-License-Identifier: MIT */
/* value.c - shared values (Python's sharedctypes): Value, Array, RawValue
 * and RawArray.
 *
 * One implementation: a Value is an Array of length 1. The elements live in
 * the shared arena (mp__shobj_alloc), so every child forked after creation
 * sees the same storage; the handle (type, length, lock pointer) is
 * process-local and copied by fork. The lock is a new RLock by default, a
 * lock the caller gives (and keeps alive), or none for the Raw kinds. */
#include "../sync/sync_internal.h"

#include <string.h>
#include <wchar.h>

struct mp_array {
    mp__shobj_t obj; /* state: the elements */
    mp_lock_t *lock; /* NULL: raw */
    bool own_lock;   /* the lock was made here and dies with the array */
    mp_type_t type;
    size_t elsize; /* bytes of one element */
    size_t length; /* elements */
};

/* A Value is the one-element Array it wraps. */
struct mp_value {
    struct mp_array arr;
};

static int shared_init(struct mp_array *a, const mp_context_t *ctx, int kind,
                       mp_type_t type, size_t length, const void *init,
                       const mp_shared_opts_t *opts);
static int shared_token(const struct mp_array *a, int kind, char *buf,
                        size_t buflen);
static int shared_attach(struct mp_array **out, int kind, const char *token);
static int shared_copy(struct mp_array *a, size_t start, size_t count,
                       void *dst, const void *src);
static void shared_fini(struct mp_array *a);

static const mp_shared_opts_t raw_opts = {
    .size = sizeof(mp_shared_opts_t), .lock = NULL, .raw = true};

size_t
mp_type_size(mp_type_t type)
{
    switch (type) {
    case MP_TYPE_CHAR:
    case MP_TYPE_SCHAR:
    case MP_TYPE_UCHAR:
        return 1;
    case MP_TYPE_WCHAR:
        return sizeof(wchar_t);
    case MP_TYPE_SHORT:
    case MP_TYPE_USHORT:
        return sizeof(short);
    case MP_TYPE_INT:
    case MP_TYPE_UINT:
        return sizeof(int);
    case MP_TYPE_LONG:
    case MP_TYPE_ULONG:
        return sizeof(long);
    case MP_TYPE_LLONG:
    case MP_TYPE_ULLONG:
        return sizeof(long long);
    case MP_TYPE_FLOAT:
        return sizeof(float);
    case MP_TYPE_DOUBLE:
        return sizeof(double);
    }
    return 0;
}

/* ---- Value: thin wrappers over the one-element Array ------------------- */

int
mp_value_create(mp_value_t **out, mp_type_t type, const void *init,
                const mp_shared_opts_t *opts)
{
    return mp_context_value(NULL, out, type, init, opts);
}

int
mp_context_value(const mp_context_t *ctx, mp_value_t **out, mp_type_t type,
                 const void *init, const mp_shared_opts_t *opts)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    mp_value_t *val = mp__malloc(sizeof *val);
    if (val == NULL) {
        return MP_ENOMEM;
    }
    int err = shared_init(&val->arr, ctx, MP__KIND_VALUE, type, 1, init, opts);
    if (err != 0) {
        mp__free(val);
        return err;
    }
    *out = val;
    return 0;
}

int
mp_raw_value_create(mp_value_t **out, mp_type_t type, const void *init)
{
    return mp_value_create(out, type, init, &raw_opts);
}

int
mp_value_token(const mp_value_t *val, char *buf, size_t buflen)
{
    return val != NULL ? shared_token(&val->arr, MP__KIND_VALUE, buf, buflen)
                       : MP_EINVAL;
}

int
mp_value_attach(mp_value_t **out, const char *token)
{
    _Static_assert(sizeof(mp_value_t) == sizeof(struct mp_array),
                   "a Value is its Array");
    return shared_attach((struct mp_array **)out, MP__KIND_VALUE, token);
}

int
mp_value_get(mp_value_t *val, void *out)
{
    if (val == NULL || out == NULL) {
        return MP_EINVAL;
    }
    return shared_copy(&val->arr, 0, 1, out, NULL);
}

int
mp_value_set(mp_value_t *val, const void *in)
{
    if (val == NULL || in == NULL) {
        return MP_EINVAL;
    }
    return shared_copy(&val->arr, 0, 1, NULL, in);
}

void *
mp_value_ptr(mp_value_t *val)
{
    return val != NULL ? mp_array_ptr(&val->arr) : NULL;
}

mp_type_t
mp_value_type(const mp_value_t *val)
{
    return val != NULL ? val->arr.type : (mp_type_t)0;
}

mp_lock_t *
mp_value_get_lock(mp_value_t *val)
{
    return val != NULL ? val->arr.lock : NULL;
}

void
mp_value_destroy(mp_value_t *val)
{
    if (val != NULL) {
        shared_fini(&val->arr);
        mp__free(val);
    }
}

/* ---- Array ------------------------------------------------------------- */

int
mp_array_create(mp_array_t **out, mp_type_t type, size_t length,
                const void *init, const mp_shared_opts_t *opts)
{
    return mp_context_array(NULL, out, type, length, init, opts);
}

int
mp_context_array(const mp_context_t *ctx, mp_array_t **out, mp_type_t type,
                 size_t length, const void *init, const mp_shared_opts_t *opts)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    mp_array_t *arr = mp__malloc(sizeof *arr);
    if (arr == NULL) {
        return MP_ENOMEM;
    }
    int err = shared_init(arr, ctx, MP__KIND_ARRAY, type, length, init, opts);
    if (err != 0) {
        mp__free(arr);
        return err;
    }
    *out = arr;
    return 0;
}

int
mp_raw_array_create(mp_array_t **out, mp_type_t type, size_t length,
                    const void *init)
{
    return mp_array_create(out, type, length, init, &raw_opts);
}

int
mp_array_token(const mp_array_t *arr, char *buf, size_t buflen)
{
    return arr != NULL ? shared_token(arr, MP__KIND_ARRAY, buf, buflen)
                       : MP_EINVAL;
}

int
mp_array_attach(mp_array_t **out, const char *token)
{
    return shared_attach(out, MP__KIND_ARRAY, token);
}

int
mp_array_get(mp_array_t *arr, size_t index, void *out)
{
    if (arr == NULL || out == NULL) {
        return MP_EINVAL;
    }
    return shared_copy(arr, index, 1, out, NULL);
}

int
mp_array_set(mp_array_t *arr, size_t index, const void *in)
{
    if (arr == NULL || in == NULL) {
        return MP_EINVAL;
    }
    return shared_copy(arr, index, 1, NULL, in);
}

int
mp_array_read(mp_array_t *arr, size_t start, size_t count, void *out)
{
    if (arr == NULL || out == NULL) {
        return MP_EINVAL;
    }
    return shared_copy(arr, start, count, out, NULL);
}

int
mp_array_write(mp_array_t *arr, size_t start, size_t count, const void *in)
{
    if (arr == NULL || in == NULL) {
        return MP_EINVAL;
    }
    return shared_copy(arr, start, count, NULL, in);
}

void *
mp_array_ptr(mp_array_t *arr)
{
    return arr != NULL ? arr->obj.state : NULL;
}

size_t
mp_array_length(const mp_array_t *arr)
{
    return arr != NULL ? arr->length : 0;
}

mp_type_t
mp_array_type(const mp_array_t *arr)
{
    return arr != NULL ? arr->type : (mp_type_t)0;
}

mp_lock_t *
mp_array_get_lock(mp_array_t *arr)
{
    return arr != NULL ? arr->lock : NULL;
}

void
mp_array_destroy(mp_array_t *arr)
{
    if (arr != NULL) {
        shared_fini(arr);
        mp__free(arr);
    }
}

/* ---- the common core --------------------------------------------------- */

/* Writes the token of *a, an object of kind: its reference, its type,
 * its length and its lock ("0" for none, else "1" and the lock's
 * reference). Returns as mp_lock_token. */
static int
shared_token(const struct mp_array *a, int kind, char *buf, size_t buflen)
{
    size_t pos;
    int err = mp__shobj_token(a, kind, buf, buflen, &pos);
    if (err == 0) {
        err = mp__token_put_u64(buf, buflen, &pos, (uint64_t)a->type);
    }
    if (err == 0) {
        err = mp__token_put_u64(buf, buflen, &pos, a->length);
    }
    if (err == 0) {
        err = mp__token_put_u64(buf, buflen, &pos, a->lock != NULL);
    }
    if (err == 0 && a->lock != NULL) {
        err = mp__token_put_ref(buf, buflen, &pos, mp__lock_shobj(a->lock));
    }
    return err;
}

/* Opens a token of kind that shared_token wrote into a new handle *out,
 * whose lock (if any) is a handle of its own. Returns as mp_lock_attach. */
static int
shared_attach(struct mp_array **out, int kind, const char *token)
{
    const char *cur;
    struct mp_array *a;
    uint64_t type, length, locked;
    int err = mp__shobj_attach((void **)&a, sizeof *a, kind, 0, token, &cur);
    if (err != 0) {
        return err;
    }
    a->lock = NULL;
    err = mp__token_get_u64(&cur, &type);
    if (err == 0) {
        err = mp__token_get_u64(&cur, &length);
    }
    if (err == 0) {
        err = mp__token_get_u64(&cur, &locked);
    }
    size_t elsize =
        err == 0 && type <= 0x7f ? mp_type_size((mp_type_t)type) : 0;
    size_t bytes;
    if (err == 0 && (elsize == 0 || length == 0 || locked > 1 ||
                     !mp__size_mul(length, elsize, &bytes))) {
        err = MP_EINVAL;
    }
    if (err == 0 && bytes > mp__shobj_room(&a->obj)) {
        err = MP_ECLOSED; /* not the object the token was made for */
    }
    if (err == 0 && locked) {
        err = mp__lock_attach_ref(&cur, &a->lock);
    }
    if (err == 0) {
        err = mp__token_end(cur);
    }
    if (err != 0) {
        mp_lock_destroy(a->lock);
        mp__shobj_release(&a->obj); /* the handle's, not the object */
        mp__free(a);
        return err;
    }
    a->type = (mp_type_t)type;
    a->elsize = elsize;
    a->length = (size_t)length;
    a->own_lock = a->lock != NULL; /* the handle, never the state */
    *out = a;
    return 0;
}

/* Fills in *a, an object of kind in context ctx (NULL: the default):
 * checks the arguments, allocates and initialises the shared elements and
 * picks the lock (a new one of the same context). On failure nothing is
 * left allocated. Returns 0, MP_EINVAL, MP_EFBIG or MP_ENOMEM. */
static int
shared_init(struct mp_array *a, const mp_context_t *ctx, int kind,
            mp_type_t type, size_t length, const void *init,
            const mp_shared_opts_t *opts)
{
    size_t elsize = mp_type_size(type);
    if (elsize == 0 || length == 0 || MP__OPTS_BAD(opts) ||
        (opts != NULL && opts->lock != NULL && opts->raw)) {
        return MP_EINVAL;
    }
    size_t bytes;
    if (!mp__size_mul(length, elsize, &bytes)) {
        return MP_EFBIG;
    }
    a->type = type;
    a->elsize = elsize;
    a->length = length;
    a->lock = NULL;
    a->own_lock = false;
    if (opts != NULL && opts->lock != NULL) {
        a->lock = opts->lock;
    } else if (opts == NULL || !opts->raw) {
        int err = mp_context_rlock(ctx, &a->lock);
        if (err != 0) {
            return err;
        }
        a->own_lock = true;
    }
    int err = mp__shobj_alloc(&a->obj, kind, ctx, bytes);
    if (err != 0) {
        if (a->own_lock) {
            mp_lock_destroy(a->lock);
        }
        return err;
    }
    if (init != NULL) {
        memcpy(a->obj.state, init, bytes); /* else zero-filled */
    }
    return 0;
}

/* Copies count elements from index start out of the array into dst, or
 * from src into it (exactly one of dst and src is non-NULL), under the
 * array's lock if it has one. Returns 0, MP_ERANGE, or an error of
 * mp_lock_acquire. */
static int
shared_copy(struct mp_array *a, size_t start, size_t count, void *dst,
            const void *src)
{
    if (start > a->length || count > a->length - start) {
        return MP_ERANGE;
    }
    if (count == 0) {
        return 0; /* an empty slice, as a[len:len] in Python */
    }
    char *elems = (char *)a->obj.state + start * a->elsize;
    size_t bytes = count * a->elsize;
    if (a->lock == NULL) {
        memcpy(dst != NULL ? dst : elems, dst != NULL ? elems : src, bytes);
        return 0;
    }
    int err = mp_lock_acquire(a->lock, MP_WAIT_FOREVER);
    if (err == MP_EOWNERDEAD) {
        /* The holder died with the lock. The elements carry no invariant
         * of ours: every get/set/read/write copies whole elements or whole
         * slices, so the worst a death can leave is a slice write cut
         * short, some elements updated and the rest not, which a reader
         * takes as it would any concurrent update. Nothing to repair, so
         * mark the lock usable again and go on. */
        (void)mp_lock_consistent(a->lock);
        err = 0;
    }
    if (err != 0) {
        return err;
    }
    memcpy(dst != NULL ? dst : elems, dst != NULL ? elems : src, bytes);
    (void)mp_lock_release(a->lock);
    return 0;
}

/* Releases what *a holds: the shared elements (freed only in the creating
 * process) and the lock, if it was made for this array. */
static void
shared_fini(struct mp_array *a)
{
    mp__shobj_release(&a->obj);
    if (a->own_lock) {
        mp_lock_destroy(a->lock);
    }
    a->lock = NULL;
}
