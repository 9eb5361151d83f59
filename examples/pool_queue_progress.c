/* SPDX-License-Identifier: MIT */
/* pool_queue_progress.c - pool workers report on a queue that was created
 * after the pool started: each task attaches it by name. The parent takes
 * the reports and shows the progress.
 *
 * The C twin of the copy_file program of seed 002 (002_5ac3e8d32ecfde20.txt)
 * and of seed 000's point that a plain Queue cannot reach pool workers:
 *
 *     queue = multiprocessing.Manager().Queue()
 *     pool = multiprocessing.Pool(3)
 *     for file_name in file_names:
 *         pool.apply_async(copy_file, args=(queue, file_name, ...))
 *     pool.close()
 *     while True:
 *         file_name = queue.get()
 *         ...
 *         print("\r%.2f...(%s)" % (copy_rate, file_name) + " "*50, end="")
 *         if copy_rate >= 100: break
 *
 * Python must use a Manager there: a Queue cannot be pickled into a task
 * ("Queue objects should only be shared between processes through
 * inheritance"), and the pool's workers were forked before it existed.
 * Here the task gets the queue's name, a short string, with its input and
 * calls mp_queue_attach. The "files" are made-up sizes: each task
 * "copies" one by summing its bytes, then puts its name on the queue. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NFILES 8

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

/* One task's input: the file and the queue to report on. */
struct copy_job {
    char file_name[32];
    size_t size;
    char queue_name[128];
};

/* The report a task puts on the queue. */
struct report {
    char file_name[32];
    size_t size;
    pid_t pid;
};

/* The seed's copy_file: "copies" the file, then says so on the queue. */
static int
copy_file(const void *in, size_t in_len, mp_pool_out_t *out)
{
    const struct copy_job *job = in;
    if (in_len != sizeof *job) {
        mp_pool_out_error(out, "bad job");
        return -1;
    }
    mp_queue_t *q;
    int rc = mp_queue_attach(&q, job->queue_name);
    if (rc != 0) {
        mp_pool_out_error(out, mp_strerror(rc));
        return -1;
    }
    unsigned long sum = 0;
    for (size_t i = 0; i < job->size; i++) {
        sum += i & 0xff;
    }
    struct report rep = {.size = job->size, .pid = getpid()};
    memcpy(rep.file_name, job->file_name, sizeof rep.file_name);
    rc = mp_queue_put(q, &rep, sizeof rep, MP_WAIT_FOREVER);
    mp_queue_destroy(q);
    if (rc == 0) {
        rc = mp_pool_out_write(out, &sum, sizeof sum);
    }
    return rc;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 3;
    check(mp_pool_create(&pool, &o), "Pool(3)");
    /* Only now the queue: the workers are already running. */
    mp_queue_t *queue;
    check(mp_queue_create(&queue, NULL), "Queue");
    printf("queue created after the pool's %d workers started\n",
           mp_pool_processes(pool));
    mp_result_t *res[NFILES];
    size_t total_bytes = 0;
    for (int i = 0; i < NFILES; i++) {
        struct copy_job job = {.size = 100000 * (size_t)(i + 1)};
        snprintf(job.file_name, sizeof job.file_name, "file%d.dat", i);
        snprintf(job.queue_name, sizeof job.queue_name, "%s",
                 mp_queue_name(queue));
        total_bytes += job.size;
        check(mp_pool_apply_async(pool, copy_file, &job, sizeof job, &res[i]),
              "apply_async");
    }
    check(mp_pool_close(pool), "close");

    /* The seed's loop: one report per file, a progress line for each. */
    mp_progress_t *bar;
    mp_progress_opts_t bo = MP_PROGRESS_OPTS_INIT;
    bo.stream = stdout;
    check(mp_progress_create(&bar, NFILES, "copied", &bo), "progress");
    size_t bytes = 0;
    for (int done = 1; done <= NFILES; done++) {
        struct report rep;
        check((int)mp_queue_get_into(queue, &rep, sizeof rep, MP_WAIT_FOREVER),
              "queue get");
        bytes += rep.size;
        check(mp_progress_update(bar, (uint64_t)done, bytes), "update");
    }
    check(mp_progress_finish(bar), "finish");
    mp_progress_destroy(bar);

    check(mp_pool_join(pool, MP_WAIT_FOREVER), "join");
    for (int i = 0; i < NFILES; i++) {
        check(mp_result_get(res[i], NULL, 0), "copy_file");
        mp_result_destroy(res[i]);
    }
    printf("all %d files reported, %zu of %zu bytes\n", NFILES, bytes,
           total_bytes);
    mp_pool_destroy(pool);
    mp_queue_destroy(queue);
    return 0;
}
