/* SPDX-License-Identifier: MIT */
/* helpers.c - the fixtures tests share (declared in runner.h): forking and
 * joining plain children, pools, managers and processes made and finished
 * the usual way, threads that hammer malloc and a mutex, common pool
 * tasks, full reads and writes, waiting for a pid to exit, stopping a
 * process (every thread of it) with SIGSTOP, and the one-byte pipe signals
 * tests synchronise with. The runner itself (the test registry, running
 * each test in its own process, the leak checks) is runner.c. */
#include "runner.h"

#include "platform/platform.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int
mpt_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

pid_t
mpt_fork(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        int code = fn(arg);
        fflush(NULL);
        _exit(code);
    }
    return pid;
}

int
mpt_join(pid_t pid)
{
    int status;
    pid_t r;
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    ASSERT_EQ(r, pid);
    return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

/* The state letter of thread tid of process pid ('T': stopped), from
 * /proc/<pid>/task/<tid>/stat, or 0 when the thread is gone. */
static char
thread_state(pid_t pid, const char *tid)
{
    char path[320], buf[512];
    snprintf(path, sizeof path, "/proc/%d/task/%s/stat", (int)pid, tid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' ? paren[2] : 0;
}

/* 1 when every thread of pid that is still there is stopped. */
static int
all_threads_stopped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    ASSERT(d != NULL);
    int stopped = 1;
    struct dirent *e;
    while (stopped && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            char st = thread_state(pid, e->d_name);
            stopped = st == 0 || st == 'T' || st == 't';
        }
    }
    closedir(d);
    return stopped;
}

long
mpt_sleeps_of(pid_t pid, pid_t tid)
{
    char path[96], line[128];
    snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid, (int)tid);
    FILE *f = fopen(path, "re");
    ASSERT_NOT_NULL(f);
    long n = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0) {
            n = atol(line + 24);
        }
    }
    fclose(f);
    ASSERT_GE(n, 0);
    return n;
}

void
mpt_stop(pid_t pid)
{
    ASSERT_EQ(kill(pid, SIGSTOP), 0);
    while (!all_threads_stopped(pid)) {
        sched_yield();
    }
}

int
mpt_slow(void)
{
    const char *m = getenv("MP_TEST_TIMEOUT_MULTIPLIER");
    return m != NULL && atoi(m) > 1;
}

mp_pool_t *
mpt_pool_make_by(int n, mp_duration_t task_timeout, mp_start_method_t method)
{
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = n;
    o.task_timeout = task_timeout;
    o.start_method = method;
    ASSERT_OK(mp_pool_create(&pool, &o));
    return pool;
}

mp_pool_t *
mpt_pool_make(int n, mp_duration_t task_timeout)
{
    return mpt_pool_make_by(n, task_timeout, 0);
}

const mp_process_opts_t *
mpt_fork_opts(void)
{
    static mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.start_method = MP_START_FORK;
    return &opts;
}

void
mpt_process_finish(mp_process_t *p, int code)
{
    ASSERT_OK(mp_process_join(p, MP_WAIT_FOREVER));
    int got = code - 1;
    ASSERT_OK(mp_process_exitcode(p, &got));
    ASSERT_EQ(got, code);
    mp_process_destroy(p);
}

void
mpt_pool_finish(mp_pool_t *pool)
{
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
}

/* The hammer threads (mpt_hammer_start), their mutexes and stop flag. */
static pthread_t hammers[MPT_HAMMERS];
static pthread_mutex_t hammer_mu[MPT_HAMMERS];
static _Atomic bool hammer_stop;

/* One hammer: allocates, frees and takes its mutex until told to stop. */
static void *
hammer(void *arg)
{
    pthread_mutex_t *mu = arg;
    unsigned seed = 1;
    while (!atomic_load(&hammer_stop)) {
        void *a = malloc(64 + (size_t)(rand_r(&seed) % 4096));
        pthread_mutex_lock(mu);
        free(malloc(32));
        pthread_mutex_unlock(mu);
        free(a);
    }
    return NULL;
}

void
mpt_hammer_start(void)
{
    atomic_store(&hammer_stop, false);
    for (int i = 0; i < MPT_HAMMERS; i++) {
        pthread_mutex_init(&hammer_mu[i], NULL);
        ASSERT_EQ(pthread_create(&hammers[i], NULL, hammer, &hammer_mu[i]), 0);
    }
}

void
mpt_hammer_stop(void)
{
    atomic_store(&hammer_stop, true);
    for (int i = 0; i < MPT_HAMMERS; i++) {
        ASSERT_EQ(pthread_join(hammers[i], NULL), 0);
        pthread_mutex_destroy(&hammer_mu[i]);
    }
}

int
mpt_task_pid(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    pid_t pid = getpid();
    return mp_pool_out_write(out, &pid, sizeof pid);
}

mpt_pipe_t mpt_announce = {-1, -1}, mpt_gate = {-1, -1};

int
mpt_task_announce_and_block(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    (void)out;
    pid_t pid = getpid();
    mpt_write_all(mpt_announce.wr, &pid, sizeof pid);
    uint8_t b;
    return mpt_wait_signal(&mpt_gate, &b) == 0 ? 0 : -1;
}

mp_manager_t *
mpt_manager_start(const mp_manager_opts_t *opts)
{
    mp_manager_t *m = NULL;
    ASSERT_OK(mp_manager_create(&m, opts));
    ASSERT_OK(mp_manager_start(m));
    return m;
}

mp_manager_opts_t
mpt_manager_client_opts(mp_manager_t *m)
{
    const void *key;
    size_t klen;
    ASSERT_OK(mp_manager_authkey(m, &key, &klen));
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.address = mp_manager_address(m);
    o.authkey = key;
    o.authkey_len = klen;
    return o;
}

bool
mpt_dict_contains(mp_proxy_t *d, const void *key, size_t klen)
{
    bool found = false;
    ASSERT_OK(mp_dict_contains(d, key, klen, &found));
    return found;
}

bool
mpt_proxy_is_set(mp_proxy_t *ev)
{
    bool is_set = false;
    ASSERT_OK(mp_proxy_is_set(ev, &is_set));
    return is_set;
}

bool
mpt_proxy_broken(mp_proxy_t *bar)
{
    bool broken = false;
    ASSERT_OK(mp_proxy_broken(bar, &broken));
    return broken;
}

int
mpt_manager_connect(mp_manager_t *m, bool remote_only, mp_manager_t **out)
{
    mp_manager_opts_t o = mpt_manager_client_opts(m);
    o.remote_only = remote_only;
    ASSERT_OK(mp_manager_create(out, &o));
    int err = mp_manager_connect(*out, 30000);
    if (err != 0) {
        mp_manager_destroy(*out);
        *out = NULL;
    }
    return err;
}

int
mpt_task_square(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    if (len != sizeof x) {
        mp_pool_out_error(out, "bad item size");
        return -1;
    }
    memcpy(&x, in, sizeof x);
    x *= x;
    return mp_pool_out_write(out, &x, sizeof x);
}

void
mpt_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        ASSERT_GT(r, 0);
        p += r;
        n -= (size_t)r;
    }
}

void
mpt_read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        ASSERT_GT(r, 0);
        p += r;
        n -= (size_t)r;
    }
}

/* mpt_wait_pid_exit without pidfds (valgrind before 3.20): our child is
 * waited for without being reaped; any other process is looked at every
 * millisecond until it is gone or a zombie (the library's own check). */
static void
wait_pid_exit_no_pidfd(pid_t pid)
{
    siginfo_t si;
    int r;
    do {
        r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        return;
    }
    ASSERT_EQ(errno, ECHILD);
    while (mp__plat_pid_alive(pid)) {
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
}

void
mpt_wait_pid_exit(pid_t pid)
{
    int fd = mpt_pidfd_open(pid);
    if (fd < 0 && errno == ENOSYS) {
        wait_pid_exit_no_pidfd(pid);
        return;
    }
    if (fd < 0) {
        ASSERT_EQ(errno, ESRCH); /* already gone */
        return;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (poll(&pfd, 1, -1) < 0) {
        ASSERT_EQ(errno, EINTR);
    }
    close(fd);
}

void
mpt_pipe_open(mpt_pipe_t *p)
{
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
    p->rd = fds[0];
    p->wr = fds[1];
}

void
mpt_pipe_close(mpt_pipe_t *p)
{
    if (p->rd >= 0) {
        close(p->rd);
    }
    if (p->wr >= 0) {
        close(p->wr);
    }
    p->rd = p->wr = -1;
}

void
mpt_signal(mpt_pipe_t *p, uint8_t byte)
{
    mpt_write_all(p->wr, &byte, 1);
}

int
mpt_wait_signal(mpt_pipe_t *p, uint8_t *byte)
{
    uint8_t b;
    ssize_t r;
    do {
        r = read(p->rd, &b, 1);
    } while (r < 0 && errno == EINTR);
    ASSERT(r >= 0);
    if (r == 0) {
        return -1;
    }
    if (byte != NULL) {
        *byte = b;
    }
    return 0;
}
