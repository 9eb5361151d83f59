/* SPDX-License-Identifier: MIT */
/* pipe_duplex.c - two processes talk through a Pipe in both directions
 * (duplex=True), then through a one-way Pipe (duplex=False) whose reading
 * end refuses to send.
 *
 * The C twin of seed 002 (002_5ac3e8d32ecfde20.txt), section "2. 管道通信":
 *
 *     conn1, conn2 = multiprocessing.Pipe([duplex=True])
 *
 *     # duplex=True (the default): the processes at both ends may send and
 *     # receive. duplex=False: conn1 only receives, conn2 only sends.
 *
 * The parent keeps conn1 and the child gets conn2. Over the duplex pipe they
 * take turns: the parent sends, the child answers, several times, each side
 * using send and recv on its one end. Over the one-way pipe the child sends
 * on conn2 and the parent receives on conn1; a send on conn1 is refused with
 * MP_EBADF (Python: OSError "connection is read-only"). Messages are bytes
 * (send_bytes/recv_bytes): C has no pickle. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 3

/* Stops the example with the library's message when a call failed;
 * otherwise returns rc. */
static long
check(long rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror((int)rc),
                mp_err_name((int)rc));
        exit(1);
    }
    return rc;
}

/* Sends the string s (without its NUL) as one message. */
static void
send_text(mp_conn_t *c, const char *s)
{
    check(mp_conn_send_bytes(c, s, strlen(s), MP_WAIT_FOREVER), "send");
}

/* Receives one message into buf as a NUL-terminated string. */
static void
recv_text(mp_conn_t *c, char *buf, size_t size)
{
    ssize_t n = mp_conn_recv_bytes_into(c, buf, size - 1, MP_WAIT_FOREVER);
    check(n, "recv");
    buf[n] = '\0';
}

/* Opens in a child the pipe end whose token (its argument) is token. */
static mp_conn_t *
open_end(const char *token)
{
    mp_conn_t *c;
    check(mp_conn_attach(&c, token, 30000), "attach");
    return c;
}

/* The child of the duplex part: answers each message on the same end. */
static int
duplex_child(void *arg)
{
    mp_conn_t *conn2 = open_end(arg);
    char buf[64];
    char reply[96];
    for (int i = 0; i < ROUNDS; i++) {
        recv_text(conn2, buf, sizeof(buf));
        printf("child  received: %s\n", buf);
        snprintf(reply, sizeof(reply), "reply %d to '%s'", i + 1, buf);
        send_text(conn2, reply);
    }
    mp_conn_destroy(conn2);
    return 0;
}

/* The child of the one-way part: sends on the writing end only. */
static int
oneway_child(void *arg)
{
    mp_conn_t *conn2 = open_end(arg);
    send_text(conn2, "one way only");
    mp_conn_destroy(conn2);
    return 0;
}

/* Starts target(end's token) in a child, closes the parent's copy of end,
 * and returns the child's handle. The token travels as the child's
 * argument bytes, so the end reaches it under every start method (Python
 * pickles a Connection for a spawn child the same way). */
static mp_process_t *
start_with(mp_target_fn target, mp_conn_t *end)
{
    char token[MP_TOKEN_MAX];
    check(mp_conn_token(end, token, sizeof token), "token");
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof token;
    mp_process_t *p;
    check(mp_process_create(&p, target, token, &opts), "create");
    check(mp_process_start(p), "start");
    mp_conn_destroy(end);
    return p;
}

/* Joins p and returns its exit code. */
static int
join_code(mp_process_t *p)
{
    int code;
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);
    return code;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);
    mp_conn_t *conn1;
    mp_conn_t *conn2;
    char buf[128];

    printf("--- Pipe(duplex=True) ---\n");
    check(mp_pipe(&conn1, &conn2, true), "pipe");
    printf("conn1 readable=%d writable=%d, conn2 readable=%d writable=%d\n",
           mp_conn_readable(conn1), mp_conn_writable(conn1),
           mp_conn_readable(conn2), mp_conn_writable(conn2));
    mp_process_t *p = start_with(duplex_child, conn2);
    for (int i = 0; i < ROUNDS; i++) {
        char question[32];
        snprintf(question, sizeof(question), "hello %d", i + 1);
        printf("parent sends:    %s\n", question);
        send_text(conn1, question);
        recv_text(conn1, buf, sizeof(buf));
        printf("parent received: %s\n", buf);
    }
    int code1 = join_code(p);
    mp_conn_destroy(conn1);

    printf("--- Pipe(duplex=False) ---\n");
    check(mp_pipe(&conn1, &conn2, false), "pipe");
    printf("conn1 readable=%d writable=%d, conn2 readable=%d writable=%d\n",
           mp_conn_readable(conn1), mp_conn_writable(conn1),
           mp_conn_readable(conn2), mp_conn_writable(conn2));
    p = start_with(oneway_child, conn2);
    recv_text(conn1, buf, sizeof(buf));
    printf("parent received on conn1: %s\n", buf);
    int rc = mp_conn_send_bytes(conn1, "back", 4, MP_WAIT_FOREVER);
    printf("conn1.send(...): %s (connection is read-only)\n", mp_err_name(rc));
    int code2 = join_code(p);
    mp_conn_destroy(conn1);

    if (rc != MP_EBADF) {
        fprintf(stderr, "ERROR: send on a reading end gave %d\n", rc);
        return 1;
    }
    printf("child exit codes: %d %d\n", code1, code2);
    return code1 == 0 && code2 == 0 ? 0 : 1;
}
