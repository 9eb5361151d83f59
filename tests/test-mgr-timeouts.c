/* SPDX-License-Identifier: MIT */
/* test-mgr-timeouts.c - a manager client never waits longer than it was
 * told: mp_manager_connect's timeout, the call_timeout of calls that take
 * none of their own, a timed call's own timeout against a server that went
 * silent (stopped with SIGSTOP: its socket stays open, nothing answers), and
 * the TCP keep-alive that finds a vanished peer. */
#include "runner.h"

#include "platform/platform.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A client of m's server over its (TCP) address that sends every call to
 * the server, with the given call_timeout. */
static mp_manager_t *
remote_client(mp_manager_t *m, mp_duration_t call_timeout)
{
    mp_manager_opts_t o = mpt_manager_client_opts(m);
    o.remote_only = true;
    o.call_timeout = call_timeout;
    mp_manager_t *c;
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_OK(mp_manager_connect(c, 30000));
    return c;
}

TEST_TIMEOUT(mgr_calls_time_out_on_a_silent_server, 60)
{
    mp_manager_opts_t so = MP_MANAGER_OPTS_INIT;
    so.address = "127.0.0.1:0";
    mp_manager_t *m = mpt_manager_start(&so);
    mp_manager_t *c = remote_client(m, 300);
    mp_proxy_t *d, *lock;
    ASSERT_OK(mp_manager_dict(c, &d));
    ASSERT_OK(mp_manager_lock(c, &lock));
    ASSERT_OK(mp_dict_set(d, "k", 1, "v1", 2)); /* the link works */

    pid_t server = mp_manager_pid(m);
    mpt_stop(server);
    /* A call without a timeout of its own: call_timeout (300 ms). */
    ASSERT_ERR(mp_dict_set(d, "k", 1, "v2", 2), MP_ETIMEDOUT);
    /* A timed call: its own timeout plus the reply's grace. */
    ASSERT_ERR(mp_proxy_acquire(lock, 50), MP_ETIMEDOUT);
    ASSERT_EQ(kill(server, SIGCONT), 0);

    /* The late replies went to dropped connections; new calls work. */
    void *val = NULL;
    ssize_t n = mp_dict_get(d, "k", 1, &val);
    ASSERT_EQ(n, 2); /* "v1", or "v2" if the stopped set ran on resume */
    ASSERT(memcmp(val, "v", 1) == 0);
    mp_free(val);

    mp_proxy_destroy(lock);
    mp_proxy_destroy(d);
    mp_manager_destroy(c);
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);
}

TEST_TIMEOUT(mgr_connect_honours_its_timeout, 60)
{
    mp_manager_opts_t so = MP_MANAGER_OPTS_INIT;
    so.address = "127.0.0.1:0";
    mp_manager_t *m = mpt_manager_start(&so);
    mp_manager_opts_t o = mpt_manager_client_opts(m);
    mp_manager_t *c;
    ASSERT_OK(mp_manager_create(&c, &o));
    ASSERT_ERR(mp_manager_connect(c, -2), MP_EINVAL);
    ASSERT_ERR(mp_manager_connect(NULL, 1000), MP_EINVAL);

    /* A stopped server accepts in its kernel but answers nothing. */
    pid_t server = mp_manager_pid(m);
    mpt_stop(server);
    ASSERT_ERR(mp_manager_connect(c, 200), MP_ETIMEDOUT);
    ASSERT_EQ(kill(server, SIGCONT), 0);
    ASSERT_OK(mp_manager_connect(c, 30000));
    mp_manager_destroy(c);
    ASSERT_OK(mp_manager_shutdown(m));
    mp_manager_destroy(m);
}

TEST(mgr_call_timeout_bad_values)
{
    mp_manager_t *m;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.call_timeout = -2;
    ASSERT_ERR(mp_manager_create(&m, &o), MP_EINVAL);
    o.call_timeout = INT64_MIN;
    ASSERT_ERR(mp_manager_create(&m, &o), MP_EINVAL);
    /* Huge and forever are accepted (forever is the default). */
    o.call_timeout = INT64_MAX;
    ASSERT_OK(mp_manager_create(&m, &o));
    mp_manager_destroy(m);
    o.call_timeout = MP_WAIT_FOREVER;
    ASSERT_OK(mp_manager_create(&m, &o));
    mp_manager_destroy(m);
}

/* Reads an int socket option. */
static int
int_option(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    ASSERT_EQ(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

TEST(plat_tcp_keepalive_arms_tcp_only)
{
    mp_listener_t *l;
    ASSERT_OK(mp_listener_create(&l, "127.0.0.1:0", NULL, 0, 0));
    mp_conn_t *c;
    ASSERT_OK(mp_client_connect(&c, mp_listener_address(l), NULL, 0, 10000));
    int fd = mp_conn_fileno(c);
    ASSERT_EQ(int_option(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    ASSERT_OK(mp__plat_tcp_keepalive(fd));
    ASSERT_EQ(int_option(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    int idle = int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE);
    int interval = int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL);
    int count = int_option(fd, IPPROTO_TCP, TCP_KEEPCNT);
    ASSERT_EQ((idle + interval * count) * 1000, MP__PLAT_KEEPALIVE_MS);
    ASSERT_EQ(int_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT),
              MP__PLAT_KEEPALIVE_MS);
    mp_conn_destroy(c);
    mp_listener_destroy(l);

    /* AF_UNIX: nothing to arm, nothing changed. */
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_OK(mp__plat_tcp_keepalive(sv[0]));
    ASSERT_EQ(int_option(sv[0], SOL_SOCKET, SO_KEEPALIVE), 0);
    close(sv[0]);
    close(sv[1]);
    ASSERT_ERR(mp__plat_tcp_keepalive(-1), -EBADF);
}
