/* SPDX-License-Identifier: MIT */
/* posix_detach.c - making a detached helper process (the shared-memory
 * tracker): a fork that runs no fork handlers, leaving the caller's
 * session, signals and working directory, and keeping only chosen fds. */
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

pid_t
mp__plat_fork_bare(void)
{
    pid_t pid = _Fork();
    return pid < 0 ? -errno : pid;
}

void
mp__plat_detach(void)
{
    (void)setsid();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    static const int ignored[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT};
    for (size_t i = 0; i < MP__ARRAY_SIZE(ignored); i++) {
        (void)sigaction(ignored[i], &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    /* Do not pin the caller's directory. "/" cannot fail to be entered
     * short of a broken system, and then staying put does no harm (an if,
     * not a (void) cast: glibc's fortified chdir warns on a cast). */
    if (chdir("/") != 0) {
    }
}

int
mp__plat_keep_fds(const int *fds, int n)
{
    MP__ASSERT(n >= 0 && n <= MP__PLAT_FDS_MAX);
    /* Park every fd above the targets first, so that moving one to its
     * target never overwrites another still to be moved. */
    int parked[MP__PLAT_FDS_MAX];
    int keep[MP__PLAT_FDS_MAX];
    for (int i = 0; i < n; i++) {
        parked[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + n);
        if (parked[i] < 0) {
            return -errno;
        }
    }
    for (int i = 0; i < n; i++) {
        if (dup3(parked[i], 3 + i, O_CLOEXEC) < 0) {
            return -errno;
        }
        keep[i] = 3 + i;
    }
    mp__plat_close(STDIN_FILENO);
    mp__plat_close(STDOUT_FILENO);
    mp__plat_close_all_but(keep, n);
    return 0;
}
