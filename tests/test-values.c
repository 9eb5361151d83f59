/* SPDX-License-Identifier: MIT */
/* test-values.c - shared values: Value, Array, RawValue, RawArray. Every
 * type round-trips, children see and change the same storage, the lock
 * choices (own RLock, caller's lock, none), locked increments across
 * processes, slices and their bounds, a holder killed with the lock, the
 * ownership rule of destroy, and bad input. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <signal.h>
#include <unistd.h>
#include <wchar.h>

/* One test value per type, in a buffer big enough for any of them. */
typedef union any {
    char c;
    wchar_t u;
    signed char b;
    unsigned char B;
    short h;
    unsigned short H;
    int i;
    unsigned int I;
    long l;
    unsigned long L;
    long long q;
    unsigned long long Q;
    float f;
    double d;
} any_t;

static const mp_type_t all_types[] = {
    MP_TYPE_CHAR,   MP_TYPE_WCHAR,  MP_TYPE_SCHAR, MP_TYPE_UCHAR, MP_TYPE_SHORT,
    MP_TYPE_USHORT, MP_TYPE_INT,    MP_TYPE_UINT,  MP_TYPE_LONG,  MP_TYPE_ULONG,
    MP_TYPE_LLONG,  MP_TYPE_ULLONG, MP_TYPE_FLOAT, MP_TYPE_DOUBLE};
#define NTYPES (sizeof all_types / sizeof all_types[0])

/* Fills *v with a distinctive value of type t, varied by k. */
static void
sample(any_t *v, mp_type_t t, int k)
{
    memset(v, 0, sizeof *v);
    switch (t) {
    case MP_TYPE_CHAR:
        v->c = (char)('a' + k);
        break;
    case MP_TYPE_WCHAR:
        v->u = (wchar_t)(0x263a + k);
        break;
    case MP_TYPE_SCHAR:
        v->b = (signed char)(-100 + k);
        break;
    case MP_TYPE_UCHAR:
        v->B = (unsigned char)(200 + k);
        break;
    case MP_TYPE_SHORT:
        v->h = (short)(-30000 + k);
        break;
    case MP_TYPE_USHORT:
        v->H = (unsigned short)(60000 + k);
        break;
    case MP_TYPE_INT:
        v->i = -2000000000 + k;
        break;
    case MP_TYPE_UINT:
        v->I = 4000000000u + (unsigned)k;
        break;
    case MP_TYPE_LONG:
        v->l = -1000000000L * 3 + k;
        break;
    case MP_TYPE_ULONG:
        v->L = 3000000000UL + (unsigned long)k;
        break;
    case MP_TYPE_LLONG:
        v->q = -(1LL << 62) + k;
        break;
    case MP_TYPE_ULLONG:
        v->Q = (1ULL << 63) + (unsigned long long)k;
        break;
    case MP_TYPE_FLOAT:
        v->f = 1.5f + (float)k;
        break;
    case MP_TYPE_DOUBLE:
        v->d = -2.25e300 + k;
        break;
    }
}

/* --- types and round trips ---------------------------------------------- */

TEST(value_type_sizes)
{
    ASSERT_EQ(mp_type_size(MP_TYPE_CHAR), 1);
    ASSERT_EQ(mp_type_size(MP_TYPE_WCHAR), sizeof(wchar_t));
    ASSERT_EQ(mp_type_size(MP_TYPE_SCHAR), 1);
    ASSERT_EQ(mp_type_size(MP_TYPE_UCHAR), 1);
    ASSERT_EQ(mp_type_size(MP_TYPE_SHORT), sizeof(short));
    ASSERT_EQ(mp_type_size(MP_TYPE_USHORT), sizeof(short));
    ASSERT_EQ(mp_type_size(MP_TYPE_INT), sizeof(int));
    ASSERT_EQ(mp_type_size(MP_TYPE_UINT), sizeof(int));
    ASSERT_EQ(mp_type_size(MP_TYPE_LONG), sizeof(long));
    ASSERT_EQ(mp_type_size(MP_TYPE_ULONG), sizeof(long));
    ASSERT_EQ(mp_type_size(MP_TYPE_LLONG), sizeof(long long));
    ASSERT_EQ(mp_type_size(MP_TYPE_ULLONG), sizeof(long long));
    ASSERT_EQ(mp_type_size(MP_TYPE_FLOAT), sizeof(float));
    ASSERT_EQ(mp_type_size(MP_TYPE_DOUBLE), sizeof(double));
    ASSERT_EQ(mp_type_size((mp_type_t)'z'), 0);
    ASSERT_EQ(mp_type_size((mp_type_t)0), 0);
    ASSERT_EQ(mp_type_size((mp_type_t)-1), 0);
}

TEST(value_all_types_round_trip)
{
    for (size_t k = 0; k < NTYPES; k++) {
        mp_type_t t = all_types[k];
        size_t size = mp_type_size(t);
        for (int raw = 0; raw < 2; raw++) {
            any_t init, got, next;
            sample(&init, t, 1);
            sample(&next, t, 2);
            mp_value_t *v = NULL;
            if (raw) {
                ASSERT_OK(mp_raw_value_create(&v, t, &init));
            } else {
                ASSERT_OK(mp_value_create(&v, t, &init, NULL));
            }
            ASSERT_EQ(mp_value_type(v), t);
            memset(&got, 0x5a, sizeof got);
            ASSERT_OK(mp_value_get(v, &got));
            ASSERT_MEM_EQ(&got, &init, size);
            ASSERT_OK(mp_value_set(v, &next));
            ASSERT_MEM_EQ(mp_value_ptr(v), &next, size);
            ASSERT_EQ((uintptr_t)mp_value_ptr(v) % size, 0); /* aligned */
            mp_value_destroy(v);
        }
        /* Without an initial value it is zero. */
        mp_value_t *z = NULL;
        any_t got;
        memset(&got, 0x5a, sizeof got);
        ASSERT_OK(mp_value_create(&z, t, NULL, NULL));
        ASSERT_OK(mp_value_get(z, &got));
        static const any_t zero;
        ASSERT_MEM_EQ(&got, &zero, size);
        mp_value_destroy(z);
    }
}

TEST(array_all_types_round_trip)
{
    enum { LEN = 5 };
    for (size_t k = 0; k < NTYPES; k++) {
        mp_type_t t = all_types[k];
        size_t size = mp_type_size(t);
        unsigned char init[LEN * sizeof(any_t)], out[LEN * sizeof(any_t)];
        for (int j = 0; j < LEN; j++) {
            any_t v;
            sample(&v, t, j);
            memcpy(init + (size_t)j * size, &v, size);
        }
        mp_array_t *a = NULL;
        ASSERT_OK(mp_array_create(&a, t, LEN, init, NULL));
        ASSERT_EQ(mp_array_length(a), LEN);
        ASSERT_EQ(mp_array_type(a), t);
        ASSERT_OK(mp_array_read(a, 0, LEN, out));
        ASSERT_MEM_EQ(out, init, LEN * size);
        for (int j = 0; j < LEN; j++) {
            any_t v, got;
            sample(&v, t, j + 10);
            ASSERT_OK(mp_array_set(a, (size_t)j, &v));
            ASSERT_OK(mp_array_get(a, (size_t)j, &got));
            ASSERT_MEM_EQ(&got, &v, size);
        }
        mp_array_destroy(a);
        ASSERT_OK(mp_raw_array_create(&a, t, LEN, NULL));
        ASSERT_OK(mp_array_read(a, 0, LEN, out));
        static const unsigned char zero[LEN * sizeof(any_t)];
        ASSERT_MEM_EQ(out, zero, LEN * size);
        mp_array_destroy(a);
    }
    /* A char array holds a string, as Python's Array('c', b"...") does. */
    mp_array_t *s = NULL;
    ASSERT_OK(mp_array_create(&s, MP_TYPE_CHAR, 6, "hello", NULL));
    ASSERT_STR_EQ((char *)mp_array_ptr(s), "hello");
    ASSERT_OK(mp_array_write(s, 0, 2, "HE"));
    ASSERT_STR_EQ((char *)mp_array_ptr(s), "HEllo");
    mp_array_destroy(s);
}

/* --- processes ---------------------------------------------------------- */

typedef struct negate_arg {
    mp_value_t *value;
    mp_array_t *array;
} negate_arg_t;

/* Child: negates the value and every array element, under their locks. */
static int
child_negates(void *arg)
{
    negate_arg_t *a = arg;
    int v;
    if (mp_value_get(a->value, &v) != 0 || v != 42) {
        return 1;
    }
    v = -v;
    if (mp_value_set(a->value, &v) != 0) {
        return 2;
    }
    double d[3];
    if (mp_array_read(a->array, 0, 3, d) != 0) {
        return 3;
    }
    for (int i = 0; i < 3; i++) {
        d[i] = -d[i];
    }
    if (mp_array_write(a->array, 0, 3, d) != 0) {
        return 4;
    }
    /* Destroying the inherited handles here frees nothing. */
    mp_value_destroy(a->value);
    mp_array_destroy(a->array);
    return 0;
}

TEST(value_negated_by_child)
{
    negate_arg_t a;
    int init = 42;
    double d[3] = {1.5, -2.0, 3.25};
    ASSERT_OK(mp_value_create(&a.value, MP_TYPE_INT, &init, NULL));
    ASSERT_OK(mp_array_create(&a.array, MP_TYPE_DOUBLE, 3, d, NULL));
    ASSERT_EQ(mpt_join(mpt_fork(child_negates, &a)), 0);
    int v = 0;
    ASSERT_OK(mp_value_get(a.value, &v));
    ASSERT_EQ(v, -42);
    double got[3];
    ASSERT_OK(mp_array_read(a.array, 0, 3, got));
    ASSERT(got[0] == -1.5 && got[1] == 2.0 && got[2] == -3.25);
    /* The child's destroy did not free the storage: new objects of the
     * same size get other blocks, and ours still work. */
    mp_value_t *other = NULL;
    ASSERT_OK(mp_value_create(&other, MP_TYPE_INT, NULL, NULL));
    ASSERT(mp_value_ptr(other) != mp_value_ptr(a.value));
    mp_value_destroy(other);
    ASSERT_OK(mp_lock_acquire(mp_value_get_lock(a.value), MP_NO_WAIT));
    ASSERT_OK(mp_lock_release(mp_value_get_lock(a.value)));
    mp_value_destroy(a.value);
    mp_array_destroy(a.array);
}

#define PROCS 3
#define INCREMENTS 2000

/* Child: INCREMENTS locked read-modify-writes through the pointer. */
static int
child_increments(void *arg)
{
    mp_value_t *v = arg;
    mp_lock_t *lock = mp_value_get_lock(v);
    long *p = mp_value_ptr(v);
    for (int i = 0; i < INCREMENTS; i++) {
        if (mp_lock_acquire(lock, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
        long x = *(volatile long *)p;
        *(volatile long *)p = x + 1;
        if (mp_lock_release(lock) != 0) {
            return 2;
        }
    }
    return 0;
}

TEST(value_locked_increments_across_processes)
{
    mp_value_t *v = NULL;
    ASSERT_OK(mp_value_create(&v, MP_TYPE_LONG, NULL, NULL));
    pid_t pids[PROCS];
    for (int i = 0; i < PROCS; i++) {
        pids[i] = mpt_fork(child_increments, v);
    }
    for (int i = 0; i < PROCS; i++) {
        ASSERT_EQ(mpt_join(pids[i]), 0);
    }
    long total = 0;
    ASSERT_OK(mp_value_get(v, &total));
    ASSERT_EQ(total, (long)PROCS * INCREMENTS);
    mp_value_destroy(v);
}

/* --- locks -------------------------------------------------------------- */

TEST(value_raw_kinds_have_no_lock)
{
    int one = 1;
    mp_value_t *v = NULL;
    mp_array_t *a = NULL;
    ASSERT_OK(mp_raw_value_create(&v, MP_TYPE_INT, &one));
    ASSERT_NULL(mp_value_get_lock(v));
    mp_value_destroy(v);
    ASSERT_OK(mp_raw_array_create(&a, MP_TYPE_INT, 4, NULL));
    ASSERT_NULL(mp_array_get_lock(a));
    mp_array_destroy(a);
    /* opts.raw is the same thing. */
    mp_shared_opts_t raw = MP_SHARED_OPTS_INIT;
    raw.raw = true;
    ASSERT_OK(mp_value_create(&v, MP_TYPE_INT, &one, &raw));
    ASSERT_NULL(mp_value_get_lock(v));
    ASSERT_OK(mp_value_get(v, &one));
    ASSERT_EQ(one, 1);
    mp_value_destroy(v);
    ASSERT_OK(mp_array_create(&a, MP_TYPE_INT, 4, NULL, &raw));
    ASSERT_NULL(mp_array_get_lock(a));
    mp_array_destroy(a);
    /* All-zero opts mean a new RLock, as NULL does. */
    mp_shared_opts_t dflt = MP_SHARED_OPTS_INIT;
    ASSERT_OK(mp_value_create(&v, MP_TYPE_INT, NULL, &dflt));
    mp_lock_t *l = mp_value_get_lock(v);
    ASSERT_NOT_NULL(l);
    ASSERT_OK(mp_lock_acquire(l, MP_NO_WAIT));
    ASSERT_OK(mp_lock_acquire(l, MP_NO_WAIT)); /* recursive */
    ASSERT_EQ(mp_lock_recursion(l), 2);
    /* get/set nest inside the caller's own hold of the RLock. */
    ASSERT_OK(mp_value_set(v, &one));
    ASSERT_OK(mp_lock_release(l));
    ASSERT_OK(mp_lock_release(l));
    mp_value_destroy(v);
}

TEST(value_caller_lock_shared_by_two)
{
    mp_lock_t *lock = NULL;
    ASSERT_OK(mp_lock_create(&lock));
    mp_shared_opts_t opts = MP_SHARED_OPTS_INIT;
    opts.lock = lock;
    mp_value_t *v = NULL;
    mp_array_t *a = NULL;
    ASSERT_OK(mp_value_create(&v, MP_TYPE_DOUBLE, NULL, &opts));
    ASSERT_OK(mp_array_create(&a, MP_TYPE_SHORT, 3, NULL, &opts));
    ASSERT(mp_value_get_lock(v) == lock);
    ASSERT(mp_array_get_lock(a) == lock);
    double d = 2.5;
    short s = 7;
    ASSERT_OK(mp_value_set(v, &d));
    ASSERT_OK(mp_array_set(a, 2, &s));
    ASSERT_EQ(mp_lock_locked(lock), 0); /* released after each call */
    /* Destroying the values leaves the caller's lock alone. */
    mp_value_destroy(v);
    mp_array_destroy(a);
    ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
    ASSERT_OK(mp_lock_release(lock));
    mp_lock_destroy(lock);
}

typedef struct holder_arg {
    mp_array_t *array;
    mpt_pipe_t ready;
} holder_arg_t;

/* Child: takes the array's lock, half-writes, says so, waits for death. */
static int
child_dies_holding(void *arg)
{
    holder_arg_t *a = arg;
    if (mp_lock_acquire(mp_array_get_lock(a->array), MP_WAIT_FOREVER) != 0) {
        return 1;
    }
    ((int *)mp_array_ptr(a->array))[0] = 99;
    mpt_signal(&a->ready, 1);
    for (;;) {
        pause();
    }
    return 0;
}

TEST(value_lock_holder_killed)
{
    holder_arg_t a;
    ASSERT_OK(mp_array_create(&a.array, MP_TYPE_INT, 2, NULL, NULL));
    mpt_pipe_open(&a.ready);
    pid_t pid = mpt_fork(child_dies_holding, &a);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    /* The element is whole; the read recovers the lock and marks it
     * consistent, so later acquirers see a plain lock. */
    int got[2] = {0, 0};
    ASSERT_OK(mp_array_read(a.array, 0, 2, got));
    ASSERT_EQ(got[0], 99);
    ASSERT_EQ(got[1], 0);
    mp_lock_t *lock = mp_array_get_lock(a.array);
    ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
    ASSERT_OK(mp_lock_release(lock));
    int one = 1;
    ASSERT_OK(mp_array_set(a.array, 1, &one));
    mp_array_destroy(a.array);
    mpt_pipe_close(&a.ready);
}

/* --- slices and bounds -------------------------------------------------- */

TEST(array_slices)
{
    int init[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    mp_array_t *a = NULL;
    ASSERT_OK(mp_array_create(&a, MP_TYPE_INT, 8, init, NULL));
    int part[3] = {0};
    ASSERT_OK(mp_array_read(a, 2, 3, part));
    ASSERT(part[0] == 2 && part[1] == 3 && part[2] == 4);
    int repl[3] = {-1, -2, -3};
    ASSERT_OK(mp_array_write(a, 5, 3, repl)); /* up to the very end */
    int all[8];
    ASSERT_OK(mp_array_read(a, 0, 8, all));
    ASSERT(all[4] == 4 && all[5] == -1 && all[6] == -2 && all[7] == -3);
    /* Empty slices are fine anywhere up to the end (a[8:8]). */
    ASSERT_OK(mp_array_read(a, 8, 0, part));
    ASSERT_OK(mp_array_write(a, 0, 0, repl));
    mp_array_destroy(a);
}

TEST(array_range_errors)
{
    mp_array_t *a = NULL;
    ASSERT_OK(mp_array_create(&a, MP_TYPE_UCHAR, 4, NULL, NULL));
    unsigned char buf[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    ASSERT_ERR(mp_array_get(a, 4, buf), MP_ERANGE);
    ASSERT_ERR(mp_array_set(a, 4, buf), MP_ERANGE);
    ASSERT_ERR(mp_array_get(a, SIZE_MAX, buf), MP_ERANGE);
    ASSERT_ERR(mp_array_read(a, 0, 5, buf), MP_ERANGE);
    ASSERT_ERR(mp_array_read(a, 3, 2, buf), MP_ERANGE);
    ASSERT_ERR(mp_array_read(a, 5, 0, buf), MP_ERANGE);
    ASSERT_ERR(mp_array_write(a, 1, SIZE_MAX, buf), MP_ERANGE);
    ASSERT_ERR(mp_array_write(a, SIZE_MAX, 2, buf), MP_ERANGE);
    /* Nothing was written by the failed calls. */
    ASSERT_OK(mp_array_read(a, 0, 4, buf));
    ASSERT(buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 0);
    ASSERT_EQ(mp_lock_locked(mp_array_get_lock(a)), 0);
    mp_array_destroy(a);
}

/* --- bad input ---------------------------------------------------------- */

TEST(value_bad_input)
{
    mp_value_t *v = (mp_value_t *)0x1;
    int x = 0;
    mp_lock_t *lock = NULL;
    ASSERT_OK(mp_lock_create(&lock));
    mp_shared_opts_t both = MP_SHARED_OPTS_INIT;
    both.lock = lock;
    both.raw = true;
    ASSERT_ERR(mp_value_create(NULL, MP_TYPE_INT, NULL, NULL), MP_EINVAL);
    ASSERT_ERR(mp_value_create(&v, (mp_type_t)'z', NULL, NULL), MP_EINVAL);
    ASSERT_ERR(mp_value_create(&v, MP_TYPE_INT, NULL, &both), MP_EINVAL);
    ASSERT_ERR(mp_raw_value_create(&v, (mp_type_t)'z', NULL), MP_EINVAL);
    ASSERT_ERR(mp_raw_value_create(NULL, MP_TYPE_INT, NULL), MP_EINVAL);
    ASSERT(v == (mp_value_t *)0x1); /* *out untouched on failure */
    mp_lock_destroy(lock);

    ASSERT_ERR(mp_value_get(NULL, &x), MP_EINVAL);
    ASSERT_ERR(mp_value_set(NULL, &x), MP_EINVAL);
    ASSERT_OK(mp_value_create(&v, MP_TYPE_INT, NULL, NULL));
    ASSERT_ERR(mp_value_get(v, NULL), MP_EINVAL);
    ASSERT_ERR(mp_value_set(v, NULL), MP_EINVAL);
    mp_value_destroy(v);

    ASSERT_NULL(mp_value_ptr(NULL));
    ASSERT_NULL(mp_value_get_lock(NULL));
    ASSERT_EQ(mp_value_type(NULL), 0);
    mp_value_destroy(NULL);
}

TEST(array_bad_input)
{
    mp_array_t *a = (mp_array_t *)0x1;
    mp_lock_t *lock = NULL;
    ASSERT_OK(mp_lock_create(&lock));
    mp_shared_opts_t both = MP_SHARED_OPTS_INIT;
    both.lock = lock;
    both.raw = true;
    ASSERT_ERR(mp_array_create(NULL, MP_TYPE_INT, 1, NULL, NULL), MP_EINVAL);
    ASSERT_ERR(mp_array_create(&a, (mp_type_t)'z', 1, NULL, NULL), MP_EINVAL);
    ASSERT_ERR(mp_array_create(&a, MP_TYPE_INT, 0, NULL, NULL), MP_EINVAL);
    ASSERT_ERR(mp_array_create(&a, MP_TYPE_INT, 1, NULL, &both), MP_EINVAL);
    ASSERT_ERR(mp_array_create(&a, MP_TYPE_INT, SIZE_MAX / 2, NULL, NULL),
               MP_EFBIG);
    ASSERT_ERR(mp_raw_array_create(&a, MP_TYPE_DOUBLE, SIZE_MAX, NULL),
               MP_EFBIG);
    ASSERT_ERR(mp_raw_array_create(&a, MP_TYPE_INT, 0, NULL), MP_EINVAL);
    /* Fits in size_t but in no memory. */
    ASSERT_ERR(mp_raw_array_create(&a, MP_TYPE_CHAR, SIZE_MAX - 16, NULL),
               MP_ENOMEM);
    ASSERT(a == (mp_array_t *)0x1);
    mp_lock_destroy(lock);

    int x = 0;
    ASSERT_ERR(mp_array_get(NULL, 0, &x), MP_EINVAL);
    ASSERT_ERR(mp_array_set(NULL, 0, &x), MP_EINVAL);
    ASSERT_ERR(mp_array_read(NULL, 0, 1, &x), MP_EINVAL);
    ASSERT_ERR(mp_array_write(NULL, 0, 1, &x), MP_EINVAL);
    ASSERT_OK(mp_array_create(&a, MP_TYPE_INT, 2, NULL, NULL));
    ASSERT_ERR(mp_array_get(a, 0, NULL), MP_EINVAL);
    ASSERT_ERR(mp_array_set(a, 0, NULL), MP_EINVAL);
    ASSERT_ERR(mp_array_read(a, 0, 1, NULL), MP_EINVAL);
    ASSERT_ERR(mp_array_write(a, 0, 1, NULL), MP_EINVAL);
    mp_array_destroy(a);

    ASSERT_NULL(mp_array_ptr(NULL));
    ASSERT_NULL(mp_array_get_lock(NULL));
    ASSERT_EQ(mp_array_length(NULL), 0);
    ASSERT_EQ(mp_array_type(NULL), 0);
    mp_array_destroy(NULL);
}
