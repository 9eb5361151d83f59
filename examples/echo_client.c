/* SPDX-License-Identifier: MIT */
/* echo_client.c - a Client that sends messages to an echo server.
 *
 * Usage: echo_client ADDRESS [-k AUTHKEY] MESSAGE...
 *
 * Connects to ADDRESS (HOST:PORT or a socket path), sends each MESSAGE as
 * one message and prints each reply on a line of its own. Exits non-zero
 * if the connection, the handshake or any exchange fails, or a reply is
 * not the message sent. The Python twin:
 *
 *     with Client(address, authkey=key) as conn:
 *         for m in messages:
 *             conn.send_bytes(m)
 *             print(conn.recv_bytes().decode())
 */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long to wait for the connection and for each reply. */
#define TIMEOUT_MS 10000

int
main(int argc, char **argv)
{
    int first = 2;
    const char *key = NULL;
    if (argc > 3 && strcmp(argv[2], "-k") == 0) {
        key = argv[3];
        first = 4;
    }
    if (argc <= first) {
        fprintf(stderr, "usage: echo_client ADDRESS [-k AUTHKEY] MESSAGE...\n");
        return 2;
    }
    mp_conn_t *c = NULL;
    int r =
        mp_client_connect(&c, argv[1], key, key ? strlen(key) : 0, TIMEOUT_MS);
    if (r < 0) {
        fprintf(stderr, "echo_client: %s: %s\n", argv[1], mp_strerror(r));
        return 1;
    }
    int status = 0;
    for (int i = first; i < argc && status == 0; i++) {
        size_t len = strlen(argv[i]);
        void *reply = NULL;
        ssize_t n = mp_conn_send_bytes(c, argv[i], len, MP_WAIT_FOREVER);
        if (n == 0) {
            n = mp_conn_recv_bytes(c, &reply, 0, TIMEOUT_MS);
        }
        if (n < 0) {
            fprintf(stderr, "echo_client: %s\n", mp_strerror((int)n));
            status = 1;
        } else if ((size_t)n != len || memcmp(reply, argv[i], len) != 0) {
            fprintf(stderr, "echo_client: the reply differs\n");
            status = 1;
        } else {
            printf("%.*s\n", (int)n, (const char *)reply);
        }
        mp_free(reply);
    }
    mp_conn_destroy(c);
    return status;
}
