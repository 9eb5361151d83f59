/* SPDX-License-Identifier: MIT */
/* mp_bench.c - the workloads of shared/bench/py_anchor.py, run with this
 * library: same names, shapes, sizes and counts (times --scale), same output
 * `name<TAB>value<TAB>unit<TAB>notes` with '#' metadata lines, so that
 * bench/compare can set the two side by side. Workloads whose pieces have
 * not landed yet say so on stderr and print no result line. */
#include <multiproc.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

/* Every join is bounded, as py_anchor's JOIN_TIMEOUT (120 s). */
#define JOIN_TIMEOUT_MS ((mp_duration_t)120000)
#define MIB ((size_t)1 << 20)

/* The counts py_anchor uses by default (its --n-* flags). */
#define N_FORK 150
#define N_LOCK 10000000L
#define N_VALUE 1000000L
#define N_SHM 20000L
#define N_SHM_COPY 50000L

static double g_scale = 1.0;

/* Returns CLOCK_MONOTONIC in seconds (what time.perf_counter reads). */
static double
now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Returns max(lo, int(n * scale)), py_anchor's scaling of every count. */
static long
scaled(long n, long lo)
{
    long r = (long)((double)n * g_scale);

    return r < lo ? lo : r;
}

/* Stops the program with the library's message when a call failed. */
static int
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "mp_bench: %s: %s (%s)\n", what, mp_strerror(rc),
                mp_err_name(rc));
        exit(2);
    }
    return rc;
}

/* Prints one result line, the value formatted as py_anchor's emit(). */
static void emit(const char *name, double v, const char *unit,
                 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
emit(const char *name, double v, const char *unit, const char *fmt, ...)
{
    char notes[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(notes, sizeof notes, fmt, ap);
    va_end(ap);
    if (v >= 1000) {
        printf("%s\t%.0f\t%s\t%s\n", name, v, unit, notes);
    } else if (v >= 10) {
        printf("%s\t%.2f\t%s\t%s\n", name, v, unit, notes);
    } else {
        printf("%s\t%.3f\t%s\t%s\n", name, v, unit, notes);
    }
    fflush(stdout);
}

/* Starts target(arg) in a new child process and returns its handle. */
static mp_process_t *
spawn(mp_target_fn target, void *arg)
{
    mp_process_t *p = NULL;

    check(mp_process_create(&p, target, arg, NULL), "mp_process_create");
    check(mp_process_start(p), "mp_process_start");
    return p;
}

/* Joins and frees each of n started children; exits unless all returned 0. */
static void
join_all(mp_process_t **ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int code = -1;

        check(mp_process_join(ps[i], JOIN_TIMEOUT_MS), "mp_process_join");
        check(mp_process_exitcode(ps[i], &code), "mp_process_exitcode");
        if (code != 0) {
            fprintf(stderr, "mp_bench: child %d exit code %d\n",
                    (int)mp_process_pid(ps[i]), code);
            exit(2);
        }
        check(mp_process_destroy(ps[i]), "mp_process_destroy");
    }
}

/*----- processes ----------------------------------------------------------*/

/* The child of process_start_join: does nothing. */
static int
noop_target(void *arg)
{
    (void)arg;
    return 0;
}

/* Creates, starts and joins one no-op child. */
static void
start_join_once(void)
{
    mp_process_t *p = spawn(noop_target, NULL);

    join_all(&p, 1);
}

/* process_start_join: sequential create+start+join of a no-op child. */
static void
wl_process_start_join(void)
{
    long n = scaled(N_FORK, 1);

    for (int i = 0; i < 3; i++) { /* warm-up, as py_anchor */
        start_join_once();
    }
    double t0 = now();
    for (long i = 0; i < n; i++) {
        start_join_once();
    }
    double dt = now() - t0;
    emit("process_start_join_fork", dt / (double)n * 1e6, "us",
         "n=%ld mp_process_create+start+join+destroy(noop) sequential", n);
    fprintf(stderr, "mp_bench: process_start_join_forkserver, "
                    "process_start_join_spawn: not available yet "
                    "(needs the forkserver and spawn start methods)\n");
}

/*----- two workers on one lock --------------------------------------------*/

/* What each of the two workers of a lock workload shares with the parent:
 * times[2k] and times[2k+1] are worker k's start and finish (a RawArray). */
struct duo {
    mp_barrier_t *barrier;
    mp_lock_t *lock;
    mp_value_t *value; /* value_increment_locked only */
    double *times;
    long n;
    int next; /* worker index, set by the parent before each start */
};

/* Worker of lock_contention: n x acquire+release after the barrier. */
static int
lock_worker(void *arg)
{
    struct duo *d = arg;
    int k = d->next;

    if (mp_barrier_wait(d->barrier, JOIN_TIMEOUT_MS) < 0) {
        return 1;
    }
    d->times[2 * k] = now();
    for (long i = 0; i < d->n; i++) {
        if (mp_lock_acquire(d->lock, MP_WAIT_FOREVER) != 0 ||
            mp_lock_release(d->lock) != 0) {
            return 1;
        }
    }
    d->times[2 * k + 1] = now();
    return 0;
}

/* Worker of value_increment_locked: n x "with v.get_lock(): v.value += 1". */
static int
value_worker(void *arg)
{
    struct duo *d = arg;
    int k = d->next;
    mp_lock_t *lock = mp_value_get_lock(d->value);
    volatile int *v = mp_value_ptr(d->value);

    if (mp_barrier_wait(d->barrier, JOIN_TIMEOUT_MS) < 0) {
        return 1;
    }
    d->times[2 * k] = now();
    for (long i = 0; i < d->n; i++) {
        if (mp_lock_acquire(lock, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
        *v += 1;
        if (mp_lock_release(lock) != 0) {
            return 1;
        }
    }
    d->times[2 * k + 1] = now();
    return 0;
}

/* Runs target in two children lined up on a barrier; stores the span from
 * the first start to the last finish in *span and their overlap in percent
 * in *overlap_pct. */
static void
run_duo(struct duo *d, mp_target_fn target, double *span, double *overlap_pct)
{
    mp_array_t *times = NULL;
    mp_process_t *ps[2];

    check(mp_barrier_create(&d->barrier, 2, NULL), "mp_barrier_create");
    check(mp_rawarray_create(&times, MP_TYPE_DOUBLE, 4, NULL),
          "mp_rawarray_create");
    d->times = mp_array_ptr(times);
    for (int k = 0; k < 2; k++) {
        d->next = k; /* the child's copy of *d keeps this index */
        ps[k] = spawn(target, d);
    }
    join_all(ps, 2);
    const double *t = d->times;
    double t0 = t[0] < t[2] ? t[0] : t[2];
    double t1 = t[1] > t[3] ? t[1] : t[3];
    double ov = (t[1] < t[3] ? t[1] : t[3]) - (t[0] > t[2] ? t[0] : t[2]);
    *span = t1 - t0;
    *overlap_pct = 100.0 * (ov > 0 ? ov : 0) / *span;
    mp_array_destroy(times);
    mp_barrier_destroy(d->barrier);
    d->times = NULL;
    d->barrier = NULL;
}

/* lock_contention: two processes hammer one Lock; then the parent alone. */
static void
wl_lock_contention(void)
{
    struct duo d = {0};
    double span, overlap;

    d.n = scaled(N_LOCK, 10);
    check(mp_lock_create(&d.lock), "mp_lock_create");
    run_duo(&d, lock_worker, &span, &overlap);
    emit("lock_contention", 2.0 * (double)d.n / span, "ops/s",
         "n=%ld per process x2 procs; op = mp_lock_acquire+release; "
         "overlap %.0f%%", d.n, overlap);

    double t0 = now();
    for (long i = 0; i < d.n; i++) {
        check(mp_lock_acquire(d.lock, MP_WAIT_FOREVER), "mp_lock_acquire");
        check(mp_lock_release(d.lock), "mp_lock_release");
    }
    double dt = now() - t0;
    emit("lock_uncontended", (double)d.n / dt, "ops/s",
         "n=%ld 1 process; mp_lock_acquire+release", d.n);
    mp_lock_destroy(d.lock);
}

/* value_increment_locked: two processes increment one Value('i') under its
 * own lock (an RLock, as Python's). */
static void
wl_value_increment_locked(void)
{
    struct duo d = {0};
    double span, overlap;
    int total = 0;

    d.n = scaled(N_VALUE, 10);
    check(mp_value_create(&d.value, MP_TYPE_INT, NULL, NULL),
          "mp_value_create");
    run_duo(&d, value_worker, &span, &overlap);
    check(mp_value_get(d.value, &total), "mp_value_get");
    if ((long)total != 2 * d.n) {
        fprintf(stderr, "mp_bench: lost increments %d != %ld\n", total,
                2 * d.n);
        exit(3);
    }
    emit("value_increment_locked", 2.0 * (double)d.n / span, "ops/s",
         "n=%ld per process x2; mp_lock_acquire(mp_value_get_lock) ++*ptr "
         "release (RLock); overlap %.0f%%", d.n, overlap);
    mp_value_destroy(d.value);
}

/*----- shared memory ------------------------------------------------------*/

/* Creates, closes and unlinks one tracked 4 KiB block. */
static void
shm_cycle(void)
{
    mp_shm_t *s = NULL;

    check(mp_shm_create(&s, NULL, 4096, 0), "mp_shm_create");
    check(mp_shm_unlink(s), "mp_shm_unlink");
    mp_shm_close(s);
}

/* shared_memory_create_unlink: SharedMemory(create=True, size=4096) life. */
static void
wl_shared_memory_create_unlink(void)
{
    long n = scaled(N_SHM, 10);

    for (int i = 0; i < 20; i++) { /* warm-up: starts the tracker */
        shm_cycle();
    }
    double t0 = now();
    for (long i = 0; i < n; i++) {
        shm_cycle();
    }
    double dt = now() - t0;
    emit("shared_memory_create_unlink", dt / (double)n * 1e6, "us",
         "n=%ld mp_shm_create(NULL,4096)+mp_shm_unlink+mp_shm_close", n);
}

/* shared_memory_copy_large: 1 MiB memcpy into a block, same process. */
static void
wl_shared_memory_copy_large(void)
{
    long n = scaled(N_SHM_COPY, 10);
    mp_shm_t *s = NULL;
    char *src = malloc(MIB);

    if (src == NULL) {
        fprintf(stderr, "mp_bench: out of memory\n");
        exit(2);
    }
    /* Written, so that the source is real pages and not the zero page. */
    memset(src, 0, MIB);
    check(mp_shm_create(&s, NULL, MIB, 0), "mp_shm_create");
    char *buf = mp_shm_buf(s);
    for (int i = 0; i < 10; i++) {
        memcpy(buf, src, MIB);
    }
    double t0 = now();
    for (long i = 0; i < n; i++) {
        memcpy(buf, src, MIB);
        /* Keeps the compiler from merging the copies into one. */
        __asm__ volatile("" ::: "memory");
    }
    double dt = now() - t0;
    check(mp_shm_unlink(s), "mp_shm_unlink");
    mp_shm_close(s);
    free(src);
    emit("shared_memory_copy_large", (double)n * (double)MIB / dt / 1e6,
         "MB/s", "n=%ld memcpy of 1 MiB into mp_shm_buf (same process)", n);
}

/*----- the list -----------------------------------------------------------*/

/* One workload of py_anchor.py: fn runs it, or, while it is NULL, needs
 * names the missing piece. */
struct workload {
    const char *name;
    void (*fn)(void);
    const char *needs;
};

/* In py_anchor.py's order. */
static const struct workload WORKLOADS[] = {
    {"process_start_join", wl_process_start_join, NULL},
    {"pipe_pingpong", NULL, "Pipe/Connection"},
    {"pipe_throughput_large", NULL, "Pipe/Connection"},
    {"queue_throughput_small", NULL, "Queue"},
    {"queue_throughput_large", NULL, "Queue"},
    {"simplequeue_throughput_small", NULL, "SimpleQueue"},
    {"simplequeue_throughput_large", NULL, "SimpleQueue"},
    {"joinablequeue", NULL, "JoinableQueue"},
    {"pool_startup", NULL, "Pool"},
    {"pool_map_trivial", NULL, "Pool"},
    {"pool_imap_unordered_trivial", NULL, "Pool"},
    {"pool_apply_async_roundtrip", NULL, "Pool"},
    {"lock_contention", wl_lock_contention, NULL},
    {"value_increment_locked", wl_value_increment_locked, NULL},
    {"manager_start", NULL, "Manager"},
    {"manager_dict_ops", NULL, "Manager"},
    {"manager_queue_throughput", NULL, "Manager"},
    {"shared_memory_create_unlink", wl_shared_memory_create_unlink, NULL},
    {"shared_memory_copy_large", wl_shared_memory_copy_large, NULL},
};
#define N_WORKLOADS (sizeof WORKLOADS / sizeof WORKLOADS[0])

/* Returns 1 if name starts with one of the comma-separated prefixes of only
 * (or only is NULL or empty), as py_anchor's --only. */
static int
selected(const char *only, const char *name)
{
    const char *p = only;

    if (only == NULL || *only == '\0') {
        return 1;
    }
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *tok = p;
        size_t tlen = len;

        /* py_anchor strips blanks around each prefix and skips empty ones. */
        while (tlen > 0 && (*tok == ' ' || *tok == '\t')) {
            tok++;
            tlen--;
        }
        while (tlen > 0 && (tok[tlen - 1] == ' ' || tok[tlen - 1] == '\t')) {
            tlen--;
        }
        if (tlen > 0 && strncmp(name, tok, tlen) == 0) {
            return 1;
        }
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return 0;
}

/* Prints the usage line on stderr and returns the exit code 2. */
static int
usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--list] [--only a,b] [--scale F]\n", argv0);
    return 2;
}

/* Prints the '#' line naming the library, the machine and the scale. */
static void
print_header(void)
{
    char cpu[256] = "?";
    char line[512];
    struct utsname u;
    FILE *f = fopen("/proc/cpuinfo", "re");

    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            const char *colon = strchr(line, ':');

            if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
                colon++;
                colon += strspn(colon, " \t");
                snprintf(cpu, sizeof cpu, "%.*s", (int)strcspn(colon, "\n"),
                         colon);
                break;
            }
        }
        fclose(f);
    }
    if (uname(&u) != 0) {
        snprintf(u.release, sizeof u.release, "?");
    }
    printf("# mp_bench multiproc=%s nproc=%ld cpu=%s kernel=%s scale=%g\n",
           mp_version_string(), sysconf(_SC_NPROCESSORS_ONLN), cpu, u.release,
           g_scale);
    printf("# name\tvalue\tunit\tnotes\n");
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    const char *only = NULL;
    int list = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            list = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
            char *end = NULL;

            g_scale = strtod(argv[++i], &end);
            if (end == argv[i] || *end != '\0' || !(g_scale > 0)) {
                return usage(argv[0]);
            }
        } else {
            return usage(argv[0]);
        }
    }
    if (list) {
        for (size_t k = 0; k < N_WORKLOADS; k++) {
            puts(WORKLOADS[k].name);
        }
        return 0;
    }
    check(mp_init(), "mp_init");
    print_header();
    for (size_t k = 0; k < N_WORKLOADS; k++) {
        const struct workload *w = &WORKLOADS[k];

        if (!selected(only, w->name)) {
            continue;
        }
        if (w->fn == NULL) {
            fprintf(stderr, "mp_bench: %s: not available yet (needs %s)\n",
                    w->name, w->needs);
            continue;
        }
        double t0 = now();
        w->fn();
        printf("# %s took %.2fs\n", w->name, now() - t0);
        fflush(stdout);
    }
    mp_shutdown();
    return 0;
}
