/* SPDX-License-Identifier: MIT */
/* init.c - lazy per-process library set-up, version queries, and the cached
 * pid/tid that stay right across fork. */
#include "mp_internal.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pid_t session_pid; /* kept across fork on purpose */
static _Thread_local pid_t cached_tid;
static _Thread_local unsigned tid_generation;

/* What the fork handler writes in every child, kept together so that it
 * dirties one cache line of one page (each page a child writes costs it a
 * copy-on-write fault). */
static struct {
    _Atomic pid_t pid; /* this process's pid; 0 until mp__init */
    /* Bumped in every child so that threads' cached tids are refreshed. */
    atomic_uint fork_generation;
} fork_state;

MP__FORK_CHILD_PATH static void
init_after_fork_child(void)
{
    /* getpid(), not syscall(SYS_getpid): libc's wrapper is on a text page
     * the child runs anyway, syscall() would fault one more in. */
    atomic_store_explicit(&fork_state.pid, getpid(), memory_order_relaxed);
    atomic_fetch_add_explicit(&fork_state.fork_generation, 1,
                              memory_order_relaxed);
}

static void
init_once_fn(void)
{
    session_pid = getpid();
    atomic_store(&fork_state.pid, session_pid);
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
    pid_t pid = atomic_load_explicit(&fork_state.pid, memory_order_relaxed);
    if (pid != 0) {
        return pid;
    }
    mp__init();
    return atomic_load_explicit(&fork_state.pid, memory_order_relaxed);
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
    unsigned gen =
        atomic_load_explicit(&fork_state.fork_generation, memory_order_relaxed);
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
