/* SPDX-License-Identifier: MIT */
/* context.c - contexts (Python's get_context): the process-wide default
 * start method (mp_set_start_method, mp_start_method,
 * MULTIPROC_START_METHOD), the methods' names, and mp_get_context. It lives
 * in the shm layer because a context decides where a shared object's state
 * lives (see mp__shobj_alloc): the tree's fork arena, or the named arena
 * that processes not forked from the creator can open by token. */
#include "shm_internal.h"

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
    if (asked != MP_START_DEFAULT) {
        return mp_start_method_name(asked) != NULL ? (int)asked : MP_EINVAL;
    }
    return mp_start_method();
}

int
mp_get_context(mp_start_method_t method, mp_context_t *out)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    int m = mp__start_resolve(method);
    if (m < 0) {
        return m;
    }
    out->method = (mp_start_method_t)m;
    return 0;
}

int
mp__context_method(const mp_context_t *ctx)
{
    return mp__start_resolve(ctx != NULL ? ctx->method : MP_START_DEFAULT);
}
