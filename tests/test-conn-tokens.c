/* SPDX-License-Identifier: MIT */
/* test-conn-tokens.c - a Pipe's connections as tokens (issue 17): an end
 * reaches a spawn and a forkserver child and a program exec'd apart from
 * the creator, and messages flow both ways; a token opens once; forged
 * and malformed tokens are refused; a dead, stopped or shut-down creator
 * gives an error, never a hang; peers of the fd sharer that stay silent,
 * send too little, garbage, a wrong secret or too much hold nothing up and
 * are dropped; a forked child neither serves nor removes its parent's
 * sharer. */
#include "runner.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long an attach in these tests may wait: long, as nothing should
 * make it wait at all (the sanitizers and a loaded machine are slow). */
#define ATTACH_MS 30000

/* Opens token t, answers "ping" with "pong", and checks that the end
 * reads end of stream once the parent closed its end. Exit codes name the
 * step that failed. */
static int
pong_child(void *arg)
{
    mp_conn_t *c;
    if (mp_conn_attach(&c, arg, ATTACH_MS) != 0) {
        return 10;
    }
    if (!mp_conn_readable(c) || !mp_conn_writable(c)) {
        return 11;
    }
    char buf[16];
    ssize_t n = mp_conn_recv_bytes_into(c, buf, sizeof buf, MP_WAIT_FOREVER);
    if (n != 4 || memcmp(buf, "ping", 4) != 0) {
        return 12;
    }
    if (mp_conn_send_bytes(c, "pong", 4, MP_WAIT_FOREVER) != 0) {
        return 13;
    }
    if (mp_conn_recv_bytes_into(c, buf, sizeof buf, MP_WAIT_FOREVER) !=
        MP_EOF) {
        return 14;
    }
    mp_conn_destroy(c);
    return 0;
}

TEST_TIMEOUT(conn_tokens_pipe_end_reaches_spawn_and_forkserver_children, 60)
{
    static const mp_start_method_t methods[] = {MP_START_SPAWN,
                                                MP_START_FORKSERVER};
    for (size_t i = 0; i < 2; i++) {
        mp_conn_t *a, *b;
        ASSERT_OK(mp_pipe(&a, &b, true));
        char tok[MP_TOKEN_MAX];
        ASSERT_OK(mp_conn_token(b, tok, sizeof tok));
        ASSERT(strncmp(tok, "mpt1:P:", 7) == 0);
        /* Only the child holds that end now (the sharer's copy goes with
         * the fetch): the parent sees end of stream when it exits. */
        mp_conn_destroy(b);
        mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
        o.start_method = methods[i];
        o.arg_size = strlen(tok) + 1;
        mp_process_t *p;
        ASSERT_OK(mp_process_create(&p, pong_child, tok, &o));
        ASSERT_OK(mp_process_start(p));
        ASSERT_OK(mp_conn_send_bytes(a, "ping", 4, MP_WAIT_FOREVER));
        char buf[16];
        ASSERT_EQ(mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER),
                  4);
        ASSERT(memcmp(buf, "pong", 4) == 0);
        ASSERT_OK(mp_conn_close(a)); /* the child's read ends */
        mpt_process_finish(p, 0);
        mp_conn_destroy(a);
    }
}

/* A one-way pipe's reading end keeps its direction across the token. */
static int
reader_child(void *arg)
{
    mp_conn_t *c;
    if (mp_conn_attach(&c, arg, ATTACH_MS) != 0) {
        return 10;
    }
    if (!mp_conn_readable(c) || mp_conn_writable(c)) {
        return 11;
    }
    char buf[16];
    if (mp_conn_recv_bytes_into(c, buf, sizeof buf, MP_WAIT_FOREVER) != 5 ||
        memcmp(buf, "hello", 5) != 0) {
        return 12;
    }
    mp_conn_destroy(c);
    return 0;
}

TEST_TIMEOUT(conn_tokens_one_way_end_keeps_its_direction, 60)
{
    mp_conn_t *r, *w;
    ASSERT_OK(mp_pipe(&r, &w, false));
    char tok[MP_TOKEN_MAX];
    ASSERT_OK(mp_conn_token(r, tok, sizeof tok));
    mp_conn_destroy(r);
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    o.start_method = MP_START_SPAWN;
    o.arg_size = strlen(tok) + 1;
    mp_process_t *p;
    ASSERT_OK(mp_process_create(&p, reader_child, tok, &o));
    ASSERT_OK(mp_process_start(p));
    ASSERT_OK(mp_conn_send_bytes(w, "hello", 5, MP_WAIT_FOREVER));
    mpt_process_finish(p, 0);
    mp_conn_destroy(w);
}

/* A program exec'd apart from the creator: opens CONN_TOKEN, sends
 * "exec", and echoes what it gets back. */
TEST_HELPER(conn_tokens_exec_opener)
{
    mp_conn_t *c;
    ASSERT_OK(mp_conn_attach(&c, getenv("CONN_TOKEN"), ATTACH_MS));
    ASSERT_OK(mp_conn_send_bytes(c, "exec", 4, MP_WAIT_FOREVER));
    void *buf;
    ssize_t n = mp_conn_recv_bytes(c, &buf, 0, MP_WAIT_FOREVER);
    ASSERT(n >= 0);
    ASSERT_OK(mp_conn_send_bytes(c, buf, (size_t)n, MP_WAIT_FOREVER));
    mp_free(buf);
    mp_conn_destroy(c);
}

TEST_TIMEOUT(conn_tokens_open_in_a_program_not_forked_from_the_creator, 60)
{
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    char tok[MP_TOKEN_MAX];
    ASSERT_OK(mp_conn_token(b, tok, sizeof tok));
    mp_conn_destroy(b);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        setenv("CONN_TOKEN", tok, 1);
        mpt_exec_helper("conn_tokens_exec_opener");
    }
    char buf[16];
    ASSERT_EQ(mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER), 4);
    ASSERT(memcmp(buf, "exec", 4) == 0);
    ASSERT_OK(mp_conn_send_bytes(a, "echo me", 7, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER), 7);
    ASSERT(memcmp(buf, "echo me", 7) == 0);
    ASSERT_EQ(mpt_join(pid), 0);
    ASSERT_ERR(mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER),
               MP_EOF);
    mp_conn_destroy(a);
}

TEST_TIMEOUT(conn_tokens_open_once_and_the_creator_end_stays_usable, 60)
{
    mp_conn_t *a, *b, *b2;
    ASSERT_OK(mp_pipe(&a, &b, true));
    char tok[MP_TOKEN_MAX];
    ASSERT_OK(mp_conn_token(b, tok, sizeof tok));
    ASSERT_OK(mp_conn_attach(&b2, tok, ATTACH_MS));
    /* Python's DupFd too: a token opens once. */
    mp_conn_t *again = NULL;
    ASSERT_ERR(mp_conn_attach(&again, tok, ATTACH_MS), MP_ECLOSED);
    ASSERT(again == NULL);
    char buf[8];
    ASSERT_OK(mp_conn_send_bytes(b2, "dup", 3, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER), 3);
    ASSERT_OK(mp_conn_send_bytes(b, "own", 3, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER), 3);
    ASSERT(memcmp(buf, "own", 3) == 0);
    /* Two tokens of one end are two registrations. */
    char t1[MP_TOKEN_MAX], t2[MP_TOKEN_MAX];
    ASSERT_OK(mp_conn_token(b, t1, sizeof t1));
    ASSERT_OK(mp_conn_token(b, t2, sizeof t2));
    ASSERT(strcmp(t1, t2) != 0);
    mp_conn_t *c1, *c2;
    ASSERT_OK(mp_conn_attach(&c2, t2, ATTACH_MS));
    ASSERT_OK(mp_conn_attach(&c1, t1, ATTACH_MS));
    mp_conn_destroy(c1);
    mp_conn_destroy(c2);
    mp_conn_destroy(b2);
    mp_conn_destroy(b);
    mp_conn_destroy(a);
}

/* Replaces the first hex digit of the field'th ':'-field of tok (1: the
 * kind, 2: the id, 3 to 6: the secret) by another one. */
static void
flip_field(char *tok, int field)
{
    char *p = tok;
    for (int i = 0; i < field; i++) {
        p = strchr(p, ':');
        ASSERT(p != NULL);
        p++;
    }
    *p = *p == '1' ? '2' : '1';
}

TEST_TIMEOUT(conn_tokens_forged_and_malformed_are_refused, 60)
{
    mp_conn_t *a, *b, *c = NULL;
    ASSERT_OK(mp_pipe(&a, &b, true));
    char tok[MP_TOKEN_MAX], bad[MP_TOKEN_MAX + 200];
    ASSERT_ERR(mp_conn_token(NULL, tok, sizeof tok), MP_EINVAL);
    ASSERT_ERR(mp_conn_token(b, NULL, sizeof tok), MP_EINVAL);
    ASSERT_ERR(mp_conn_token(b, tok, 20), MP_ERANGE);
    ASSERT_OK(mp_conn_token(b, tok, sizeof tok));

    /* A wrong secret (each of its words) or id: no such registration;
     * the real token still opens afterwards. */
    for (int field = 2; field <= 6; field++) {
        strcpy(bad, tok);
        flip_field(bad, field);
        ASSERT_ERR(mp_conn_attach(&c, bad, ATTACH_MS), MP_ECLOSED);
    }
    /* Not a connection's token, or not a token at all. */
    ASSERT_ERR(mp_conn_attach(&c, NULL, ATTACH_MS), MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(NULL, tok, ATTACH_MS), MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(&c, tok, -5), MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(&c, "", ATTACH_MS), MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(&c, "mpt1:L:1:2:3:4:5:/tmp/x", ATTACH_MS),
               MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(&c, "mpt1:P:1:2:3:4:/tmp/x", ATTACH_MS),
               MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(&c, "mpt1:P:1:2:3:4:5:tmp/x", ATTACH_MS),
               MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(&c, "mpt1:P:1:2:3:4:5", ATTACH_MS), MP_EINVAL);
    ASSERT_ERR(mp_conn_attach(&c, "mpt1:P:1:2:3:4:Z:/tmp/x", ATTACH_MS),
               MP_EINVAL);
    /* A path too long for a socket, and one where nobody shares. */
    int n = snprintf(bad, sizeof bad, "mpt1:P:1:2:3:4:5:/");
    memset(bad + n, 'x', 150);
    bad[n + 150] = '\0';
    ASSERT_ERR(mp_conn_attach(&c, bad, ATTACH_MS), MP_ENAMETOOLONG);
    ASSERT_ERR(
        mp_conn_attach(&c, "mpt1:P:1:2:3:4:5:/nonexistent/mp.sock", ATTACH_MS),
        MP_ECLOSED);
    ASSERT(c == NULL);

    ASSERT_OK(mp_conn_attach(&c, tok, ATTACH_MS));
    mp_conn_destroy(c);
    /* A closed end has no token. */
    ASSERT_OK(mp_conn_close(b));
    ASSERT_ERR(mp_conn_token(b, tok, sizeof tok), MP_ECLOSED);
    mp_conn_destroy(b);
    mp_conn_destroy(a);
}

/* The body of a creator that dies: makes a pipe and a token, writes the
 * token to the fd in arg, and waits (for its SIGKILL) on the pipe's other
 * end, which nobody writes. */
static int
dying_creator(void *arg)
{
    int fd = *(int *)arg;
    mp_conn_t *a, *b;
    char tok[MP_TOKEN_MAX];
    if (mp_pipe(&a, &b, true) != 0 || mp_conn_token(b, tok, sizeof tok) != 0) {
        return 1;
    }
    mpt_write_all(fd, tok, sizeof tok);
    char buf[4];
    (void)mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER);
    return 2;
}

TEST_TIMEOUT(conn_tokens_a_stopped_dead_or_shut_down_creator_is_an_error, 60)
{
    int fds[2];
    ASSERT_OK(pipe(fds));
    pid_t pid = mpt_fork(dying_creator, &fds[1]);
    char tok[MP_TOKEN_MAX];
    mpt_read_all(fds[0], tok, sizeof tok);
    close(fds[0]);
    close(fds[1]);
    mp_conn_t *c = NULL;
    /* Stopped: its sharer cannot answer; the timeout ends the wait. */
    mpt_stop(pid);
    ASSERT_ERR(mp_conn_attach(&c, tok, 100), MP_ETIMEDOUT);
    /* Killed: its socket is left, and refuses. */
    ASSERT_OK(kill(pid, SIGKILL));
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    ASSERT_ERR(mp_conn_attach(&c, tok, ATTACH_MS), MP_ECLOSED);
    ASSERT(c == NULL);

    /* mp_shutdown stops sharing: the copies not fetched are closed. */
    mp_conn_t *a, *b;
    ASSERT_OK(mp_pipe(&a, &b, true));
    ASSERT_OK(mp_conn_token(b, tok, sizeof tok));
    const char *path = strchr(tok, '/');
    ASSERT(path != NULL && access(path, F_OK) == 0);
    ASSERT_OK(mp_shutdown());
    ASSERT(access(path, F_OK) != 0); /* its socket file is gone */
    ASSERT_ERR(mp_conn_attach(&c, tok, ATTACH_MS), MP_ECLOSED);
    /* And the next token starts it again. */
    ASSERT_OK(mp_conn_token(b, tok, sizeof tok));
    ASSERT_OK(mp_conn_attach(&c, tok, ATTACH_MS));
    mp_conn_destroy(c);
    mp_conn_destroy(b);
    mp_conn_destroy(a);
}

/* A forked child that leaves through exit() (the exit handler runs) and
 * mp_shutdown: neither stops its parent's sharer nor removes its socket. */
static int
forked_leaver(void *arg)
{
    (void)arg;
    mp_shutdown();
    exit(0);
}

TEST_TIMEOUT(conn_tokens_a_forked_child_leaves_the_parent_sharer_alone, 60)
{
    mp_conn_t *a, *b, *c;
    ASSERT_OK(mp_pipe(&a, &b, true));
    char tok[MP_TOKEN_MAX];
    ASSERT_OK(mp_conn_token(b, tok, sizeof tok));
    ASSERT_EQ(mpt_join(mpt_fork(forked_leaver, NULL)), 0);
    ASSERT(access(strchr(tok, '/'), F_OK) == 0);
    ASSERT_OK(mp_conn_attach(&c, tok, ATTACH_MS));
    mp_conn_destroy(c);
    mp_conn_destroy(b);
    mp_conn_destroy(a);
}

/* Connects a raw socket to the sharer that serves token tok. */
static int
raw_peer(const char *tok)
{
    const char *path = strchr(tok, '/');
    ASSERT(path != NULL);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    ASSERT(strlen(path) < sizeof sa.sun_path);
    strcpy(sa.sun_path, path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT(s >= 0);
    ASSERT_OK(connect(s, (struct sockaddr *)&sa, sizeof sa));
    return s;
}

/* Waits (without limit: the test's timeout is the bound) for the sharer
 * to answer peer s, and returns its first byte ('N'), or 0 when it closed
 * without one. */
static int
answer_of(int s)
{
    struct pollfd p = {.fd = s, .events = POLLIN};
    ASSERT_EQ(poll(&p, 1, -1), 1);
    char buf[2];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    ASSERT(n >= 0);
    return n > 0 ? buf[0] : 0;
}

TEST_TIMEOUT(conn_tokens_hostile_sharer_peers_hold_nothing_up, 120)
{
    mp_conn_t *a, *b, *c;
    ASSERT_OK(mp_pipe(&a, &b, true));
    char tok[MP_TOKEN_MAX];
    ASSERT_OK(mp_conn_token(b, tok, sizeof tok));
    /* 20 silent peers, more than the sharer's table holds (16): those
     * accepted first are dropped for newer ones. */
    enum { SILENT = 20 };
    int silent[SILENT];
    for (int i = 0; i < SILENT; i++) {
        silent[i] = raw_peer(tok);
    }
    /* A slow one: part of a request, then nothing. */
    int slow = raw_peer(tok);
    ASSERT_EQ(send(slow, "mpF1\0\0\0\0", 8, MSG_NOSIGNAL), 8);
    /* Garbage, a wrong secret for the right id, and far too much. */
    int garbage = raw_peer(tok);
    char junk[4096];
    memset(junk, 0xA5, sizeof junk);
    ASSERT_EQ(send(garbage, junk, 48, MSG_NOSIGNAL), 48);
    int wrong = raw_peer(tok);
    char req[48] = "mpF1";
    req[15] = 1; /* id 1, this process's first registration */
    ASSERT_EQ(send(wrong, req, sizeof req, MSG_NOSIGNAL), 48);
    int flood = raw_peer(tok);
    ASSERT_EQ(send(flood, junk, sizeof junk, MSG_NOSIGNAL),
              (ssize_t)sizeof junk);

    /* None of them keeps the real opener waiting. */
    ASSERT_OK(mp_conn_attach(&c, tok, ATTACH_MS));
    ASSERT_OK(mp_conn_send_bytes(c, "ok", 2, MP_WAIT_FOREVER));
    char buf[4];
    ASSERT_EQ(mp_conn_recv_bytes_into(a, buf, sizeof buf, MP_WAIT_FOREVER), 2);

    ASSERT_EQ(answer_of(garbage), 'N');
    ASSERT_EQ(answer_of(wrong), 'N');
    ASSERT_EQ(answer_of(flood), 'N');
    /* The oldest silent peers were dropped to make room (the others are
     * dropped when their time is up, which the slow one waits for). */
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(answer_of(silent[i]), 0);
    }
    ASSERT_EQ(answer_of(slow), 0);
    for (int i = 0; i < SILENT; i++) {
        close(silent[i]);
    }
    close(slow);
    close(garbage);
    close(wrong);
    close(flood);
    mp_conn_destroy(c);
    mp_conn_destroy(b);
    mp_conn_destroy(a);
}
