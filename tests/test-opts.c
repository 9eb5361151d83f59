/* SPDX-License-Identifier: MIT */
/* test-opts.c - the options structs' size field (api-conventions rule 8):
 * every call that reads one refuses a struct its initializer did not set
 * (size 0, as a plain `= {...}` leaves it, or another size) with MP_EINVAL
 * and creates nothing, and takes one made by its MP_<OBJECT>_OPTS_INIT. */
#include "runner.h"

#include <stdio.h>

/* The target of the process cases: never started. */
static int
t_unused(void *arg)
{
    (void)arg;
    return 0;
}

TEST(opts_process_size_checked)
{
    mp_process_t *p = NULL;
    mp_process_opts_t o = MP_PROCESS_OPTS_INIT;
    ASSERT_EQ(o.size, sizeof o);
    o.size = 0;
    ASSERT_ERR(mp_process_create(&p, t_unused, NULL, &o), MP_EINVAL);
    o.size = sizeof o + 8;
    ASSERT_ERR(mp_process_create(&p, t_unused, NULL, &o), MP_EINVAL);
    ASSERT_NULL(p);
    o = (mp_process_opts_t)MP_PROCESS_OPTS_INIT;
    o.name = "named";
    ASSERT_OK(mp_process_create(&p, t_unused, NULL, &o));
    ASSERT_STR_EQ(mp_process_name(p), "named");
    mp_process_destroy(p);
}

TEST(opts_pool_and_progress_size_checked)
{
    mp_pool_t *pool = NULL;
    mp_pool_opts_t po = MP_POOL_OPTS_INIT;
    po.processes = 1;
    po.size = 0;
    ASSERT_ERR(mp_pool_create(&pool, &po), MP_EINVAL);
    po.size = sizeof po - 1;
    ASSERT_ERR(mp_pool_create(&pool, &po), MP_EINVAL);
    ASSERT_NULL(pool);

    mp_progress_t *bar = NULL;
    mp_progress_opts_t bo = MP_PROGRESS_OPTS_INIT;
    bo.stream = stderr;
    bo.size = 0;
    ASSERT_ERR(mp_progress_create(&bar, 1, "x", &bo), MP_EINVAL);
    ASSERT_NULL(bar);
    bo.size = sizeof bo;
    ASSERT_OK(mp_progress_create(&bar, 1, "x", &bo));
    mp_progress_destroy(bar);
}

TEST(opts_queue_size_checked)
{
    mp_queue_t *q = NULL;
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = 1;
    o.size = 0;
    ASSERT_ERR(mp_queue_create(&q, &o), MP_EINVAL);
    ASSERT_NULL(q);
    o.size = sizeof o;
    ASSERT_OK(mp_queue_create(&q, &o));
    ASSERT_OK(mp_queue_put_nowait(q, "a", 1));
    ASSERT_ERR(mp_queue_put_nowait(q, "b", 1), MP_EFULL); /* maxsize 1 */
    mp_queue_destroy(q);
}

TEST(opts_barrier_and_values_size_checked)
{
    mp_barrier_t *bar = NULL;
    mp_barrier_opts_t bo = MP_BARRIER_OPTS_INIT;
    bo.size = 0;
    ASSERT_ERR(mp_barrier_create(&bar, 2, &bo), MP_EINVAL);
    ASSERT_NULL(bar);
    bo.size = sizeof bo;
    ASSERT_OK(mp_barrier_create(&bar, 2, &bo));
    mp_barrier_destroy(bar);

    mp_value_t *v = NULL;
    mp_array_t *a = NULL;
    mp_shared_opts_t so = MP_SHARED_OPTS_INIT;
    so.raw = true;
    so.size = 0;
    ASSERT_ERR(mp_value_create(&v, MP_TYPE_INT, NULL, &so), MP_EINVAL);
    ASSERT_ERR(mp_array_create(&a, MP_TYPE_INT, 4, NULL, &so), MP_EINVAL);
    ASSERT_NULL(v);
    ASSERT_NULL(a);
    so.size = sizeof so;
    ASSERT_OK(mp_value_create(&v, MP_TYPE_INT, NULL, &so));
    ASSERT_NULL(mp_value_get_lock(v)); /* raw, as asked */
    mp_value_destroy(v);
}

TEST(opts_manager_size_checked)
{
    mp_manager_t *m = NULL;
    mp_manager_opts_t o = MP_MANAGER_OPTS_INIT;
    o.size = 0;
    ASSERT_ERR(mp_manager_create(&m, &o), MP_EINVAL);
    ASSERT_NULL(m);
    o.size = sizeof o;
    ASSERT_OK(mp_manager_create(&m, &o));
    mp_manager_destroy(m);
}
