/* SPDX-License-Identifier: MIT */
/* multiproc/connection.h - pipes, connections and the Listener/Client pair,
 * with the framing and authkey handshake of Python's
 * multiprocessing.connection. Included by multiproc.h; including it alone
 * works too. */
#ifndef MULTIPROC_CONNECTION_H
#define MULTIPROC_CONNECTION_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Pipes and connections ===============================================*/

/* One end of a message pipe: Python's multiprocessing.connection.Connection.
 * Messages keep their boundaries and travel in Python's framing (a 4-byte
 * big-endian length, or FF FF FF FF and an 8-byte length above 2 GiB), so a
 * C end and a Python end can talk to each other. A connection must not be
 * used by two threads at once for the same direction (one sender and one
 * receiver at a time are fine). A connection made before mp_process_start()
 * is inherited by the child; each process should close the ends it does not
 * use, or the reader never sees end of stream. */
typedef struct mp_conn mp_conn_t;

/* mp_pipe makes a connected pair: an AF_UNIX socketpair. duplex true: both
 * ends read and write. duplex false: *end1 is read-only and *end2
 * write-only (Python's Pipe(duplex=False) returns (reader, writer)); the
 * unused directions are shut down. (Python uses os.pipe() there; a
 * socketpair carries large messages faster.) Both fds are close-on-exec.
 * Returns 0 or MP_EINVAL (a NULL or equal out pointer), MP_EMFILE,
 * MP_ENFILE, MP_ENOMEM. Context: any process, any thread. */
MP_EXTERN int mp_pipe(mp_conn_t **end1, mp_conn_t **end2, bool duplex);

/* mp_conn_from_fd wraps an open pipe, socket or other stream fd (Python's
 * Connection(fd, readable, writable)). On success the connection owns fd
 * (mp_conn_close closes it) and fd is made close-on-exec; on failure the
 * caller still owns it. Returns 0 or MP_EINVAL (NULL out, fd < 0, neither
 * direction), MP_EBADF (fd not open), MP_ENOMEM. Context: any process, any
 * thread. */
MP_EXTERN int mp_conn_from_fd(mp_conn_t **out, int fd, bool readable,
                              bool writable);

/* mp_conn_send_bytes sends len bytes of buf (len 0 sends an empty message)
 * as one whole message, blocking until the OS took all of it. The timeout
 * bounds the wait for room for the message to start: once its first bytes
 * are out, the rest is written without a timeout (until the peer reads it
 * or closes), so a timeout never splits a message; MP_NO_WAIT sends only
 * if there is room now. The payload is not copied. A peer that closed
 * never kills the caller with SIGPIPE. Returns 0 or MP_EINVAL (NULL c, or
 * NULL buf with len > 0, bad timeout), MP_EBADF (read-only end),
 * MP_ECLOSED, MP_ETIMEDOUT (no room before the timeout: nothing was sent),
 * MP_EPIPE (the reading end is closed; part of the message may have been
 * sent, so the stream is broken), or another system error. Python:
 * send_bytes(buf). Context: any process that has the connection, one
 * sending thread at a time (a receiver may run beside it). */
MP_EXTERN int mp_conn_send_bytes(mp_conn_t *c, const void *buf, size_t len,
                                 mp_duration_t timeout);

/* mp_conn_recv_bytes receives one whole message into a fresh buffer that
 * the caller frees with mp_free (non-NULL even for an empty message) and
 * returns its length. The timeout bounds the wait for the message to
 * start: once its first byte has arrived the rest is read without a
 * timeout, so a timeout never splits a message. maxlen 0 means no limit.
 * A message longer than maxlen (or too big to allocate) is read and
 * discarded, so the next call gets the next message (Python closes the
 * connection instead). *out is set only on success. On a socket, when no
 * data is there, the call retries briefly without blocking before it
 * sleeps, so a prompt reply is caught awake (docs/design.md, "Connections:
 * how a receive waits"). Returns the length, or MP_EINVAL (NULL c or out, bad
 * timeout), MP_EBADF (write-only end), MP_ECLOSED, MP_ETIMEDOUT (nothing
 * arrived), MP_EOF (the peer closed between messages), MP_EPROTO (end of stream
 * inside a message, or a malformed header: the stream cannot be trusted any
 * more), MP_EMSGSIZE, MP_ENOMEM. Python: recv_bytes(maxlength). Context: any
 * process that has the connection, one receiving thread at a time (a sender
 * may run beside it). */
MP_EXTERN ssize_t mp_conn_recv_bytes(mp_conn_t *c, void **out, size_t maxlen,
                                     mp_duration_t timeout);

/* mp_conn_recv_bytes_into receives one whole message into buf (buflen
 * bytes; buf may be NULL when buflen is 0) and returns its length. A
 * message longer than buflen is read and discarded (MP_EMSGSIZE; Python
 * raises BufferTooShort with the message). Timeout and other errors as for
 * mp_conn_recv_bytes. Python: recv_bytes_into(buf). Context: as
 * mp_conn_recv_bytes: any process that has the connection, one receiving
 * thread at a time. */
MP_EXTERN ssize_t mp_conn_recv_bytes_into(mp_conn_t *c, void *buf,
                                          size_t buflen, mp_duration_t timeout);

/* mp_conn_poll waits up to timeout for data (or end of stream) to be
 * readable, consuming nothing. Returns 1 readable, 0 not within timeout,
 * or MP_EINVAL (NULL c, bad timeout), MP_EBADF (write-only end),
 * MP_ECLOSED. Python: poll(timeout) (MP_NO_WAIT is its default). Context:
 * any process that has the connection, any thread. */
MP_EXTERN int mp_conn_poll(mp_conn_t *c, mp_duration_t timeout);

/* mp_conn_fileno returns the connection's fd (still owned by it), or
 * MP_EINVAL (NULL), MP_ECLOSED. Context: any process that has the
 * connection, any thread. */
MP_EXTERN int mp_conn_fileno(const mp_conn_t *c);

/* mp_conn_readable and mp_conn_writable return the directions it was made
 * with; mp_conn_closed whether it is closed (false for NULL). Context: any
 * process that has the connection, any thread. */
MP_EXTERN bool mp_conn_readable(const mp_conn_t *c);
MP_EXTERN bool mp_conn_writable(const mp_conn_t *c);
MP_EXTERN bool mp_conn_closed(const mp_conn_t *c);

/* mp_conn_close closes the fd; afterwards every call but destroy returns
 * MP_ECLOSED. Idempotent. Returns 0 or MP_EINVAL (NULL). Context: any
 * process that has the connection (it closes that process's fd only), one
 * thread, with no other call on c under way. */
MP_EXTERN int mp_conn_close(mp_conn_t *c);

/* mp_conn_destroy closes (if needed) and frees the connection. NULL is
 * ignored. Context: any process that has the connection. */
MP_EXTERN void mp_conn_destroy(mp_conn_t *c);

/*===== Connections as tokens ===============================================*/

/* A connection is an fd, so its token hands the fd over: mp_conn_token
 * registers a copy of it (dup) with this process's fd sharer (started at
 * the first call: one listening socket file, mode 0600, in $TMPDIR or
 * /tmp, served by one thread of the library), and mp_conn_attach, in a
 * spawn or forkserver child or in any other process of the same user,
 * connects there, proves the token's one-time secret and receives its
 * own copy of the fd (SCM_RIGHTS). As Python's resource_sharer: a token
 * opens once; the creator's connection stays usable (close it there when
 * only the other process should use the end, or the reader never sees end
 * of stream); the fd reaches the opener only while the creator lives and
 * shares (until its exit or mp_shutdown, which close the copies not
 * fetched). Peers of the sharer that say nothing, too little or garbage
 * never hold it up (docs/design.md, "Contexts and tokens").
 *
 * mp_conn_token writes the token (at most MP_TOKEN_MAX bytes, terminator
 * included) into buf. Returns 0 or MP_EINVAL (NULL c or buf), MP_ECLOSED
 * (c is closed), MP_ERANGE (buflen too small: nothing registered),
 * MP_ENAMETOOLONG ($TMPDIR too long for a socket path), MP_EMFILE,
 * MP_ENOMEM, or another error of starting the sharer. Python: pickling a
 * Connection for a spawned child (reduction.DupFd). Context: any process
 * that has the connection (the process that calls it serves the token),
 * any thread. */
MP_EXTERN int mp_conn_token(const mp_conn_t *c, char *buf, size_t buflen);

/* mp_conn_attach opens a token of mp_conn_token into a new connection in
 * *out with the directions of the original, waiting up to timeout for
 * the creator's sharer to answer. *out is set only on success. Returns 0
 * or MP_EINVAL (NULL out or token, not a connection's token, bad
 * timeout), MP_ENAMETOOLONG, MP_ECLOSED (no such token: opened already,
 * forged, or its creator exited, was killed or called mp_shutdown),
 * MP_ETIMEDOUT (the creator lives but did not answer: stopped or
 * overloaded), MP_EPROTO (a malformed answer), MP_EMFILE, MP_ENOMEM or
 * another system error. Python: unpickling the Connection in the child
 * (rebuild_connection). Context: any process of the creator's user, any
 * thread. */
MP_EXTERN int mp_conn_attach(mp_conn_t **out, const char *token,
                             mp_duration_t timeout);

/*===== Listeners and clients ===============================================*/

/* A listening socket: Python's multiprocessing.connection.Listener. Each
 * accepted connection (and each mp_client_connect result) is an ordinary
 * mp_conn_t speaking Python's framing, so a C end and a Python
 * Listener/Client interoperate. Addresses are strings: one containing a
 * '/' is an AF_UNIX socket path (write "./name" for a relative one); any
 * other must be "HOST:PORT" (TCP over IPv4 or IPv6; "[::1]:PORT" for an
 * IPv6 literal; HOST may be a name; port 0 picks a free port).
 *
 * Authentication: with an authkey (authkey non-NULL; authkey_len may be 0
 * for the empty key, as Python 3.13 treats b'') both sides prove they
 * know the key with Python's challenge/response handshake before any
 * application data moves. The challenger sends "{sha256}"-prefixed
 * challenges (understood by Python 3.11 and 3.12+ alike) and accepts
 * both legacy HMAC-MD5 and "{digest}" answers; the answerer handles both
 * forms, so a C end interoperates with CPython 3.11 and newer. Handshake
 * messages over 256 bytes are refused before they are read. With a NULL
 * authkey there is no handshake (the peer must not use a key either:
 * Python would hang in that mismatch). */
typedef struct mp_listener mp_listener_t;

/* With an authkey, a listener runs the handshakes of up to
 * MP_LISTENER_PENDING_MAX accepted peers at once, without blocking; a
 * newer peer beyond that drops the oldest. A peer whose handshake has not
 * ended MP_LISTENER_HANDSHAKE_MS after it was accepted is dropped. */
#define MP_LISTENER_PENDING_MAX 64
#define MP_LISTENER_HANDSHAKE_MS 10000

/* mp_listener_create binds and listens on address. A socket file is
 * created with mode 0600 and removed by mp_listener_close/destroy in the
 * process that created it (not in a forked child), or, if its process tree
 * ends without that (SIGKILL), by the shared-memory tracker once the whole
 * tree is gone. An existing file is not replaced, except a stale socket
 * file: one nobody listens on (a connect to it is refused), left by a
 * killed process. To tell, a live listener there is connected to and left
 * at once (its accept sees a peer that hung up); binds in one directory
 * take turns (an flock held for a few system calls, waited for without a
 * timeout). backlog 0 means SOMAXCONN. The authkey is copied.
 * Returns 0 or MP_EINVAL (NULL out or address, bad address syntax or port,
 * negative backlog, NULL authkey with authkey_len > 0), MP_ENAMETOOLONG
 * (path too long for a socket), MP_EEXIST (a live socket or another
 * file is at the path),
 * MP_ENOENT (unknown host), MP_ENOMEM, or a system error (for example
 * -EADDRINUSE, MP_EACCES). Python: Listener(address, backlog=, authkey=).
 * Context: any process, any thread. */
MP_EXTERN int mp_listener_create(mp_listener_t **out, const char *address,
                                 const void *authkey, size_t authkey_len,
                                 int backlog);

/* mp_listener_address returns the bound address, e.g. "127.0.0.1:40123"
 * with the port picked for port 0, or the socket path; valid until
 * destroy. NULL for a NULL listener. Python: Listener.address. Context: any
 * process that has the listener, any thread. */
MP_EXTERN const char *mp_listener_address(const mp_listener_t *l);

/* mp_listener_accept waits up to timeout for a client and returns the
 * first one that is ready: without an authkey, the next peer connected;
 * with one, the first peer to finish the server side of the handshake
 * (deliver_challenge then answer_challenge, as Python's accept does).
 * Handshakes run side by side and go on across calls (see
 * MP_LISTENER_PENDING_MAX: silent, slow or hostile peers do not hold up
 * the others; each handshake is bounded by MP_LISTENER_HANDSHAKE_MS, not
 * by the timeout). A peer whose handshake fails is closed and this call
 * returns its error (call again for the next client); a peer dropped for
 * time or room is closed silently. *out is set only on success. Returns 0
 * or MP_EINVAL (NULL l or out, bad timeout), MP_ECLOSED, MP_ETIMEDOUT (no
 * client finished in time), MP_EAUTH (wrong key or a malformed handshake;
 * the peer was sent "#FAILURE#" when it answered wrongly), MP_EMSGSIZE (a
 * handshake message over 256 bytes), MP_EOF / MP_EPROTO (the peer closed
 * during the handshake), MP_ENOMEM, or a system error. Context: one
 * thread at a time per listener. Python: Listener.accept(). */
MP_EXTERN int mp_listener_accept(mp_listener_t *l, mp_conn_t **out,
                                 mp_duration_t timeout);

/* mp_listener_fileno returns an fd that is readable when accept has work
 * (a client is waiting, or a handshake under way has news; usable with
 * mp_wait_any), or MP_EINVAL (NULL), MP_ECLOSED. In a forked child it changes
 * at the child's first accept. Context: any process that has the listener,
 * any thread. */
MP_EXTERN int mp_listener_fileno(const mp_listener_t *l);

/* mp_listener_close stops listening and removes the socket file; accepted
 * connections stay open. Idempotent. Returns 0 or MP_EINVAL (NULL).
 * Python: Listener.close(). Context: any process that has the listener (only
 * the creating process removes the socket file), with no accept under way. */
MP_EXTERN int mp_listener_close(mp_listener_t *l);

/* mp_listener_destroy closes (if needed) and frees the listener. NULL is
 * ignored. Context: any process that has the listener. */
MP_EXTERN void mp_listener_destroy(mp_listener_t *l);

/* mp_client_connect connects to a listener at address and (with an
 * authkey) runs the client side of the handshake (answer_challenge then
 * deliver_challenge, as Python's Client does). The timeout bounds the
 * connect and the handshake together; a listener whose backlog is full is
 * waited for (as Python's blocking connect waits) until room comes or the
 * timeout passes. *out is set only on success.
 * Returns 0 or MP_EINVAL (NULL out or address, bad address, NULL authkey
 * with authkey_len > 0, bad timeout), MP_ENAMETOOLONG, MP_ENOENT (no such
 * socket file or unknown host), -ECONNREFUSED (nobody listening),
 * MP_ETIMEDOUT, MP_EAUTH (the listener rejected our key, or proved it does
 * not know it: both ends fail), MP_EMSGSIZE, MP_EOF, MP_EPROTO, MP_ENOMEM
 * or another system error. Python: Client(address, authkey=). Context: any
 * process, any thread. */
MP_EXTERN int mp_client_connect(mp_conn_t **out, const char *address,
                                const void *authkey, size_t authkey_len,
                                mp_duration_t timeout);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_CONNECTION_H */
