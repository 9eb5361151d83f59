/* SPDX-License-Identifier: MIT */
/* test-pool-replies.c - how a worker builds a chunk's reply: results of
 * one length travel packed (no per-item table), and a chunk switches to
 * the table at the first item that differs (a failure or another length),
 * at any item, with the items before it intact; results longer than the
 * input (the worker's buffer guess) and chunks of megabytes (queue heap
 * blocks, the worker's big buffers) come back whole, several times over
 * on one pool (recycled blocks and buffers). */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

/* Echoes its input; an input starting with 'F' fails, one starting with
 * 'L' comes back with an extra byte 'L', one starting with 'D' doubled. */
static int
echo_task(const void *in, size_t len, mp_pool_out_t *out)
{
    const char *s = in;
    if (len > 0 && s[0] == 'F') {
        mp_pool_out_error(out, "failed on purpose");
        return 3;
    }
    int rc = mp_pool_out_write(out, in, len);
    if (rc == 0 && len > 0 && s[0] == 'L') {
        rc = mp_pool_out_write(out, "L", 1);
    }
    if (rc == 0 && len > 0 && s[0] == 'D') {
        rc = mp_pool_out_write(out, in, len);
    }
    return rc;
}

/* Maps echo_task over the n strings of items in one chunk and checks every
 * item's outcome: 'F' items MP_EREMOTE, the others their echo. */
static void
check_one_chunk(mp_pool_t *pool, const char *const *items, size_t n)
{
    const void *bufs[8];
    size_t lens[8], out_lens[8];
    void *outs[8];
    int status[8];
    ASSERT_LE(n, 8);
    bool any_failed = false;
    for (size_t i = 0; i < n; i++) {
        bufs[i] = items[i];
        lens[i] = strlen(items[i]);
        any_failed |= items[i][0] == 'F';
    }
    int rc = mp_pool_map_buffers(pool, echo_task, bufs, lens, n, (long)n, outs,
                                 out_lens, status, 10000);
    ASSERT_EQ(rc, any_failed ? MP_EREMOTE : 0);
    for (size_t i = 0; i < n; i++) {
        const char *s = items[i];
        if (s[0] == 'F') {
            ASSERT_EQ(status[i], MP_EREMOTE);
            ASSERT_NULL(outs[i]);
            continue;
        }
        ASSERT_EQ(status[i], 0);
        size_t want = lens[i] + (s[0] == 'L');
        ASSERT_EQ(out_lens[i], want);
        ASSERT_MEM_EQ(outs[i], s, lens[i]);
        if (s[0] == 'L') {
            ASSERT_EQ(((char *)outs[i])[lens[i]], 'L');
        }
        mp_free(outs[i]);
    }
}

/* --- tests -------------------------------------------------------------- */

TEST(pool_replies_switch_to_table_at_any_item)
{
    mp_pool_t *pool = mpt_pool_make(1, 0);
    /* One length throughout: packed. */
    static const char *const same[] = {"aa", "bb", "cc", "dd"};
    check_one_chunk(pool, same, 4);
    /* The first item fails: the table from item 0. */
    static const char *const first_fails[] = {"Fx", "bb", "cc", "dd"};
    check_one_chunk(pool, first_fails, 4);
    /* A later item is longer: items 0..2 are recorded when it switches. */
    static const char *const later_longer[] = {"aa", "bb", "cc", "Ld", "ee"};
    check_one_chunk(pool, later_longer, 5);
    /* A later item fails, and one after it differs too. */
    static const char *const later_fails[] = {"aa", "bb", "Fc", "dddd", "e"};
    check_one_chunk(pool, later_fails, 5);
    /* The last item is the one that differs. */
    static const char *const last_differs[] = {"aa", "bb", "cc", "d"};
    check_one_chunk(pool, last_differs, 4);
    /* Packed again after table replies (the worker's buffers reused). */
    check_one_chunk(pool, same, 4);
    mpt_pool_finish(pool);
}

TEST(pool_replies_results_longer_than_input)
{
    mp_pool_t *pool = mpt_pool_make(1, 0);
    /* Each result doubles its item: the reply outgrows the worker's guess
     * (as many bytes as the input) and the buffer grows. */
    enum { N = 20000 };
    char(*in)[8] = calloc(N, sizeof *in);
    char(*out)[16] = calloc(N, sizeof *out);
    ASSERT_NOT_NULL(in);
    ASSERT_NOT_NULL(out);
    for (size_t i = 0; i < N; i++) {
        snprintf(in[i], sizeof in[i], "D%06zu", i);
    }
    ASSERT_OK(mp_pool_map(pool, echo_task, in, sizeof in[0], N, N / 2, out,
                          sizeof out[0], NULL, 30000));
    for (size_t i = 0; i < N; i++) {
        ASSERT_MEM_EQ(out[i], in[i], sizeof in[i]);
        ASSERT_MEM_EQ(out[i] + sizeof in[i], in[i], sizeof in[i]);
    }
    free(in);
    free(out);
    mpt_pool_finish(pool);
}

TEST(pool_replies_big_chunks_repeatedly)
{
    /* Chunks of 2 MiB of input (and of results): heap blocks of the
     * queues, populated as they are carved, then recycled by other
     * processes; the workers' big buffers kept from map to map. */
    mp_pool_t *pool = mpt_pool_make(2, 0);
    size_t n = 1u << 20; /* 8 MiB of int64 */
    int64_t *in = malloc(n * sizeof *in);
    int64_t *out = malloc(n * sizeof *out);
    ASSERT_NOT_NULL(in);
    ASSERT_NOT_NULL(out);
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)i - 1000;
    }
    for (int round = 0; round < 3; round++) {
        memset(out, 0, n * sizeof *out);
        ASSERT_OK(mp_pool_map(pool, mpt_task_square, in, sizeof *in, n,
                              256 * 1024, out, sizeof *out, NULL, 60000));
        for (size_t i = 0; i < n; i++) {
            ASSERT_EQ(out[i], in[i] * in[i]);
        }
    }
    free(in);
    free(out);
    mpt_pool_finish(pool);
}
