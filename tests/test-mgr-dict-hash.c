/* SPDX-License-Identifier: MIT */
/* test-mgr-dict-hash.c - hash flooding of the manager's dict (issue 21
 * item 3): keys built offline to collide under the dict's former unkeyed
 * hash (64-bit FNV-1a) all landed on one home slot and made one probe run
 * as long as the dict; under the store's secret SipHash key they spread
 * out. The test looks at the table's structure (the longest probe run),
 * never at time. */
#include "runner.h"

#include "manager/store_internal.h"

#include <stdlib.h>
#include <string.h>

#define STORE_SIZE ((size_t)32 << 20)
/* Keys agree on this many low bits of FNV-1a: every table up to 2^20
 * slots maps them to one home slot. */
#define LOW_BITS 20
#define LOW_MASK ((UINT64_C(1) << LOW_BITS) - 1)
/* One of two 3-byte blocks at each position: 2^POSITIONS keys. */
#define BLOCK 3
#define POSITIONS 12
#define NKEYS (1u << POSITIONS)
#define KEY_LEN (BLOCK * POSITIONS)

/* The dict's former hash: FNV-1a, 64 bits, from h over len bytes. */
static uint64_t
fnv1a(uint64_t h, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_BASIS 0xcbf29ce484222325ull

/* The 3-byte block numbered v. */
static void
block_of(uint32_t v, uint8_t blk[BLOCK])
{
    for (int i = 0; i < BLOCK; i++) {
        blk[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Finds two different blocks that take FNV-1a's state from h to states
 * that agree in the low LOW_BITS bits (the low bits of the state depend
 * only on the low bits before, so collisions at each position multiply).
 * seen: 2^LOW_BITS scratch entries. */
static void
colliding_pair(uint64_t h, uint32_t *seen, uint8_t a[BLOCK], uint8_t b[BLOCK])
{
    memset(seen, 0xff, sizeof(uint32_t) << LOW_BITS);
    for (uint32_t v = 0; v < (UINT32_C(1) << (8 * BLOCK)); v++) {
        uint8_t blk[BLOCK];
        block_of(v, blk);
        uint64_t low = fnv1a(h, blk, BLOCK) & LOW_MASK;
        if (seen[low] != UINT32_MAX) {
            block_of(seen[low], a);
            memcpy(b, blk, BLOCK);
            return;
        }
        seen[low] = v;
    }
    mpt_fail(__FILE__, __LINE__, "no colliding pair of blocks");
}

/* Fills keys (NKEYS x KEY_LEN bytes) with keys whose FNV-1a hashes agree
 * in the low LOW_BITS bits: what an attacker computes in milliseconds. */
static void
build_colliding_keys(uint8_t *keys)
{
    uint32_t *seen = malloc(sizeof(uint32_t) << LOW_BITS);
    ASSERT_NOT_NULL(seen);
    uint8_t pair[POSITIONS][2][BLOCK];
    uint64_t h = FNV_BASIS;
    for (int i = 0; i < POSITIONS; i++) {
        colliding_pair(h, seen, pair[i][0], pair[i][1]);
        h = fnv1a(h, pair[i][0], BLOCK);
    }
    free(seen);
    for (uint32_t k = 0; k < NKEYS; k++) {
        for (int i = 0; i < POSITIONS; i++) {
            memcpy(keys + (size_t)k * KEY_LEN + BLOCK * i,
                   pair[i][(k >> i) & 1], BLOCK);
        }
    }
    /* The keys are distinct and all collide in the low bits. */
    uint64_t low = fnv1a(FNV_BASIS, keys, KEY_LEN) & LOW_MASK;
    for (uint32_t k = 1; k < NKEYS; k++) {
        ASSERT_EQ(fnv1a(FNV_BASIS, keys + (size_t)k * KEY_LEN, KEY_LEN) &
                      LOW_MASK,
                  low);
    }
    ASSERT(memcmp(keys, keys + KEY_LEN, KEY_LEN) != 0);
}

TEST_TIMEOUT(mgr_dict_colliding_keys_spread, 60)
{
    uint8_t *keys = malloc((size_t)NKEYS * KEY_LEN);
    ASSERT_NOT_NULL(keys);
    build_colliding_keys(keys);

    mp__store_t *st = NULL;
    ASSERT_OK(mp__store_create(&st, STORE_SIZE));
    mp__mgr_req_t req = {.op = MP__OP_CREATE, .num = {MP_PROXY_DICT, 0, 0}};
    mp__mgr_rep_t rep;
    ASSERT_OK(mp__mgr_exec(st, NULL, &req, &rep));
    uint32_t index = (uint32_t)rep.num, gen = rep.gen;
    mp__mgr_rep_clear(&rep);
    uint64_t state = atomic_load(&st->table[index].state);

    for (uint32_t k = 0; k < NKEYS; k++) {
        mp__mgr_req_t set = {
            .op = MP__OP_DICT_SET,
            .index = index,
            .gen = gen,
            .arg = {{keys + (size_t)k * KEY_LEN, KEY_LEN}, {"v", 1}}};
        ASSERT_OK(mp__mgr_exec(st, NULL, &set, &rep));
        mp__mgr_rep_clear(&rep);
    }
    mp__mgr_req_t len = {.op = MP__OP_DICT_LEN, .index = index, .gen = gen};
    ASSERT_OK(mp__mgr_exec(st, NULL, &len, &rep));
    ASSERT_EQ(rep.num, NKEYS);
    mp__mgr_rep_clear(&rep);

    /* Unkeyed, the run was NKEYS long. Keyed, at a load of at most one
     * half, a run of even 64 has odds far below 2^-40. */
    uint64_t longest = mp__dict_longest_probe(st, state);
    ASSERT_GT(longest, 0u);
    ASSERT_LT(longest, 64u);

    /* Every key is still found. */
    for (uint32_t k = 0; k < NKEYS; k += 97) {
        mp__mgr_req_t has = {
            .op = MP__OP_DICT_CONTAINS,
            .index = index,
            .gen = gen,
            .arg = {{keys + (size_t)k * KEY_LEN, KEY_LEN}, {NULL, 0}}};
        ASSERT_OK(mp__mgr_exec(st, NULL, &has, &rep));
        ASSERT_EQ(rep.num, 1);
        mp__mgr_rep_clear(&rep);
    }
    mp__store_destroy(st);
    free(keys);
}

TEST(mgr_dict_hash_key_per_store)
{
    /* Each store draws its own key: what collides in one (were it ever
     * learnt) says nothing about another. */
    mp__store_t *a = NULL, *b = NULL;
    ASSERT_OK(mp__store_create(&a, STORE_SIZE));
    ASSERT_OK(mp__store_create(&b, STORE_SIZE));
    ASSERT(a->hdr->hash_key[0] != 0 || a->hdr->hash_key[1] != 0);
    ASSERT(memcmp(a->hdr->hash_key, b->hdr->hash_key,
                  sizeof a->hdr->hash_key) != 0);
    /* A process that attaches by name reads the same key. */
    mp__store_t *c = NULL;
    ASSERT_OK(mp__store_attach(&c, mp__store_name(a)));
    ASSERT(memcmp(a->hdr->hash_key, c->hdr->hash_key,
                  sizeof a->hdr->hash_key) == 0);
    mp__store_detach(c);
    mp__store_destroy(b);
    mp__store_destroy(a);
}
