/* SPDX-License-Identifier: MIT */
/* process_basics.c - start a process with arguments, watch is_alive, join it,
 * read its exit code (12), and terminate another one (exit code -15).
 *
 * The C twin of seed 002 (002_5ac3e8d32ecfde20.txt), section "1. Process
 * 的语法结构":
 *
 *     def run_proc(name, age, **kwargs):
 *         print(f'My name is {name} and my age is {age}')
 *         print(kwargs)
 *         exit(12)
 *
 *     p = Process(target=run_proc, args=('Alice', 20),
 *                 kwargs={'city': 'beijing', 'country': 'China'})
 *     p.start()
 *     print(f'1.子进程是否存活:{p.is_alive()}')
 *     # p.terminate()  # exit code -15
 *     p.join()
 *     print(f'2.子进程是否存活:{p.is_alive()}')
 *     print(f'子进程的退出码是:{p.exitcode}')
 *     print('父进程结束')
 *
 * A target takes one pointer, so the positional and keyword arguments
 * travel as the named fields of a struct, copied to the child as bytes
 * (opts.arg_size: so under every start method, also spawn and forkserver,
 * whose child has none of the parent's memory). The commented-out terminate()
 * of the seed is the second half: a process that would run forever is
 * terminated and its exit code is -15 (minus SIGTERM). */
#include <multiproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* args=('Alice', 20), kwargs={'city': 'beijing', 'country': 'China'} */
struct run_proc_args {
    char name[16];
    int age;
    struct {
        char city[16];
        char country[16];
    } kwargs;
};

/* Stops the example with the library's message when a call failed;
 * otherwise returns rc (a count or a 0/1 answer). */
static int
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror(rc),
                mp_err_name(rc));
        exit(1);
    }
    return rc;
}

/* Sleeps ms milliseconds. */
static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Python's True/False. */
static const char *
py_bool(int b)
{
    return b ? "True" : "False";
}

/* The child of the first half: prints its arguments, then exits with 12. */
static int
run_proc(void *arg)
{
    const struct run_proc_args *a = arg;
    sleep_ms(100); /* some work, so the parent sees it alive */
    printf("My name is %s and my age is %d\n", a->name, a->age);
    printf("{'city': '%s', 'country': '%s'}\n", a->kwargs.city,
           a->kwargs.country);
    /* Python's exit(12); `return 12;` would do the same. */
    mp_process_exit(12);
}

/* The child of the second half: runs until it is terminated. */
static int
run_forever(void *arg)
{
    (void)arg;
    for (;;) {
        pause(); /* until a signal ends the process */
    }
    return 0; /* not reached */
}

int
main(int argc, char **argv)
{
    /* One line at a time, also into a pipe, so that the output of parent
     * and children interleaves in the order it was made. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    struct run_proc_args args = {"Alice", 20, {"beijing", "China"}};
    mp_process_t *p;
    int code;
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof args; /* the child gets a copy of these bytes */
    check(mp_process_create(&p, run_proc, &args, &opts), "create");
    check(mp_process_start(p), "start");
    printf("started %s, pid %d\n", mp_process_name(p), (int)mp_process_pid(p));
    printf("1. child alive: %s\n",
           py_bool(check(mp_process_is_alive(p), "is_alive")));
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    printf("2. child alive: %s\n",
           py_bool(check(mp_process_is_alive(p), "is_alive")));
    check(mp_process_exitcode(p, &code), "exitcode");
    printf("child exit code: %d\n", code);
    mp_process_destroy(p);
    if (code != 12) {
        fprintf(stderr, "ERROR: exit code %d, expected 12\n", code);
        return 1;
    }

    printf("--- terminate() ---\n");
    check(mp_process_create(&p, run_forever, NULL, NULL), "create");
    check(mp_process_start(p), "start");
    printf("started %s, pid %d, alive: %s\n", mp_process_name(p),
           (int)mp_process_pid(p),
           py_bool(check(mp_process_is_alive(p), "is_alive")));
    /* No exit code while it runs: Python's None. */
    if (mp_process_exitcode(p, &code) == MP_ERUNNING) {
        printf("exit code while running: None\n");
    }
    check(mp_process_terminate(p), "terminate");
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    printf("terminated: alive: %s, exit code: %d\n",
           py_bool(check(mp_process_is_alive(p), "is_alive")), code);
    mp_process_destroy(p);
    if (code != -15) {
        fprintf(stderr, "ERROR: exit code %d, expected -15\n", code);
        return 1;
    }
    printf("parent ends\n");
    return 0;
}
