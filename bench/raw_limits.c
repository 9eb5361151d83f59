/* SPDX-License-Identifier: MIT */
/* raw_limits.c - the raw-limit side of bench/compare: the bare OS
 * mechanisms under the library (fork, pipes, sockets, futexes, a
 * shared-memory ring, memcpy, shm_open ...) timed between plain processes,
 * without the library. It measures what ../shared/bench/c_limits.c
 * measures, under the same result names, units and default counts, so that
 * the figures of docs/performance.md can be taken from a bare clone;
 * bench/check-reference sets the two side by side.
 *
 * Output: one `name<TAB>value<TAB>unit<TAB>notes` line per result, '#'
 * lines are metadata. `us` is time per operation (lower is better);
 * msg/s and ops/s are rates, MB/s is 1e6 and GB/s 1e9 bytes per second.
 * Options: --only p1,p2 (group name prefixes), --scale F (multiplies every
 * count), --spin-us U (spin budget before sleeping, default 10), --list.
 * A sweep's point (bench/compare --sweep): --size B runs shm_ring's
 * spinning ring with B-byte slots and pipe_throughput's socketpair with
 * B-byte writes only, each moving as many bytes as at 1 MiB (capped);
 * --procs K runs K independent ring pairs at once; --workers W and
 * --items N set pool_floor, the floor under a pool's map, which runs only
 * when --only names it. Defaults leave every result as the reference's.
 * Every group runs under alarm(), parent and children alike, so nothing
 * hangs for ever; no process is pinned to a CPU (neither is Python),
 * except that MP_BENCH_PIN=split (bench_pin) puts the two ends of the
 * fd round trips on different CPUs, as mp_bench's pipe_pingpong. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

extern char **environ;

#define MIB ((size_t)1 << 20)
#define LINE 64            /* bytes of a cache line: padding unit */
#define GROUP_ALARM_S 120u /* seconds one group may take */

static double g_scale = 1.0;
/* A sweep's point (--size, --procs, --workers, --items; bench/compare
 * --sweep): what shm_ring, pipe_throughput and pool_floor run at. */
static struct bench_point g_point;
static double g_spin_us = 10.0; /* how long a waiter spins before it sleeps */
static long g_spin = 1000;      /* g_spin_us as relax() iterations */

/*----- small tools ---------------------------------------------------------*/

/* Stops the program (exit 2) with errno's text after a failed call. */
static void __attribute__((noreturn)) fail(const char *what)
{
    fprintf(stderr, "raw_limits: %s: %s\n", what, strerror(errno));
    exit(2);
}

/* Returns the default count n times --scale, at least 1. */
static long
count(long n)
{
    long r = (long)((double)n * g_scale);

    return r < 1 ? 1 : r;
}

/* The count of a workload that moves n_1mib 1 MiB messages by default, at
 * size-byte messages: as many bytes, at most cap messages; times --scale,
 * at least 8 (mp_bench's scaled_sized). */
static long
count_sized(long n_1mib, size_t size, long cap)
{
    double n = (double)n_1mib * (double)MIB / (double)size;
    long r = count(n < (double)cap ? (long)n : cap);

    return r < 8 ? 8 : r;
}

/* Writes the name of a result at a size into buf (len bytes): stem, "_",
 * the size in lower case ("64b", "1mib"); returns buf. */
static const char *
sized_name(const char *stem, size_t size, char *buf, size_t len)
{
    char text[32];

    bench_size_text(size, text, sizeof text);
    for (char *c = text; *c != '\0'; c++) {
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    }
    snprintf(buf, len, "%s_%s", stem, text);
    return buf;
}

/* Returns size bytes of zeroed memory shared with the children forked
 * after this call (MAP_SHARED | MAP_ANONYMOUS). */
static void *
shared_pages(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        fail("mmap(MAP_SHARED)");
    }
    memset(p, 0, size);
    return p;
}

/* Returns size bytes of private memory, every page present and written
 * (filled with fill), so that no page fault falls inside a timing. */
static char *
private_pages(size_t size, int fill)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

    if (p == MAP_FAILED) {
        fail("mmap(MAP_PRIVATE)");
    }
    memset(p, fill, size);
    return p;
}

typedef void child_body(void *arg);

/* Forks a child that runs body(arg) under the group's alarm and exits 0
 * when it returns; returns the child's pid to the parent. */
static pid_t
start_child(child_body *body, void *arg)
{
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid < 0) {
        fail("fork");
    }
    if (pid == 0) {
        alarm(GROUP_ALARM_S);
        body(arg);
        _exit(0);
    }
    return pid;
}

/* Waits for the child pid; stops the program (exit 3) unless it exited 0. */
static void
reap(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fail("waitpid");
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "raw_limits: child %d ended badly (status 0x%x)\n",
                (int)pid, (unsigned)status);
        exit(3);
    }
}

/* Reads exactly n bytes from fd into buf; an error or end of file stops
 * the program. */
static void
read_all(int fd, void *buf, size_t n)
{
    char *at = buf;

    while (n > 0) {
        ssize_t r = read(fd, at, n);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            if (r == 0) {
                errno = EPIPE;
            }
            fail("read");
        }
        at += r;
        n -= (size_t)r;
    }
}

/* Writes exactly n bytes of buf to fd; an error stops the program. */
static void
write_all(int fd, const void *buf, size_t n)
{
    const char *at = buf;

    while (n > 0) {
        ssize_t r = write(fd, at, n);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            fail("write");
        }
        at += r;
        n -= (size_t)r;
    }
}

/* One pause of a spinning wait (the CPU's spin-loop hint). */
static inline void
relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* Sets g_spin to the number of relax() calls that take g_spin_us, timed
 * over one stretch of 200000 of them, and says so on a '#' line. One
 * stretch, as the reference c_limits times it: on a loaded machine a
 * preemption inside it makes a pause look longer and the budget fewer
 * pauses, alike in both, so that their spinning figures stay comparable. */
static void
calibrate_spin(void)
{
    const long pauses = 200000;
    double t0 = bench_now(), per;

    for (long i = 0; i < pauses; i++) {
        relax();
    }
    per = (bench_now() - t0) / (double)pauses;
    g_spin = (long)(g_spin_us * 1e-6 / per);
    if (g_spin < 1) {
        g_spin = 1;
    }
    printf("# spin: one pause %.1f ns; a %.1f us budget is %ld pauses\n",
           per * 1e9, g_spin_us, g_spin);
}

/* FUTEX_WAIT (while *word == expect) or FUTEX_WAKE (up to expect waiters)
 * on a word in memory shared between processes (no FUTEX_PRIVATE_FLAG). */
static void
futex_wait(_Atomic unsigned *word, unsigned expect)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAIT, expect, NULL, NULL, 0);
}

static void
futex_wake(_Atomic unsigned *word, int n)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAKE, n, NULL, NULL, 0);
}

/* Lets n processes start a timed loop together: each adds itself to the
 * shared *arrived and yields until all have. */
static void
meet(_Atomic int *arrived, int n)
{
    atomic_fetch_add(arrived, 1);
    while (atomic_load(arrived) < n) {
        sched_yield();
    }
}

/*----- gate: a shared word one process waits on for a value ----------------*/

/* A shared word plus the count of processes asleep on it. A waiter spins
 * (up to its budget), then registers as a sleeper, re-reads the word and
 * sleeps on what it read; a setter stores the word, then reads the count
 * and calls FUTEX_WAKE only when someone registered. Both sides' store
 * then load are sequentially consistent, so a sleeper is never missed. */
struct gate {
    _Atomic unsigned word;
    char pad0[LINE - sizeof(unsigned)];
    _Atomic unsigned sleepers;
    char pad1[LINE - sizeof(unsigned)];
};

static long g_gate_sleeps; /* this process's sleeps and wakes, for notes */
static long g_gate_wakes;

/* Returns once g->word == want: spins up to spin pauses, then sleeps. */
static void
gate_await(struct gate *g, unsigned want, long spin)
{
    for (long i = 0; i < spin; i++) {
        if (atomic_load_explicit(&g->word, memory_order_acquire) == want) {
            return;
        }
        relax();
    }
    for (;;) {
        unsigned seen;

        atomic_fetch_add(&g->sleepers, 1);
        seen = atomic_load(&g->word);
        if (seen != want) {
            g_gate_sleeps++;
            futex_wait(&g->word, seen);
        }
        atomic_fetch_sub(&g->sleepers, 1);
        if (seen == want ||
            atomic_load_explicit(&g->word, memory_order_acquire) == want) {
            return;
        }
    }
}

/* Stores v into g->word and wakes its sleepers, if any. */
static void
gate_put(struct gate *g, unsigned v)
{
    atomic_store(&g->word, v);
    if (atomic_load(&g->sleepers) != 0) {
        g_gate_wakes++;
        futex_wake(&g->word, INT_MAX);
    }
}

/*----- bell: the wake-up word of one sleeper (an eventcount) ---------------*/

/* Bit 0 says "a sleeper is armed", the bits above count rings. The
 * sleeper arms (sets bit 0 and keeps the value as its key), checks its
 * condition again and sleeps on the key; the ringer, after publishing its
 * change and a full fence, rings only when bit 0 is set: one add clears
 * the bit and moves the count on, then FUTEX_WAKE. */
struct bell {
    _Atomic unsigned word;
    char pad[LINE - sizeof(unsigned)];
};

/* Arms the bell; returns the key to sleep or disarm with. */
static unsigned
bell_arm(struct bell *b)
{
    return atomic_fetch_or(&b->word, 1u) | 1u;
}

/* Takes the arming back (the condition came true before sleeping). */
static void
bell_disarm(struct bell *b, unsigned key)
{
    atomic_compare_exchange_strong(&b->word, &key, key & ~1u);
}

/* Sleeps until the bell is rung after bell_arm() returned key. */
static void
bell_sleep(struct bell *b, unsigned key)
{
    futex_wait(&b->word, key);
}

/* Rings the bell if its sleeper armed it; returns 1 when it did. */
static int
bell_ring(struct bell *b)
{
    atomic_thread_fence(memory_order_seq_cst);
    if ((atomic_load_explicit(&b->word, memory_order_relaxed) & 1u) == 0) {
        return 0;
    }
    atomic_fetch_add(&b->word, 1u);
    futex_wake(&b->word, INT_MAX);
    return 1;
}

/*----- syscall: what entering the kernel costs -----------------------------*/

static void
group_syscall(void)
{
    long n = count(2000000);
    struct timespec ts;
    double t0 = bench_now(), dt;

    for (long i = 0; i < n; i++) {
        syscall(SYS_getppid);
    }
    dt = bench_now() - t0;
    bench_emit("syscall_getppid", dt / (double)n * 1e6, "us",
               "n=%ld syscall(SYS_getppid), no libc cache", n);
    n = count(5000000);
    t0 = bench_now();
    for (long i = 0; i < n; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
    }
    dt = bench_now() - t0;
    bench_emit("clock_gettime_monotonic", dt / (double)n * 1e6, "us",
               "n=%ld clock_gettime(CLOCK_MONOTONIC) through the vDSO", n);
}

/*----- fork: creating and reaping a process --------------------------------*/

/* Times n fork() + child _exit(0) + waitpid(), after 5 untimed ones, with
 * resident_mib MiB of written private memory in the parent, of which the
 * child writes one byte per page of the first touch_mib MiB (copy on
 * write faults). */
static void
time_forks(const char *name, long n, size_t resident_mib, size_t touch_mib)
{
    char *mem = resident_mib ? private_pages(resident_mib * MIB, 1) : NULL;
    double t0 = 0;

    for (long i = -5; i < n; i++) {
        pid_t pid;

        if (i == 0) {
            t0 = bench_now();
        }
        pid = fork();
        if (pid < 0) {
            fail("fork");
        }
        if (pid == 0) {
            for (size_t off = 0; off < touch_mib * MIB; off += 4096) {
                mem[off]++;
            }
            _exit(0);
        }
        reap(pid);
    }
    double dt = bench_now() - t0;

    if (touch_mib) {
        bench_emit(name, dt / (double)n * 1e6, "us",
                   "n=%ld fork()+child writes a byte in each of %zu pages (COW)"
                   "+_exit+waitpid(); %zu MiB resident",
                   n, touch_mib * MIB / 4096, resident_mib);
    } else {
        bench_emit(name, dt / (double)n * 1e6, "us",
                   "n=%ld fork()+_exit(0)+waitpid(); %zu MiB extra resident", n,
                   resident_mib);
    }
    if (mem) {
        munmap(mem, resident_mib * MIB);
    }
}

static void
group_fork(void)
{
    time_forks("fork_waitpid", count(1000), 0, 0);
    /* about what a CPython process with multiprocessing loaded holds */
    time_forks("fork_waitpid_rss16m", count(500), 16, 0);
    /* ... and a child that then dirties 2 MiB, as a Python child does */
    time_forks("fork_waitpid_rss16m_cow2m", count(150), 16, 2);
}

/* vfork() + _exit(0) in its own frame (the child borrows the stack). */
static __attribute__((noinline)) void
vfork_exit_reap(void)
{
    pid_t pid = vfork();

    if (pid < 0) {
        fail("vfork");
    }
    if (pid == 0) {
        _exit(0);
    }
    reap(pid);
}

static void
group_vfork_posix_spawn(void)
{
    long n = count(10000);
    char *argv[] = {(char *)"/bin/true", NULL};
    double t0 = bench_now(), dt;

    for (long i = 0; i < n; i++) {
        vfork_exit_reap();
    }
    dt = bench_now() - t0;
    bench_emit("vfork_waitpid", dt / (double)n * 1e6, "us",
               "n=%ld vfork()+_exit(0)+waitpid()", n);
    n = count(500);
    t0 = bench_now();
    for (long i = 0; i < n; i++) {
        pid_t pid;
        int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);

        if (rc != 0) {
            errno = rc;
            fail("posix_spawn");
        }
        reap(pid);
    }
    dt = bench_now() - t0;
    bench_emit("posix_spawn_true_waitpid", dt / (double)n * 1e6, "us",
               "n=%ld posix_spawn(/bin/true)+waitpid(): exec and dynamic "
               "loading included",
               n);
}

/*----- round trips over file descriptors -----------------------------------*/

/* The descriptors one side of a round trip reads and writes. */
struct ends {
    int rd, wr;
};

struct echo_job {
    struct ends child, parent;
    long rounds;
};

/* Closes the descriptors of `theirs` that `mine` does not use, each once. */
static void
close_unused(const struct ends *mine, const struct ends *theirs)
{
    int fds[2] = {theirs->rd, theirs->wr};

    for (int i = 0; i < 2; i++) {
        if (fds[i] == mine->rd || fds[i] == mine->wr ||
            (i == 1 && fds[1] == fds[0])) {
            continue;
        }
        close(fds[i]);
    }
}

/* The child of a round trip: sends back each 8-byte message it reads. */
static void
echo_body(void *arg)
{
    struct echo_job *job = arg;
    uint64_t msg;

    close_unused(&job->child, &job->parent);
    for (long i = 0; i < job->rounds; i++) {
        read_all(job->child.rd, &msg, sizeof msg);
        write_all(job->child.wr, &msg, sizeof msg);
    }
}

/* Times n 8-byte round trips from the parent's ends to a child echoing on
 * its ends, after n/20 + 10 untimed ones, and closes the parent's ends. */
static void
time_roundtrips(const char *name, struct ends parent, struct ends child, long n,
                const char *how)
{
    long warm = n / 20 + 10;
    struct echo_job job = {child, parent, n + warm};
    uint64_t msg = 1;
    double t0 = 0;
    pid_t pid = start_child(echo_body, &job);

    bench_pin(pid, 0); /* MP_BENCH_PIN=split: the echo on another CPU */

    close_unused(&parent, &child);
    for (long i = -warm; i < n; i++) {
        if (i == 0) {
            t0 = bench_now();
        }
        write_all(parent.wr, &msg, sizeof msg);
        read_all(parent.rd, &msg, sizeof msg);
    }
    double dt = bench_now() - t0;

    reap(pid);
    close(parent.rd);
    if (parent.wr != parent.rd) {
        close(parent.wr);
    }
    bench_emit(name, dt / (double)n * 1e6, "us", "n=%ld 8-byte round trip; %s",
               n, how);
}

static void
group_pipe_pingpong(void)
{
    int down[2], up[2]; /* parent -> child, child -> parent */

    if (pipe(down) != 0 || pipe(up) != 0) {
        fail("pipe");
    }
    time_roundtrips("os_pipe_pingpong", (struct ends){up[0], down[1]},
                    (struct ends){down[0], up[1]}, count(40000),
                    "2 pipes, write()/read()");
}

/* A round trip over socketpair(AF_UNIX, type). */
static void
socket_roundtrips(const char *name, int type, const char *how)
{
    int sv[2];

    if (socketpair(AF_UNIX, type, 0, sv) != 0) {
        fail("socketpair");
    }
    time_roundtrips(name, (struct ends){sv[0], sv[0]},
                    (struct ends){sv[1], sv[1]}, count(40000), how);
}

static void
group_unix_pingpong(void)
{
    socket_roundtrips("unix_seqpacket_pingpong", SOCK_SEQPACKET,
                      "socketpair(AF_UNIX,SOCK_SEQPACKET)");
    socket_roundtrips("unix_stream_pingpong", SOCK_STREAM,
                      "socketpair(AF_UNIX,SOCK_STREAM), Python's duplex Pipe");
}

static void
group_eventfd_pingpong(void)
{
    int there = eventfd(0, 0), back = eventfd(0, 0);

    if (there < 0 || back < 0) {
        fail("eventfd");
    }
    /* both sides keep both eventfds: nothing is closed before the loop */
    time_roundtrips("eventfd_pingpong", (struct ends){back, there},
                    (struct ends){there, back}, count(40000),
                    "2 eventfds, write()/read() of the 8-byte counter");
}

/*----- round trips over a shared word --------------------------------------*/

struct turn_page {
    struct gate turn;      /* 1: the child's move, 0: the parent's */
    _Atomic unsigned spin; /* the same for the pure-spin round trip; 2 ends */
    char pad[LINE - sizeof(unsigned)];
    long child_sleeps, child_wakes;
};

struct turn_job {
    struct turn_page *page;
    long rounds, spin;
};

/* The child of the textbook futex round trip: wait for 1, answer 0. */
static void
plain_futex_body(void *arg)
{
    struct turn_job *job = arg;
    _Atomic unsigned *w = &job->page->turn.word;

    for (long i = 0; i < job->rounds; i++) {
        while (atomic_load(w) != 1) {
            futex_wait(w, 0);
        }
        atomic_store(w, 0);
        futex_wake(w, 1);
    }
}

/* The child of the gate round trip: await 1, put 0. */
static void
gate_body(void *arg)
{
    struct turn_job *job = arg;

    g_gate_sleeps = g_gate_wakes = 0;
    for (long i = 0; i < job->rounds; i++) {
        gate_await(&job->page->turn, 1, job->spin);
        gate_put(&job->page->turn, 0);
    }
    job->page->child_sleeps = g_gate_sleeps;
    job->page->child_wakes = g_gate_wakes;
}

/* The child of the spinning round trip: answer every 1 with 0 until 2. */
static void
spin_body(void *arg)
{
    struct turn_job *job = arg;
    _Atomic unsigned *w = &job->page->spin;

    for (;;) {
        unsigned v, k = 0;

        while ((v = atomic_load_explicit(w, memory_order_acquire)) == 0) {
            if ((++k & 4095) == 0) {
                sched_yield();
            } else {
                relax();
            }
        }
        if (v == 2) {
            return;
        }
        atomic_store_explicit(w, 0, memory_order_release);
    }
}

/* FUTEX_WAKE on every move, FUTEX_WAIT as soon as the word is wrong. */
static void
plain_futex_roundtrips(long n)
{
    struct turn_page *page = shared_pages(sizeof *page);
    long warm = n / 20 + 10;
    struct turn_job job = {page, n + warm, 0};
    _Atomic unsigned *w = &page->turn.word;
    double t0 = 0;
    pid_t pid = start_child(plain_futex_body, &job);

    for (long i = -warm; i < n; i++) {
        if (i == 0) {
            t0 = bench_now();
        }
        atomic_store(w, 1);
        futex_wake(w, 1);
        while (atomic_load(w) != 0) {
            futex_wait(w, 1);
        }
    }
    double dt = bench_now() - t0;

    reap(pid);
    bench_emit(
        "futex_pingpong_nospin", dt / (double)n * 1e6, "us",
        "n=%ld round trip; FUTEX_WAKE on every move, FUTEX_WAIT at once, "
        "no spinning",
        n);
    munmap(page, sizeof *page);
}

/* Round trips over a gate: spin up to spin pauses, wake only sleepers. */
static void
gate_roundtrips(const char *name, long n, long spin, const char *how)
{
    struct turn_page *page = shared_pages(sizeof *page);
    long warm = n / 20 + 10;
    struct turn_job job = {page, n + warm, spin};
    double t0 = 0;
    pid_t pid = start_child(gate_body, &job);

    g_gate_sleeps = g_gate_wakes = 0;
    for (long i = -warm; i < n; i++) {
        if (i == 0) {
            t0 = bench_now();
        }
        gate_put(&page->turn, 1);
        gate_await(&page->turn, 0, spin);
    }
    double dt = bench_now() - t0;

    reap(pid);
    bench_emit(
        name, dt / (double)n * 1e6, "us",
        "n=%ld round trip; %s; sleeps/roundtrip=%.2f wakes/roundtrip=%.2f", n,
        how, (double)(g_gate_sleeps + page->child_sleeps) / (double)(n + warm),
        (double)(g_gate_wakes + page->child_wakes) / (double)(n + warm));
    munmap(page, sizeof *page);
}

/* Round trips by spinning on one shared cache line (a yield every 4096
 * pauses, for when both share a CPU), stopped after 8 s at most. */
static void
spin_roundtrips(long n)
{
    struct turn_page *page = shared_pages(sizeof *page);
    long warm = n / 20 + 10, done = 0;
    struct turn_job job = {page, 0, 0};
    _Atomic unsigned *w = &page->spin;
    double t0 = 0, started = bench_now();
    pid_t pid = start_child(spin_body, &job);

    for (long i = -warm; i < n; i++) {
        unsigned k = 0;

        if (i == 0) {
            t0 = bench_now();
        }
        if (i > 0 && (i & 1023) == 0 && bench_now() - started > 8.0) {
            break;
        }
        atomic_store_explicit(w, 1, memory_order_release);
        while (atomic_load_explicit(w, memory_order_acquire) != 0) {
            if ((++k & 4095) == 0) {
                sched_yield();
            } else {
                relax();
            }
        }
        done += i >= 0;
    }
    double dt = bench_now() - t0;

    atomic_store_explicit(w, 2, memory_order_release);
    reap(pid);
    bench_emit("atomic_spin_pingpong", dt / (double)done * 1e6, "us",
               "n=%ld round trip; spinning on a shared cache line, no system "
               "call, sched_yield every 4096 pauses%s",
               done, done < n ? "; cut at the 8 s deadline" : "");
    munmap(page, sizeof *page);
}

static void
group_futex_pingpong(void)
{
    char how[128];

    plain_futex_roundtrips(count(40000));
    gate_roundtrips("futex_pingpong_nospin_condwake", count(40000), 0,
                    "FUTEX_WAIT at once, FUTEX_WAKE only for a sleeper");
    snprintf(how, sizeof how,
             "spin %.0f us, then FUTEX_WAIT; FUTEX_WAKE only for a sleeper",
             g_spin_us);
    gate_roundtrips("futex_pingpong_spin", count(300000), g_spin, how);
    spin_roundtrips(count(1000000));
}

/*----- locks ---------------------------------------------------------------*/

enum lock_kind { MUTEX_EMPTY, MUTEX_INCREMENT, SEMAPHORE };

struct lock_page {
    pthread_mutex_t mutex;
    sem_t sem;
    _Atomic int arrived;
    char pad[LINE - sizeof(int)];
    long counter;
    double begin[2], end[2];
};

struct lock_job {
    struct lock_page *page;
    enum lock_kind kind;
    long n;
    int index;
};

/* Takes and releases the lock of kind n times (incrementing the counter
 * inside for MUTEX_INCREMENT). */
static void
lock_loop(struct lock_page *page, enum lock_kind kind, long n)
{
    for (long i = 0; i < n; i++) {
        if (kind == SEMAPHORE) {
            while (sem_wait(&page->sem) != 0 && errno == EINTR) {
            }
            sem_post(&page->sem);
        } else {
            pthread_mutex_lock(&page->mutex);
            if (kind == MUTEX_INCREMENT) {
                page->counter++;
            }
            pthread_mutex_unlock(&page->mutex);
        }
    }
}

/* One of the two contending children: meet, then time its loop. */
static void
lock_body(void *arg)
{
    struct lock_job *job = arg;

    meet(&job->page->arrived, 2);
    job->page->begin[job->index] = bench_now();
    lock_loop(job->page, job->kind, job->n);
    job->page->end[job->index] = bench_now();
}

/* Two children each take the process-shared lock n times, from the first
 * start to the last finish; then (but for MUTEX_INCREMENT) the parent
 * alone takes it n times and reports `<what>_uncontended`. */
static void
time_lock(const char *name, const char *what, enum lock_kind kind, long n,
          const char *how)
{
    struct lock_page *page = shared_pages(sizeof *page);
    pthread_mutexattr_t attr;
    pid_t pids[2];

    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&page->mutex, &attr);
    pthread_mutexattr_destroy(&attr);
    if (sem_init(&page->sem, 1, 1) != 0) {
        fail("sem_init");
    }
    for (int k = 0; k < 2; k++) {
        struct lock_job job = {page, kind, n, k};

        pids[k] = start_child(lock_body, &job);
    }
    reap(pids[0]);
    reap(pids[1]);
    if (kind == MUTEX_INCREMENT && page->counter != 2 * n) {
        fprintf(stderr, "raw_limits: %ld increments, not %ld\n", page->counter,
                2 * n);
        exit(3);
    }
    double first =
        page->begin[0] < page->begin[1] ? page->begin[0] : page->begin[1];
    double last = page->end[0] > page->end[1] ? page->end[0] : page->end[1];
    double both_from =
        page->begin[0] > page->begin[1] ? page->begin[0] : page->begin[1];
    double both_to = page->end[0] < page->end[1] ? page->end[0] : page->end[1];
    double overlap = both_to > both_from ? both_to - both_from : 0;

    bench_emit(name, 2.0 * (double)n / (last - first), "ops/s",
               "n=%ld per process x2; %s; overlap %.0f%%", n, how,
               100.0 * overlap / (last - first));
    if (kind != MUTEX_INCREMENT) {
        char uname_[64];
        double t0 = bench_now();

        lock_loop(page, kind, n);
        double dt = bench_now() - t0;

        snprintf(uname_, sizeof uname_, "%s_uncontended", what);
        bench_emit(uname_, (double)n / dt, "ops/s", "n=%ld 1 process; %s", n,
                   how);
    }
    pthread_mutex_destroy(&page->mutex);
    sem_destroy(&page->sem);
    munmap(page, sizeof *page);
}

static void
group_locks(void)
{
    time_lock("pthread_mutex_contention", "pthread_mutex", MUTEX_EMPTY,
              count(20000000),
              "process-shared pthread_mutex lock+unlock, nothing inside");
    time_lock("pthread_mutex_locked_increment", "pthread_mutex",
              MUTEX_INCREMENT, count(20000000),
              "process-shared pthread_mutex lock; counter++; unlock");
    time_lock("sem_contention", "sem", SEMAPHORE, count(20000000),
              "process-shared unnamed sem_t sem_wait+sem_post (what "
              "Python's Lock is)");
}

/*----- a ring of messages between two processes ---------------------------*/

/* The ring's slots: 1024 (of 64 bytes by default); with messages of
 * another size (--size), as many as fit in RING_BYTES, a power of two, at
 * least 2, at most 1024. */
#define RING_SLOTS 1024u
#define RING_BYTES ((size_t)4 << 20)
/* The most producer-consumer pairs (--procs). */
#define RING_MAX_PAIRS 16

struct ring {
    _Atomic unsigned head; /* messages written, by the producer */
    char pad0[LINE - sizeof(unsigned)];
    _Atomic unsigned tail; /* messages read, by the consumer */
    char pad1[LINE - sizeof(unsigned)];
    struct bell filled;  /* the consumer sleeps here when empty */
    struct bell drained; /* the producer sleeps here when full */
    _Atomic int arrived;
    char pad2[LINE - sizeof(int)];
    double begin, end;
    long bad, sleeps[2], rings[2]; /* [0]: producer, [1]: consumer */
    size_t size;                   /* bytes of a slot: of each message */
    unsigned slots;                /* a power of two */
    char slot[] __attribute__((aligned(LINE))); /* slots x size bytes */
};

struct ring_job {
    struct ring *ring;
    _Atomic int *arrived; /* where every process of the run meets */
    int parties;          /* how many: 2 per ring */
    long n, spin;
};

/* Returns the slots of a ring of size-byte messages (see RING_BYTES). */
static unsigned
ring_slots(size_t size)
{
    unsigned slots = 2;

    while (slots < RING_SLOTS && (size_t)slots * 2 * size <= RING_BYTES) {
        slots *= 2;
    }
    return slots;
}

/* Copies one message of size bytes; the 64-byte ring's copies are inlined
 * with their constant size, as c_limits's are. */
static inline void
slot_copy(void *to, const void *from, size_t size)
{
    if (size == 64) {
        memcpy(to, from, 64);
    } else {
        memcpy(to, from, size);
    }
}

/* Returns a fresh value of the other side's counter once it differs from
 * stuck: spins up to spin pauses, then sleeps on the bell. */
static unsigned
ring_wait(_Atomic unsigned *other, unsigned stuck, struct bell *bell, long spin,
          long *sleeps)
{
    unsigned v = atomic_load_explicit(other, memory_order_acquire);

    for (long k = 0; k < spin && v == stuck; k++) {
        relax();
        v = atomic_load_explicit(other, memory_order_acquire);
    }
    while (v == stuck) {
        unsigned key = bell_arm(bell);

        v = atomic_load(other);
        if (v != stuck) {
            bell_disarm(bell, key);
            break;
        }
        ++*sleeps;
        bell_sleep(bell, key);
        v = atomic_load_explicit(other, memory_order_acquire);
    }
    return v;
}

/* Writes n messages, each carrying its sequence number in its first 8
 * bytes; the clock starts at the first. */
static void
ring_producer(void *arg)
{
    struct ring_job *job = arg;
    struct ring *r = job->ring;
    unsigned head = 0, tail_seen = 0;
    char *msg = private_pages(r->size, 'm');

    meet(job->arrived, job->parties);
    r->begin = bench_now();
    for (long i = 0; i < job->n; i++) {
        uint64_t seq = (uint64_t)i;

        if (head - tail_seen == r->slots) {
            tail_seen = ring_wait(&r->tail, head - r->slots, &r->drained,
                                  job->spin, &r->sleeps[0]);
        }
        memcpy(msg, &seq, sizeof seq);
        slot_copy(r->slot + (head & (r->slots - 1)) * r->size, msg, r->size);
        head++;
        atomic_store_explicit(&r->head, head, memory_order_release);
        r->rings[0] += bell_ring(&r->filled);
    }
}

/* Reads n messages and counts those out of sequence; the clock stops at
 * the last. */
static void
ring_consumer(void *arg)
{
    struct ring_job *job = arg;
    struct ring *r = job->ring;
    unsigned tail = 0, head_seen = 0;
    char *msg = private_pages(r->size, 0);

    meet(job->arrived, job->parties);
    for (long i = 0; i < job->n; i++) {
        uint64_t seq;

        if (tail == head_seen) {
            head_seen =
                ring_wait(&r->head, tail, &r->filled, job->spin, &r->sleeps[1]);
        }
        slot_copy(msg, r->slot + (tail & (r->slots - 1)) * r->size, r->size);
        memcpy(&seq, msg, sizeof seq);
        r->bad += seq != (uint64_t)i;
        tail++;
        atomic_store_explicit(&r->tail, tail, memory_order_release);
        r->rings[1] += bell_ring(&r->drained);
    }
    r->end = bench_now();
}

/* Times n size-byte messages from producer children to consumer
 * children, n / pairs through each of pairs rings (one producer and one
 * consumer each), from the first start to the last message. */
static void
time_ring(const char *name, long n, long spin, const char *how, size_t size,
          int pairs)
{
    unsigned slots = ring_slots(size);
    size_t bytes = sizeof(struct ring) + (size_t)slots * size;
    struct ring *rs[RING_MAX_PAIRS];
    pid_t pids[2 * RING_MAX_PAIRS];
    long per = n / pairs, bad = 0, sleeps[2] = {0, 0}, rings[2] = {0, 0};
    double begin = 0, end = 0;
    char text[32];

    for (int k = 0; k < pairs; k++) {
        rs[k] = shared_pages(bytes);
        rs[k]->size = size;
        rs[k]->slots = slots;
    }
    for (int k = 0; k < pairs; k++) {
        struct ring_job job = {rs[k], &rs[0]->arrived, 2 * pairs, per, spin};

        pids[2 * k] = start_child(ring_consumer, &job);
        pids[2 * k + 1] = start_child(ring_producer, &job);
    }
    for (int k = 0; k < 2 * pairs; k++) {
        reap(pids[k]);
    }
    for (int k = 0; k < pairs; k++) {
        const struct ring *r = rs[k];

        begin = k == 0 || r->begin < begin ? r->begin : begin;
        end = r->end > end ? r->end : end;
        bad += r->bad;
        for (int j = 0; j < 2; j++) {
            sleeps[j] += r->sleeps[j];
            rings[j] += r->rings[j];
        }
        munmap(rs[k], bytes);
    }
    if (bad != 0) {
        fprintf(stderr, "raw_limits: %ld ring messages out of sequence\n", bad);
        exit(3);
    }
    bench_emit(name, (double)(per * pairs) / (end - begin), "msg/s",
               "n=%ld %s msgs, %u-slot ring%s, %d child procs; %s; sleeps "
               "prod=%ld cons=%ld wakes prod=%ld cons=%ld",
               per * pairs, bench_size_text(size, text, sizeof text), slots,
               pairs > 1 ? " per pair" : "", 2 * pairs, how, sleeps[0],
               sleeps[1], rings[0], rings[1]);
}

static void
group_shm_ring(void)
{
    char how[128];

    snprintf(how, sizeof how, "spin %.0f us, then futex when empty/full",
             g_spin_us);
    if (g_point.size > 0 || g_point.procs > 0) {
        /* A sweep's point: the spinning ring only (the queue's raw
         * limit), moving as many bytes as shm_transfer_1mib but no more
         * messages than shm_ring_spsc_64b; --procs independent pairs. */
        size_t size = g_point.size > 0 ? (size_t)g_point.size : 64;
        int pairs = g_point.procs > 0 ? (int)g_point.procs : 1;
        char name[96];

        sized_name("shm_ring_spsc", size, name, sizeof name);
        if (pairs > 1) {
            snprintf(name + strlen(name), sizeof name - strlen(name),
                     "_%dpairs", pairs);
        }
        time_ring(name, count_sized(10000, size, 20000000), g_spin, how, size,
                  pairs);
        return;
    }
    time_ring("shm_ring_spsc_64b", count(20000000), g_spin, how, 64, 1);
    time_ring("shm_ring_spsc_64b_nospin", count(10000000), 0,
              "futex wait at once when empty/full", 64, 1);
}

/*----- bulk copies ---------------------------------------------------------*/

static void
group_memcpy(void)
{
    size_t big = 128 * MIB;
    long n = count(60000);
    char *from = private_pages(MIB, 1), *to = private_pages(MIB, 2);
    double t0;

    for (int i = 0; i < 20; i++) {
        memcpy(to, from, MIB);
    }
    t0 = bench_now();
    for (long i = 0; i < n; i++) {
        memcpy(to, from, MIB);
        __asm__ __volatile__("" ::: "memory"); /* keep every copy */
    }
    double dt = bench_now() - t0;

    bench_emit("memcpy_1mib_hot", (double)n * (double)MIB / dt / 1e9, "GB/s",
               "n=%ld memcpy of one 1 MiB buffer to another (in cache)", n);
    munmap(from, MIB);
    munmap(to, MIB);

    from = private_pages(big, 1);
    to = private_pages(big, 2);
    n = count(20000);
    t0 = bench_now();
    for (long i = 0; i < n; i++) {
        size_t at = (size_t)i % (big / MIB) * MIB;

        memcpy(to + at, from + at, MIB);
        __asm__ __volatile__("" ::: "memory");
    }
    dt = bench_now() - t0;
    bench_emit("memcpy_1mib_cold", (double)n * (double)MIB / dt / 1e9, "GB/s",
               "n=%ld 1 MiB copies walking through 2x128 MiB (memory bound)",
               n);
    munmap(from, big);
    munmap(to, big);
}

struct sink_page {
    _Atomic int ready;
    char pad[LINE - sizeof(int)];
    double end;
    long sum;
    uintptr_t remote; /* process_vm_readv: the child's buffer */
};

struct sink_job {
    struct sink_page *page;
    int rd, wr; /* the child reads rd and closes wr */
    long n;
    size_t size; /* of each message */
};

/* Reads n messages of job->size bytes from rd, touching each; notes the
 * end time. */
static void
sink_body(void *arg)
{
    struct sink_job *job = arg;
    char *buf = private_pages(job->size, 0);
    long sum = 0;

    close(job->wr);
    for (long i = 0; i < job->n; i++) {
        read_all(job->rd, buf, job->size);
        sum += buf[(size_t)i % job->size];
    }
    job->page->end = bench_now();
    job->page->sum = sum;
}

/* Times n write()s of size bytes on wr until a child has read them all
 * from rd; closes both. */
static void
time_stream(const char *name, int rd, int wr, long n, size_t size,
            const char *how)
{
    struct sink_page *page = shared_pages(sizeof *page);
    struct sink_job job = {page, rd, wr, n, size};
    pid_t pid = start_child(sink_body, &job);
    char *src = private_pages(size, 'x');
    double t0;

    close(rd);
    t0 = bench_now();
    for (long i = 0; i < n; i++) {
        write_all(wr, src, size);
    }
    reap(pid);
    close(wr);
    char text[32];

    bench_emit(name, (double)n * (double)size / (page->end - t0) / 1e6, "MB/s",
               "n=%ld %s messages; %s", n,
               bench_size_text(size, text, sizeof text), how);
    munmap(src, size);
    munmap(page, sizeof *page);
}

/* The most messages of a stream at a sweep's --size (mp_bench's and
 * py_bench's cap). */
#define STREAM_MAX 200000L

static void
group_pipe_throughput(void)
{
    int p[2], sv[2], size;
    char how[128];

    if (g_point.size > 0) {
        /* A sweep's point: the socketpair only (mp_pipe's raw limit),
         * moving as many bytes as at 1 MiB, at most STREAM_MAX messages. */
        char name[96];

        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            fail("socketpair");
        }
        time_stream(sized_name("unix_stream_throughput", (size_t)g_point.size,
                               name, sizeof name),
                    sv[1], sv[0],
                    count_sized(8000, (size_t)g_point.size, STREAM_MAX),
                    (size_t)g_point.size,
                    "socketpair(AF_UNIX,SOCK_STREAM), default buffers");
        return;
    }
    if (pipe(p) != 0) {
        fail("pipe");
    }
    time_stream("pipe_throughput_1mib", p[0], p[1], count(2000), MIB,
                "pipe with the default 64 KiB buffer, write()/read() loops");
    if (pipe(p) != 0) {
        fail("pipe");
    }
    size = fcntl(p[1], F_SETPIPE_SZ, (int)MIB);
    snprintf(how, sizeof how, "pipe grown by F_SETPIPE_SZ to %d bytes", size);
    time_stream("pipe_throughput_1mib_bigpipe", p[0], p[1], count(4000), MIB,
                how);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        fail("socketpair");
    }
    time_stream("unix_stream_throughput_1mib", sv[1], sv[0], count(8000), MIB,
                "socketpair(AF_UNIX,SOCK_STREAM), default buffers");
}

/* The child of process_vm_readv: offers a 1 MiB buffer, then waits for
 * the parent to close the pipe. */
static void
offer_body(void *arg)
{
    struct sink_job *job = arg;
    char *buf = private_pages(MIB, 3);
    char byte;

    close(job->wr);
    job->page->remote = (uintptr_t)buf;
    atomic_store(&job->page->ready, 1);
    while (read(job->rd, &byte, 1) < 0 && errno == EINTR) {
    }
}

static void
group_process_vm_readv(void)
{
    long n = count(30000);
    struct sink_page *page = shared_pages(sizeof *page);
    int hold[2];

    if (pipe(hold) != 0) {
        fail("pipe");
    }
    struct sink_job job = {page, hold[0], hold[1], 0};
    pid_t pid = start_child(offer_body, &job);
    char *dst = private_pages(MIB, 0);

    close(hold[0]);
    while (!atomic_load(&page->ready)) {
        sched_yield();
    }
    struct iovec local = {dst, MIB}, remote = {(void *)page->remote, MIB};
    double t0 = 0;

    for (long i = -5; i < n; i++) {
        if (i == 0) {
            t0 = bench_now();
        }
        if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)MIB) {
            fail("process_vm_readv");
        }
    }
    double dt = bench_now() - t0;

    close(hold[1]);
    reap(pid);
    bench_emit("process_vm_readv_1mib", (double)n * (double)MIB / dt / 1e6,
               "MB/s", "n=%ld 1 MiB process_vm_readv() from a child (one copy)",
               n);
    munmap(dst, MIB);
    munmap(page, sizeof *page);
}

/* Two 1 MiB slots in shared memory, each with a gate: 1 = full. */
struct handoff {
    struct gate full[2];
    _Atomic int arrived;
    char pad[LINE - sizeof(int)];
    double begin, end;
    long sum;
    char data[2][MIB] __attribute__((aligned(4096)));
};

struct handoff_job {
    struct handoff *h;
    long n;
};

/* Copies n messages into the slots in turn, each once its slot is empty. */
static void
handoff_producer(void *arg)
{
    struct handoff_job *job = arg;
    struct handoff *h = job->h;
    char *src = private_pages(MIB, 'x');

    meet(&h->arrived, 2);
    h->begin = bench_now();
    for (long i = 0; i < job->n; i++) {
        int k = (int)(i & 1);

        gate_await(&h->full[k], 0, g_spin);
        memcpy(h->data[k], src, MIB);
        gate_put(&h->full[k], 1);
    }
}

/* Copies n messages out of the slots in turn, each once it is full. */
static void
handoff_consumer(void *arg)
{
    struct handoff_job *job = arg;
    struct handoff *h = job->h;
    char *dst = private_pages(MIB, 0);
    long sum = 0;

    meet(&h->arrived, 2);
    for (long i = 0; i < job->n; i++) {
        int k = (int)(i & 1);

        gate_await(&h->full[k], 1, g_spin);
        memcpy(dst, h->data[k], MIB);
        gate_put(&h->full[k], 0);
        sum += dst[(size_t)i % MIB];
    }
    h->end = bench_now();
    h->sum = sum;
}

static void
group_shm_transfer(void)
{
    long n = count(10000);
    struct handoff *h = shared_pages(sizeof *h);
    struct handoff_job job = {h, n};
    pid_t consumer = start_child(handoff_consumer, &job);
    pid_t producer = start_child(handoff_producer, &job);

    reap(producer);
    reap(consumer);
    bench_emit("shm_transfer_1mib",
               (double)n * (double)MIB / (h->end - h->begin) / 1e6, "MB/s",
               "n=%ld 1 MiB through 2 shared slots: a copy in and a copy "
               "out, handed over by futex",
               n);
    munmap(h, sizeof *h);
}

/*----- memory and shared-memory objects ------------------------------------*/

static void
group_shm_open(void)
{
    long n = count(60000);
    char name[64];
    double t0 = bench_now();

    for (long i = 0; i < n; i++) {
        int fd;
        void *m;

        snprintf(name, sizeof name, "/mp_raw_limits_%d_%ld", (int)getpid(), i);
        fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
        if (fd < 0) {
            fail("shm_open");
        }
        if (ftruncate(fd, 4096) != 0) {
            fail("ftruncate");
        }
        m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            fail("mmap");
        }
        close(fd);
        munmap(m, 4096);
        shm_unlink(name);
    }
    double dt = bench_now() - t0;

    bench_emit(
        "shm_open_create_unlink", dt / (double)n * 1e6, "us",
        "n=%ld shm_open(O_CREAT|O_EXCL)+ftruncate(4096)+mmap+close+munmap"
        "+shm_unlink",
        n);
}

static void
group_fresh_mem(void)
{
    long n = count(1000);
    double t0 = bench_now();

    for (long i = 0; i < n; i++) {
        char *m = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

        if (m == MAP_FAILED) {
            fail("mmap");
        }
        for (size_t off = 0; off < MIB; off += 4096) {
            m[off] = 1;
        }
        munmap(m, MIB);
    }
    double dt = bench_now() - t0;

    bench_emit("mmap_touch_munmap_1mib", dt / (double)n * 1e6, "us",
               "n=%ld mmap 1 MiB, write a byte per 4 KiB page (256 faults), "
               "munmap; %.2f us/page",
               n, dt / (double)n * 1e6 / 256);
}

/*----- the floor under a pool's map ----------------------------------------*/

/* The most workers of pool_floor (--workers). */
#define FLOOR_MAX_WORKERS 64

struct floor_page {
    struct gate go; /* 1: the input is written, square it */
    _Atomic int arrived;
    char pad[LINE - sizeof(int)];
    double end[FLOOR_MAX_WORKERS];
};

struct floor_job {
    struct floor_page *page;
    const long *in;
    long *out;
    long n;
    int workers, index;
};

/* A worker of pool_floor: after the go, squares its share of the items
 * (the index-th of workers equal parts) from in into out; notes when it
 * finished. */
static void
floor_body(void *arg)
{
    struct floor_job *job = arg;
    long from = job->n * job->index / job->workers;
    long to = job->n * (job->index + 1) / job->workers;

    meet(&job->page->arrived, job->workers + 1);
    gate_await(&job->page->go, 1, g_spin);
    for (long i = from; i < to; i++) {
        job->out[i] = job->in[i] * job->in[i];
    }
    job->page->end[job->index] = bench_now();
}

/* pool_floor (bench/compare --sweep only): what mp_bench's
 * pool_map_trivial costs without a pool: --workers processes (2),
 * started and waiting before the clock, square --items longs (3000000 x
 * --scale) each on its share of an array they share with the parent. The
 * clock runs from the parent writing the input (0 .. n-1) to the last
 * worker's end: the input written and the work, no transport, no
 * chunks, no results sent. Both arrays are mapped and populated before
 * the clock (mp_bench's are allocated inside its). */
static void
group_pool_floor(void)
{
    int workers = g_point.workers > 0 ? (int)g_point.workers : 2;
    long n = g_point.items > 0 ? g_point.items : count(3000000);
    size_t bytes = (size_t)n * sizeof(long);
    struct floor_page *page = shared_pages(sizeof *page);
    long *in = shared_pages(bytes), *out = shared_pages(bytes);
    pid_t pids[FLOOR_MAX_WORKERS];
    double t0, last = 0;

    for (int k = 0; k < workers; k++) {
        struct floor_job job = {page, in, out, n, workers, k};

        pids[k] = start_child(floor_body, &job);
    }
    meet(&page->arrived, workers + 1);
    t0 = bench_now();
    for (long i = 0; i < n; i++) {
        in[i] = i;
    }
    gate_put(&page->go, 1);
    for (int k = 0; k < workers; k++) {
        reap(pids[k]);
        last = page->end[k] > last ? page->end[k] : last;
    }
    if (out[n - 1] != (n - 1) * (n - 1)) {
        fprintf(stderr, "raw_limits: pool_floor: wrong squares\n");
        exit(3);
    }
    bench_emit("pool_map_floor", (double)n / (last - t0), "items/s",
               "n=%ld x*x by %d waiting processes, each on its share of a "
               "shared array; clock from writing the input to the last end",
               n, workers);
    munmap(in, bytes);
    munmap(out, bytes);
    munmap(page, sizeof *page);
}

/*----- the groups and main -------------------------------------------------*/

/* sweep: runs only when --only selects it (bench/compare --sweep), not in
 * a plain run: the references have no such group. */
static const struct group {
    const char *name;
    void (*run)(void);
    int sweep;
} GROUPS[] = {
    {"syscall", group_syscall},
    {"fork", group_fork},
    {"vfork_posix_spawn", group_vfork_posix_spawn},
    {"pipe_pingpong", group_pipe_pingpong},
    {"unix_pingpong", group_unix_pingpong},
    {"eventfd_pingpong", group_eventfd_pingpong},
    {"futex_pingpong", group_futex_pingpong},
    {"locks", group_locks},
    {"shm_ring", group_shm_ring},
    {"memcpy", group_memcpy},
    {"pipe_throughput", group_pipe_throughput},
    {"process_vm_readv", group_process_vm_readv},
    {"shm_transfer", group_shm_transfer},
    {"shm_open", group_shm_open},
    {"fresh_mem", group_fresh_mem},
    {"pool_floor", group_pool_floor, 1},
};

int
main(int argc, char **argv)
{
    const char *only = NULL;
    struct utsname u;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--list") == 0) {
            for (size_t k = 0; k < sizeof GROUPS / sizeof GROUPS[0]; k++) {
                puts(GROUPS[k].name);
            }
            return 0;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc &&
                   bench_positive(argv[i + 1], &g_scale)) {
            i++;
        } else if (strcmp(argv[i], "--spin-us") == 0 && i + 1 < argc &&
                   bench_positive(argv[i + 1], &g_spin_us)) {
            i++;
        } else if (!bench_point_arg(argc, argv, &i, &g_point)) {
            fprintf(stderr,
                    "usage: %s [--list] [--only a,b] [--scale F] "
                    "[--spin-us U] [--size B] [--procs K] [--workers W] "
                    "[--items N]\n",
                    argv[0]);
            return 2;
        }
    }
    uname(&u);
    printf("# raw_limits nproc=%ld kernel=%s scale=%g\n",
           sysconf(_SC_NPROCESSORS_ONLN), u.release, g_scale);
    bench_pin(0, -1); /* MP_BENCH_PIN=split: the parent on the first CPU */
    calibrate_spin();
    printf("# name\tvalue\tunit\tnotes\n");
    for (size_t k = 0; k < sizeof GROUPS / sizeof GROUPS[0]; k++) {
        double t0;

        if (!bench_selected(only, GROUPS[k].name) ||
            (GROUPS[k].sweep && (only == NULL || *only == '\0'))) {
            continue;
        }
        t0 = bench_now();
        alarm(GROUP_ALARM_S);
        GROUPS[k].run();
        alarm(0);
        printf("# %s took %.2fs\n", GROUPS[k].name, bench_now() - t0);
        fflush(stdout);
    }
    return 0;
}
