/* SPDX-License-Identifier: MIT */
/* echo_server.c - a Listener that echoes every message back.
 *
 * Usage: echo_server ADDRESS [AUTHKEY]
 *
 * ADDRESS is HOST:PORT (port 0 picks one) or a socket path containing a
 * '/'. Prints "listening on ADDRESS" (the real address) once clients can
 * connect, then serves one client at a time until SIGTERM or SIGINT, and
 * exits 0 after removing its socket file. The Python twin:
 *
 *     with Listener(address, authkey=key) as listener:
 *         while True:
 *             with listener.accept() as conn:
 *                 while True:
 *                     try:
 *                         conn.send_bytes(conn.recv_bytes())
 *                     except EOFError:
 *                         break
 *
 * A Python Client (or examples/echo_client) can talk to it. */
#include <multiproc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* How long a connected client may take over the authkey handshake. */
#define HANDSHAKE_MS 5000

/* Waits until fd is readable or a stop signal arrived on sfd. Returns 1
 * for fd, 0 to stop, or a negative error. */
static int
wait_or_stop(int fd, int sfd)
{
    mp_waitable_t items[2] = {{.kind = MP_WAIT_FD, .u.fd = fd},
                              {.kind = MP_WAIT_FD, .u.fd = sfd}};
    int r = mp_wait_any(items, 2, MP_WAIT_FOREVER);
    if (r < 0) {
        return r;
    }
    return items[1].ready ? 0 : 1;
}

/* Echoes messages on c until the client leaves (1) or a stop signal
 * arrives (0). */
static int
serve(mp_conn_t *c, int sfd)
{
    for (;;) {
        int r = wait_or_stop(mp_conn_fileno(c), sfd);
        if (r <= 0) {
            return r;
        }
        void *msg = NULL;
        ssize_t n = mp_conn_recv_bytes(c, &msg, 0, MP_WAIT_FOREVER);
        if (n == MP_EOF) {
            return 1;
        }
        if (n < 0) {
            fprintf(stderr, "echo_server: receive: %s\n", mp_strerror((int)n));
            return 1;
        }
        r = mp_conn_send_bytes(c, msg, (size_t)n, MP_WAIT_FOREVER);
        mp_free(msg);
        if (r < 0) {
            fprintf(stderr, "echo_server: send: %s\n", mp_strerror(r));
            return 1;
        }
    }
}

int
main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: echo_server ADDRESS [AUTHKEY]\n");
        return 2;
    }
    const char *key = argc == 3 ? argv[2] : NULL;
    /* The stop signals are taken from a signalfd, so waiting for a client
     * and noticing SIGTERM are one wait, without races. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) != 0) {
        perror("echo_server: sigprocmask");
        return 1;
    }
    int sfd = signalfd(-1, &stop, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("echo_server: signalfd");
        return 1;
    }
    mp_listener_t *l = NULL;
    int r = mp_listener_create(&l, argv[1], key, key ? strlen(key) : 0, 0);
    if (r < 0) {
        fprintf(stderr, "echo_server: %s: %s\n", argv[1], mp_strerror(r));
        return 1;
    }
    printf("listening on %s\n", mp_listener_address(l));
    fflush(stdout);
    int status = 0;
    for (;;) {
        r = wait_or_stop(mp_listener_fileno(l), sfd);
        if (r <= 0) {
            status = r < 0 ? 1 : 0;
            break;
        }
        mp_conn_t *c = NULL;
        r = mp_listener_accept(l, &c, HANDSHAKE_MS);
        if (r < 0) {
            /* A wrong key or a stalled client: refuse it, keep serving. */
            fprintf(stderr, "echo_server: client refused: %s\n",
                    mp_strerror(r));
            continue;
        }
        r = serve(c, sfd);
        mp_conn_destroy(c);
        if (r <= 0) {
            status = r < 0 ? 1 : 0;
            break;
        }
    }
    mp_listener_destroy(l);
    close(sfd);
    return status;
}
