/* SPDX-License-Identifier: MIT */
/* posix_pid.c - questions about processes: is a pid alive, a pidfd for it,
 * and how many CPUs this process may use. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int
mp__plat_pidfd_open(pid_t pid)
{
    /* pidfds are close-on-exec by definition. */
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

/* Fallback when pidfd_open is missing: the state letter in /proc/PID/stat. */
static int
proc_stat_alive(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : 1;
    }
    ssize_t n = mp__plat_read_full(fd, buf, sizeof buf - 1);
    mp__plat_close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    const char *rparen = strrchr(buf, ')');
    if (rparen == NULL || rparen[1] == '\0' || rparen[2] == '\0') {
        return 1;
    }
    char state = rparen[2];
    return state != 'Z' && state != 'X';
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
    /* A pidfd polls readable once the process has exited, zombie or not. */
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, 0);
    } while (r < 0 && errno == EINTR);
    mp__plat_close(fd);
    return r == 1 ? 0 : 1;
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
