/* SPDX-License-Identifier: MIT */
/* runner.c - mp_run_tests: runs each registered test in a fresh process of
 * its own (re-executing this binary), in its own process group, with a
 * timeout that kills the whole group, then checks for leaks.
 *
 *   mp_run_tests              run every test, print one line each and a
 *                             summary "N passed, N failed"
 *   mp_run_tests NAME...      run those tests
 *   mp_run_tests --list       print the test names
 *   mp_run_tests --list-timeouts
 *                             print "NAME SECONDS" per test: its timeout
 *                             before MP_TEST_TIMEOUT_MULTIPLIER (CTest's
 *                             entries are made from this list)
 *   mp_run_tests --run NAME   (internal) run one test in this process
 *   mp_run_tests --helper NAME
 *                             (internal) run a TEST_HELPER in this process */
#include "runner.h"

#include "platform/platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 1024
#define DEFAULT_TIMEOUT_S 30

static struct test_entry {
    const char *name;
    mpt_fn fn;
    int timeout_s;
} tests[MAX_TESTS];
static int ntests;

void
mpt_register(const char *name, mpt_fn fn, int timeout_s)
{
    if (ntests == MAX_TESTS) {
        fprintf(stderr, "runner: too many tests\n");
        exit(2);
    }
    tests[ntests].name = name;
    tests[ntests].fn = fn;
    tests[ntests].timeout_s = timeout_s > 0 ? timeout_s : DEFAULT_TIMEOUT_S;
    ntests++;
}

#define MAX_HELPERS 64

static struct helper_entry {
    const char *name;
    mpt_fn fn;
} helpers[MAX_HELPERS];
static int nhelpers;

void
mpt_register_helper(const char *name, mpt_fn fn)
{
    if (nhelpers == MAX_HELPERS) {
        fprintf(stderr, "runner: too many helpers\n");
        abort();
    }
    helpers[nhelpers].name = name;
    helpers[nhelpers].fn = fn;
    nhelpers++;
}

void
mpt_exec_helper(const char *name)
{
    execl("/proc/self/exe", "mp_run_tests", "--helper", name, (char *)NULL);
    mpt_fail(__FILE__, __LINE__, "exec of helper %s: %s", name,
             strerror(errno));
}

/* The body of "--helper NAME". */
static int
run_helper(const char *name)
{
    for (int i = 0; i < nhelpers; i++) {
        if (strcmp(helpers[i].name, name) == 0) {
            helpers[i].fn();
            fflush(NULL);
            return 0;
        }
    }
    fprintf(stderr, "no helper named %s\n", name);
    return 2;
}

void
mpt_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "FAIL %s:%d: %s (pid %d)\n", file, line, msg,
            (int)getpid());
    fflush(NULL);
    _exit(1);
}

void
mpt_skip(const char *why)
{
    fprintf(stderr, "SKIP: %s\n", why);
    fflush(NULL);
    _exit(MPT_SKIP_CODE);
}

/* When this runner process started (the coarse real-time clock file times
 * are stamped from, so a name made after it is never stamped before it):
 * a name made before it belongs to an earlier process that had the same
 * pid, whose tree's tracker may not have removed it yet. */
static struct timespec runner_started;

/* Whether a is before b. */
static bool
time_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec ||
           (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int
mpt_shm_names_left(pid_t session_pid)
{
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "mp-%d-", (int)session_pid);
    DIR *d = opendir("/dev/shm");
    if (d == NULL) {
        return 0;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0 ||
            (fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
             time_before(&st.st_ctim, &runner_started))) {
            continue;
        }
        fprintf(stderr, "leak: /dev/shm/%s\n", e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

int
mpt_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    ASSERT_NOT_NULL(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static struct test_entry *
find_test(const char *name)
{
    for (int i = 0; i < ntests; i++) {
        if (strcmp(tests[i].name, name) == 0) {
            return &tests[i];
        }
    }
    return NULL;
}

/* The body of "--run NAME": the test, then the leak checks. With
 * MP_TEST_NO_PIDFD=1 the test runs as where pidfd_open is missing. */
static int
run_in_this_process(struct test_entry *t)
{
    const char *nopidfd = getenv("MP_TEST_NO_PIDFD");
    if (nopidfd != NULL && strcmp(nopidfd, "1") == 0) {
        mp__plat_pidfd_disable(true);
    }
    int fds_before = mpt_fd_count();
    t->fn();
    fflush(NULL);
    ASSERT_OK(mp_shutdown());
    int status;
    pid_t left = waitpid(-1, &status, WNOHANG);
    if (left != -1 || errno != ECHILD) {
        mpt_fail(__FILE__, __LINE__, "test left a child behind (pid %d)",
                 (int)left);
    }
    int fds_after = mpt_fd_count();
    if (fds_after != fds_before) {
        int listed = system("ls -l /proc/$PPID/fd >&2");
        mpt_fail(__FILE__, __LINE__, "open fds: %d before, %d after%s",
                 fds_before, fds_after,
                 listed == 0 ? "" : " (listing them failed)");
    }
    if (mpt_shm_names_left(getpid()) != 0) {
        mpt_fail(__FILE__, __LINE__, "shared-memory names left in /dev/shm");
    }
    return 0;
}

static double
timeout_multiplier(void)
{
    const char *m = getenv("MP_TEST_TIMEOUT_MULTIPLIER");
    double v = m != NULL ? strtod(m, NULL) : 1.0;
    return v > 0 ? v : 1.0;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is any process left in group pgid? Waits up to 5 s for stragglers that
 * are already dying (daemons killed with their parent). */
static int
group_has_members(pid_t pgid)
{
    int64_t end = now_ms() + 5000;
    while (kill(-pgid, 0) == 0) {
        if (now_ms() > end) {
            return 1;
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Runs one test in a child; returns 0 pass, 1 fail, 2 skip. */
static int
spawn_test(const char *self, struct test_entry *t)
{
    int64_t timeout_ms = (int64_t)(t->timeout_s * 1000 * timeout_multiplier());
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        execl(self, self, "--run", t->name, (char *)NULL);
        perror("execl");
        _exit(127);
    }
    setpgid(pid, pid);
    int pfd = mpt_pidfd_open(pid);
    int timed_out = 0;
    if (pfd >= 0) {
        struct pollfd p = {.fd = pfd, .events = POLLIN};
        int64_t end = now_ms() + timeout_ms;
        int r;
        do {
            int64_t left = end - now_ms();
            r = poll(&p, 1, left > 0 ? (int)left : 0);
        } while (r < 0 && errno == EINTR);
        timed_out = r == 0;
        close(pfd);
    }
    if (timed_out) {
        fprintf(stderr, "TIMEOUT after %lld ms: %s\n", (long long)timeout_ms,
                t->name);
        kill(-pid, SIGKILL);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    int result;
    if (timed_out) {
        result = 1;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        result = 0;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == MPT_SKIP_CODE) {
        result = 2;
    } else {
        if (WIFSIGNALED(status)) {
            fprintf(stderr, "test %s killed by signal %d\n", t->name,
                    WTERMSIG(status));
        }
        result = 1;
    }
    if (group_has_members(pid)) {
        fprintf(stderr, "test %s left processes running in its group\n",
                t->name);
        kill(-pid, SIGKILL);
        result = 1;
    }
    return result;
}

int
main(int argc, char **argv)
{
    /* A spawned child or the forkserver never returns from here. */
    mp_main(argc, argv);
    clock_gettime(CLOCK_REALTIME_COARSE, &runner_started);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 2 && (strcmp(argv[1], "--list") == 0 ||
                      strcmp(argv[1], "--list-timeouts") == 0)) {
        bool timeouts = strcmp(argv[1], "--list-timeouts") == 0;
        for (int i = 0; i < ntests; i++) {
            if (timeouts) {
                printf("%s %d\n", tests[i].name, tests[i].timeout_s);
            } else {
                printf("%s\n", tests[i].name);
            }
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--helper") == 0) {
        return run_helper(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "--run") == 0) {
        struct test_entry *t = find_test(argv[2]);
        if (t == NULL) {
            fprintf(stderr, "no test named %s\n", argv[2]);
            return 2;
        }
        return run_in_this_process(t);
    }
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        perror("readlink /proc/self/exe");
        return 2;
    }
    self[n] = '\0';

    int passed = 0, failed = 0, skipped = 0;
    int count = argc > 1 ? argc - 1 : ntests;
    for (int i = 0; i < count; i++) {
        struct test_entry *t = argc > 1 ? find_test(argv[i + 1]) : &tests[i];
        if (t == NULL) {
            fprintf(stderr, "no test named %s\n", argv[i + 1]);
            failed++;
            continue;
        }
        int r = spawn_test(self, t);
        printf("%s %d - %s\n", r == 1 ? "not ok" : "ok", i + 1, t->name);
        if (r == 0) {
            passed++;
        } else if (r == 2) {
            skipped++;
        } else {
            failed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed == 0 ? 0 : 1;
}
