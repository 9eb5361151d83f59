/* SPDX-License-Identifier: MIT */
/* posix_file.c - paths in the file system: removing a file or an empty
 * directory, making a fresh private directory, a file's identity (stat,
 * lstat), its mode, and the working directory. Every call retries on
 * EINTR where the call can report it. */
#include "platform.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int
mp__plat_unlink(const char *path)
{
    return unlink(path) == 0 ? 0 : -errno;
}

int
mp__plat_rmdir(const char *path)
{
    return rmdir(path) == 0 ? 0 : -errno;
}

int
mp__plat_stat(const char *path, bool follow, struct stat *st)
{
    int r = follow ? stat(path, st) : lstat(path, st);
    return r == 0 ? 0 : -errno;
}

int
mp__plat_chmod(const char *path, unsigned mode)
{
    return chmod(path, (mode_t)mode) == 0 ? 0 : -errno;
}

int
mp__plat_chdir(const char *path)
{
    return chdir(path) == 0 ? 0 : -errno;
}

int
mp__plat_mkdtemp(char *tmpl)
{
    return mkdtemp(tmpl) != NULL ? 0 : -errno;
}
