/* SPDX-License-Identifier: MIT */
/* consumer.c - a program built against an installed multiproc, the way a
 * user builds one: the header and version agree with the library, and a
 * child process writes a shared value that the parent reads back. */
#include <multiproc.h>

#include <stdio.h>
#include <string.h>

/* The child: stores 42 in the shared value. */
static int
child(void *arg)
{
    int answer = 42;
    return mp_value_set(arg, &answer) == 0 ? 0 : 1;
}

int
main(void)
{
    if (mp_version() != MP_VERSION_HEX ||
        strcmp(mp_version_string(), MP_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: header %s, library %s\n", MP_VERSION_STRING,
                mp_version_string());
        return 1;
    }
    mp_value_t *v = NULL;
    mp_process_t *p = NULL;
    int code = -1;
    int got = 0;
    int rc = mp_value_create(&v, MP_TYPE_INT, NULL, NULL);
    if (rc == 0) {
        rc = mp_process_create(&p, child, v, NULL);
    }
    if (rc == 0) {
        rc = mp_process_start(p);
    }
    if (rc == 0) {
        rc = mp_process_join(p, MP_WAIT_FOREVER);
    }
    if (rc == 0) {
        rc = mp_process_exitcode(p, &code);
    }
    if (rc == 0) {
        rc = mp_value_get(v, &got);
    }
    mp_process_destroy(p);
    mp_value_destroy(v);
    if (rc != 0 || code != 0 || got != 42) {
        fprintf(stderr, "consumer: %s, exit code %d, value %d\n",
                mp_strerror(rc), code, got);
        return 1;
    }
    printf("consumer: multiproc %s works (a child set the value to %d)\n",
           mp_version_string(), got);
    return 0;
}
