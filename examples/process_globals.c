/* SPDX-License-Identifier: MIT */
/* process_globals.c - processes do not share global variables: a child's
 * changes to a global list and number stay in that child.
 *
 * The C twin of seed 002 (002_5ac3e8d32ecfde20.txt), section "2. 进程不共享
 * 全局变量":
 *
 *     nums = [11, 22]
 *     n = 10
 *
 *     def work1():
 *         global n
 *         n = 100
 *         print("in process1 pid=%d , nums=%s" % (os.getpid(), nums))
 *         for i in range(3):
 *             nums.append(i)
 *             time.sleep(1)
 *         print("in process1 pid=%d , nums=%s" % (os.getpid(), nums))
 *         print("in process1 pid=%d , n=%d" % (os.getpid(), n))
 *
 *     def work2():
 *         print("in process2 pid=%d , nums=%s" % (os.getpid(), nums))
 *         print("in process2 pid=%d , n=%d" % (os.getpid(), n))
 *
 *     p1 = Process(target=work1); p1.start(); p1.join()
 *     print('-' * 50)
 *     p2 = Process(target=work2); p2.start()
 *
 * Python joins p2 when the main module ends; the twin joins it itself. */
#include <multiproc.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* The globals: a list with room to grow, and a number. */
static int nums[8] = {11, 22};
static size_t nums_len = 2;
static int n = 10;

/* Stops the example with the library's message when a call failed. */
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

/* Prints "in <who> pid=<pid> , nums=[11, 22, ...]". */
static void
print_nums(const char *who)
{
    printf("in %s pid=%d , nums=[", who, (int)getpid());
    for (size_t i = 0; i < nums_len; i++) {
        printf("%s%d", i > 0 ? ", " : "", nums[i]);
    }
    printf("]\n");
}

/* Changes both globals: in this process only. */
static int
work1(void *arg)
{
    (void)arg;
    n = 100;
    print_nums("process1");
    for (int i = 0; i < 3; i++) {
        nums[nums_len++] = i;
        sleep_ms(50); /* the seed sleeps a second */
    }
    print_nums("process1");
    printf("in process1 pid=%d , n=%d\n", (int)getpid(), n);
    return 0;
}

/* Sees the globals as the parent has them, untouched by work1. */
static int
work2(void *arg)
{
    (void)arg;
    print_nums("process2");
    printf("in process2 pid=%d , n=%d\n", (int)getpid(), n);
    return 0;
}

/* Starts target in a new process, waits for it, and returns its exit
 * code. */
static int
run_and_join(mp_target_fn target)
{
    mp_process_t *p;
    int code;
    check(mp_process_create(&p, target, NULL, NULL), "create");
    check(mp_process_start(p), "start");
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);
    return code;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in the order they are made */
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    int code1 = run_and_join(work1);
    printf("--------------------------------------------------\n");
    int code2 = run_and_join(work2);
    return code1 == 0 && code2 == 0 ? 0 : 1;
}
