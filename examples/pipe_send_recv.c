/* SPDX-License-Identifier: MIT */
/* pipe_send_recv.c - a child sends one message through a Pipe and closes its
 * end; the parent receives it after joining the child, then sees the end of
 * the stream.
 *
 * The C twin of seed 004 (004_f21c6b0cb0107111.txt), part "2) pipe":
 *
 *     def f(conn):
 *         conn.send([42, None, 'hello'])
 *         conn.close()
 *
 *     if __name__ == '__main__':
 *         parent_conn, child_conn = Pipe()
 *         p = Process(target=f, args=(child_conn,))
 *         p.start()
 *         p.join()
 *         print(parent_conn.recv())   # prints "[42, None, 'hello']"
 *
 * C has no pickle, so the list travels as a struct of fixed-size fields with
 * send_bytes/recv_bytes, and the parent prints it as Python would. Like
 * Python, the parent may join before it receives: a small message fits in
 * the pipe's buffer, so the child's send does not wait for the reader. Once
 * the child closed its end (and the parent its copy of it), a second
 * receive reports the end of stream: Python's EOFError, here MP_EOF. The
 * child's end reaches it as a token in its argument bytes (mp_conn_token),
 * which works under every start method, as Python pickles a Connection
 * for a spawn child. */
#include <multiproc.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* [42, None, 'hello'] on the wire. */
struct message {
    int32_t number;     /* 42 */
    uint8_t second_set; /* 0: the second item is None */
    char text[16];      /* 'hello', NUL-terminated */
};

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

/* The child: conn.send([42, None, 'hello']); conn.close(). */
static int
f(void *arg)
{
    mp_conn_t *conn;
    check(mp_conn_attach(&conn, arg, 30000), "attach");
    struct message msg;
    memset(&msg, 0, sizeof(msg));
    msg.number = 42;
    msg.second_set = 0;
    snprintf(msg.text, sizeof(msg.text), "%s", "hello");
    check(mp_conn_send_bytes(conn, &msg, sizeof(msg), MP_WAIT_FOREVER), "send");
    check(mp_conn_close(conn), "close");
    mp_conn_destroy(conn);
    return 0;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    mp_conn_t *parent_conn;
    mp_conn_t *child_conn;
    check(mp_pipe(&parent_conn, &child_conn, true), "pipe");

    mp_process_t *p;
    int code;
    char token[MP_TOKEN_MAX];
    check(mp_conn_token(child_conn, token, sizeof token), "token");
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof token; /* the child gets a copy */
    check(mp_process_create(&p, f, token, &opts), "create");
    check(mp_process_start(p), "start");
    /* The child opens its own copy of child_conn; the parent's must be
     * closed too, or the parent would never see the end of the stream. */
    mp_conn_destroy(child_conn);
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);

    struct message msg;
    ssize_t n = mp_conn_recv_bytes_into(parent_conn, &msg, sizeof(msg),
                                        MP_WAIT_FOREVER);
    check(n, "recv");
    if ((size_t)n != sizeof(msg) || msg.text[sizeof(msg.text) - 1] != '\0') {
        fprintf(stderr, "ERROR: a malformed message of %zd bytes\n", n);
        return 1;
    }
    printf("[%d, %s, '%s']\n", (int)msg.number,
           msg.second_set ? "<set>" : "None", msg.text);

    /* The child closed its end: the next recv() is Python's EOFError. */
    n = mp_conn_recv_bytes_into(parent_conn, &msg, sizeof(msg),
                                MP_WAIT_FOREVER);
    if (n != MP_EOF) {
        fprintf(stderr, "ERROR: second recv returned %zd, expected MP_EOF\n",
                n);
        return 1;
    }
    printf("recv() again: EOFError (%s)\n", mp_err_name((int)n));
    mp_conn_destroy(parent_conn);
    printf("child exit code: %d\n", code);
    return code == 0 ? 0 : 1;
}
