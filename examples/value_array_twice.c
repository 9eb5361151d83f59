/* SPDX-License-Identifier: MIT */
/* value_array_twice.c - two processes, one after the other, add one to a
 * shared int and multiply a shared array by ten.
 *
 * The C twin of seed 004 (004_f21c6b0cb0107111.txt), part "3) Value + Array":
 *
 *     def f(n, a):
 *         n.value = n.value + 1
 *         for i in range(len(a)):
 *             a[i] = a[i] * 10
 *
 *     if __name__ == '__main__':
 *         num = Value('i', 1)
 *         arr = Array('i', range(10))
 *         p = Process(target=f, args=(num, arr)); p.start(); p.join()
 *         print(num.value)
 *         print(arr[:])
 *         p2 = Process(target=f, args=(num, arr)); p2.start(); p2.join()
 *         print(num.value)
 *         print(arr[:])
 *
 *     # the output is :
 *     # 2
 *     # [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
 *     # 3
 *     # [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]
 *
 * The child works on the shared storage itself (Python's get_obj()) while it
 * holds each object's lock, the safe way to read, modify and write. (The
 * seed's JoinableQueue and Pipe parts are joinable_consumers.c and
 * pipe_send_recv.c.)
 *
 * The value and the array reach the children as tokens in their argument
 * bytes, which works under every start method (Python pickles them for a
 * spawn child): they are made in the spawn context, whose objects have
 * tokens, and a forked child opens a token as well. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>

#define LEN 10

/* The shared objects: the handles here, their tokens for the children. */
struct shared {
    mp_value_t *num;
    mp_array_t *arr;
};
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

/* The child: n.value += 1, a[i] *= 10, each under its object's lock. */
static int
f(void *arg)
{
    const struct f_args *a = arg;
    mp_value_t *num;
    mp_array_t *arr;
    check(mp_value_attach(&num, a->num), "value attach");
    check(mp_array_attach(&arr, a->arr), "array attach");
    mp_lock_t *lock = mp_value_get_lock(num);
    check(mp_lock_acquire(lock, MP_WAIT_FOREVER), "value lock");
    *(int *)mp_value_ptr(num) += 1;
    check(mp_lock_release(lock), "value unlock");

    lock = mp_array_get_lock(arr);
    int *items = mp_array_ptr(arr);
    check(mp_lock_acquire(lock, MP_WAIT_FOREVER), "array lock");
    for (size_t i = 0; i < mp_array_length(arr); i++) {
        items[i] *= 10;
    }
    check(mp_lock_release(lock), "array unlock");
    mp_array_destroy(arr);
    mp_value_destroy(num);
    return 0;
}

/* Runs f in a new process, waits for it, then prints the value and the
 * array. Returns the child's exit code. */
static int
run_and_print(struct shared *shared)
{
    struct f_args args;
    check(mp_value_token(shared->num, args.num, sizeof args.num), "token");
    check(mp_array_token(shared->arr, args.arr, sizeof args.arr), "token");
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof args; /* the child gets a copy of the tokens */
    mp_process_t *p;
    int code;
    check(mp_process_create(&p, f, &args, &opts), "create");
    check(mp_process_start(p), "start");
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);

    int n;
    int items[LEN];
    check(mp_value_get(shared->num, &n), "value get");
    check(mp_array_read(shared->arr, 0, LEN, items), "array read");
    printf("%d\n[", n);
    for (int i = 0; i < LEN; i++) {
        printf("%s%d", i > 0 ? ", " : "", items[i]);
    }
    printf("]\n");
    return code;
}

int
main(int argc, char **argv)
{
    /* A spawned child or the forkserver never returns from here. */
    mp_main(argc, argv);
    mp_context_t spawn_ctx;
    check(mp_get_context(MP_START_SPAWN, &spawn_ctx), "context");
    struct shared shared;
    int one = 1;
    int range[LEN];
    for (int i = 0; i < LEN; i++) {
        range[i] = i;
    }
    check(mp_context_value(&spawn_ctx, &shared.num, MP_TYPE_INT, &one, NULL),
          "value create");
    check(mp_context_array(&spawn_ctx, &shared.arr, MP_TYPE_INT, LEN, range,
                           NULL),
          "array create");
    int code1 = run_and_print(&shared);
    int code2 = run_and_print(&shared);
    mp_array_destroy(shared.arr);
    mp_value_destroy(shared.num);
    return code1 == 0 && code2 == 0 ? 0 : 1;
}
