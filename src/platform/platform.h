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

/* A holder identity: a process named so that a later process given the
 * same pid is not taken for it. Bits 0-29 hold the pid (pids stay below
 * 2^22), bit 31 is 0 (the death-surviving mutex keeps its waiters bit
 * there), bits 32-63 hold a tag of the process: with bit 30
 * (MP__PLAT_IDENT_PIDFS) set, the inode number of its pidfd folded to 32
 * bits (Linux 6.9's pidfs numbers every process from one counter, never
 * reusing a number); else the low 32 bits of its start time (field 22 of
 * /proc/PID/stat: clock ticks after boot, 10 ms each), or 0 when neither
 * could be read (then only the pid is checked). With pidfs, two processes
 * share an identity only 2^32 processes and threads apart; with start
 * times, when one reuses the other's pid within the same clock tick - the
 * kernel hands pids out in a cycle, so that takes the whole pid space
 * going round in 10 ms, or root writing ns_last_pid - or 497 days apart.
 * An identity is valid in the pid namespace it was made in only. */
#define MP__PLAT_IDENT_PID_MASK 0x3fffffffu
#define MP__PLAT_IDENT_PIDFS 0x40000000u

/* mp__plat_ident_pid returns the pid of an identity. */
static inline pid_t
mp__plat_ident_pid(uint64_t ident)
{
    return (pid_t)(ident & MP__PLAT_IDENT_PID_MASK);
}

/* mp__plat_self_ident returns the calling process's identity: read once
 * per process (a pidfd of itself, or /proc/self/stat) and again in a
 * forked child; after that, two loads. Never 0. Context: any thread. */
uint64_t mp__plat_self_ident(void);

/* mp__plat_ident_of returns the identity of the live process that has pid
 * now, as mp__plat_self_ident would give it in that process (its tag 0
 * when there is no pidfs and the /proc mounted here does not belong to
 * the caller's pid namespace or cannot be read), or 0 when none has.
 * Several syscalls: slow paths only. */
uint64_t mp__plat_ident_of(pid_t pid);

/* mp__plat_ident_alive returns 1 if the process named by ident lives: its
 * pid exists and has not exited (a zombie counts as exited) and, when
 * the caller can read the same kind of tag for that pid, the tag is the
 * identity's; 0 otherwise. This is the one test of "is this holder
 * alive" for every lock word and queue cell of the library. Context: any
 * thread; several syscalls, so only on slow paths. */
int mp__plat_ident_alive(uint64_t ident);

/* Test knob: when true, identities made from now on carry start times even
 * where the kernel has pidfs (so tests reach that path on any kernel). */
extern bool mp__plat_test_no_pidfs;

/* mp__plat_pidns_id returns an id of the calling process's pid namespace
 * (the inode of /proc/self/ns/pid), read once per process; 0 if unknown.
 * Shared objects record their creator's so that a process of another pid
 * namespace, whose pids mean other processes, is refused (MP_EPIDNS).
 * A namespace's id can be reused once it has no process left. */
uint64_t mp__plat_pidns_id(void);

/* mp__plat_pidns_same returns 1 if theirs (an id from mp__plat_pidns_id in
 * some process) is the caller's pid namespace, else 0. When either id is
 * unknown (0: no /proc) it returns unknown_ok: callers that have another
 * way (a manager client's socket) pass false, callers that have none (a
 * queue attached by name) true. */
int mp__plat_pidns_same(uint64_t theirs, bool unknown_ok);

/* mp__plat_pidfd_open returns a close-on-exec pidfd for pid, or a negative
 * error (MP_ESRCH, MP_ENOSYS ...). */
int mp__plat_pidfd_open(pid_t pid);

/* mp__plat_have_pidfd tells whether pidfd_open works here (Linux 5.3;
 * valgrind before 3.20 does not know it): where it does not, the process
 * layer watches its children with sentinel pipes instead. Context: any
 * thread. */
bool mp__plat_have_pidfd(void);

/* mp__plat_pidfd_disable(true) makes pidfd_open fail with MP_ENOSYS in
 * this process and its later children, as where the call is missing; for
 * tests of the fallback (the runner sets it when MP_TEST_NO_PIDFD=1). */
void mp__plat_pidfd_disable(bool disable);

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

/* mp__plat_poll_fd waits up to deadline for any of events (POLLIN,
 * POLLOUT) on fd. Returns 1 (ready, hung up or in error), 0 (deadline
 * passed), or a negative error. */
int mp__plat_poll_fd(int fd, short events, int64_t deadline);

/* mp__plat_send_nb sends up to n bytes on socket fd without blocking and
 * without SIGPIPE; mp__plat_recv_nb receives up to n bytes without
 * blocking. Both return the bytes moved (recv: 0 at end of stream),
 * -EAGAIN when the socket is not ready, or another negative error. */
ssize_t mp__plat_send_nb(int fd, const void *buf, size_t n);
ssize_t mp__plat_recv_nb(int fd, void *buf, size_t n);

/* --- readiness sets (linux_epoll.c) ----------------------------------- */

/* mp__plat_epoll_create makes a close-on-exec epoll instance. Returns its
 * fd (readable while one of its fds is ready) or a negative error. */
int mp__plat_epoll_create(void);

/* mp__plat_epoll_add registers fd in ep for events (EPOLLIN, EPOLLOUT;
 * level-triggered), mp__plat_epoll_mod changes them, mp__plat_epoll_del
 * removes fd. Return 0 or a negative error. */
int mp__plat_epoll_add(int ep, int fd, uint32_t events);
int mp__plat_epoll_mod(int ep, int fd, uint32_t events);
int mp__plat_epoll_del(int ep, int fd);

/* mp__plat_epoll_wait waits until deadline (MP__NO_DEADLINE: forever;
 * now or earlier: just look) for ready fds of ep and stores up to cap of
 * them in fds[] with their events in events[]. Returns how many (0 once
 * the deadline passed with none ready; EINTR is retried) or a negative
 * error. */
int mp__plat_epoll_wait(int ep, int *fds, uint32_t *events, int cap,
                        int64_t deadline);

/* --- randomness (posix_random.c) -------------------------------------- */

/* mp__plat_secret_bytes fills buf with len bytes from the kernel's CSPRNG
 * (getrandom), retrying on EINTR and short reads. Every secret of the
 * library (authkeys, the manager's shutdown secret, handshake challenges,
 * hash keys) comes from here. Returns 0, or a negative error (MP_ENOSYS
 * ...) with buf's contents unspecified: there is no weaker fallback. */
int mp__plat_secret_bytes(void *buf, size_t len);

/* mp__plat_random_u64 returns 64 bits for names (shared-memory segments,
 * sockets): a per-process generator seeded from the kernel, reseeded after
 * fork, unique in practice but NOT secret - one output reveals the
 * generator's state, so its values must never serve as a secret. */
uint64_t mp__plat_random_u64(void);

/* --- socket options (posix_socket.c) --------------------------------- */

/* Within this many ms of a TCP peer falling silent (keep-alive probes
 * unanswered) or of sent data going unacknowledged, the kernel ends a
 * connection that mp__plat_tcp_keepalive was applied to: reads then fail
 * (ETIMEDOUT) instead of waiting for ever. */
#define MP__PLAT_KEEPALIVE_MS 11000

/* mp__plat_tcp_keepalive arms the bound above on a connected TCP socket;
 * any other socket (AF_UNIX) is left as it is. Returns 0 or a negative
 * error. */
int mp__plat_tcp_keepalive(int fd);

/* --- connecting (posix_socket.c) -------------------------------------- */

struct sockaddr;

/* mp__plat_connect connects stream socket fd (blocking mode) to sa, waiting
 * no later than deadline, and leaves fd blocking. AF_UNIX: a listener with
 * a full backlog makes a non-blocking connect fail with EAGAIN at once,
 * and such a connect cannot be polled for completion, so it connects
 * blocking with SO_SNDTIMEO set to the time left (a blocking connect waits
 * for room and honours it; the option is cleared after). Other families:
 * a non-blocking connect, then poll and SO_ERROR. Returns 0, MP_ETIMEDOUT,
 * or a negative system error (-ECONNREFUSED, -ENOENT; -EAGAIN for TCP is a
 * lack of local ports). */
int mp__plat_connect(int fd, const struct sockaddr *sa, unsigned len,
                     int64_t deadline);

/* mp__plat_unix_refused returns 1 if the AF_UNIX address sa names a socket
 * file that refuses connections (nobody listens on it: a stale one), else
 * 0. To tell, a live listener is connected to and left at once. */
int mp__plat_unix_refused(const struct sockaddr *sa, unsigned len);

/* mp__plat_dir_lock opens directory dir and takes an exclusive flock on
 * it, waiting while another holds it. Returns the fd (closing it releases
 * the lock) or a negative error. */
int mp__plat_dir_lock(const char *dir);

/* --- loaded code (linux_elf.c) ---------------------------------------- */

/* One loaded ELF object (the program or a shared object). */
typedef struct mp__plat_code_object {
    uintptr_t base;          /* load bias: an offset in the file's address
                                space plus base is the address here */
    const char *path;        /* the loader's name for it: "" for the main
                                program; valid while the object is loaded */
    uint8_t build_id[64];    /* its GNU build-id, */
    size_t build_id_len;     /* 0 when it has none */
} mp__plat_code_object_t;

/* mp__plat_code_find describes in *out the loaded object in one of whose
 * executable segments addr lies. Returns 0 or MP_ENOENT (no such object:
 * addr is not loaded code). */
int mp__plat_code_find(const void *addr, mp__plat_code_object_t *out);

/* mp__plat_code_by_build_id describes in *out the loaded object whose
 * build-id is the id_len bytes at id, checking that offset lies in one of
 * its executable segments. Returns 0, MP_ENOENT (no loaded object has that
 * id) or MP_EPROTO (it has, but offset is not in its code). */
int mp__plat_code_by_build_id(const uint8_t *id, size_t id_len,
                              uint64_t offset, mp__plat_code_object_t *out);

/* mp__plat_code_load loads the shared object at path (dlopen, symbols
 * resolved now, kept for the life of the process). Returns 0 or
 * MP_ENOENT (it cannot be loaded). */
int mp__plat_code_load(const char *path);

#endif /* MP_PLATFORM_H */
