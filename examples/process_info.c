/* SPDX-License-Identifier: MIT */
/* process_info.c - the main process and a child each print their name, their
 * parent's pid and their own pid.
 *
 * The C twin of seed 003 (003_ebf8edffc6108dde.txt), part "2、实际上是通过
 * os.fork的方法产生进程的" (processes come from os.fork):
 *
 *     def info(title):
 *         print(title)
 *         print('module name:', __name__)
 *         print('parent process:', os.getppid())
 *         print('process id:', os.getpid())
 *
 *     def f(name):
 *         info('function f')
 *         print('hello', name)
 *
 *     if __name__ == '__main__':
 *         info('main line')
 *         p = Process(target=f, args=('bob',))
 *         p.start()
 *         p.join()
 *
 * C has no module name; the twin prints the process name in its place
 * ("MainProcess", then "Process-1"). */
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

/* Prints who the calling process is. */
static void
info(const char *title)
{
    printf("%s\n", title);
    printf("process name: %s\n", mp_process_name(mp_current_process()));
    printf("parent process: %d\n", (int)getppid());
    printf("process id: %d\n", (int)getpid());
}

/* The child. */
static int
f(void *arg)
{
    const char *name = arg;
    info("function f");
    printf("hello %s\n", name);
    return 0;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* lines in the order they are made */
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    info("main line");
    mp_process_t *p;
    int code;
    /* The argument as bytes (the string with its terminator): a copy
     * reaches the child under every start method. */
    mp_process_opts_t opts = MP_PROCESS_OPTS_INIT;
    opts.arg_size = sizeof "bob";
    check(mp_process_create(&p, f, "bob", &opts), "create");
    check(mp_process_start(p), "start");
    check(mp_process_join(p, MP_WAIT_FOREVER), "join");
    check(mp_process_exitcode(p, &code), "exitcode");
    mp_process_destroy(p);
    return code == 0 ? 0 : 1;
}
