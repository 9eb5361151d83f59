/* SPDX-License-Identifier: MIT */
/* session.c - a server connection's session: the record of what its
 * client holds (locks, RLock levels, semaphore units: counted per object)
 * and of the object references it took (an open-addressing table keyed
 * by object id), and whether the client hung up. mp__mgr_exec keeps the
 * record; mp__mgr_session_end (exec.c) releases what it lists. The
 * record is only touched by the connection's thread, but for the
 * cancelled flag, which the server's watcher thread sets. */
#include "manager_internal.h"

#include <stdatomic.h>

/* One held thing of a session. */
typedef struct session_hold {
    uint32_t index, gen;
    int64_t count; /* levels or units */
} session_hold_t;

/* A session's references of one object: count > 0 of (index, gen); a
 * slot with count 0 is empty. */
typedef struct session_ref {
    uint32_t index, gen;
    uint64_t count;
} session_ref_t;

struct mp__mgr_session {
    session_hold_t *holds;
    size_t n, cap;
    /* The references the client holds (manager_internal.h): an
     * open-addressing table hashed on the index, linear probing with
     * backward-shift deletion, refs_cap a power of two (0 before the
     * first), never more than half full; refs_total sums the counts. */
    session_ref_t *refs;
    size_t refs_cap, refs_used;
    uint64_t refs_total;
    _Atomic bool cancelled; /* the client hung up (mp__mgr_session_cancel) */
};

mp__mgr_session_t *
mp__mgr_session_new(void)
{
    return mp__calloc(1, sizeof(mp__mgr_session_t));
}

void
mp__mgr_session_hold_note(mp__mgr_session_t *s, uint32_t index, uint32_t gen,
                          int64_t delta)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->holds[i].index == index && s->holds[i].gen == gen) {
            s->holds[i].count += delta;
            return;
        }
    }
    if (delta < 0) {
        return; /* released what another connection acquired */
    }
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 8 : s->cap * 2;
        session_hold_t *h = mp__realloc(s->holds, cap * sizeof *h);
        if (h == NULL) {
            return; /* not recorded: not released at the end */
        }
        s->holds = h;
        s->cap = cap;
    }
    s->holds[s->n++] = (session_hold_t){index, gen, delta};
}

/* The first slot of the probe sequence of index in s's reference table
 * (refs_cap > 0). */
static size_t
session_ref_home(const mp__mgr_session_t *s, uint32_t index)
{
    return (size_t)(((uint64_t)index * UINT64_C(0x9e3779b97f4a7c15)) >> 32) &
           (s->refs_cap - 1);
}

/* The slot of s's references of (index, gen), or NULL when it holds none. */
static session_ref_t *
session_ref_find(mp__mgr_session_t *s, uint32_t index, uint32_t gen)
{
    if (s->refs_cap == 0) {
        return NULL;
    }
    /* Never full, so an empty slot ends every probe. */
    for (size_t i = session_ref_home(s, index);;
         i = (i + 1) & (s->refs_cap - 1)) {
        session_ref_t *r = &s->refs[i];
        if (r->count == 0) {
            return NULL;
        }
        if (r->index == index && r->gen == gen) {
            return r;
        }
    }
}

/* Puts entry e in the first empty slot of its probe sequence (room made). */
static void
session_ref_place(mp__mgr_session_t *s, session_ref_t e)
{
    size_t i = session_ref_home(s, e.index);
    while (s->refs[i].count != 0) {
        i = (i + 1) & (s->refs_cap - 1);
    }
    s->refs[i] = e;
}

int
mp__mgr_session_ref_room(mp__mgr_session_t *s)
{
    if (s->refs_total >= MP__MGR_SESSION_REFS_MAX) {
        return MP_ENOSPC;
    }
    if ((s->refs_used + 1) * 2 <= s->refs_cap) {
        return 0;
    }
    size_t old_cap = s->refs_cap;
    session_ref_t *old = s->refs;
    size_t cap = old_cap == 0 ? 16 : old_cap * 2;
    session_ref_t *t = mp__calloc(cap, sizeof *t);
    if (t == NULL) {
        return MP_ENOMEM;
    }
    s->refs = t;
    s->refs_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].count != 0) {
            session_ref_place(s, old[i]);
        }
    }
    mp__free(old);
    return 0;
}

void
mp__mgr_session_ref_note(mp__mgr_session_t *s, uint32_t index, uint32_t gen)
{
    session_ref_t *r = session_ref_find(s, index, gen);
    if (r != NULL) {
        r->count++;
    } else {
        session_ref_place(s, (session_ref_t){index, gen, 1});
        s->refs_used++;
    }
    s->refs_total++;
}

uint64_t
mp__mgr_session_refs(const mp__mgr_session_t *s)
{
    return s != NULL ? s->refs_total : 0;
}

int
mp__mgr_session_ref_drop(mp__mgr_session_t *s, uint32_t index, uint32_t gen)
{
    session_ref_t *r = session_ref_find(s, index, gen);
    if (r == NULL) {
        return MP_ENOTOWNER;
    }
    s->refs_total--;
    if (--r->count > 0) {
        return 0;
    }
    s->refs_used--;
    /* Backward-shift deletion: move later entries of the run up into the
     * hole unless their home lies cyclically in (hole, their slot]. */
    size_t mask = s->refs_cap - 1;
    size_t hole = (size_t)(r - s->refs);
    size_t j = hole;
    for (;;) {
        j = (j + 1) & mask;
        if (s->refs[j].count == 0) {
            break;
        }
        size_t home = session_ref_home(s, s->refs[j].index);
        bool stays =
            hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            s->refs[hole] = s->refs[j];
            hole = j;
        }
    }
    s->refs[hole].count = 0;
    return 0;
}

void
mp__mgr_session_cancel(mp__mgr_session_t *s)
{
    if (s != NULL) {
        atomic_store(&s->cancelled, true);
    }
}

bool
mp__mgr_session_cancelled(const mp__mgr_session_t *s)
{
    return s != NULL && atomic_load(&s->cancelled);
}

bool
mp__mgr_session_hold_at(const mp__mgr_session_t *s, size_t i, uint32_t *index,
                        uint32_t *gen, int64_t *count)
{
    if (i >= s->n) {
        return false;
    }
    *index = s->holds[i].index;
    *gen = s->holds[i].gen;
    *count = s->holds[i].count;
    return true;
}

bool
mp__mgr_session_ref_at(const mp__mgr_session_t *s, size_t i, uint32_t *index,
                       uint32_t *gen, uint64_t *count)
{
    if (i >= s->refs_cap) {
        return false;
    }
    *index = s->refs[i].index;
    *gen = s->refs[i].gen;
    *count = s->refs[i].count;
    return true;
}

void
mp__mgr_session_free(mp__mgr_session_t *s)
{
    if (s != NULL) {
        mp__free(s->refs);
        mp__free(s->holds);
        mp__free(s);
    }
}
