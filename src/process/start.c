/* SPDX-License-Identifier: MIT */
/* start.c - the start methods' process-wide state: the default method
 * (mp_set_start_method, mp_start_method, MULTIPROC_START_METHOD), their
 * names, and whether the program called the entry hook mp_main (and with
 * which argv[0]), which spawn and forkserver need. */
#include "process_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The environment variable that names the default when the program set
 * none. */
#define ENV_METHOD "MULTIPROC_START_METHOD"

static pthread_mutex_t method_mu = PTHREAD_MUTEX_INITIALIZER;
/* The default, once fixed (MP_START_DEFAULT: not yet). A forked child
 * inherits it, as Python's does. */
static mp_start_method_t default_method;
/* Set by mp_main; argv[0] as the program was started. */
static _Atomic bool hook_called;
static const char *hook_argv0;

static const char *const names[] = {
    [MP_START_FORK] = "fork",
    [MP_START_FORKSERVER] = "forkserver",
    [MP_START_SPAWN] = "spawn",
};

const char *
mp_start_method_name(mp_start_method_t method)
{
    if (method < MP_START_FORK || method > MP_START_SPAWN) {
        return NULL;
    }
    return names[method];
}

int
mp_start_method_parse(const char *name, mp_start_method_t *out)
{
    if (name == NULL || out == NULL) {
        return MP_EINVAL;
    }
    for (int m = MP_START_FORK; m <= MP_START_SPAWN; m++) {
        if (strcmp(name, names[m]) == 0) {
            *out = (mp_start_method_t)m;
            return 0;
        }
    }
    return MP_EINVAL;
}

int
mp_set_start_method(mp_start_method_t method, bool force)
{
    if (method != MP_START_DEFAULT && mp_start_method_name(method) == NULL) {
        return MP_EINVAL;
    }
    if (method == MP_START_DEFAULT && !force) {
        return MP_EINVAL;
    }
    pthread_mutex_lock(&method_mu);
    int err = 0;
    if (default_method != MP_START_DEFAULT && !force) {
        err = MP_EBUSY; /* Python: "context has already been set" */
    } else {
        default_method = method;
    }
    pthread_mutex_unlock(&method_mu);
    return err;
}

int
mp_start_method(void)
{
    pthread_mutex_lock(&method_mu);
    int r = (int)default_method;
    if (r == MP_START_DEFAULT) {
        const char *env = getenv(ENV_METHOD);
        mp_start_method_t m = MP_START_FORK;
        if (env != NULL && env[0] != '\0' &&
            mp_start_method_parse(env, &m) != 0) {
            r = MP_EINVAL;
        } else {
            default_method = m;
            r = (int)m;
        }
    }
    pthread_mutex_unlock(&method_mu);
    return r;
}

int
mp__start_resolve(mp_start_method_t asked)
{
    return asked != MP_START_DEFAULT ? (int)asked : mp_start_method();
}

void
mp__start_mark_hook(const char *argv0)
{
    hook_argv0 = argv0;
    atomic_store(&hook_called, true);
}

bool
mp__start_hook_called(void)
{
    return atomic_load(&hook_called);
}

const char *
mp__start_argv0(void)
{
    return hook_argv0 != NULL ? hook_argv0 : "multiproc";
}

void
mp__start_test_forget_hook(void)
{
    atomic_store(&hook_called, false);
}
