/* SPDX-License-Identifier: MIT */
/* platform.h - the contract between the library and the operating system.
 * Every mp__plat_* function is implemented in a posix_*.c or linux_*.c file
 * beside this header; the rest of the library makes no raw OS call at all
 * (tools/check-structure.py rejects one). The process basics declared in
 * common/mp_internal.h - mp__panic, the clock and deadlines, mp__init, the
 * cached pid/tid, the fork-local page - are defined here too
 * (linux_self.c, posix_clock.c). All file descriptors it creates are
 * close-on-exec, and every call retries on EINTR itself unless its
 * contract says otherwise. */
#ifndef MP_PLATFORM_H
#define MP_PLATFORM_H

#include "../common/mp_internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* MP__PLAT_NO_EINTR sets r to call - a raw OS call of this layer's files
 * that fails with a negative result and errno - made again for as long as
 * it fails with EINTR: the platform's one spelling of the EINTR retry. */
#define MP__PLAT_NO_EINTR(r, call)                                             \
    do {                                                                       \
        (r) = (call);                                                          \
    } while ((r) < 0 && errno == EINTR)

/* mp__plat_nb_error is the result of a failed non-blocking call of this
 * layer's files, from errno: -EAGAIN when it would block (EWOULDBLOCK
 * too), else -errno. */
static inline int
mp__plat_nb_error(void)
{
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* mp__plat_wait_over is the platform's one deadline loop (poll, epoll):
 * given *r, the result of a wait for readiness that took
 * mp__remaining_ms(deadline) as its timeout, says whether the loop ends:
 * yes for ready fds (*r > 0), for a timeout once the deadline has passed
 * (*r == 0; a timeout in ms rounds, so one that comes early waits again),
 * and for a failure other than EINTR (*r becomes -errno). */
static inline bool
mp__plat_wait_over(int *r, int64_t deadline)
{
    if (*r > 0) {
        return true;
    }
    if (*r == 0) {
        return deadline == MP__NO_DEADLINE || mp__now_ns() >= deadline;
    }
    if (errno == EINTR) {
        return false;
    }
    *r = -errno;
    return true;
}

/* --- futex (linux_futex.c): the one wait primitive -------------------- */

/* mp__plat_futex_wait sleeps while *word == expected, until woken or until
 * deadline (absolute, CLOCK_MONOTONIC ns; MP__NO_DEADLINE = none). The word
 * may be in memory shared between processes. Returns 0 when woken (callers
 * re-check their condition: wake-ups may be spurious), MP__PLAT_FUTEX_MOVED
 * when *word already differed and it did not sleep, or MP_ETIMEDOUT once
 * the deadline has passed. */
#define MP__PLAT_FUTEX_MOVED 1
int mp__plat_futex_wait(_Atomic uint32_t *word, uint32_t expected,
                        int64_t deadline);

/* mp__plat_futex_wake wakes up to n sleepers on word (INT32_MAX: all).
 * Returns the number woken. */
int mp__plat_futex_wake(_Atomic uint32_t *word, int n);

/* mp__plat_yield gives the CPU to another runnable thread, if any (on a
 * busy machine the thread a spinner waits for may need this CPU; on an
 * idle one it returns at once). For bounded spins only. */
void mp__plat_yield(void);

/* mp__plat_nap sleeps about ns nanoseconds (a pause that lets work pile
 * up, never a wait for a condition: an interrupted nap just ends early). */
void mp__plat_nap(int64_t ns);

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
 * forked child; after that, two loads, inline (every lock and unlock of a
 * mutex asks for it). Never 0. Context: any thread.
 * mp__plat_self_ident_at is where the identity is kept (in the fork-local
 * page, which a forked child finds zeroed), NULL until it was first read;
 * mp__plat_self_ident_read reads it when that slot holds none. */
extern _Atomic uint64_t *_Atomic mp__plat_self_ident_at;
uint64_t mp__plat_self_ident_read(void);
static inline uint64_t
mp__plat_self_ident(void)
{
    _Atomic uint64_t *at =
        atomic_load_explicit(&mp__plat_self_ident_at, memory_order_acquire);
    uint64_t v =
        at != NULL ? atomic_load_explicit(at, memory_order_relaxed) : 0;
    return v != 0 ? v : mp__plat_self_ident_read();
}

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

/* mp__plat_close closes fd, ignoring EINTR (the fd is gone either way).
 * On a forked child's path (MP__FORK_CHILD_PATH). */
void mp__plat_close(int fd);

/* mp__plat_dup returns a close-on-exec copy of fd at the lowest free fd
 * >= min_fd, or a negative error. */
int mp__plat_dup(int fd, int min_fd);

/* mp__plat_dup_onto makes target a copy of fd (dup2: target is closed
 * first if open, and is inherited across exec). Returns 0 or a negative
 * error. On a forked child's path (MP__FORK_CHILD_PATH). */
int mp__plat_dup_onto(int fd, int target);

/* mp__plat_poll_in waits up to deadline for fd to be readable. Returns 1
 * (readable or hung up), 0 (deadline passed), or a negative error. */
int mp__plat_poll_in(int fd, int64_t deadline);

/* mp__plat_poll_fd waits up to deadline for any of events (POLLIN,
 * POLLOUT) on fd. Returns 1 (ready, hung up or in error), 0 (deadline
 * passed), or a negative error. */
int mp__plat_poll_fd(int fd, short events, int64_t deadline);

struct pollfd;
struct iovec;

/* mp__plat_poll_many is the library's one poll loop: it polls the n fds
 * of pfds until one is ready or deadline (MP__NO_DEADLINE: none) passes,
 * retrying EINTR and poll's early (rounded-down) returns. Returns the
 * ready count (revents set), 0 at the deadline, or a negative error. */
int mp__plat_poll_many(struct pollfd *pfds, size_t n, int64_t deadline);

/* mp__plat_read_some makes one read of up to n bytes (EINTR retried).
 * Returns the bytes read (0: end of file), -EAGAIN (non-blocking fd with
 * nothing to read), or another negative error. */
ssize_t mp__plat_read_some(int fd, void *buf, size_t n);

/* mp__plat_writev_nosig makes one write of iov to fd (EINTR retried)
 * without ever raising SIGPIPE: a socket (is_socket) is written with
 * MSG_NOSIGNAL; for a pipe, SIGPIPE is blocked in this thread around the
 * write and, if the write raised it, taken back before unblocking (one
 * that was pending before is left). Returns the bytes written (maybe
 * fewer than asked), -EAGAIN (non-blocking fd that is full), -EPIPE or
 * another negative error. */
ssize_t mp__plat_writev_nosig(int fd, bool is_socket, const struct iovec *iov,
                              int iovcnt);

/* mp__plat_set_cloexec sets close-on-exec on fd (an fd the caller gave
 * the library). Returns 0 or a negative error. */
int mp__plat_set_cloexec(int fd);

/* mp__plat_fd_is_socket returns 1 if fd is a socket, 0 if it is another
 * open file, or a negative error (MP_EBADF). */
int mp__plat_fd_is_socket(int fd);

/* mp__plat_pipe_grow asks for pipe fd's buffer to be size bytes. Returns
 * 0 or a negative error (-EPERM over the user's pipe quota). */
int mp__plat_pipe_grow(int fd, int size);

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

/* --- wakers (linux_waker.c) ------------------------------------------- */
/* A waker is an fd, the library's one way to wake a thread or process
 * blocked in poll() or epoll (mp__plat_poll_many, mp__wait_fds) on it
 * among other fds: it is readable from a signal until a drain. Each is
 * non-blocking and close-on-exec, and is passed around as its fd (poll
 * it as it is; close it with mp__plat_waker_close). */

/* mp__plat_waker_open makes a private waker (an eventfd), which a process
 * and the children it forks afterwards share. Returns its fd or a
 * negative error (-EMFILE ...). Context: any thread. */
int mp__plat_waker_open(void);

/* mp__plat_waker_create_named makes a named waker at path (a FIFO, mode
 * 0600) for unrelated processes to open with mp__plat_waker_open_named;
 * remove it with mp__plat_unlink. Returns 0, MP_EEXIST or another
 * negative error. */
int mp__plat_waker_create_named(const char *path);

/* mp__plat_waker_open_named opens the named waker at path (never blocks,
 * whether or not another process has it open). Returns its fd, MP_ENOENT
 * (no such name), MP_EBADF (path is not a waker) or another negative
 * error. */
int mp__plat_waker_open_named(const char *path);

/* mp__plat_waker_signal makes waker fd readable (a waker already full of
 * signals stays so). Never blocks, never fails, keeps errno:
 * async-signal-safe, so a signal handler may call it. */
void mp__plat_waker_signal(int fd);

/* mp__plat_waker_drain takes every pending signal of waker fd, so that it
 * is no longer readable until the next signal. Returns true when at least
 * one was pending. Context: any thread. */
bool mp__plat_waker_drain(int fd);

/* mp__plat_waker_close closes waker fd (-1: nothing). */
void mp__plat_waker_close(int fd);

/* --- memory mappings (linux_mem.c) ----------------------------------- */

/* mp__plat_page_size returns the size of a memory page: the unit of every
 * mapping's length. */
size_t mp__plat_page_size(void);

/* mp__plat_map_anon maps len bytes of zeroed read-write anonymous memory:
 * shared, the pages are the same memory in every process forked after
 * (MAP_NORESERVE: charged as used); private, a child gets a copy on
 * write. Returns the mapping, or NULL (no memory). */
void *mp__plat_map_anon(bool shared, size_t len);

/* mp__plat_map_huge maps at least len bytes of zeroed private read-write
 * anonymous memory that start at a huge-page boundary (2 MiB on x86-64
 * and arm64 with 4 KiB pages) and asks for transparent huge pages there:
 * only whole aligned huge pages get them, and on a VM one fault for 2 MiB
 * costs far less than 512 faults. A hint only: without huge pages it is
 * ordinary memory. Returns the aligned start, and in *map and *map_len
 * the whole mapping (a little larger), which mp__plat_unmap takes back;
 * or NULL (no memory, len too large). Context: any thread. */
void *mp__plat_map_huge(size_t len, void **map, size_t *map_len);

/* mp__plat_remap grows or shrinks the private anonymous mapping p of
 * old_len bytes to new_len, moving it when needed. Returns its new
 * address (the old one is gone), or NULL with p left as it was. */
void *mp__plat_remap(void *p, size_t old_len, size_t new_len);

/* mp__plat_unmap removes the mapping of len bytes at p (p NULL: nothing),
 * and memcheck's ignore range of a mp__plat_memfd_map region. */
void mp__plat_unmap(void *p, size_t len);

/* mp__plat_memfd_map makes an anonymous memory file of len bytes (name is
 * only for /proc) and maps all of it shared and read-write into *out; the
 * file itself is closed (the mapping keeps the memory). Forked children
 * share it. A file mapping is not charged against the commit limit, so a
 * sparse region costs only the pages touched. Returns 0, MP_EFBIG (len
 * too large) or a negative error. Under valgrind the region is kept out of
 * memcheck's leak check (see linux_mem.c). */
int mp__plat_memfd_map(const char *name, size_t len, void **out);

/* mp__plat_shm_create creates the POSIX shared-memory object path
 * (O_EXCL, mode 0600), sizes it to len (> 0) and maps it shared into
 * *out. On failure nothing is left: the object is unlinked again.
 * Returns 0, MP_EEXIST, MP_EFBIG or another negative error. */
int mp__plat_shm_create(const char *path, size_t len, void **out);

/* mp__plat_shm_attach maps the whole existing object path shared into
 * *out and stores its size in *len. Returns 0, MP_ENOENT, MP_EINVAL (the
 * object is empty), MP_EFBIG (larger than PTRDIFF_MAX) or another
 * negative error; a failure never unlinks it. */
int mp__plat_shm_attach(const char *path, void **out, size_t *len);

/* mp__plat_shm_unlink removes the name path. Returns 0 or a negative
 * error (MP_ENOENT when there is none). */
int mp__plat_shm_unlink(const char *path);

/* mp__plat_populate asks the kernel to map the pages of len bytes at p
 * into this process now (MADV_POPULATE_WRITE when write, else _READ;
 * Linux 5.14) rather than a fault per page on first touch. Only a hint:
 * on an older kernel, or without memory, they come on first touch. */
void mp__plat_populate(void *p, size_t len, bool write);

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

/* mp__plat_unix_path_refused is mp__plat_unix_refused for the socket file
 * at path (0 for a path too long for an AF_UNIX address). */
int mp__plat_unix_path_refused(const char *path);

/* mp__plat_shutdown shuts down socket fd for how (SHUT_RD, SHUT_WR,
 * SHUT_RDWR). Returns 0 or a negative error. */
int mp__plat_shutdown(int fd, int how);

/* mp__plat_dir_lock opens directory dir and takes an exclusive flock on
 * it, waiting while another holds it. Returns the fd (closing it releases
 * the lock) or a negative error. */
int mp__plat_dir_lock(const char *dir);

/* mp__plat_socket makes a close-on-exec stream socket of family
 * (AF_UNIX, AF_INET, AF_INET6), non-blocking when nonblock. Returns its fd
 * or a negative error. */
int mp__plat_socket(int family, bool nonblock);

/* mp__plat_resolve looks host up (a name, or with numeric_only an IPv4 or
 * IPv6 literal only) and stores its first stream address with port in
 * *sa (cap bytes), its length in *len. Returns 0, MP_ENOENT (no such
 * host), MP_EAGAIN (the resolver failed for now), MP_ENOMEM, MP_EINVAL
 * (a malformed name) or another negative error. */
int mp__plat_resolve(const char *host, unsigned port, bool numeric_only,
                     struct sockaddr *sa, unsigned cap, unsigned *len);

/* mp__plat_bind binds socket fd to the address sa. Returns 0 or a
 * negative error (-EADDRINUSE ...). */
int mp__plat_bind(int fd, const struct sockaddr *sa, unsigned len);

/* mp__plat_listen makes bound socket fd listen with backlog (<= 0: the
 * system's largest, SOMAXCONN). Returns 0 or a negative error. */
int mp__plat_listen(int fd, int backlog);

/* mp__plat_sockname stores in *sa (cap bytes) the address socket fd is
 * bound to and its length in *len. Returns 0 or a negative error. */
int mp__plat_sockname(int fd, struct sockaddr *sa, unsigned cap, unsigned *len);

/* mp__plat_peername stores in *sa (cap bytes) the address of connected
 * socket fd's peer and its length in *len. Returns 0 or a negative error
 * (-ENOTCONN ...). */
int mp__plat_peername(int fd, struct sockaddr *sa, unsigned cap, unsigned *len);

/* mp__plat_accept takes one queued connection of listening socket fd
 * (non-blocking) as a blocking close-on-exec fd. Returns the fd, -EAGAIN
 * (none queued), -ECONNABORTED (that peer gave up: try again) or another
 * negative error. */
int mp__plat_accept(int fd);

/* mp__plat_reuse_addr lets TCP socket fd bind an address that connections
 * of an earlier listener still linger on (SO_REUSEADDR); mp__plat_nodelay
 * sends its small writes at once (TCP_NODELAY). Best effort: the socket
 * works either way. */
void mp__plat_reuse_addr(int fd);
void mp__plat_nodelay(int fd);

/* --- file system paths (posix_file.c) --------------------------------- */

struct stat;

/* mp__plat_unlink removes the file (not directory) path; mp__plat_rmdir
 * the empty directory path; mp__plat_chdir makes path the working
 * directory; mp__plat_chmod sets path's permission bits to mode. Each
 * returns 0 or a negative error (MP_ENOENT, -ENOTEMPTY ...). */
int mp__plat_unlink(const char *path);
int mp__plat_rmdir(const char *path);
int mp__plat_chdir(const char *path);
int mp__plat_chmod(const char *path, unsigned mode);

/* mp__plat_stat stores path's status in *st (of the file a symbolic link
 * names when follow, else of the link itself). Returns 0 or a negative
 * error. */
int mp__plat_stat(const char *path, bool follow, struct stat *st);

/* mp__plat_mkdtemp makes a fresh directory (mode 0700) from tmpl, a path
 * ending in "XXXXXX", which it replaces in tmpl with the name it chose.
 * Returns 0 or a negative error. */
int mp__plat_mkdtemp(char *tmpl);

/* --- loaded code (linux_elf.c) ---------------------------------------- */

/* One loaded ELF object (the program or a shared object). */
typedef struct mp__plat_code_object {
    uintptr_t base;       /* load bias: an offset in the file's address
                             space plus base is the address here */
    const char *path;     /* the loader's name for it: "" for the main
                             program; valid while the object is loaded */
    uint8_t build_id[64]; /* its GNU build-id, */
    size_t build_id_len;  /* 0 when it has none */
} mp__plat_code_object_t;

/* mp__plat_code_find describes in *out the loaded object in one of whose
 * executable segments addr lies. Returns 0 or MP_ENOENT (no such object:
 * addr is not loaded code). */
int mp__plat_code_find(const void *addr, mp__plat_code_object_t *out);

/* mp__plat_code_by_build_id describes in *out the loaded object whose
 * build-id is the id_len bytes at id, checking that offset lies in one of
 * its executable segments. Returns 0, MP_ENOENT (no loaded object has that
 * id) or MP_EPROTO (it has, but offset is not in its code). */
int mp__plat_code_by_build_id(const uint8_t *id, size_t id_len, uint64_t offset,
                              mp__plat_code_object_t *out);

/* mp__plat_code_load loads the shared object at path (dlopen, symbols
 * resolved now, kept for the life of the process). Returns 0 or
 * MP_ENOENT (it cannot be loaded). */
int mp__plat_code_load(const char *path);

/* --- starting processes by exec (posix_spawn.c) ----------------------- */
/* The most fds one mp__plat_send_fds message carries. */
#define MP__PLAT_FDS_MAX 8
/* mp__plat_spawn_self starts a fresh exec of the running program
 * (/proc/self/exe) with argv and this process's environment: its stdin is
 * stdin_fd (-1: this process's), stdout and stderr this process's, fds[i]
 * (0 <= n <= 8, none -1) becomes fd 3 + i in it, every other fd of this
 * process is closed there whatever its close-on-exec flag, and its signal
 * mask is empty. posix_spawn (no fork handlers, no copy of the caller):
 * safe in a process with threads. Returns 0 with *pid_out set, or a
 * negative error (the exec's own failure included). */
int mp__plat_spawn_self(char *const argv[], int stdin_fd, const int *fds, int n,
                        pid_t *pid_out);
/* mp__plat_socketpair makes a close-on-exec AF_UNIX pair of type
 * (SOCK_STREAM, SOCK_SEQPACKET). Returns 0 or a negative error. */
int mp__plat_socketpair(int type, int fds[2]);
/* mp__plat_send_full writes all n bytes to socket fd, blocking, without
 * SIGPIPE (a closed peer is -EPIPE). Returns 0 or a negative error. */
int mp__plat_send_full(int fd, const void *buf, size_t n);
/* mp__plat_send_fds sends len (> 0) bytes and nfds (1..MP__PLAT_FDS_MAX)
 * fds in one message on sock (SCM_RIGHTS), blocking, without SIGPIPE.
 * Returns 0 or a negative error. */
int mp__plat_send_fds(int sock, const void *buf, size_t len, const int *fds,
                      int nfds);
/* mp__plat_recv_fds receives one message of up to cap bytes on sock,
 * blocking, and stores up to maxfds fds that came with it (close-on-exec)
 * in fds, their count in *nfds (extra ones are closed). Returns the bytes
 * (0: the peer closed), MP_EPROTO (message or fds truncated: none kept),
 * or a negative error. */
ssize_t mp__plat_recv_fds(int sock, void *buf, size_t cap, int *fds, int maxfds,
                          int *nfds);
/* mp__plat_fork is fork(): the child's 0, the child's pid, or a negative
 * error. The child of a process with threads may find locks held that no
 * thread of it will release (the fork start method's documented hazard).
 * On a forked child's path (MP__FORK_CHILD_PATH): the child returns into
 * it. */
pid_t mp__plat_fork(void);
/* mp__plat_kill sends sig to pid. Returns 0 or a negative error. On a
 * forked child's path (MP__FORK_CHILD_PATH: the exit work signals daemonic
 * children). */
int mp__plat_kill(pid_t pid, int sig);
/* mp__plat_exit_now is _exit(code): ends the process at once, running no
 * atexit handler and flushing no stdio (a child that must not run its
 * parent's exit work, or a helper process's end). On a forked child's
 * path (MP__FORK_CHILD_PATH). */
__attribute__((noreturn)) void mp__plat_exit_now(int code);
/* mp__plat_pid_uncached asks the kernel for the caller's pid, for a
 * process made by mp__plat_fork_bare (no fork handler ran, so without
 * MADV_WIPEONFORK mp__getpid's cache may still hold the parent's);
 * mp__plat_parent_pid is getppid(): the parent's pid, or the reaper's once
 * the parent died. Never fail. */
pid_t mp__plat_pid_uncached(void);
pid_t mp__plat_parent_pid(void);
/* mp__plat_wait_pid reaps child pid (-1: any), waiting when block.
 * Returns its pid with *code set (the exit status, or minus the signal
 * that killed it), 0 (none exited, !block), or a negative error
 * (-ECHILD: no such child). */
pid_t mp__plat_wait_pid(pid_t pid, bool block, int *code);
/* mp__plat_wait_exited waits until child pid has exited, without reaping
 * it (waitid WNOWAIT); returns at once when it is not (or no longer) a
 * child of the caller. */
void mp__plat_wait_exited(pid_t pid);
/* mp__plat_sigchld_fd blocks SIGCHLD in the calling thread and returns a
 * non-blocking close-on-exec fd that is readable while one is pending, or
 * a negative error; mp__plat_drain_sigfd reads what is pending. */
int mp__plat_sigchld_fd(void);
void mp__plat_drain_sigfd(int fd);
/* mp__plat_server_signals(true) ignores SIGINT and SIGPIPE (the
 * forkserver: a terminal's ^C is for the program, not for it); false
 * restores both to the default and empties the signal mask (a child the
 * forkserver made). */
void mp__plat_server_signals(bool server);
/* mp__plat_signal_set makes handler sig's disposition for the whole
 * process: SIG_DFL, SIG_IGN, or a function (async-signal-safe) that runs
 * with sig blocked, after which an interrupted call restarts where it can
 * (SA_RESTART). */
void mp__plat_signal_set(int sig, void (*handler)(int));
/* mp__plat_die_with_parent arms SIGKILL for the caller when its parent
 * (whose pid must be parent) exits, and kills the caller at once when the
 * parent is already gone. Returns 0 or a negative error. Note: the signal
 * comes when the parent's thread that made the caller ends. On a forked
 * child's path (MP__FORK_CHILD_PATH). */
int mp__plat_die_with_parent(pid_t parent);
/* mp__plat_close_all_but closes every fd from 3 up except the n fds of
 * keep (ascending, each >= 3). Context: a process with one thread. */
void mp__plat_close_all_but(const int *keep, int n);
/* mp__plat_devnull_rd opens /dev/null read-only, close-on-exec, at an fd
 * above stderr. Returns the fd or a negative error. */
int mp__plat_devnull_rd(void);

/* --- detached helpers (posix_detach.c) -------------------------------- */

/* mp__plat_fork_bare is _Fork(): fork without running any fork handler
 * (the caller may hold locks those handlers take). The child may call
 * async-signal-safe functions only, and the library's cached pid is not
 * refreshed for it (getpid() is). Returns the child's 0, the child's pid,
 * or a negative error. */
pid_t mp__plat_fork_bare(void);

/* mp__plat_detach leaves the caller's session (setsid: no terminal's
 * signals, not in its process group), ignores SIGINT, SIGTERM, SIGHUP,
 * SIGPIPE and SIGQUIT, empties the signal mask and makes "/" the working
 * directory. For a helper process that must outlive its starter's
 * signals. Context: a process with one thread. */
void mp__plat_detach(void);

/* mp__plat_keep_fds makes fds[i] (0 <= n <= MP__PLAT_FDS_MAX) fd 3 + i,
 * close-on-exec, and closes stdin, stdout and every other fd from 3 up:
 * stderr stays. Context: a process with one thread. Returns 0 or a
 * negative error (some fds may be closed by then). */
int mp__plat_keep_fds(const int *fds, int n);
#endif /* MP_PLATFORM_H */
