/* SPDX-License-Identifier: MIT */
/* shutdown.c - mp_shutdown (temporary: filled in by the process layer). */
#include "../common/mp_internal.h"

int
mp_shutdown(void)
{
    return 0;
}
