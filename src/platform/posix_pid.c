/* SPDX-License-Identifier: MIT */
/* posix_pid.c - questions about processes: is a pid alive, is a holder
 * identity (pid plus start time) alive, a pidfd for a pid, which pid
 * namespace this process is in, and how many CPUs this process may use. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* Set by mp__plat_pidfd_disable (tests): pidfd_open fails with ENOSYS, as
 * on a kernel before 5.3 or under valgrind before 3.20. */
static _Atomic bool pidfd_disabled;

int
mp__plat_pidfd_open(pid_t pid)
{
    if (atomic_load_explicit(&pidfd_disabled, memory_order_relaxed)) {
        return MP_ENOSYS;
    }
    /* pidfds are close-on-exec by definition. */
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

bool
mp__plat_have_pidfd(void)
{
    /* Whether the system has the call does not change: asked once, of the
     * caller itself. 0: not known yet, 1: yes, -1: no. */
    static _Atomic int known;
    if (atomic_load_explicit(&pidfd_disabled, memory_order_relaxed)) {
        return false;
    }
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k == 0) {
        int fd = mp__plat_pidfd_open(mp__getpid());
        if (fd >= 0) {
            mp__plat_close(fd);
        } else if (fd != MP_ENOSYS && fd != MP_EPERM) {
            return true; /* out of fds, say: it exists, ask again later */
        }
        /* EPERM: a seccomp filter that refuses calls it does not know. */
        k = fd >= 0 ? 1 : -1;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k > 0;
}

void
mp__plat_pidfd_disable(bool disable)
{
    atomic_store(&pidfd_disabled, disable);
}

/* What /proc/PID/stat says of a process. */
typedef struct proc_stat {
    char state;         /* field 3: R, S, D, Z, X ... */
    uint64_t starttime; /* field 22: clock ticks after boot */
} proc_stat_t;

/* Reads /proc/PID/stat (pid 0: /proc/self/stat). Returns 0, MP_ESRCH (no
 * such process in the /proc mounted here), or another error (no /proc, a
 * line it cannot parse). */
static int
proc_stat_read(pid_t pid, proc_stat_t *out)
{
    char path[64], buf[1024];
    if (pid == 0) {
        snprintf(path, sizeof path, "/proc/self/stat");
    } else {
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? MP_ESRCH : -errno;
    }
    ssize_t n = mp__plat_read_full(fd, buf, sizeof buf - 1);
    mp__plat_close(fd);
    if (n <= 0) {
        return n == 0 ? MP_ESRCH : (int)n; /* gone while we read it */
    }
    buf[n] = '\0';
    /* The name (field 2) may hold anything: the fields after it start
     * after its last ')'. */
    const char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0') {
        return MP_EPROTO;
    }
    p += 2;
    out->state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL) {
            return MP_EPROTO;
        }
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long t = strtoull(p, &end, 10);
    if (end == p || errno != 0) {
        return MP_EPROTO;
    }
    out->starttime = t;
    return 0;
}

/* Fallback when pidfd_open is missing: the state letter in /proc/PID/stat. */
static int
proc_stat_alive(pid_t pid)
{
    proc_stat_t st;
    int r = proc_stat_read(pid, &st);
    if (r != 0) {
        return r == MP_ESRCH ? 0 : 1;
    }
    return st.state != 'Z' && st.state != 'X';
}

int
mp__plat_pid_alive(pid_t pid)
{
    if (pid <= 0) {
        return 0;
    }
    int fd = mp__plat_pidfd_open(pid);
    if (fd == MP_ESRCH) {
        return 0;
    }
    if (fd < 0) {
        if (kill(pid, 0) != 0 && errno == ESRCH) {
            return 0;
        }
        return proc_stat_alive(pid);
    }
    /* A pidfd polls readable once the process has exited, zombie or not
     * (a deadline of 0 has passed: one poll that does not wait). */
    int r = mp__plat_poll_in(fd, 0);
    mp__plat_close(fd);
    return r == 1 ? 0 : 1;
}

/*--- holder identities and the pid namespace -------------------------------*/

/* This process's identity and pid namespace, in the fork-local page
 * (mp__fork_local): a forked child finds them zero and reads its own once.
 * A process stays in its pid namespace for life (unshare and setns move
 * only the children made afterwards), so both are fixed per process. */
typedef struct self_local {
    _Atomic uint64_t ident; /* mp__plat_self_ident; 0 not read yet */
    _Atomic uint64_t pidns; /* inode of /proc/self/ns/pid; 0 not read */
    _Atomic int proc_ours;  /* /proc shows this pid namespace: 1 yes,
                               -1 no, 0 not read yet */
} self_local_t;

static self_local_t *self_local; /* set once by self_once_fn */
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void
self_once_fn(void)
{
    self_local = mp__fork_local(sizeof *self_local);
}

/* The calling process's fork-local record. */
static self_local_t *
self_rec(void)
{
    pthread_once(&self_once, self_once_fn);
    return self_local;
}

/* Whether the /proc mounted here is the proc of the calling process's pid
 * namespace, so that /proc/PID names the process that has pid PID here. In
 * a new pid namespace that did not mount its own /proc, /proc/PID is the
 * parent namespace's process PID: its start time says nothing about ours.
 * The NSpid line of /proc/self/status lists the caller's pid in /proc's
 * namespace and in each namespace below it down to the caller's: one
 * number exactly when the two namespaces are one (Linux 4.1). */
static bool
proc_is_ours(void)
{
    self_local_t *rec = self_rec();
    int known = atomic_load_explicit(&rec->proc_ours, memory_order_relaxed);
    if (known != 0) {
        return known > 0;
    }
    bool ours = false;
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = mp__plat_read_full(fd, buf, sizeof buf - 1);
        mp__plat_close(fd);
        buf[n > 0 ? n : 0] = '\0';
        const char *line = strstr(buf, "\nNSpid:");
        if (line != NULL) {
            line += strlen("\nNSpid:");
            char *end;
            long first = strtol(line, &end, 10);
            end += strspn(end, " \t");
            /* One number, and it is our pid. */
            ours = end != line && first == (long)mp__getpid() &&
                   (*end == '\n' || *end == '\0');
        }
    }
    atomic_store_explicit(&rec->proc_ours, ours ? 1 : -1, memory_order_relaxed);
    return ours;
}

/* Builds an identity from a pid and a 32-bit tag (kind: 0, a start time,
 * or MP__PLAT_IDENT_PIDFS, a pidfs inode). */
static uint64_t
ident_make(pid_t pid, uint64_t tag, uint64_t kind)
{
    return ((uint64_t)(uint32_t)tag << 32) | kind | (uint32_t)pid;
}

bool mp__plat_test_no_pidfs;

/* pidfs's magic number (statfs f_type of a pidfd, Linux 6.9). */
#define PIDFS_MAGIC 0x50494446

/* The inode number of pidfd fd folded to 32 bits, or 0 where pidfds are
 * not pidfs files (Linux < 6.9: one anonymous inode serves them all).
 * pidfs numbers every struct pid the kernel makes (processes and threads)
 * from one 64-bit counter, never reusing one. */
static uint32_t
pidfd_tag(int fd)
{
    struct statfs sfs;
    struct stat sb;
    if (fstatfs(fd, &sfs) != 0 || (unsigned long)sfs.f_type != PIDFS_MAGIC ||
        fstat(fd, &sb) != 0) {
        return 0;
    }
    uint64_t ino = (uint64_t)sb.st_ino;
    return (uint32_t)(ino ^ (ino >> 32));
}

/* The identity of the live process that has pid now, or 0 when none has:
 * tagged with its pidfs inode when want_pidfs and the kernel has pidfs,
 * else with its start time (0 when /proc cannot tell). */
static uint64_t
ident_read(pid_t pid, bool want_pidfs)
{
    int fd = mp__plat_pidfd_open(pid);
    if (fd == MP_ESRCH) {
        return 0;
    }
    uint32_t tag = 0;
    if (fd >= 0) {
        /* A pidfd polls readable once the process has exited. */
        int r = mp__plat_poll_in(fd, 0);
        if (r != 1 && want_pidfs && !mp__plat_test_no_pidfs) {
            tag = pidfd_tag(fd);
        }
        mp__plat_close(fd);
        if (r == 1) {
            return 0;
        }
    } else if (!mp__plat_pid_alive(pid)) {
        return 0;
    }
    if (tag != 0) {
        return ident_make(pid, tag, MP__PLAT_IDENT_PIDFS);
    }
    bool self = pid == mp__getpid();
    if (!self && !proc_is_ours()) {
        return ident_make(pid, 0, 0); /* /proc/PID is another process */
    }
    proc_stat_t st;
    int r = proc_stat_read(self ? 0 : pid, &st);
    if (r == MP_ESRCH || (r == 0 && (st.state == 'Z' || st.state == 'X'))) {
        return 0; /* exited since */
    }
    return ident_make(pid, r == 0 ? st.starttime : 0, 0);
}

_Atomic uint64_t *_Atomic mp__plat_self_ident_at;

uint64_t
mp__plat_self_ident_read(void)
{
    self_local_t *rec = self_rec();
    uint64_t v = atomic_load_explicit(&rec->ident, memory_order_relaxed);
    if (v == 0) {
        pid_t pid = mp__getpid();
        v = ident_read(pid, true);
        if (v == 0) {
            v = ident_make(pid, 0, 0); /* we live: only a refused probe */
        }
        atomic_store_explicit(&rec->ident, v, memory_order_relaxed);
    }
    /* From now on the inline fast path finds it (and a forked child finds
     * the slot zeroed, and comes here). */
    atomic_store_explicit(&mp__plat_self_ident_at, &rec->ident,
                          memory_order_release);
    return v;
}

uint64_t
mp__plat_ident_of(pid_t pid)
{
    if (pid <= 0 || (pid_t)((uint32_t)pid & MP__PLAT_IDENT_PID_MASK) != pid) {
        return 0;
    }
    return ident_read(pid, true);
}

int
mp__plat_ident_alive(uint64_t ident)
{
    uint64_t kind = ident & MP__PLAT_IDENT_PIDFS;
    uint64_t now = ident_read(mp__plat_ident_pid(ident), kind != 0);
    if (now == 0) {
        return 0;
    }
    /* Without a tag of the same kind on both sides (one could not be
     * read) the pid must do; with both, a pid reused by another process
     * carries another tag. */
    uint32_t tag = (uint32_t)(ident >> 32), now_tag = (uint32_t)(now >> 32);
    return (now & MP__PLAT_IDENT_PIDFS) != kind || tag == 0 || now_tag == 0 ||
           tag == now_tag;
}

uint64_t
mp__plat_pidns_id(void)
{
    self_local_t *rec = self_rec();
    uint64_t v = atomic_load_explicit(&rec->pidns, memory_order_relaxed);
    if (v == 0) {
        struct stat sb;
        if (stat("/proc/self/ns/pid", &sb) != 0) {
            return 0;
        }
        v = (uint64_t)sb.st_ino;
        atomic_store_explicit(&rec->pidns, v, memory_order_relaxed);
    }
    return v;
}

int
mp__plat_pidns_same(uint64_t theirs, bool unknown_ok)
{
    uint64_t ours = mp__plat_pidns_id();
    if (theirs == 0 || ours == 0) {
        return unknown_ok;
    }
    return theirs == ours;
}

int
mp__plat_cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) {
            return n;
        }
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int
mp_cpu_count(void)
{
    return mp__plat_cpu_count();
}
