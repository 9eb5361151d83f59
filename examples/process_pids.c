/* SPDX-License-Identifier: MIT */
/* process_pids.c - a child prints its own pid and its parent's pid.
 *
 * The C twin of seed 002 (002_5ac3e8d32ecfde20.txt), the os.getpid() /
 * os.getppid() example of section "1. Process 的语法结构":
 *
 *     def run_proc():
 *         print('运行子进程 : pid = %d , ppid = %d'
 *               % (os.getpid(), os.getppid()))
 *         print('子进程运行结束')
 *
 *     print('运行父进程 : pid = %d' % os.getpid())
 *     p = Process(target=run_proc)
 *     p.start()
 *     time.sleep(1)
 *     print('父进程运行结束')
 *
 * The seed sleeps one second to let the child finish first; the twin joins
 * it, which waits exactly as long as needed. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

/* The child: who am I, who is my parent. */
static int
run_proc(void *arg)
{
    (void)arg;
    printf("child running: pid = %d , ppid = %d (%s)\n", (int)getpid(),
           (int)getppid(), mp_process_name(mp_current_process()));
    printf("child done\n");
    return 0;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in the order they are made */
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    printf("parent running: pid = %d (%s)\n", (int)getpid(),
           mp_process_name(mp_current_process()));
    mp_process_t *p;
    check(mp_process_create(&p, run_proc, NULL, NULL), "create");
    check(mp_process_start(p), "start");
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    int code;
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);
    printf("parent ends\n");
    return code == 0 ? 0 : 1;
}
