/* SPDX-License-Identifier: MIT */
/* spawn.c - the spawn start method's creator side: a fresh exec of this
 * program (posix_spawn: safe in a process with threads) whose mp_main reads
 * a boot record (boot.c) and runs only the target. The child is a child of
 * the creator, so its pidfd, waitpid and signals work as for fork. */
#include "process_internal.h"

#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>

int
mp__spawn_exec(const mp__boot_info_t *bi, int devnull, int sent_wr,
               int pdeath_rd, pid_t *pid_out)
{
    if (!mp__start_hook_called()) {
        return MP_ENOMAIN; /* its exec would run main again */
    }
    int boot[2];
    int err = mp__plat_socketpair(SOCK_STREAM, boot);
    if (err != 0) {
        return err;
    }
    char fdarg[12];
    snprintf(fdarg, sizeof fdarg, "%d", MP__BOOT_FD);
    char *argv[] = {(char *)mp__start_argv0(), MP__BOOT_ARG_SPAWN, fdarg, NULL};
    mp__boot_info_t info = *bi;
    info.has_pipes = sent_wr >= 0; /* without pidfds (process.c) */
    int fds[3] = {boot[1], sent_wr, pdeath_rd};
    pid_t pid = 0;
    err = mp__plat_spawn_self(argv, devnull, fds, info.has_pipes ? 3 : 1, &pid);
    mp__plat_close(boot[1]);
    if (err == 0) {
        err = mp__boot_send(boot[0], &info,
                            mp__deadline_after_ns(MP__BOOT_TIMEOUT_NS));
        if (err != 0) {
            /* It cannot run its target (or never reported): leave no
             * child behind. */
            int code;
            (void)mp__plat_kill(pid, SIGKILL);
            (void)mp__plat_wait_pid(pid, true, &code);
        }
    }
    mp__plat_close(boot[0]);
    if (err == 0) {
        *pid_out = pid;
    }
    return err;
}
