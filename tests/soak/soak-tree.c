/* SPDX-License-Identifier: MIT */
/* soak-tree.c - two scenarios about whole process trees:
 * - tree: the round's process builds a tree (a tracked segment, a queue,
 *   two managers - one at the default address, one at a path of its own -
 *   a pool, a daemon child with segments of its own, a child that waits
 *   for its parent's death) and works with it until the driver SIGKILLs it
 *   at a random moment of the set-up or the work. The driver then checks
 *   that no process of the tree, no /dev/shm name, no socket file and no
 *   tracker is left (soak.c).
 * - recycled_pid: inside a new pid namespace (unshare, with a /proc of its
 *   own), a Lock holder is killed and its pid handed to a new live process
 *   through /proc/sys/kernel/ns_last_pid; the next acquirer must still get
 *   the lock (MP_EOWNERDEAD) within 10 s. An unprivileged caller makes a
 *   user namespace first; skipped where neither is permitted. */
#include "soak.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

/* --- tree ---------------------------------------------------------------- */

/* A pool task of the tree: echoes its input. */
static int
tree_task(const void *in, size_t len, mp_pool_out_t *out)
{
    return mp_pool_out_write(out, in, len);
}

/* A daemon child: segments of its own, then a loop on its queue. */
static int
tree_daemon(void *arg)
{
    (void)arg;
    mp_shm_t *shm = NULL;
    mp_queue_t *q = NULL;
    if (mp_shm_create(&shm, NULL, 1 << 16, 0) != 0 ||
        mp_simple_queue_create(&q) != 0) {
        return 3;
    }
    for (;;) {
        void *buf = NULL;
        mp_queue_put(q, "x", 1, 1000);
        if (mp_queue_get(q, &buf, 1000) >= 0) {
            mp_free(buf);
        }
    }
}

/* A non-daemon child: exits once its parent has died (or after 60 s). */
static int
tree_orphan(void *arg)
{
    (void)arg;
    mp_process_join(mp_parent_process(), 60000);
    return 0;
}

int
soak_tree(soak_round_t *r)
{
    mp_init(); /* this process names the tree's segments */
    soak_note(r, "killed during the set-up");
    char b = 'S';
    if (write(r->report_fd, &b, 1) != 1) {
        soak_fail(r, "cannot tell the driver: %s", strerror(errno));
        return SOAK_FAIL;
    }
    mp_shm_t *shm = NULL;
    mp_queue_t *q = NULL;
    mp_manager_t *m1 = NULL, *m2 = NULL;
    mp_proxy_t *d = NULL;
    mp_pool_t *pool = NULL;
    mp_process_t *dmn = NULL, *orphan = NULL;
    char addr[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(addr, sizeof addr, "%s/user-manager.sock",
             tmp != NULL ? tmp : "/tmp");
    mp_manager_opts_t o2 = MP_MANAGER_OPTS_INIT;
    o2.address = addr;
    mp_pool_opts_t po = MP_POOL_OPTS_INIT;
    po.processes = 2;
    mp_process_opts_t dopts = MP_PROCESS_OPTS_INIT;
    dopts.daemon = true;
    int rc;
    if ((rc = mp_shm_create(&shm, NULL, 1 << 20, 0)) != 0 ||
        (rc = mp_simple_queue_create(&q)) != 0 ||
        (rc = mp_manager_create(&m1, NULL)) != 0 ||
        (rc = mp_manager_start(m1)) != 0 ||
        (rc = mp_manager_dict(m1, &d)) != 0 ||
        (rc = mp_manager_create(&m2, &o2)) != 0 ||
        (rc = mp_manager_start(m2)) != 0 ||
        (rc = mp_pool_create(&pool, &po)) != 0 ||
        (rc = mp_process_create(&dmn, tree_daemon, NULL, &dopts)) != 0 ||
        (rc = mp_process_start(dmn)) != 0 ||
        (rc = mp_process_create(&orphan, tree_orphan, NULL, NULL)) != 0 ||
        (rc = mp_process_start(orphan)) != 0) {
        soak_fail(r, "building the tree: %s", mp_err_name(rc));
        for (;;) {
            pause(); /* the driver's kill ends the round */
        }
    }
    soak_note(r, "killed at work");
    b = 'B';
    if (write(r->report_fd, &b, 1) != 1) {
        soak_fail(r, "cannot tell the driver: %s", strerror(errno));
    }
    for (long i = 0;; i++) {
        void *buf = NULL;
        mp_queue_put(q, &i, sizeof i, 1000);
        if (mp_queue_get(q, &buf, 1000) >= 0) {
            mp_free(buf);
        }
        mp_dict_set(d, "k", 1, &i, sizeof i);
        if (mp_pool_apply(pool, tree_task, &i, sizeof i, &buf, 10000) >= 0) {
            mp_free(buf);
        }
    }
}

/* --- recycled holder pid ------------------------------------------------- */

static int gate[2] = {-1, -1}; /* read by holders until its write end goes */
static int ready[2] = {-1, -1};
static mp_lock_t *rp_lock;

/* The holder: takes the lock, says so, blocks until killed. */
static int
rp_holder(void *arg)
{
    (void)arg;
    int rc = mp_lock_acquire(rp_lock, 10000);
    char b = rc == 0 ? 'H' : 'E';
    if (write(ready[1], &b, 1) != 1) {
        return 3;
    }
    close(gate[1]);
    while (read(gate[0], &b, 1) < 0 && errno == EINTR) {
    }
    return 0;
}

/* Writes text to the file at path; returns 0 or -errno. */
static int
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : -errno;
    close(fd);
    return rc;
}

/* Writes the pid the next fork of this namespace should get. */
static int
set_last_pid(pid_t next)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%d", (int)next - 1);
    return write_file("/proc/sys/kernel/ns_last_pid", buf);
}

/* The start time of pid (field 22 of /proc/<pid>/stat, clock ticks after
 * boot), or 0 when it cannot be read. */
static unsigned long long
start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long long t = 0;
    /* After ") ": fields 3 (state) to 22 (starttime). */
    for (int field = 3; p != NULL && field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (p != NULL && field == 22) {
            t = strtoull(p + 1, NULL, 10);
        }
    }
    return t;
}

/* Runs as pid 1 of the new namespace. Returns the round's code. */
static int
rp_init(soak_round_t *r)
{
    /* A /proc of this namespace, in a mount namespace of our own (the
     * round's process keeps the host's /proc). */
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              NULL) != 0) {
        soak_note(r, "cannot mount /proc in the namespace: %s",
                  strerror(errno));
        return SOAK_SKIP;
    }
    bool rlock = soak_below(r, 2) == 1;
    int rc = rlock ? mp_rlock_create(&rp_lock) : mp_lock_create(&rp_lock);
    if (rc != 0 || pipe2(gate, O_CLOEXEC) != 0 ||
        pipe2(ready, O_CLOEXEC) != 0) {
        soak_fail(r, "set-up: %s", mp_err_name(rc));
        return SOAK_FAIL;
    }
    mp_process_t *h = soak_start(r, rp_holder, NULL);
    char b = 0;
    if (h == NULL || read(ready[0], &b, 1) != 1 || b != 'H') {
        soak_fail(r, "the holder did not take the lock");
        return SOAK_FAIL;
    }
    pid_t hpid = mp_process_pid(h);
    unsigned long long hstart = start_ticks(hpid);
    /* Half the rounds kill at once (the new process then often starts in
     * the holder's clock tick), half after 0..30 ms. */
    if (soak_below(r, 2) == 1) {
        soak_pause_us(r, 30000);
    }
    soak_kill(r, &h, NULL);
    /* Hand hpid to a new process that lives on. */
    pid_t twin = -1;
    for (int tries = 0; tries < 20 && twin != hpid; tries++) {
        if (twin > 0) {
            kill(twin, SIGKILL);
            waitpid(twin, NULL, 0);
        }
        if ((rc = set_last_pid(hpid)) != 0) {
            soak_note(r, "cannot write ns_last_pid: %s", strerror(-rc));
            return SOAK_SKIP;
        }
        twin = fork();
        if (twin == 0) {
            close(gate[1]);
            while (read(gate[0], &b, 1) < 0 && errno == EINTR) {
            }
            _exit(0);
        }
    }
    if (twin != hpid) {
        soak_note(r, "pid %d could not be recycled", (int)hpid);
        kill(twin, SIGKILL);
        waitpid(twin, NULL, 0);
        return SOAK_SKIP;
    }
    unsigned long long tstart = start_ticks(twin);
    rc = mp_lock_acquire(rp_lock, 10000);
    if (rc != MP_EOWNERDEAD) {
        soak_fail(r,
                  "%s holder pid %d killed and given to a live process: "
                  "the next acquire got %s, not EOWNERDEAD (issue 21 "
                  "item 6: holder identity does not survive pid reuse; "
                  "start times %llu and %llu ticks%s)",
                  rlock ? "RLock" : "Lock", (int)hpid, mp_err_name(rc), hstart,
                  tstart, hstart == tstart ? ", the same clock tick" : "");
    } else {
        mp_lock_consistent(rp_lock);
        mp_lock_release(rp_lock);
    }
    soak_note(r, "%s holder pid %d recycled, %s start tick",
              rlock ? "RLock" : "Lock", (int)hpid,
              hstart == tstart ? "same" : "later");
    close(gate[1]);
    waitpid(twin, NULL, 0);
    mp_lock_destroy(rp_lock);
    mp_shutdown();
    /* As the namespace's init we adopt its orphans (the tracker): wait
     * for them, so that it can remove the tree's segments. */
    if (soak_reap_all(20000) > 0) {
        soak_fail(r, "processes of the namespace still ran 20 s after "
                     "the round");
    }
    return SOAK_PASS;
}

/* Enters a new user namespace, where the caller is root, so that an
 * unprivileged caller may make the pid namespace. Returns 0 or -errno. */
static int
enter_user_ns(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER) != 0) {
        return -errno;
    }
    char map[64];
    int rc = write_file("/proc/self/setgroups", "deny");
    if (rc == 0 || rc == -ENOENT) {
        snprintf(map, sizeof map, "0 %d 1", (int)uid);
        rc = write_file("/proc/self/uid_map", map);
    }
    if (rc == 0) {
        snprintf(map, sizeof map, "0 %d 1", (int)gid);
        rc = write_file("/proc/self/gid_map", map);
    }
    return rc;
}

int
soak_recycled_pid(soak_round_t *r)
{
    mp_init(); /* the namespace's processes name segments after us */
    if (unshare(CLONE_NEWPID) != 0) {
        /* Unprivileged: a user namespace of our own first. */
        int e = errno, rc = enter_user_ns();
        if (rc != 0 || unshare(CLONE_NEWPID) != 0) {
            soak_note(r,
                      "unshare(CLONE_NEWPID) not permitted: %s; with a "
                      "user namespace: %s",
                      strerror(e), strerror(rc != 0 ? -rc : errno));
            return SOAK_SKIP;
        }
    }
    fflush(NULL);
    pid_t init = fork();
    if (init < 0) {
        soak_note(r, "fork into the namespace: %s", strerror(errno));
        return SOAK_SKIP;
    }
    if (init == 0) {
        int code = rp_init(r);
        if (code == SOAK_PASS && r->shared->failures > 0) {
            code = SOAK_FAIL;
        }
        fflush(NULL);
        _exit(code);
    }
    int st = 0;
    while (waitpid(init, &st, 0) < 0 && errno == EINTR) {
    }
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : SOAK_FAIL;
    if (!WIFEXITED(st)) {
        soak_fail(r, "the namespace's init died of signal %d", WTERMSIG(st));
    }
    /* With its init gone this process can fork nothing more (its
     * children's pid namespace is dead), so it leaves without exit
     * handlers (LeakSanitizer's would need a thread of its own). */
    fflush(NULL);
    _exit(code);
}
