/* SPDX-License-Identifier: MIT */
/* init.c - lazy per-process library set-up, version queries, and the cached
 * pid/tid that stay right across fork. */
#include "mp_internal.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic pid_t cached_pid;
static pid_t session_pid; /* kept across fork on purpose */
static _Thread_local pid_t cached_tid;
/* Bumped in every child so that threads' cached tids are refreshed. */
static atomic_uint fork_generation;
static _Thread_local unsigned tid_generation;

static void
init_after_fork_child(void)
{
    atomic_store(&cached_pid, (pid_t)syscall(SYS_getpid));
    atomic_fetch_add(&fork_generation, 1);
}

static void
init_once_fn(void)
{
    session_pid = (pid_t)syscall(SYS_getpid);
    atomic_store(&cached_pid, session_pid);
    pthread_atfork(NULL, NULL, init_after_fork_child);
}

void
mp__init(void)
{
    pthread_once(&init_once, init_once_fn);
}

int
mp_init(void)
{
    mp__init();
    return 0;
}

pid_t
mp__getpid(void)
{
    /* Hot path of every lock: no pthread_once once the pid is known. The
     * fork handler refreshes it in children. */
    pid_t pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);
    if (pid != 0) {
        return pid;
    }
    mp__init();
    return atomic_load_explicit(&cached_pid, memory_order_relaxed);
}

pid_t
mp__session_pid(void)
{
    mp__init();
    return session_pid;
}

pid_t
mp__gettid(void)
{
    unsigned gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (cached_tid == 0 || tid_generation != gen) {
        cached_tid = (pid_t)syscall(SYS_gettid);
        tid_generation = gen;
    }
    return cached_tid;
}

unsigned
mp_version(void)
{
    return MP_VERSION_HEX;
}

const char *
mp_version_string(void)
{
    return MP_VERSION_STRING;
}
