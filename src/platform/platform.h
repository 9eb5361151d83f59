/* SPDX-License-Identifier: MIT */
/* platform.h - the contract between the library and the operating system.
 * Every mp__plat_* function is implemented in a posix_*.c or linux_*.c file
 * beside this header; the rest of the library makes no raw syscalls for
 * these jobs. All file descriptors it creates are close-on-exec, and every
 * call retries on EINTR itself unless its contract says otherwise. */
#ifndef MP_PLATFORM_H
#define MP_PLATFORM_H

#include "../common/mp_internal.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* --- futex (linux_futex.c): the one wait primitive -------------------- */

/* mp__plat_futex_wait sleeps while *word == expected, until woken or until
 * deadline (absolute, CLOCK_MONOTONIC ns; MP__NO_DEADLINE = none). The word
 * may be in memory shared between processes. Returns 0 when woken or when
 * *word already differed (callers re-check their condition: wake-ups may be
 * spurious), or MP_ETIMEDOUT once the deadline has passed. */
int mp__plat_futex_wait(_Atomic uint32_t *word, uint32_t expected,
                        int64_t deadline);

/* mp__plat_futex_wake wakes up to n sleepers on word (INT32_MAX: all).
 * Returns the number woken. */
int mp__plat_futex_wake(_Atomic uint32_t *word, int n);

/* --- processes (posix_pid.c) ------------------------------------------ */

/* mp__plat_pid_alive returns 1 if process pid exists and has not exited
 * (a zombie counts as exited), 0 otherwise. */
int mp__plat_pid_alive(pid_t pid);

/* mp__plat_pidfd_open returns a close-on-exec pidfd for pid, or a negative
 * error (MP_ESRCH, MP_ENOSYS ...). */
int mp__plat_pidfd_open(pid_t pid);

/* mp__plat_cpu_count returns the CPUs in this process's affinity mask
 * (at least 1). */
int mp__plat_cpu_count(void);

/* --- file descriptors (posix_fd.c) ------------------------------------ */

/* mp__plat_pipe makes a close-on-exec pipe. Returns 0 or a negative error. */
int mp__plat_pipe(int fds[2]);

/* mp__plat_read_full reads exactly n bytes unless EOF comes first. Returns
 * the bytes read (< n only at EOF) or a negative error. */
ssize_t mp__plat_read_full(int fd, void *buf, size_t n);

/* mp__plat_write_full writes all n bytes. Returns 0 or a negative error. */
int mp__plat_write_full(int fd, const void *buf, size_t n);

/* mp__plat_close closes fd, ignoring EINTR (the fd is gone either way). */
void mp__plat_close(int fd);

/* mp__plat_poll_in waits up to deadline for fd to be readable. Returns 1
 * (readable or hung up), 0 (deadline passed), or a negative error. */
int mp__plat_poll_in(int fd, int64_t deadline);

/* --- randomness (posix_random.c) -------------------------------------- */

/* mp__plat_random_u64 returns 64 unpredictable bits: a per-process
 * generator seeded from the kernel (getrandom), reseeded after fork. */
uint64_t mp__plat_random_u64(void);

#endif /* MP_PLATFORM_H */
