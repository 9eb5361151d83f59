/* SPDX-License-Identifier: MIT */
/* jobs.c - running mpcopy's tasks on the process pool: the jobs of a
 * phase (a file up to RANGE_BYTES is one task, a bigger one a task per
 * range), a bounded window of them in flight, the retry of a task whose
 * worker died (up to MAX_ATTEMPTS), the status line, and the signals that
 * interrupt a run: SIGINT, SIGTERM and SIGHUP only set g_signal; the
 * phase loop then terminates the pool (its workers are killed), waits for
 * the jobs in flight, and report_interrupted says on stderr what was
 * interrupted, which copies are left partial and how to finish. */
#include "mpcopy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t g_signal;

/* One task in flight, its tries and its outcome. */
struct job {
    struct run *run;
    size_t entry;
    uint32_t kind;
    uint64_t offset, length;
    int attempts;
    mp_result_t *res;
    int err;   /* 0, or the code mp_result_get would return */
    char *msg; /* err's message (malloc) */
    struct task_out out;
    struct job *next; /* in run->finished or in a retry list */
};

/*===== Signals =============================================================*/

/* The handler: records the first signal; the phase loops look at it. */
static void
on_signal(int sig)
{
    if (g_signal == 0) {
        g_signal = sig;
    }
}

/* catch_signals makes SIGINT, SIGTERM and SIGHUP interrupt the run
 * cleanly instead of killing mpcopy with its workers mid-write. */
void
catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* report_interrupted tells on stderr what a signal interrupted: the
 * phase, the files done, the copies left partial (up to 10 named) and
 * the command that finishes the copy. */
void
report_interrupted(struct run *r)
{
    status_clear();
    const char *name = g_signal == SIGINT    ? "SIGINT"
                       : g_signal == SIGTERM ? "SIGTERM"
                       : g_signal == SIGHUP  ? "SIGHUP"
                                             : "a signal";
    note("interrupted by %s during the %s", name, r->phase);
    bool copying = strcmp(r->phase, "copy") == 0;
    size_t partial = 0, untouched = 0;
    for (size_t i = 0; copying && i < r->nentries; i++) {
        const struct entry *e = &r->entries[i];
        if (!S_ISREG(e->st.st_mode) || e->is_link || e->whole || e->failed) {
            continue;
        }
        bool in_copy = e->started || (uint64_t)e->st.st_size > RANGE_BYTES;
        if (in_copy && e->parts_left > 0) {
            if (partial++ < 10) {
                if (r->single) {
                    note("left partial: %s", r->copy);
                } else {
                    note("left partial: %s/%s", r->copy, e->rel);
                }
            }
        } else if (!e->started) {
            untouched++;
        }
    }
    if (partial > 10) {
        note("... and %zu more partial files", partial - 10);
    }
    if (!copying && strcmp(r->phase, "verify") != 0) {
        note("nothing copied yet");
    } else if (!copying) {
        note("the copy's data is complete; %llu files verified",
             (unsigned long long)r->files_done);
    } else {
        note("%llu files copied whole, %zu not yet copied; directories "
             "keep mode 0700 until the copy completes",
             (unsigned long long)(r->files_done + r->skipped_files), untouched);
    }
    note("to finish, run: mpcopy --resume%s %s %s",
         r->verify ? " --verify" : "", r->src_arg, r->copy);
}

/*===== The pool's callbacks (its handler thread) ===========================*/

/* job_finished hands the job to the main thread. */
static void
job_finished(struct job *j)
{
    struct run *r = j->run;
    pthread_mutex_lock(&r->mu);
    j->next = r->finished;
    r->finished = j;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int
on_task_success(const void *data, size_t len, void *arg)
{
    struct job *j = arg;
    j->err = 0;
    memset(&j->out, 0, sizeof j->out);
    memcpy(&j->out, data, len < sizeof j->out ? len : sizeof j->out);
    job_finished(j);
    return 0;
}

static int
on_task_error(int err, const char *msg, void *arg)
{
    struct job *j = arg;
    j->err = err;
    free(j->msg);
    j->msg = strdup(msg != NULL ? msg : mp_strerror(err));
    job_finished(j);
    return 0;
}

/*===== Running a phase =====================================================*/

/* submit_job queues job j (one more attempt). Returns 0 or the pool's
 * error. */
static int
submit_job(struct run *r, struct job *j)
{
    struct entry *e = &r->entries[j->entry];
    size_t rel_len = strlen(e->rel);
    struct task_in t = {
        .kind = j->kind,
        .rel_len = (uint32_t)rel_len,
        .offset = j->offset,
        .length = j->length,
        .meta = entry_meta(e),
    };
    char *in = malloc(sizeof t + rel_len + 1);
    if (in == NULL) {
        return MP_ENOMEM;
    }
    memcpy(in, &t, sizeof t);
    memcpy(in + sizeof t, e->rel, rel_len + 1);
    mp_pool_callbacks_t cb = {on_task_success, on_task_error, j};
    j->attempts++;
    e->started = true;
    int rc = mp_pool_apply_async_cb(r->pool, run_task, in,
                                    sizeof t + rel_len + 1, &cb, &j->res);
    free(in);
    return rc;
}

/* A phase's outcome handler: called in the main thread for every job
 * that finished for good (succeeded, or failed and reported). */
typedef void (*job_done_fn)(struct run *r, struct job *j);

/* take_finished waits up to 100 ms (the status line's tick) for
 * finished jobs and returns their list. */
static struct job *
take_finished(struct run *r, size_t in_flight)
{
    pthread_mutex_lock(&r->mu);
    if (r->finished == NULL && in_flight > 0) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 100000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
    }
    struct job *list = r->finished;
    r->finished = NULL;
    pthread_mutex_unlock(&r->mu);
    return list;
}

/* run_jobs runs the n jobs on the pool, at most TASKS_PER_WORKER per
 * worker queued at a time, retrying those whose worker died, and draws
 * the status line (label; items: files, whose last job finished). done
 * gets each job once it finished for good. On a signal it terminates the
 * pool and waits for the jobs in flight (their files stay partial).
 * Returns 0, or -1 when the pool failed (reported) or a signal came. */
static int
run_jobs(struct run *r, struct job *jobs, size_t n, const char *label,
         job_done_fn done)
{
    status_begin(label, false, r->phase_files, r->phase_bytes);
    size_t window = (size_t)r->jobs * TASKS_PER_WORKER;
    size_t next = 0, in_flight = 0;
    uint64_t bytes_done = 0;
    struct job *retry = NULL;
    int status = 0;
    bool stopped = false;
    r->files_done = 0;
    /* After a pool failure or a signal nothing more is submitted, but the
     * jobs in flight are still waited for: their callbacks point into
     * jobs. */
    while (in_flight > 0 || (status == 0 && (next < n || retry != NULL))) {
        if (g_signal != 0 && !stopped) {
            stopped = true;
            status = -1;
            mp_pool_terminate(r->pool);
        }
        while (status == 0 && in_flight < window &&
               (retry != NULL || next < n)) {
            struct job *j = retry != NULL ? retry : &jobs[next++];
            if (j == retry) {
                retry = retry->next;
            }
            int rc = submit_job(r, j);
            if (rc != 0) {
                note("the pool failed: %s", mp_strerror(rc));
                status = -1;
                if (j->attempts > 1) { /* a retry: its file is lost */
                    report(r, &r->entries[j->entry], "not copied");
                }
            } else {
                in_flight++;
            }
        }
        struct job *list = take_finished(r, in_flight);
        while (list != NULL) {
            struct job *j = list;
            list = j->next;
            mp_result_destroy(j->res);
            j->res = NULL;
            in_flight--;
            struct entry *e = &r->entries[j->entry];
            if (g_signal != 0 && j->err != 0) {
                /* Cut short by the signal (a Ctrl-C reaches the workers
                 * too, or the pool was terminated): left partial. */
                continue;
            }
            if (j->err == MP_EWORKER && j->attempts < MAX_ATTEMPTS &&
                status == 0 && g_signal == 0) {
                note("%s/%s: %s; retrying (attempt %d of %d)", r->src_arg,
                     e->rel, j->msg, j->attempts + 1, MAX_ATTEMPTS);
                j->next = retry;
                retry = j;
                continue;
            }
            if (j->err != 0) {
                report(r, e, j->msg);
            } else {
                bytes_done += j->out.bytes;
                r->ways |= j->out.ways;
            }
            done(r, j);
            if (--e->parts_left == 0) {
                r->files_done++;
            }
        }
        status_update(r->files_done, bytes_done);
    }
    status_end(status == 0);
    return status;
}

/* make_jobs builds the jobs of a phase: one per regular file up to
 * RANGE_BYTES (kind whole), else one per range (kind part); each file's
 * parts_left counts its jobs. Second names of a file (hard links) get
 * none, nor, in the copy phase, files found whole by --resume. Stores the
 * count in *n. Returns the array (free with free_jobs) or NULL (out of
 * memory). */
static struct job *
make_jobs(struct run *r, uint32_t whole, uint32_t part, size_t *n)
{
    bool copying = whole == TASK_COPY_FILE;
    size_t count = 0;
    *n = 0;
    for (size_t i = 0; i < r->nentries; i++) {
        const struct entry *e = &r->entries[i];
        if (S_ISREG(e->st.st_mode) && !e->failed && !e->is_link &&
            !(copying && e->whole)) {
            uint64_t size = (uint64_t)e->st.st_size;
            count +=
                size > RANGE_BYTES ? (size + RANGE_BYTES - 1) / RANGE_BYTES : 1;
        }
    }
    struct job *jobs = calloc(count ? count : 1, sizeof *jobs);
    if (jobs == NULL) {
        return NULL;
    }
    size_t k = 0;
    r->phase_files = 0;
    r->phase_bytes = 0;
    for (size_t i = 0; i < r->nentries; i++) {
        struct entry *e = &r->entries[i];
        if (!S_ISREG(e->st.st_mode) || e->failed || e->is_link ||
            (copying && e->whole)) {
            continue;
        }
        uint64_t size = (uint64_t)e->st.st_size;
        e->parts_left = 0;
        e->started = false;
        r->phase_files++;
        r->phase_bytes += size;
        if (size <= RANGE_BYTES) {
            /* A whole-file verify reads to the end, whatever the size. */
            jobs[k++] = (struct job){
                .run = r, .entry = i, .kind = whole, .length = UINT64_MAX};
            e->parts_left = 1;
            continue;
        }
        for (uint64_t off = 0; off < size; off += RANGE_BYTES) {
            uint64_t len = size - off < RANGE_BYTES ? size - off : RANGE_BYTES;
            jobs[k++] = (struct job){.run = r,
                                     .entry = i,
                                     .kind = part,
                                     .offset = off,
                                     .length = len};
            e->parts_left++;
        }
    }
    *n = count;
    return jobs;
}

static void
free_jobs(struct job *jobs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].msg);
    }
    free(jobs);
}

/* Copy phase: a split file gets its metadata when its last range is in. */
static void
copy_job_done(struct run *r, struct job *j)
{
    struct entry *e = &r->entries[j->entry];
    if (j->kind == TASK_COPY_RANGE && e->parts_left == 1 && !e->failed) {
        set_filled_meta(r, e);
    }
}

/* Verify phase: a mismatch is reported once per file. */
static void
verify_job_done(struct run *r, struct job *j)
{
    struct entry *e = &r->entries[j->entry];
    if (j->err == 0 && j->out.mismatch && !e->failed) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "the copy differs (checksums %016llx, "
                 "copy %016llx)",
                 (unsigned long long)j->out.src_sum,
                 (unsigned long long)j->out.dst_sum);
        report(r, e, msg);
    }
}

/* run_phase makes the jobs of a phase (see make_jobs) and runs them
 * (see run_jobs). Returns 0 or -1 (reported). */
static int
run_phase(struct run *r, uint32_t whole, uint32_t part, const char *label,
          job_done_fn done)
{
    size_t n;
    struct job *jobs = make_jobs(r, whole, part, &n);
    if (jobs == NULL) {
        note("out of memory");
        return -1;
    }
    r->phase = label;
    int status = run_jobs(r, jobs, n, label, done);
    free_jobs(jobs, n);
    return status;
}

/* copy_and_verify runs the copy phase and, with --verify, the verify
 * phase on a pool of r->jobs workers, then stops the pool. Returns 0 or
 * -1 (the pool failed, reported; or a signal came). */
int
copy_and_verify(struct run *r)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    /* The workers get the roots as bytes (under every start method), the
     * fds left out: each worker opens its own. */
    struct roots init = g_roots;
    init.src_fd = init.dst_fd = -1;
    mp_pool_opts_t opts = MP_POOL_OPTS_INIT;
    opts.processes = r->jobs;
    opts.initializer = worker_init;
    opts.initarg = &init;
    opts.initarg_size = sizeof init;
    int rc = mp_pool_create(&r->pool, &opts);
    int status = -1;
    if (rc != 0) {
        note("cannot start the workers: %s", mp_strerror(rc));
        goto out;
    }
    status =
        run_phase(r, TASK_COPY_FILE, TASK_COPY_RANGE, "copy", copy_job_done);
    if (status == 0 && r->verify) {
        status =
            run_phase(r, TASK_VERIFY, TASK_VERIFY, "verify", verify_job_done);
    }
    mp_pool_close(r->pool);
    mp_pool_join(r->pool, MP_WAIT_FOREVER);
    mp_pool_destroy(r->pool);
out:
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    return status;
}
