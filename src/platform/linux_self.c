/* SPDX-License-Identifier: MIT */
/* linux_self.c - the calling process itself: lazy per-process library
 * set-up (mp__init, mp_init), the cached pid/tid that stay right across
 * fork, the fork-local page (an anonymous mapping with MADV_WIPEONFORK)
 * that holds process-local state a forked child must not inherit, and
 * mp__panic, the process's last words on stderr. These are declared in
 * common/mp_internal.h (every file asserts and asks for its pid) and
 * defined here, where the OS calls live. */
#include "platform.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pid_t session_pid; /* kept across fork on purpose */

/* The fork-local page: private memory that every child forked from this
 * process gets zeroed (MADV_WIPEONFORK). fork copies none of its page
 * tables, so the parent's writes to it after a fork cost no
 * copy-on-write fault, and a child finds its content reset without any
 * fork handler running. local_page and local_used are written only while
 * modules set up (under their pthread_once), read-only after. */
#define LOCAL_PAGE_SIZE 4096u
static char *local_page;
static size_t local_used;
static pthread_mutex_t local_mu = PTHREAD_MUTEX_INITIALIZER;
/* This process's pid, in the fork-local page: 0 in a new child. */
static _Atomic pid_t *pid_cache;

static _Thread_local pid_t cached_tid;
static _Thread_local pid_t cached_tid_pid; /* the process cached_tid is of */

/* Without MADV_WIPEONFORK (Linux < 4.14, or a sandbox refusing it) this
 * child handler clears the fork-local page instead: the same result, at
 * the price of a copy-on-write fault in every child. */
static void
clear_local_page(void)
{
    memset(local_page, 0, LOCAL_PAGE_SIZE);
}

static void
init_once_fn(void)
{
    session_pid = getpid();
    void *page = mmap(NULL, LOCAL_PAGE_SIZE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    MP__ASSERT(page != MAP_FAILED); /* one page, at the library's start */
    local_page = page;
    if (madvise(page, LOCAL_PAGE_SIZE, MADV_WIPEONFORK) != 0) {
        pthread_atfork(NULL, NULL, clear_local_page);
    }
    /* Not mp__fork_local: that calls mp__init. */
    pid_cache = (_Atomic pid_t *)(void *)local_page;
    local_used = 64;
    atomic_store_explicit(pid_cache, session_pid, memory_order_relaxed);
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

void *
mp__fork_local(size_t size)
{
    mp__init();
    pthread_mutex_lock(&local_mu);
    size_t at = local_used;
    local_used += (size + 63) & ~(size_t)63; /* whole cache lines */
    /* The callers are a fixed set of library modules, far below a page. */
    MP__ASSERT(local_used <= LOCAL_PAGE_SIZE);
    pthread_mutex_unlock(&local_mu);
    return local_page + at;
}

pid_t
mp__getpid(void)
{
    /* Hot path of every lock: two loads once the pid is known. */
    _Atomic pid_t *cache = pid_cache;
    if (cache != NULL) {
        pid_t pid = atomic_load_explicit(cache, memory_order_relaxed);
        if (pid != 0) {
            return pid;
        }
    }
    mp__init();
    /* First call in a new child (its fork-local page is zeroed): find the
     * pid once. The child's only thread is the one that forked, whose
     * cached tid is the parent's: drop it. */
    pid_t pid = getpid();
    cached_tid = 0;
    atomic_store_explicit(pid_cache, pid, memory_order_relaxed);
    return pid;
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
    /* mp__getpid first: in a new child it drops the inherited tid. */
    pid_t pid = mp__getpid();
    if (cached_tid == 0 || cached_tid_pid != pid) {
        cached_tid = (pid_t)syscall(SYS_gettid);
        cached_tid_pid = pid;
    }
    return cached_tid;
}

void
mp__panic(const char *file, int line, const char *what)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg,
                     "multiproc: internal error at %s:%d: %s (pid %d)\n", file,
                     line, what, (int)getpid());
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, msg,
                          (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
    abort();
}
