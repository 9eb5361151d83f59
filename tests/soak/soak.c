/* SPDX-License-Identifier: MIT */
/* soak.c - the soak program's driver (issue 21, "Keep it fixed"): repeats
 * the SIGKILL storms of the scenarios in soak-*.c, one round at a time,
 * each round in a fresh process that leads its own session and has a
 * TMPDIR of its own. The driver is a child subreaper, so every process a
 * round leaves behind (a tracker, a manager server, a pool worker) is
 * re-parented to it; after each round it checks that none is left, that
 * no /dev/shm name of the round's tree and no socket file remains, and
 * that the round finished within its deadline (a hang is a failure, never
 * a hang of the soak). Ends with "soak: N passed, M failed".
 *
 * Usage: mp_soak [--short] [--kills N | --seconds S] [--seed X]
 *                [--scenario NAME] [--round-seed X] [--verbose] [--list]
 * It runs cycles of one round per scenario until N kills (default 3000;
 * 300 with --short, whose rounds are also smaller) or S seconds are
 * reached. --seed X fixes the generator the rounds' seeds come from;
 * --round-seed X (with --scenario) replays one round, as the line a
 * failed round prints says. SOAK_QUEUE_VICTIMS=producers|consumers in
 * the environment limits the queue rounds' kills to one side.
 * The driver itself never calls the library, so a round's process is the
 * first to use it and its pid names the round's /dev/shm segments. */
#include "soak.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* --- helpers shared with the scenarios ----------------------------------- */

uint64_t
soak_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t
soak_below(soak_round_t *r, uint64_t n)
{
    return soak_rand(&r->rng) % n;
}

/* Nanoseconds on the monotonic clock. */
static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
soak_pause_us(soak_round_t *r, unsigned max_us)
{
    int64_t until = now_ns() + (int64_t)soak_below(r, max_us + 1u) * 1000;
    while (now_ns() < until) {
        sched_yield();
    }
}

void
soak_fail(soak_round_t *r, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    soak_shared_t *sh = r->shared;
    if (__atomic_fetch_add(&sh->failures, 1, __ATOMIC_SEQ_CST) == 0) {
        snprintf(sh->detail, sizeof sh->detail, "%s", text);
    }
    fprintf(stderr, "soak: round seed 0x%016" PRIx64 ": FAIL: %s\n", r->seed,
            text);
}

void
soak_note(soak_round_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->shared->note, sizeof r->shared->note, fmt, ap);
    va_end(ap);
}

void
soak_count_kill(soak_round_t *r)
{
    __atomic_fetch_add(&r->shared->kills_done, 1, __ATOMIC_SEQ_CST);
}

void *
soak_shared_map(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void
soak_shared_unmap(void *p, size_t size)
{
    if (p != NULL) {
        munmap(p, size);
    }
}

mp_process_t *
soak_start(soak_round_t *r, mp_target_fn fn, void *arg)
{
    mp_process_t *p = NULL;
    int rc = mp_process_create(&p, fn, arg, NULL);
    if (rc == 0) {
        rc = mp_process_start(p);
    }
    if (rc != 0) {
        soak_fail(r, "starting a process: %s", mp_err_name(rc));
        mp_process_destroy(p);
        return NULL;
    }
    return p;
}

/* The round's "at work" pipe: children write a byte, soak_start_ready
 * reads it. Made by the round's process before its scenario runs. */
static int ready_fd[2] = {-1, -1};

void
soak_say_ready(void)
{
    char b = 'r';
    while (write(ready_fd[1], &b, 1) < 0 && errno == EINTR) {
    }
}

mp_process_t *
soak_start_ready(soak_round_t *r, mp_target_fn fn, void *arg)
{
    mp_process_t *p = soak_start(r, fn, arg);
    if (p == NULL) {
        return NULL;
    }
    struct pollfd pfd = {ready_fd[0], POLLIN, 0};
    char b;
    int n;
    while ((n = poll(&pfd, 1, 20000)) < 0 && errno == EINTR) {
    }
    if (n != 1 || read(ready_fd[0], &b, 1) != 1) {
        soak_fail(r,
                  "a started process (pid %d) was not at work within "
                  "20 s",
                  (int)mp_process_pid(p));
    }
    return p;
}

int
soak_kill(soak_round_t *r, mp_process_t **pp, int *code)
{
    mp_process_t *p = *pp;
    int rc = mp_process_kill(p);
    if (rc == 0) {
        rc = mp_process_join(p, 10000);
    }
    int c = 0;
    if (rc == 0) {
        rc = mp_process_exitcode(p, &c);
    }
    if (rc != 0) {
        soak_fail(r, "reaping killed pid %d: %s", (int)mp_process_pid(p),
                  mp_err_name(rc));
        return -1; /* still running: the handle stays */
    }
    mp_process_destroy(p);
    *pp = NULL;
    if (code != NULL) {
        *code = c;
    }
    if (c == -SIGKILL) {
        soak_count_kill(r);
        return 1;
    }
    return 0;
}

int
soak_finish(soak_round_t *r, mp_process_t *p, long timeout_ms, const char *what)
{
    if (p == NULL) {
        return 0;
    }
    int code = 0;
    int rc = mp_process_join(p, timeout_ms);
    if (rc == MP_ETIMEDOUT) {
        soak_fail(r, "%s (pid %d) still runs after %ld ms: a hang", what,
                  (int)mp_process_pid(p), timeout_ms);
        mp_process_kill(p);
        mp_process_join(p, 10000);
        code = -1000;
    } else if (rc == 0) {
        mp_process_exitcode(p, &code);
    } else {
        soak_fail(r, "joining %s: %s", what, mp_err_name(rc));
        code = -1000;
    }
    mp_process_destroy(p);
    return code;
}

/* Reaps every child that has exited; returns how many children are left
 * (-1 on an unexpected waitpid error). */
static int
reap_exited(void)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG | __WALL);
        if (pid > 0) {
            continue;
        }
        if (pid == 0) {
            return 1;
        }
        return errno == ECHILD ? 0 : (errno == EINTR ? 1 : -1);
    }
}

/* Calls fn(pid, arg) for every process whose parent is the caller. */
static void
each_child(void (*fn)(pid_t pid, const char *comm, pid_t sid, void *arg),
           void *arg)
{
    DIR *d = opendir("/proc");
    if (d == NULL) {
        return;
    }
    pid_t self = getpid();
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0) {
            continue;
        }
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) {
            continue;
        }
        buf[n] = '\0';
        char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
        if (open_p == NULL || close_p == NULL) {
            continue;
        }
        *close_p = '\0';
        char state;
        int ppid, pgrp, sid;
        if (sscanf(close_p + 2, "%c %d %d %d", &state, &ppid, &pgrp, &sid) !=
                4 ||
            ppid != self) {
            continue;
        }
        fn((pid_t)pid, open_p + 1, (pid_t)sid, arg);
    }
    closedir(d);
}

/* each_child callback: SIGKILLs the child. */
static void
kill_child(pid_t pid, const char *comm, pid_t sid, void *arg)
{
    (void)comm, (void)sid, (void)arg;
    kill(pid, SIGKILL);
}

int
soak_reap_all(long timeout_ms)
{
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &chld, &old);
    int left;
    while ((left = reap_exited()) > 0 && now_ns() < deadline) {
        /* Wait for the next SIGCHLD, at most 20 ms at a time: another
         * thread of the caller may take the signal instead. */
        struct timespec ts = {0, 20 * 1000000};
        sigtimedwait(&chld, NULL, &ts);
    }
    int count = 0;
    if (left > 0) {
        each_child(kill_child, NULL);
        while (reap_exited() > 0) {
            struct timespec ts = {0, 20 * 1000000};
            sigtimedwait(&chld, NULL, &ts);
        }
        count = left;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return count;
}

/* --- scenarios ----------------------------------------------------------- */

typedef struct scenario {
    const char *name;
    soak_fn fn;
    int kills_short, kills_long; /* kills a round aims for */
    bool top_killed;             /* the driver kills the round's process */
    /* totals */
    int passed, failed, skipped, kills;
    char last_skip[512];
} scenario_t;

static scenario_t scenarios[] = {
    {"queue", soak_queue, 10, 24, false},
    {"joinable_queue", soak_joinable_queue, 10, 24, false},
    {"pool_map", soak_pool_map, 5, 12, false},
    {"pool_imap_unordered", soak_pool_imap_unordered, 5, 12, false},
    {"pool_apply_async", soak_pool_apply_async, 5, 12, false},
    {"lock", soak_lock, 8, 20, false},
    {"semaphore", soak_semaphore, 8, 20, false},
    {"condition", soak_condition, 8, 20, false},
    {"barrier", soak_barrier, 2, 3, false},
    {"manager", soak_manager, 4, 8, false},
    {"tree", soak_tree, 1, 1, true},
    {"recycled_pid", soak_recycled_pid, 1, 1, false},
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

static bool verbose;
static int timeout_multiplier = 1;

/* --- what a round leaves behind ------------------------------------------ */

typedef struct leftovers {
    char text[2048];
    size_t len;
    int count;
} leftovers_t;

/* Appends one printf-formatted item to the leftovers' text (as room
 * allows) and counts it. */
static void
leftovers_add(leftovers_t *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (l->len < sizeof l->text) {
        int n = vsnprintf(l->text + l->len, sizeof l->text - l->len, fmt, ap);
        if (n > 0) {
            l->len += (size_t)n;
        }
    }
    va_end(ap);
    l->count++;
}

/* each_child callback: describes a process left by the round. */
static void
describe_child(pid_t pid, const char *comm, pid_t sid, void *arg)
{
    leftovers_add(arg, " pid %d (%s%s)", (int)pid, comm,
                  sid == pid ? ", own session: a tracker?" : "");
}

/* Lists and removes /dev/shm entries named "mp-<pid>-*". */
static void
shm_leftovers(pid_t pid, leftovers_t *l)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "mp-%d-", (int)pid);
    DIR *d = opendir("/dev/shm");
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, (size_t)plen) == 0) {
            leftovers_add(l, " /dev/shm/%s", e->d_name);
            char path[512];
            snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}

static leftovers_t *tmp_left;
static int tmp_empty_dirs;
static const char *tmp_root;

/* nftw callback: a socket or file left in the round's TMPDIR is reported
 * (empty mp-mgr-* directories are a documented limit: counted apart);
 * everything is removed. */
static int
tmp_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    if (type == FTW_DP) {
        if (strcmp(path, tmp_root) != 0) {
            tmp_empty_dirs++;
        }
        rmdir(path);
        return 0;
    }
    leftovers_add(tmp_left, " %s %s", S_ISSOCK(st->st_mode) ? "socket" : "file",
                  path);
    unlink(path);
    return 0;
}

/* --- running one round --------------------------------------------------- */

typedef struct round_result {
    int code; /* SOAK_PASS, SOAK_FAIL, SOAK_SKIP */
    int kills;
} round_result_t;

/* Waits up to timeout_ms for child pid to exit (reaping adopted orphans
 * that exit meanwhile); returns 0 and its status, or -1 on timeout. */
static int
wait_round(pid_t pid, long timeout_ms, int *status)
{
    int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (;;) {
        pid_t got = waitpid(pid, status, WNOHANG);
        if (got == pid) {
            return 0;
        }
        if (got < 0 && errno != EINTR) {
            *status = 0;
            return 0;
        }
        int64_t left = deadline - now_ns();
        if (left <= 0) {
            return -1;
        }
        if (left > 100000000) {
            left = 100000000;
        }
        struct timespec ts = {0, (long)left};
        sigtimedwait(&chld, NULL, &ts);
    }
}

/* Runs one round of scenario sc from seed in a fresh session-leading
 * process, kills it past its deadline, and checks what it left behind;
 * prints the round's line when it failed or was skipped (or --verbose). */
static round_result_t
run_round(scenario_t *sc, uint64_t seed, bool short_mode)
{
    round_result_t res = {SOAK_FAIL, 0};
    soak_shared_t *sh = soak_shared_map(sizeof *sh);
    char dir[256];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mp-soak-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    int fds[2];
    if (sh == NULL || mkdtemp(dir) == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "soak: cannot set up a round: %s\n", strerror(errno));
        exit(2);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "soak: fork: %s\n", strerror(errno));
        exit(2);
    }
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        prctl(PR_SET_CHILD_SUBREAPER, 0);
        setsid();
        setenv("TMPDIR", dir, 1);
        close(fds[0]);
        if (pipe2(ready_fd, O_CLOEXEC) != 0) {
            exit(SOAK_FAIL);
        }
        soak_round_t r = {
            .seed = seed,
            .rng = seed,
            .kills = short_mode ? sc->kills_short : sc->kills_long,
            .short_mode = short_mode,
            .report_fd = fds[1],
            .shared = sh,
        };
        int code = sc->fn(&r);
        if (code == SOAK_PASS && sh->failures > 0) {
            code = SOAK_FAIL;
        }
        fflush(NULL);
        exit(code);
    }
    close(fds[1]);
    uint64_t rng = seed ^ 0x5deece66dull;
    int driver_kills = 0;
    if (sc->top_killed) {
        /* Wait for the round to start ('S'), then kill it at a random
         * moment of its set-up (0..60 ms later) or, every other round,
         * once it has built its tree ('B'), 0..20 ms into its work. */
        struct pollfd pfd = {fds[0], POLLIN, 0};
        char b;
        soak_round_t tmp = {.rng = rng};
        bool at_work = soak_below(&tmp, 2) == 1;
        if (poll(&pfd, 1, 30000 * timeout_multiplier) == 1 &&
            read(fds[0], &b, 1) == 1 &&
            (!at_work || (poll(&pfd, 1, 30000 * timeout_multiplier) == 1 &&
                          read(fds[0], &b, 1) == 1))) {
            soak_pause_us(&tmp, at_work ? 20000 : 60000);
            if (kill(pid, SIGKILL) == 0) {
                driver_kills = 1;
            }
        }
    }
    int status = 0;
    bool hung = false;
    if (wait_round(pid, 240000L * timeout_multiplier, &status) != 0) {
        hung = true;
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        wait_round(pid, 10000, &status);
    }
    close(fds[0]);

    /* What the round left: processes (re-parented to us), shm names,
     * files in its TMPDIR. */
    leftovers_t left = {{0}, 0, 0};
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    int64_t deadline = now_ns() + 20000000000ll * timeout_multiplier;
    while (reap_exited() > 0 && now_ns() < deadline) {
        struct timespec ts = {0, 20 * 1000000};
        sigtimedwait(&chld, NULL, &ts);
    }
    each_child(describe_child, &left);
    int procs = left.count;
    if (procs > 0) {
        soak_reap_all(0);
    }
    tmp_left = &left;
    tmp_empty_dirs = 0;
    tmp_root = dir;
    nftw(dir, tmp_visit, 16, FTW_DEPTH | FTW_PHYS);
    shm_leftovers(pid, &left);

    int code;
    if (hung) {
        code = SOAK_FAIL;
        fprintf(stderr,
                "soak: %s round seed 0x%016" PRIx64
                ": FAIL: the round did not finish within %d s "
                "(killed)\n",
                sc->name, seed, 240 * timeout_multiplier);
    } else if (WIFEXITED(status)) {
        code = WEXITSTATUS(status);
        if (code != SOAK_PASS && code != SOAK_SKIP) {
            code = SOAK_FAIL;
        }
    } else if (sc->top_killed && driver_kills == 1 &&
               WTERMSIG(status) == SIGKILL) {
        code = sh->failures > 0 ? SOAK_FAIL : SOAK_PASS;
    } else {
        code = SOAK_FAIL;
        fprintf(stderr,
                "soak: %s round seed 0x%016" PRIx64
                ": FAIL: the round process died of signal %d\n",
                sc->name, seed, WTERMSIG(status));
    }
    if (left.count > 0) {
        code = SOAK_FAIL;
        fprintf(stderr,
                "soak: %s round seed 0x%016" PRIx64
                ": FAIL: left behind (within %d s of the round's "
                "end):%s\n",
                sc->name, seed, 20 * timeout_multiplier, left.text);
    }
    if (code == SOAK_SKIP) {
        snprintf(sc->last_skip, sizeof sc->last_skip, "%s", sh->note);
    }
    res.code = code;
    res.kills = sh->kills_done + driver_kills;
    if (verbose || code != SOAK_PASS) {
        fprintf(stderr, "soak: %-19s seed 0x%016" PRIx64 " %s kills %d%s%s%s\n",
                sc->name, seed,
                code == SOAK_PASS   ? "pass"
                : code == SOAK_SKIP ? "SKIP"
                                    : "FAIL",
                res.kills, sh->note[0] ? " (" : "", sh->note,
                sh->note[0] ? ")" : "");
        if (tmp_empty_dirs > 0 && verbose) {
            fprintf(stderr,
                    "soak:   %d empty directories left in TMPDIR "
                    "(documented limit)\n",
                    tmp_empty_dirs);
        }
    }
    if (code == SOAK_FAIL) {
        fprintf(stderr,
                "soak:   replay: mp_soak --scenario %s "
                "--round-seed 0x%016" PRIx64 "%s\n",
                sc->name, seed, short_mode ? " --short" : "");
    }
    soak_shared_unmap(sh, sizeof *sh);
    return res;
}

/* --- main ---------------------------------------------------------------- */

/* Prints the usage and exits with status 2. */
static void
usage(void)
{
    fprintf(stderr,
            "usage: mp_soak [--short] [--kills N | --seconds S] [--seed X]\n"
            "               [--scenario NAME] [--round-seed X] [--verbose] "
            "[--list]\n");
    exit(2);
}

/* Parses the options, then runs cycles of one round per scenario until
 * the kill count or the time is reached; prints per-scenario totals and
 * "soak: N passed, M failed"; exits 1 when a round failed. */
int
main(int argc, char **argv)
{
    bool short_mode = false, have_round_seed = false;
    long kills_target = -1, seconds = -1;
    uint64_t seed = 0, round_seed = 0;
    bool have_seed = false;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--short") == 0) {
            short_mode = true;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            verbose = true;
        } else if (strcmp(a, "--list") == 0) {
            for (size_t s = 0; s < NSCENARIOS; s++) {
                printf("%s\n", scenarios[s].name);
            }
            return 0;
        } else if (v == NULL) {
            usage();
        } else if (strcmp(a, "--kills") == 0) {
            kills_target = strtol(v, NULL, 0), i++;
        } else if (strcmp(a, "--seconds") == 0) {
            seconds = strtol(v, NULL, 0), i++;
        } else if (strcmp(a, "--seed") == 0) {
            seed = strtoull(v, NULL, 0), have_seed = true, i++;
        } else if (strcmp(a, "--round-seed") == 0) {
            round_seed = strtoull(v, NULL, 0), have_round_seed = true, i++;
        } else if (strcmp(a, "--scenario") == 0) {
            only = v, i++;
        } else {
            usage();
        }
    }
    if (only != NULL) {
        bool found = false;
        for (size_t s = 0; s < NSCENARIOS; s++) {
            found |= strcmp(scenarios[s].name, only) == 0;
        }
        if (!found) {
            fprintf(stderr, "soak: no scenario %s (see --list)\n", only);
            return 2;
        }
    }
    if (kills_target < 0 && seconds < 0) {
        kills_target = short_mode ? 300 : 3000;
    }
    if (!have_seed &&
        getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        seed = (uint64_t)now_ns();
    }
    const char *mult = getenv("MP_TEST_TIMEOUT_MULTIPLIER");
    if (mult != NULL && atoi(mult) > 1) {
        timeout_multiplier = atoi(mult);
    }
    /* Orphans of the rounds come to us; SIGCHLD is taken with
     * sigtimedwait. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        fprintf(stderr, "soak: PR_SET_CHILD_SUBREAPER: %s\n", strerror(errno));
        return 2;
    }
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (have_round_seed) {
        printf("soak: replaying one round, seed 0x%016" PRIx64 "\n",
               round_seed);
    } else {
        printf("soak: seed 0x%016" PRIx64 "%s, target %s %ld%s\n", seed,
               short_mode ? " (short)" : "",
               kills_target >= 0 ? "kills" : "seconds",
               kills_target >= 0 ? kills_target : seconds,
               only != NULL ? " (one scenario)" : "");
    }
    uint64_t state = seed;
    int64_t start = now_ns();
    long kills = 0;
    int cycles = 0;
    for (bool done = false; !done;) {
        long kills_before = kills;
        for (size_t s = 0; s < NSCENARIOS; s++) {
            scenario_t *sc = &scenarios[s];
            if (only != NULL && strcmp(sc->name, only) != 0) {
                continue;
            }
            uint64_t rs = have_round_seed ? round_seed : soak_rand(&state);
            round_result_t rr = run_round(sc, rs, short_mode);
            sc->kills += rr.kills;
            kills += rr.kills;
            if (rr.code == SOAK_PASS) {
                sc->passed++;
            } else if (rr.code == SOAK_SKIP) {
                sc->skipped++;
            } else {
                sc->failed++;
            }
        }
        cycles++;
        double elapsed = (double)(now_ns() - start) / 1e9;
        done = have_round_seed ||
               (kills_target >= 0 && kills >= kills_target) ||
               (seconds >= 0 && elapsed >= (double)seconds);
        if (!done && kills_target >= 0 && kills == kills_before) {
            printf("soak: a whole cycle killed nothing (every round "
                   "skipped?): stopping\n");
            done = true;
        }
    }
    int passed = 0, failed = 0, skipped = 0;
    for (size_t s = 0; s < NSCENARIOS; s++) {
        scenario_t *sc = &scenarios[s];
        if (sc->passed + sc->failed + sc->skipped == 0) {
            continue;
        }
        printf("soak: %-19s %3d passed %3d failed %3d skipped %5d kills%s%s\n",
               sc->name, sc->passed, sc->failed, sc->skipped, sc->kills,
               sc->skipped ? "  skipped: " : "",
               sc->skipped ? sc->last_skip : "");
        passed += sc->passed;
        failed += sc->failed;
        skipped += sc->skipped;
    }
    printf("soak: %d cycles, %ld kills, %d skipped, %.1f s\n", cycles, kills,
           skipped, (double)(now_ns() - start) / 1e9);
    printf("soak: %d passed, %d failed\n", passed, failed);
    return failed > 0 ? 1 : 0;
}
