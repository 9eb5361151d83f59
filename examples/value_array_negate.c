/* SPDX-License-Identifier: MIT */
/* value_array_negate.c - a child writes a shared double and negates a shared
 * int array; the parent sees the changes.
 *
 * The C twin of seed 003 (003_ebf8edffc6108dde.txt), part "5、进程间内存共享:
 * Value,Array" (shared memory between processes):
 *
 *     def f(n, a):
 *         n.value = 3.1415927
 *         for i in range(len(a)):
 *             a[i] = -a[i]
 *
 *     if __name__ == '__main__':
 *         num = Value('d', 0.0)
 *         arr = Array('i', range(10))
 *         print(num.value)
 *         print(arr[:])
 *         p = Process(target=f, args=(num, arr))
 *         p.start()
 *         p.join()
 *         print(num.value)
 *         print(arr[:])
 *
 * prints 0.0, [0, 1, ..., 9], then 3.1415927, [0, -1, ..., -9]. (The
 * seed's Manager dict/list and Pool parts need managers and pools, which
 * are still to come.)
 *
 * The value and the array reach the child as tokens in its argument
 * bytes, which works under every start method (Python pickles them for a
 * spawn child): they are made in the spawn context, whose objects have
 * tokens, and a forked child opens a token as well. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEN 10

/* The shared objects the child gets: their tokens. */
struct f_args {
    char num[MP_TOKEN_MAX];
    char arr[MP_TOKEN_MAX];
};

/* Stops the example with the library's message when a call failed. */
static int
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror(rc),
                mp_err_name(rc));
        exit(1);
    }
    return rc;
}

/* Prints a double as Python's repr() does: the fewest digits that read back
 * as the same number, and ".0" on whole numbers. */
static void
print_py_float(double d)
{
    char buf[32];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) {
            break;
        }
    }
    printf("%s%s\n", buf, strpbrk(buf, ".einf") != NULL ? "" : ".0");
}

/* Prints the array as Python prints arr[:]. */
static void
print_array(mp_array_t *arr)
{
    int items[LEN];
    check(mp_array_read(arr, 0, LEN, items), "array read");
    printf("[");
    for (int i = 0; i < LEN; i++) {
        printf("%s%d", i > 0 ? ", " : "", items[i]);
    }
    printf("]\n");
}

/* The child: n.value = 3.1415927, a[i] = -a[i]. */
static int
f(void *arg)
{
    const struct f_args *a = arg;
    mp_value_t *num;
    mp_array_t *arr;
    check(mp_value_attach(&num, a->num), "value attach");
    check(mp_array_attach(&arr, a->arr), "array attach");
    double pi = 3.1415927;
    check(mp_value_set(num, &pi), "value set");
    for (size_t i = 0; i < mp_array_length(arr); i++) {
        int x;
        check(mp_array_get(arr, i, &x), "array get");
        x = -x;
        check(mp_array_set(arr, i, &x), "array set");
    }
    mp_array_destroy(arr);
    mp_value_destroy(num);
    return 0;
}

int
main(int argc, char **argv)
{
    /* A spawned child or the forkserver never returns from here. */
    mp_main(argc, argv);
    mp_context_t spawn_ctx;
    check(mp_get_context(MP_START_SPAWN, &spawn_ctx), "context");
    struct {
        mp_value_t *num;
        mp_array_t *arr;
    } shared;
    double zero = 0.0;
    int range[LEN];
    for (int i = 0; i < LEN; i++) {
        range[i] = i;
    }
    check(
        mp_context_value(&spawn_ctx, &shared.num, MP_TYPE_DOUBLE, &zero, NULL),
        "value create");
    check(mp_context_array(&spawn_ctx, &shared.arr, MP_TYPE_INT, LEN, range,
                           NULL),
          "array create");
    struct f_args args;
    check(mp_value_token(shared.num, args.num, sizeof args.num), "token");
    check(mp_array_token(shared.arr, args.arr, sizeof args.arr), "token");

    double d;
    check(mp_value_get(shared.num, &d), "value get");
    print_py_float(d);
    print_array(shared.arr);

    mp_process_t *p;
    int code;
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof args; /* the child gets a copy of the tokens */
    check(mp_process_create(&p, f, &args, &opts), "create");
    check(mp_process_start(p), "start");
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);

    check(mp_value_get(shared.num, &d), "value get");
    print_py_float(d);
    print_array(shared.arr);
    mp_array_destroy(shared.arr);
    mp_value_destroy(shared.num);
    return code == 0 ? 0 : 1;
}
