/* SPDX-License-Identifier: MIT */
/* multiproc/errno.h - the one error table of the library.
 *
 * Every call that can fail returns 0 (or a non-negative count) on success and a
 * negative code from this table on failure. System errors are passed through as
 * -errno unchanged; codes the OS has no word for live in a reserved range below
 * -4000. The table is append-only: a number, once given, is never reused.
 * Included by multiproc/common.h (and so by multiproc.h). */
#ifndef MULTIPROC_ERRNO_H
#define MULTIPROC_ERRNO_H

#include <errno.h>

/* Library-specific codes, far below any errno. Append only. */
#define MP__ECLOSED (-4001)
#define MP__EOF (-4002)
#define MP__EBROKEN (-4003)
#define MP__ENOTSTARTED (-4004)
#define MP__ESTARTED (-4005)
#define MP__EDAEMON (-4006)
#define MP__ENOTCHILD (-4007)
#define MP__ERUNNING (-4008)
#define MP__ENOTOWNER (-4009)
#define MP__EOVERRELEASE (-4010)
#define MP__EEMPTY (-4011)
#define MP__EFULL (-4012)
#define MP__EAUTH (-4013)
#define MP__EWORKER (-4014)
#define MP__EREMOTE (-4015)
#define MP__ENOSERVER (-4016)
#define MP__EKIND (-4017)
#define MP__EPIDNS (-4018)
#define MP__ENOMAIN (-4019)
#define MP__ECONTEXT (-4020)

/* XX(name, value, message): one row per code. The enum, mp_strerror() and
 * mp_err_name() are all generated from this list. */
#define MP_ERRNO_MAP(XX)                                                       \
    XX(EPERM, -EPERM, "operation not permitted")                               \
    XX(ENOENT, -ENOENT, "no such file or object")                              \
    XX(ESRCH, -ESRCH, "no such process")                                       \
    XX(EINTR, -EINTR, "interrupted system call")                               \
    XX(EIO, -EIO, "i/o error")                                                 \
    XX(EBADF, -EBADF, "bad file descriptor")                                   \
    XX(ECHILD, -ECHILD, "no child processes")                                  \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                    \
    XX(ENOMEM, -ENOMEM, "not enough memory")                                   \
    XX(EACCES, -EACCES, "permission denied")                                   \
    XX(EFAULT, -EFAULT, "bad address")                                         \
    XX(EBUSY, -EBUSY, "resource busy")                                         \
    XX(EEXIST, -EEXIST, "already exists")                                      \
    XX(ENODEV, -ENODEV, "no such device")                                      \
    XX(EINVAL, -EINVAL, "invalid argument")                                    \
    XX(ENFILE, -ENFILE, "file table overflow")                                 \
    XX(EMFILE, -EMFILE, "too many open files")                                 \
    XX(EFBIG, -EFBIG, "size too large")                                        \
    XX(ENOSPC, -ENOSPC, "no space left on device")                             \
    XX(EPIPE, -EPIPE, "broken pipe")                                           \
    XX(ERANGE, -ERANGE, "result out of range")                                 \
    XX(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                           \
    XX(ENOSYS, -ENOSYS, "function not implemented")                            \
    XX(EPROTO, -EPROTO, "protocol error: malformed or truncated message")      \
    XX(EOVERFLOW, -EOVERFLOW, "value too large for defined data type")         \
    XX(EMSGSIZE, -EMSGSIZE, "message too long")                                \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                           \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                     \
    XX(ECANCELED, -ECANCELED, "operation canceled")                            \
    XX(EOWNERDEAD, -EOWNERDEAD,                                                \
       "previous owner died; the protected state may be inconsistent")         \
    XX(ECLOSED, MP__ECLOSED, "object is closed")                               \
    XX(EOF, MP__EOF, "end of stream: the peer closed its end")                 \
    XX(EBROKEN, MP__EBROKEN, "broken: a barrier was aborted or a peer died")   \
    XX(ENOTSTARTED, MP__ENOTSTARTED, "process not started")                    \
    XX(ESTARTED, MP__ESTARTED, "cannot start a process twice")                 \
    XX(EDAEMON, MP__EDAEMON,                                                   \
       "daemonic processes are not allowed to have children")                  \
    XX(ENOTCHILD, MP__ENOTCHILD, "not a child of the calling process")         \
    XX(ERUNNING, MP__ERUNNING, "still running: not finished yet")              \
    XX(ENOTOWNER, MP__ENOTOWNER, "lock not owned by the caller")               \
    XX(EOVERRELEASE, MP__EOVERRELEASE,                                         \
       "semaphore or lock released too many times")                            \
    XX(EEMPTY, MP__EEMPTY, "queue is empty")                                   \
    XX(EFULL, MP__EFULL, "queue is full")                                      \
    XX(EAUTH, MP__EAUTH, "authentication failed")                              \
    XX(EWORKER, MP__EWORKER, "a pool worker died while running the task")      \
    XX(EREMOTE, MP__EREMOTE, "the task or call failed on the remote side")     \
    XX(ENOSERVER, MP__ENOSERVER,                                               \
       "the manager's server is gone: shut down or died")                      \
    XX(EKIND, MP__EKIND, "the proxy refers to another kind of object")         \
    XX(EPIDNS, MP__EPIDNS,                                                     \
       "the object belongs to processes of another pid namespace")             \
    XX(ENOMAIN, MP__ENOMAIN,                                                   \
       "spawn and forkserver need mp_main() called at the top of main")        \
    XX(ECONTEXT, MP__ECONTEXT,                                                 \
       "object of the fork context used by a process not forked from it")

#endif /* MULTIPROC_ERRNO_H */
