/* SPDX-License-Identifier: MIT */
/* runner.h - the test framework: TEST() registration, assertions that print
 * both operands and error names (runner.c), and the helpers for
 * process-level tests (helpers.c).
 *
 * Every test runs in a process of its own (mp_run_tests --run NAME) with a
 * timeout, in its own process group; after the body returns the runner
 * checks that no child is left, no fd leaked and no shared-memory name of
 * the test's tree is left in /dev/shm. A failed assertion prints where and
 * why, then ends the process with status 1 (in a test's child too: the
 * parent sees a non-zero exit code). */
#ifndef MP_TEST_RUNNER_H
#define MP_TEST_RUNNER_H

#include "multiproc.h"

#include <stdint.h>
#include <string.h>
#include <sys/types.h>

typedef void (*mpt_fn)(void);
void mpt_register(const char *name, mpt_fn fn, int timeout_s);

/* TEST(name) { body } defines and registers a test. Names are unique
 * across tests/; CMake finds them with a regex, so keep "TEST(" at the
 * start of the line. TEST_TIMEOUT(name, seconds) overrides the default
 * timeout (30 s); MP_TEST_TIMEOUT_MULTIPLIER scales both.
 *
 * Every test runs under the default start method, which
 * MULTIPROC_START_METHOD names (tools/test-all.sh runs the suite under
 * fork, forkserver and spawn), so a test about behaviour common to all
 * methods passes its arguments as bytes and objects as tokens. A test
 * whose children share its memory or pipes through the fork pins
 * MP_START_FORK in its options (mpt_fork_opts, mpt_pool_make_by): it then
 * tests fork under every run. A test about the default method itself sets
 * or unsets MULTIPROC_START_METHOD before it asks for the default. */
#define MPT__DEFINE(name, timeout_s)                                           \
    static void test_##name(void);                                             \
    __attribute__((constructor)) static void mpt_reg_##name(void)              \
    {                                                                          \
        mpt_register(#name, test_##name, timeout_s);                           \
    }                                                                          \
    static void test_##name(void)
#define TEST(name) MPT__DEFINE(name, 0)
#define TEST_TIMEOUT(name, seconds) MPT__DEFINE(name, seconds)

/* TEST_HELPER(name) { body } defines a program that a test runs in a fresh
 * exec of this binary (mpt_exec_helper), to check what survives an exec:
 * never a test of its own, never listed. The helper exits 0 when its body
 * returns; its input comes through the environment. */
void mpt_register_helper(const char *name, mpt_fn fn);
#define TEST_HELPER(name)                                                      \
    static void helper_##name(void);                                           \
    __attribute__((constructor)) static void mpt_reg_helper_##name(void)       \
    {                                                                          \
        mpt_register_helper(#name, helper_##name);                             \
    }                                                                          \
    static void helper_##name(void)

/* mpt_exec_helper replaces the calling process (a test's child) with this
 * binary running helper name. It returns only if the exec failed, and then
 * fails the test. */
__attribute__((noreturn)) void mpt_exec_helper(const char *name);

/* Exit code that marks a skipped test (CTest SKIP_RETURN_CODE). */
#define MPT_SKIP_CODE 77
__attribute__((noreturn)) void mpt_skip(const char *why);

__attribute__((noreturn, format(printf, 3, 4))) void
mpt_fail(const char *file, int line, const char *fmt, ...);

#define ASSERT(cond)                                                           \
    do {                                                                       \
        if (!(cond))                                                           \
            mpt_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);       \
    } while (0)

#define MPT__CMP(a, op, b)                                                     \
    do {                                                                       \
        long long mpt_a_ = (long long)(a), mpt_b_ = (long long)(b);            \
        if (!(mpt_a_ op mpt_b_))                                               \
            mpt_fail(__FILE__, __LINE__, "%s %s %s: %lld vs %lld", #a, #op,    \
                     #b, mpt_a_, mpt_b_);                                      \
    } while (0)
#define ASSERT_EQ(a, b) MPT__CMP(a, ==, b)
#define ASSERT_NE(a, b) MPT__CMP(a, !=, b)
#define ASSERT_LT(a, b) MPT__CMP(a, <, b)
#define ASSERT_LE(a, b) MPT__CMP(a, <=, b)
#define ASSERT_GT(a, b) MPT__CMP(a, >, b)
#define ASSERT_GE(a, b) MPT__CMP(a, >=, b)

/* ASSERT_OK(call): the call returned 0 (or a non-negative count). */
#define ASSERT_OK(expr)                                                        \
    do {                                                                       \
        long long mpt_r_ = (long long)(expr);                                  \
        if (mpt_r_ < 0)                                                        \
            mpt_fail(__FILE__, __LINE__, "%s failed: %s (%s, %lld)", #expr,    \
                     mp_err_name((int)mpt_r_), mp_strerror((int)mpt_r_),       \
                     mpt_r_);                                                  \
    } while (0)

/* ASSERT_ERR(call, MP_Exxx): the call failed with exactly that code. */
#define ASSERT_ERR(expr, code)                                                 \
    do {                                                                       \
        long long mpt_r_ = (long long)(expr);                                  \
        if (mpt_r_ != (long long)(code))                                       \
            mpt_fail(__FILE__, __LINE__, "%s: expected %s, got %s (%lld)",     \
                     #expr, mp_err_name((int)(code)),                          \
                     mp_err_name((int)mpt_r_), mpt_r_);                        \
    } while (0)

#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)
#define ASSERT_STR_EQ(a, b)                                                    \
    do {                                                                       \
        const char *mpt_sa_ = (a), *mpt_sb_ = (b);                             \
        if (mpt_sa_ == NULL || mpt_sb_ == NULL || strcmp(mpt_sa_, mpt_sb_))    \
            mpt_fail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b, \
                     mpt_sa_ ? mpt_sa_ : "(null)",                             \
                     mpt_sb_ ? mpt_sb_ : "(null)");                            \
    } while (0)
#define ASSERT_MEM_EQ(a, b, n) ASSERT(memcmp((a), (b), (n)) == 0)

/* --- helpers (helpers.c) ------------------------------------------------ */

/* mpt_pidfd_open is pidfd_open(pid, 0) by syscall: the fd, or -1 with
 * errno (ENOSYS where the kernel has none). */
int mpt_pidfd_open(pid_t pid);

/* mpt_fork runs fn(arg) in a raw forked child that exits with its return
 * value (for tests of objects below the process layer); mpt_join reaps it
 * and returns its exit code, or minus the signal that killed it. */
pid_t mpt_fork(int (*fn)(void *), void *arg);
int mpt_join(pid_t pid);

/* mpt_stop sends pid SIGSTOP and returns once the kernel shows every one
 * of its threads stopped (kill alone returns before they are: a thread
 * may still run, and answer, for a moment after it). */
void mpt_stop(pid_t pid);

/* mpt_sleeps_of returns how often thread tid of process pid has gone to
 * sleep (its voluntary context switches; a thread that spins does not):
 * the count of wake-ups it needed. */
long mpt_sleeps_of(pid_t pid, pid_t tid);

/* mpt_slow returns 1 when the runner allows more time than usual (the
 * sanitizer builds set MP_TEST_TIMEOUT_MULTIPLIER): stress tests then use
 * smaller counts. */
int mpt_slow(void);

/* mpt_fork_opts: process options that pin the fork start method, for a
 * test about fork semantics (it hands its child a pointer or an inherited
 * fd) that runs under every default method. */
const mp_process_opts_t *mpt_fork_opts(void);

/* mpt_process_finish joins started process p, checks its exit code is
 * code (-N: killed by signal N), and destroys it. */
void mpt_process_finish(mp_process_t *p, int code);

/* Pool helpers shared by the pool tests: mpt_pool_make creates a pool of n
 * workers (and a per-task timeout, 0 for none); mpt_pool_finish closes,
 * joins and destroys it and checks no worker is left; mpt_task_square is a
 * task squaring one int64_t item (a message and -1 for another size). */
mp_pool_t *mpt_pool_make(int n, mp_duration_t task_timeout);
/* mpt_pool_make_by: the same with the workers' start method (0: the
 * default); MP_START_FORK for a test whose tasks use fds or memory the
 * workers inherit (mpt_announce and mpt_gate, a pointer). */
mp_pool_t *mpt_pool_make_by(int n, mp_duration_t task_timeout,
                            mp_start_method_t method);
void mpt_pool_finish(mp_pool_t *pool);
int mpt_task_square(const void *in, size_t len, mp_pool_out_t *out);
/* mpt_task_pid is a task answering its worker's pid (a pid_t). */
int mpt_task_pid(const void *in, size_t len, mp_pool_out_t *out);

/* Manager helpers shared by the manager tests: mpt_manager_start creates
 * and starts a manager with opts (NULL: defaults; failures fail the test);
 * mpt_manager_connect connects a second handle to m's server with m's
 * address and key (remote_only: every call goes to the server) and
 * returns mp_manager_connect's result, *out set only on success;
 * mpt_manager_client_opts gives the options such a handle starts from (m's
 * address and key), for a test that sets more of them. */
mp_manager_t *mpt_manager_start(const mp_manager_opts_t *opts);
int mpt_manager_connect(mp_manager_t *m, bool remote_only, mp_manager_t **out);
mp_manager_opts_t mpt_manager_client_opts(mp_manager_t *m);
/* The answers of the proxy predicates, failing the test on an error. */
bool mpt_dict_contains(mp_proxy_t *d, const void *key, size_t klen);
bool mpt_proxy_is_set(mp_proxy_t *ev);
bool mpt_proxy_broken(mp_proxy_t *bar);

/* mpt_write_all writes, mpt_read_all reads exactly n bytes on fd, retrying
 * on EINTR; a short read (EOF) or an error fails the test. */
void mpt_write_all(int fd, const void *buf, size_t n);
void mpt_read_all(int fd, void *buf, size_t n);

/* mpt_wait_pid_exit waits (no timeout of its own: the test's timeout
 * applies) until process pid, which need not be a child, has exited. */
void mpt_wait_pid_exit(pid_t pid);

/* mpt_shm_names_left counts /dev/shm entries named "mp-<pid>-*" made since
 * this runner process started (older ones belong to an earlier process
 * that had the same pid). */
int mpt_shm_names_left(pid_t session_pid);

/* mpt_fd_count counts this process's open file descriptors. */
int mpt_fd_count(void);

/* A one-shot pipe for "ready"/"go" hand-shakes between processes without
 * sleeping: mpt_signal writes a byte, mpt_wait_signal reads one (returns 0,
 * or -1 at EOF). Both ends are created close-on-exec. */
typedef struct mpt_pipe {
    int rd, wr;
} mpt_pipe_t;
void mpt_pipe_open(mpt_pipe_t *p);
void mpt_pipe_close(mpt_pipe_t *p);
void mpt_signal(mpt_pipe_t *p, uint8_t byte);
int mpt_wait_signal(mpt_pipe_t *p, uint8_t *byte);

/* mpt_hammer_start starts MPT_HAMMERS threads that allocate, free and take
 * a mutex of their own without pause until mpt_hammer_stop joins them: a
 * threaded program, any fork of which catches malloc's and such a lock in
 * use (the start-method tests run processes and pools beside them). */
#define MPT_HAMMERS 8
void mpt_hammer_start(void);
void mpt_hammer_stop(void);

/* mpt_task_announce_and_block: a pool task that writes its worker's pid
 * (a pid_t) to mpt_announce, then blocks until mpt_gate gets a byte or its
 * write end is gone (returns 0 then, -1 at EOF). Open both pipes before
 * submitting it, and make the pool's workers forks (mpt_pool_make_by with
 * MP_START_FORK): they inherit the pipes. */
extern mpt_pipe_t mpt_announce, mpt_gate;
int mpt_task_announce_and_block(const void *in, size_t len, mp_pool_out_t *out);

#endif /* MP_TEST_RUNNER_H */
