/* SPDX-License-Identifier: MIT */
/* no_shared_memory.c - threads share a list; processes each get a copy.
 *
 * The C twin of seed 003 (003_ebf8edffc6108dde.txt), part "3、线程共享内存"
 * (threads share memory) and "进程不共享内存" (processes do not):
 *
 *     def run(info_list, n):
 *         info_list.append(n)
 *         print(info_list)
 *
 *     info = []
 *     for i in range(10):
 *         p = threading.Thread(target=run, args=[info, i])   # then:
 *         p = Process(target=run, args=[info, i])
 *         p.start()
 *
 * With threads the list grows to [0, 1, ..., 9]; with processes every
 * child appends to its own copy and prints a list of one item, in whatever
 * order the children run.
 *
 * The seed then shares data the way that works, through a Queue:
 *
 *     def f(q, n):
 *         q.put([n, 'hello'])
 *
 *     if __name__ == '__main__':
 *         q = Queue()
 *         for i in range(10):
 *             p = Process(target=f, args=(q, i))
 *             p.start()
 *         while 1:
 *             print(q.get())
 *
 * Here the parent stops after the ten messages instead of waiting forever.
 * A child's arguments are bytes (opts.arg_size), so every start method
 * gives it its own copy; the queue reaches it by name. */
#include <multiproc.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define RUNS 10

/* A list of ints, as Python's list in the seed. */
struct list {
    int items[RUNS];
    int len;
};

/* One run's arguments: the list and the number to append. */
struct run_args {
    struct list *list;
    int n;
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

/* Appends n and prints the list the way Python does. Returns the new
 * length. */
static int
run(struct run_args *a)
{
    struct list *l = a->list;
    l->items[l->len++] = a->n;
    printf("[");
    for (int i = 0; i < l->len; i++) {
        printf("%s%d", i > 0 ? ", " : "", l->items[i]);
    }
    printf("]\n");
    return l->len;
}

/* The thread body. */
static void *
run_thread(void *arg)
{
    run(arg);
    return NULL;
}

/* One queue child's arguments: the queue's name and its number. */
struct put_args {
    char q[MP_TOKEN_MAX];
    int n;
};

/* The queue child: puts "[n, 'hello']", as the seed's f(q, n). */
static int
put_item(void *arg)
{
    const struct put_args *a = arg;
    mp_queue_t *q;
    check(mp_queue_attach(&q, a->q), "attach");
    char msg[32];
    int len = snprintf(msg, sizeof msg, "[%d, 'hello']", a->n);
    check(mp_queue_put(q, msg, (size_t)len, MP_WAIT_FOREVER), "put");
    mp_queue_destroy(q); /* only unmaps: the message stays */
    return 0;
}

/* Starts RUNS children that each put one message on a queue, and prints
 * what arrives. Returns how many messages arrived. */
static int
share_through_queue(void)
{
    mp_queue_t *q;
    check(mp_queue_create(&q, NULL), "queue create");
    struct put_args args[RUNS];
    mp_process_t *procs[RUNS];
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof args[0];
    for (int i = 0; i < RUNS; i++) {
        snprintf(args[i].q, sizeof args[i].q, "%s", mp_queue_name(q));
        args[i].n = i;
        check(mp_process_create(&procs[i], put_item, &args[i], &opts),
              "create");
        check(mp_process_start(procs[i]), "start");
    }
    int got = 0;
    for (int i = 0; i < RUNS; i++) {
        char buf[32];
        ssize_t n = check(
            (int)mp_queue_get_into(q, buf, sizeof buf - 1, MP_WAIT_FOREVER),
            "get");
        buf[n] = '\0';
        printf("%s\n", buf);
        got++;
    }
    for (int i = 0; i < RUNS; i++) {
        check(mp_process_join(procs[i], MP_WAIT_FOREVER), "join");
        mp_process_destroy(procs[i]);
    }
    mp_queue_destroy(q);
    return got;
}

/* One process's arguments, copied to it as bytes: the list (its own
 * copy) and the number to append. */
struct run_proc_args {
    struct list list;
    int n;
};

/* The process target: its exit code is the length of its list. */
static int
run_process(void *arg)
{
    struct run_proc_args *a = arg;
    struct run_args r = {&a->list, a->n};
    return run(&r);
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in the order they are made */
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    struct list thread_info = {{0}, 0};
    struct run_args targs[RUNS];
    printf("threads share one list:\n");
    for (int i = 0; i < RUNS; i++) {
        /* One at a time, so that the list grows in order as in the seed's
         * output (there the threads are short enough to run in turn). */
        pthread_t thread;
        targs[i] = (struct run_args){&thread_info, i};
        if (pthread_create(&thread, NULL, run_thread, &targs[i]) != 0) {
            fprintf(stderr, "ERROR: pthread_create\n");
            return 1;
        }
        pthread_join(thread, NULL);
    }

    struct list proc_info = {{0}, 0};
    struct run_proc_args pargs[RUNS];
    mp_process_t *procs[RUNS];
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof pargs[0]; /* each child gets a copy */
    printf("processes each get a copy:\n");
    for (int i = 0; i < RUNS; i++) {
        pargs[i] = (struct run_proc_args){proc_info, i};
        check(mp_process_create(&procs[i], run_process, &pargs[i], &opts),
              "create");
        check(mp_process_start(procs[i]), "start");
    }
    int own_copies = 0;
    for (int i = 0; i < RUNS; i++) {
        int code;
        check(mp_process_join(procs[i], MP_WAIT_FOREVER), "join");
        check(mp_process_exitcode(procs[i], &code), "exitcode");
        own_copies += code == 1;
        mp_process_destroy(procs[i]);
    }
    printf("threads: the list has %d items; processes: %d of %d saw only "
           "their own item; the parent's copy has %d\n",
           thread_info.len, own_copies, RUNS, proc_info.len);

    printf("a Queue carries data between processes:\n");
    int got = share_through_queue();
    printf("the parent got %d messages through the queue\n", got);
    return thread_info.len == RUNS && own_copies == RUNS && got == RUNS ? 0 : 1;
}
