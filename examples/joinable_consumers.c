/* SPDX-License-Identifier: MIT */
/* joinable_consumers.c - one consumer process per CPU takes tasks from a
 * JoinableQueue, marks each done, and puts its answer on a results Queue;
 * a poison pill per consumer stops them, and the parent joins the task
 * queue before it prints the results.
 *
 * The C twin of seed 004 (004_f21c6b0cb0107111.txt), part
 * "1) Queue & JoinableQueue":
 *
 *     class Consumer(multiprocessing.Process):
 *         def run(self):
 *             proc_name = self.name
 *             while True:
 *                 next_task = self.task_queue.get()
 *                 if next_task is None:
 *                     # Poison pill means shutdown
 *                     print('%s: Exiting' % proc_name)
 *                     self.task_queue.task_done()
 *                     break
 *                 print('%s: %s' % (proc_name, next_task))
 *                 answer = next_task()   # sleeps 0.1 s, returns
 *                                        # '%s * %s = %s' % (a, b, a * b)
 *                 self.task_queue.task_done()
 *                 self.result_queue.put(answer)
 *
 *     tasks = multiprocessing.JoinableQueue()
 *     results = multiprocessing.Queue()
 *     num_consumers = multiprocessing.cpu_count()
 *     print('Creating %d consumers' % num_consumers)
 *     ... start them, put Task(i, i) for i in range(10),
 *     ... put None once per consumer
 *     tasks.join()
 *     while num_jobs:
 *         print('Result:', results.get())
 *         num_jobs -= 1
 *
 * A task travels as a struct of its two numbers, the poison pill (None) as
 * an empty message, and an answer as its text. The consumers are named
 * "Consumer-N" as Python names instances of a Process subclass. As in the
 * seed, tasks.join() may return before the last answer was put (task_done
 * comes first), so the parent reads the results with a blocking get. */
#include <multiproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NUM_JOBS 10

/* Task(a, b) on the wire. */
struct task {
    int a;
    int b;
};

/* The two queues. */
struct queues {
    mp_queue_t *tasks;
    mp_queue_t *results;
};
/* What every consumer gets: the two queues' names, as argument bytes
 * (which reach it under every start method); it attaches them. */
struct queue_names {
    char tasks[MP_TOKEN_MAX];
    char results[MP_TOKEN_MAX];
};

/* Stops the example with the library's message when a call failed;
 * otherwise returns rc. */
static long
check(long rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror((int)rc),
                mp_err_name((int)rc));
        exit(1);
    }
    return rc;
}

/* Sleeps ms milliseconds. */
static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Consumer.run(): handles tasks until it gets the poison pill. */
static int
consumer(void *arg)
{
    const struct queue_names *names = arg;
    struct queues q, *qs = &q;
    check(mp_queue_attach(&q.tasks, names->tasks), "attach tasks");
    check(mp_queue_attach(&q.results, names->results), "attach results");
    const char *proc_name = mp_process_name(mp_current_process());
    for (;;) {
        struct task t;
        ssize_t n =
            mp_queue_get_into(qs->tasks, &t, sizeof(t), MP_WAIT_FOREVER);
        check(n, "get task");
        if (n == 0) {
            /* Poison pill means shutdown */
            printf("%s: Exiting\n", proc_name);
            check(mp_queue_task_done(qs->tasks), "task_done");
            break;
        }
        printf("%s: %d * %d\n", proc_name, t.a, t.b);
        sleep_ms(100); /* pretend to take some time to do the work */
        char answer[64];
        int len = snprintf(answer, sizeof(answer), "%d * %d = %d", t.a, t.b,
                           t.a * t.b);
        check(mp_queue_task_done(qs->tasks), "task_done");
        check(mp_queue_put(qs->results, answer, (size_t)len, MP_WAIT_FOREVER),
              "put result");
    }
    mp_queue_destroy(q.results); /* only unmap: the results stay */
    mp_queue_destroy(q.tasks);
    return 0;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    /* Establish communication queues */
    struct queues qs;
    check(mp_joinable_queue_create(&qs.tasks, 0), "JoinableQueue");
    check(mp_queue_create(&qs.results, NULL), "Queue");
    struct queue_names names;
    snprintf(names.tasks, sizeof names.tasks, "%s", mp_queue_name(qs.tasks));
    snprintf(names.results, sizeof names.results, "%s",
             mp_queue_name(qs.results));

    /* Start consumers */
    int num_consumers = mp_cpu_count();
    printf("Creating %d consumers\n", num_consumers);
    mp_process_t **consumers =
        calloc((size_t)num_consumers, sizeof(*consumers));
    if (consumers == NULL) {
        fprintf(stderr, "ERROR: out of memory\n");
        return 1;
    }
    for (int i = 0; i < num_consumers; i++) {
        char name[32];
        snprintf(name, sizeof(name), "Consumer-%d", i + 1);
        mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
        opts.name = name;
        opts.arg_size = sizeof names; /* the child gets a copy */
        check(mp_process_create(&consumers[i], consumer, &names, &opts),
              "create");
        check(mp_process_start(consumers[i]), "start");
    }

    /* Enqueue jobs */
    for (int i = 0; i < NUM_JOBS; i++) {
        struct task t = {i, i};
        check(mp_queue_put(qs.tasks, &t, sizeof(t), MP_WAIT_FOREVER), "put");
    }
    /* Add a poison pill for each consumer */
    for (int i = 0; i < num_consumers; i++) {
        check(mp_queue_put(qs.tasks, NULL, 0, MP_WAIT_FOREVER), "put pill");
    }

    /* Wait for all of the tasks to finish */
    check(mp_queue_join(qs.tasks, MP_WAIT_FOREVER), "join tasks");
    printf("tasks.join() returned: every task is done\n");

    /* Start printing results */
    long sum = 0;
    for (int num_jobs = NUM_JOBS; num_jobs > 0; num_jobs--) {
        char result[64];
        ssize_t n = mp_queue_get_into(qs.results, result, sizeof(result) - 1,
                                      MP_WAIT_FOREVER);
        check(n, "get result");
        result[n] = '\0';
        printf("Result: %s\n", result);
        int a;
        int b;
        int product;
        if (sscanf(result, "%d * %d = %d", &a, &b, &product) == 3) {
            sum += product;
        }
    }

    int failed = 0;
    for (int i = 0; i < num_consumers; i++) {
        int code;
        check(mp_process_join(consumers[i], MP_WAIT_FOREVER), "join");
        check(mp_process_exitcode(consumers[i], &code), "exitcode");
        mp_process_destroy(consumers[i]);
        failed |= code != 0;
    }
    free(consumers);
    mp_queue_destroy(qs.results);
    mp_queue_destroy(qs.tasks);

    /* 0*0 + 1*1 + ... + 9*9 */
    printf("sum of the products: %ld (expected 285)\n", sum);
    if (sum != 285 || failed) {
        fprintf(stderr, "ERROR: wrong results or exit codes\n");
        return 1;
    }
    return 0;
}
