/* SPDX-License-Identifier: MIT */
/* test_stop_shim.c - a preloaded library for test_mpcopy.sh
 * (LD_PRELOAD): stops the process that is about to create its
 * $MPCOPY_STOP_AT_CREATE-th file (an openat with O_CREAT of a leaf under a
 * directory fd; counted per process), with SIGSTOP, so that a test can SIGKILL
 * a worker at a chosen point in the middle of a batch of files, without a test
 * hook in mpcopy. Only one process stops in a run: the first to create the
 * marker file $MPCOPY_STOP_MARK (O_EXCL), into which it writes its pid. Not
 * built with the sanitizers (it is loaded into bash and timeout too). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*openat_fn)(int, const char *, int, ...);

/* The process the count belongs to, and its creates so far. */
static pid_t counted_pid;
static long creates;

static openat_fn
real_openat(void)
{
    static openat_fn fn;
    if (fn == NULL) {
        fn = (openat_fn)dlsym(RTLD_NEXT, "openat");
    }
    return fn;
}

/* Counts a create of the calling process; stops it at the chosen one,
 * if no other process stopped before. */
static void
count_create(void)
{
    const char *at = getenv("MPCOPY_STOP_AT_CREATE");
    const char *mark = getenv("MPCOPY_STOP_MARK");
    if (at == NULL || mark == NULL) {
        return;
    }
    if (counted_pid != getpid()) { /* a forked child counts anew */
        counted_pid = getpid();
        creates = 0;
    }
    if (++creates != atol(at)) {
        return;
    }
    int fd = real_openat()(AT_FDCWD, mark,
                           O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        return; /* another process stopped already */
    }
    char line[32];
    int n = snprintf(line, sizeof line, "%d\n", (int)getpid());
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        return;
    }
    close(fd);
    raise(SIGSTOP);
}

static int
shim_openat(int dfd, const char *path, int flags, va_list ap)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        mode = va_arg(ap, mode_t);
    }
    /* Only a leaf under a directory fd, as mpcopy makes its copies (not,
     * say, a shared-memory segment by its absolute path). */
    if ((flags & O_CREAT) && dfd != AT_FDCWD && strchr(path, '/') == NULL) {
        count_create();
    }
    return real_openat()(dfd, path, flags, mode);
}

int
openat(int dfd, const char *path, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    int fd = shim_openat(dfd, path, flags, ap);
    va_end(ap);
    return fd;
}

/* Code built with 64-bit file offsets may call it by this name. */
int openat64(int dfd, const char *path, int flags, ...)
    __attribute__((alias("openat")));
