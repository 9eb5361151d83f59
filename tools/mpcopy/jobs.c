/* SPDX-License-Identifier: MIT */
/* jobs.c - running mpcopy's tasks on the process pool: the jobs of a
 * phase (a file up to RANGE_BYTES is one task, a bigger one a task per
 * range) as their source gives them (the copy's source is the scan, a
 * directory at a time, so that copying starts with the first directory
 * read), a bounded window of them in flight, the retry of a task whose
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

/* One task: a batch of whole files, or one range of a file; its tries
 * and its outcome. */
struct job {
    struct run *run;
    uint32_t kind;
    uint64_t offset, length; /* a range (whole files: 0, UINT64_MAX) */
    uint64_t bytes;          /* the sizes of its files */
    size_t nfiles;           /* 1 to BATCH_FILES */
    size_t entry[BATCH_FILES];
    int attempts;
    mp_result_t *res;
    int err;              /* 0, or the code mp_result_get would return */
    char *msg;            /* err's message (malloc) */
    struct task_out *out; /* on success: a result per file (malloc) */
    size_t nout;          /* results in out */
    struct job *next;     /* in run->finished or in a job_list */
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
    if (copying && !r->scan_done) {
        note("the scan had not finished: what it had not reached is not "
             "counted below");
    }
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
    free(j->out);
    j->nout = len / sizeof *j->out;
    j->out = malloc(j->nout ? j->nout * sizeof *j->out : 1);
    if (j->out == NULL) {
        j->nout = 0;
        j->err = MP_ENOMEM;
        free(j->msg);
        j->msg = strdup("out of memory");
    } else {
        j->err = 0;
        memcpy(j->out, data, j->nout * sizeof *j->out);
    }
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

/* submit_job queues job j (one more attempt): a task record per file
 * (see struct task_in). Returns 0 or the pool's error. */
static int
submit_job(struct run *r, struct job *j)
{
    size_t len = 0;
    for (size_t k = 0; k < j->nfiles; k++) {
        len += sizeof(struct task_in) + strlen(r->entries[j->entry[k]].rel) + 1;
    }
    char *in = malloc(len);
    if (in == NULL) {
        return MP_ENOMEM;
    }
    char *p = in;
    for (size_t k = 0; k < j->nfiles; k++) {
        struct entry *e = &r->entries[j->entry[k]];
        size_t rel_len = strlen(e->rel);
        struct task_in t = {
            .kind = j->kind,
            .rel_len = (uint32_t)rel_len,
            .offset = j->offset,
            .length = j->length,
            .meta = entry_meta(e),
        };
        memcpy(p, &t, sizeof t);
        memcpy(p + sizeof t, e->rel, rel_len + 1);
        p += sizeof t + rel_len + 1;
        e->started = true;
    }
    mp_pool_callbacks_t cb = {on_task_success, on_task_error, j};
    j->attempts++;
    int rc = mp_pool_apply_async_cb(r->pool, run_task, in, len, &cb, &j->res);
    free(in);
    return rc;
}

/* Jobs not yet submitted, in the order they were made, and the batch
 * of whole files being filled (queued once full, or when nothing else
 * waits: see run_phase). */
struct job_list {
    struct job *head, *tail;
    struct job *filling;
};

static void
push_job(struct job_list *q, struct job *j)
{
    j->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
}

static struct job *
pop_job(struct job_list *q)
{
    struct job *j = q->head;
    if (j != NULL) {
        q->head = j->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
    }
    return j;
}

static void
free_job(struct job *j)
{
    free(j->msg);
    free(j->out);
    free(j);
}

/* queue_filling queues the batch being filled, if any. */
static void
queue_filling(struct job_list *q)
{
    if (q->filling != NULL) {
        push_job(q, q->filling);
        q->filling = NULL;
    }
}

/* A phase's source of jobs: appends the next ones to q (add_file_jobs
 * counts them in r->phase_files and phase_bytes). Returns 1 when more may
 * come, 0 when it has given all, -1 when it failed (reported). */
typedef int (*job_source_fn)(struct run *r, struct job_list *q);

/* A phase's outcome handler: called in the main thread for each file of
 * a job that finished for good, with the file's result, or NULL when it
 * failed (reported). */
typedef void (*job_done_fn)(struct run *r, const struct job *j, struct entry *e,
                            const struct task_out *out);

/* wants_job says whether entry e gets jobs in a phase: regular files,
 * not failed, not a second name of a file (hard links), nor, in the copy
 * phase, found whole by --resume. */
static bool
wants_job(const struct entry *e, bool copying)
{
    return S_ISREG(e->st.st_mode) && !e->failed && !e->is_link &&
           !(copying && e->whole);
}

/* new_job returns a job of r for entries[i], or NULL (out of memory). */
static struct job *
new_job(struct run *r, size_t i, uint32_t kind)
{
    struct job *j = calloc(1, sizeof *j);
    if (j != NULL) {
        j->run = r;
        j->kind = kind;
        j->nfiles = 1;
        j->entry[0] = i;
    }
    return j;
}

/* add_file_jobs adds the jobs of the regular file entries[i] to q: a file
 * up to RANGE_BYTES joins the batch being filled (of kind whole; a full
 * batch is queued and a new one begun), a bigger one gets a job of kind
 * part per range; its parts_left counts its jobs. Returns 0 or -1 (out of
 * memory). */
static int
add_file_jobs(struct run *r, size_t i, uint32_t whole, uint32_t part,
              struct job_list *q)
{
    struct entry *e = &r->entries[i];
    uint64_t size = (uint64_t)e->st.st_size;
    e->parts_left = 0;
    e->started = false;
    r->phase_files++;
    r->phase_bytes += size;
    if (size <= RANGE_BYTES) {
        struct job *b = q->filling;
        if (b != NULL &&
            (b->nfiles == BATCH_FILES || b->bytes + size > BATCH_BYTES)) {
            queue_filling(q);
            b = NULL;
        }
        if (b == NULL) {
            b = q->filling = new_job(r, i, whole);
            if (b == NULL) {
                return -1;
            }
            /* A whole-file task reads to the end, whatever the size. */
            b->length = UINT64_MAX;
        } else {
            b->entry[b->nfiles++] = i;
        }
        b->bytes += size;
        e->parts_left = 1;
        return 0;
    }
    for (uint64_t off = 0; off < size; off += RANGE_BYTES) {
        struct job *j = new_job(r, i, part);
        if (j == NULL) {
            return -1;
        }
        j->offset = off;
        j->length = size - off < RANGE_BYTES ? size - off : RANGE_BYTES;
        j->bytes = j->length;
        push_job(q, j);
        e->parts_left++;
    }
    return 0;
}

/* The copy phase's source: the scan's next directory (see scan_step):
 * its nodes made, its files queued. */
static int
copy_source(struct run *r, struct job_list *q)
{
    size_t from, to;
    int rc = scan_step(r, &from, &to);
    if (rc <= 0) {
        return rc;
    }
    make_nodes(r, from, to);
    for (size_t i = from; i < to; i++) {
        if (wants_job(&r->entries[i], true) &&
            add_file_jobs(r, i, TASK_COPY_FILE, TASK_COPY_RANGE, q) != 0) {
            note("out of memory");
            return -1;
        }
    }
    return 1;
}

/* The verify phase's source: every file copied, at once. */
static int
verify_source(struct run *r, struct job_list *q)
{
    for (size_t i = 0; i < r->nentries; i++) {
        if (wants_job(&r->entries[i], false) &&
            add_file_jobs(r, i, TASK_VERIFY, TASK_VERIFY, q) != 0) {
            note("out of memory");
            return -1;
        }
    }
    return 0;
}

/* take_finished returns the list of finished jobs; with wait, when
 * there is none yet, it first waits up to 100 ms (the status line's tick)
 * for one. */
static struct job *
take_finished(struct run *r, size_t in_flight, bool wait)
{
    pthread_mutex_lock(&r->mu);
    if (wait && r->finished == NULL && in_flight > 0) {
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

/* finish_job settles job j, finished for good: each of its files is
 * reported when it failed (the whole task, or that file), its bytes and
 * ways counted when it succeeded, handed to done, and counted done with
 * its last part. Frees j. */
static void
finish_job(struct run *r, struct job *j, job_done_fn done, uint64_t *bytes)
{
    for (size_t k = 0; k < j->nfiles; k++) {
        struct entry *e = &r->entries[j->entry[k]];
        const struct task_out *o = NULL;
        if (j->err != 0) {
            report(r, e, j->msg);
        } else if (k >= j->nout) {
            report(r, e, "the task gave no result for it");
        } else if (j->out[k].err != 0) {
            char msg[256];
            snprintf(msg, sizeof msg, "%.*s: %s", (int)sizeof j->out[k].what,
                     j->out[k].what, strerror(j->out[k].err));
            report(r, e, msg);
        } else {
            o = &j->out[k];
            *bytes += o->bytes;
            r->ways |= o->ways;
        }
        done(r, j, e, o);
        if (--e->parts_left == 0) {
            r->files_done++;
        }
    }
    free_job(j);
}

/* run_phase runs a phase (label): it asks source for jobs (the copy's
 * source walks the tree a directory at a time, so the workers copy while
 * the scan goes on) and runs them on the pool, at most TASKS_PER_WORKER
 * per worker queued at a time, retrying those whose worker died, drawing
 * the status line (items: files whose last job finished; totals those
 * found so far until the source is done). A batch of files goes out once
 * full, or as soon as nothing else waits (workers never wait for a batch
 * to fill). done gets each file of a job once it finished for good. On a
 * signal it terminates the pool and waits for the jobs in flight (their
 * files stay partial). Returns 0, or -1 when the source or the pool
 * failed (reported) or a signal came. */
static int
run_phase(struct run *r, job_source_fn source, const char *label,
          job_done_fn done)
{
    r->phase = label;
    r->phase_files = r->phase_bytes = r->files_done = 0;
    status_begin(label, true, 0, 0);
    size_t window = (size_t)r->jobs * TASKS_PER_WORKER;
    size_t in_flight = 0;
    uint64_t bytes_done = 0;
    struct job_list pending = {NULL, NULL, NULL}, retry = {NULL, NULL, NULL};
    int status = 0;
    bool more = true, stopped = false;
    /* After a failure or a signal nothing more is submitted, but the jobs
     * in flight are still waited for: their callbacks point at them. */
    while (in_flight > 0 ||
           (status == 0 && (more || pending.head != NULL ||
                            pending.filling != NULL || retry.head != NULL))) {
        if (g_signal != 0 && !stopped) {
            stopped = true;
            status = -1;
            mp_pool_terminate(r->pool);
        }
        if (status == 0 && more) {
            int rc = source(r, &pending);
            status = rc < 0 ? -1 : 0;
            more = rc > 0;
            status_totals(more, r->phase_files, r->phase_bytes);
        }
        if (pending.head == NULL && retry.head == NULL && in_flight < window) {
            queue_filling(&pending);
        }
        while (status == 0 && in_flight < window &&
               (retry.head != NULL || pending.head != NULL)) {
            struct job *j =
                retry.head != NULL ? pop_job(&retry) : pop_job(&pending);
            int rc = submit_job(r, j);
            if (rc != 0) {
                note("the pool failed: %s", mp_strerror(rc));
                status = -1;
                for (size_t k = 0; j->attempts > 1 && k < j->nfiles; k++) {
                    /* a retry: its files are lost */
                    report(r, &r->entries[j->entry[k]], "not copied");
                }
                push_job(&pending, j); /* freed below */
            } else {
                in_flight++;
            }
        }
        /* While the source has more, look for finished jobs in passing. */
        struct job *list = take_finished(r, in_flight, !more || status != 0);
        while (list != NULL) {
            struct job *j = list;
            list = j->next;
            mp_result_destroy(j->res);
            j->res = NULL;
            in_flight--;
            if (g_signal != 0 && j->err != 0) {
                /* Cut short by the signal (a Ctrl-C reaches the workers
                 * too, or the pool was terminated): left partial. */
                free_job(j);
                continue;
            }
            if (j->err == MP_EWORKER && j->attempts < MAX_ATTEMPTS &&
                status == 0 && g_signal == 0) {
                const struct entry *e = &r->entries[j->entry[0]];
                char more_files[48] = "";
                if (j->nfiles > 1) {
                    snprintf(more_files, sizeof more_files,
                             " (and %zu more files)", j->nfiles - 1);
                }
                note("%s/%s%s: %s; retrying (attempt %d of %d)", r->src_arg,
                     e->rel, more_files, j->msg, j->attempts + 1, MAX_ATTEMPTS);
                push_job(&retry, j);
                continue;
            }
            finish_job(r, j, done, &bytes_done);
        }
        status_update(r->files_done, bytes_done);
    }
    queue_filling(&pending);
    for (struct job *j;
         (j = pop_job(&retry)) != NULL || (j = pop_job(&pending)) != NULL;) {
        free_job(j);
    }
    status_end(status == 0);
    return status;
}

/* Copy phase: a split file gets its metadata when its last range is in. */
static void
copy_job_done(struct run *r, const struct job *j, struct entry *e,
              const struct task_out *out)
{
    if (j->kind == TASK_COPY_RANGE && e->parts_left == 1 && !e->failed &&
        out != NULL) {
        set_filled_meta(r, e);
    }
}

/* Verify phase: a mismatch is reported once per file. */
static void
verify_job_done(struct run *r, const struct job *j, struct entry *e,
                const struct task_out *out)
{
    (void)j;
    if (out != NULL && out->mismatch && !e->failed) {
        char msg[128];
        snprintf(msg, sizeof msg,
                 "the copy differs (checksums %016llx, "
                 "copy %016llx)",
                 (unsigned long long)out->src_sum,
                 (unsigned long long)out->dst_sum);
        report(r, e, msg);
    }
}

/* copy_and_verify runs the copy phase (the scan of the tree goes on in
 * it: see copy_source) and, with --verify, the verify phase on a pool of
 * r->jobs workers, then stops the pool. Returns 0 or
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
    status = run_phase(r, copy_source, "copy", copy_job_done);
    if (status == 0 && r->verify) {
        status = run_phase(r, verify_source, "verify", verify_job_done);
    }
    mp_pool_close(r->pool);
    mp_pool_join(r->pool, MP_WAIT_FOREVER);
    mp_pool_destroy(r->pool);
out:
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    return status;
}
