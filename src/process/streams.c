/* SPDX-License-Identifier: MIT */
/* streams.c - stdio around a fork: the flush a start does before fork (so
 * that a child does not write the parent's buffered output a second time)
 * and a process does before _exit, skipped when no stream has output to
 * write. Its own file so that the start (process.c) and the exit
 * (registry.c) share it without calling each other. */
#include "process_internal.h"

#include <stdio.h>

#ifdef MP__HAVE_SINGLE_THREADED
#define HAVE_STREAM_LIST 1
/* glibc's list of open streams (linked by the public _chain field): an
 * exported symbol, no longer declared in any header; weak, so that a libc
 * without it makes us fall back to fflush(NULL). */
extern FILE *_IO_list_all __attribute__((weak));
#endif

/* Tells whether some stdio stream may hold output not yet written. Where
 * it can, it looks without writing anything (fflush(NULL) takes libc's
 * stream-list lock: a copy-on-write fault after a fork, and two pages of
 * libc's code a child would fault in); elsewhere it answers true. */
static bool
stdio_output_pending(void)
{
#ifdef HAVE_STREAM_LIST
    /* Only with one thread: nobody can open or close a stream while we
     * walk the list without its lock. */
    if (&_IO_list_all != NULL && mp__single_threaded()) {
        for (FILE *f = _IO_list_all; f != NULL; f = f->_chain) {
            /* Buffered narrow output, or a wide stream (whose buffers are
             * not public). */
            if (f->_IO_write_ptr > f->_IO_write_base || f->_mode > 0) {
                return true;
            }
        }
        return false;
    }
#endif
    return true;
}

MP__FORK_CHILD_PATH void
mp__process_flush_stdio(void)
{
    if (stdio_output_pending()) {
        fflush(NULL);
    }
}
