/* SPDX-License-Identifier: MIT */
/* fuzz_address.c - fuzzes the listener's address parser: the input (up to
 * its first NUL) is parsed as a Listener/Client address with numeric hosts
 * only (no name service is asked), and every address it accepts must be
 * what the text says: an AF_UNIX path equal to the text, or an inet
 * address whose text form parses back to the same address and port. */
#include "fuzz.h"

#include "ipc/ipc_internal.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* The longest address text looked at: well past any valid one. */
#define ADDRESS_MAX 512u

/* The port and address bytes of an inet address, for comparison. */
static void
inet_key(const mp__lst_addr_t *a, unsigned *port, uint8_t addr[16])
{
    memset(addr, 0, 16);
    if (a->family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
        *port = ntohs(s6->sin6_port);
        memcpy(addr, &s6->sin6_addr, 16);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
        *port = ntohs(s4->sin_port);
        memcpy(addr, &s4->sin_addr, 4);
    }
}

/* Checks an accepted address against its text; aborts on a mismatch. */
static void
address_check(const char *text, const mp__lst_addr_t *a)
{
    if (a->family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&a->sa;
        size_t n = strlen(text);
        if (strchr(text, '/') == NULL || n >= sizeof un->sun_path ||
            strcmp(un->sun_path, text) != 0 ||
            a->len != offsetof(struct sockaddr_un, sun_path) + n + 1) {
            abort();
        }
        return;
    }
    if ((a->family != AF_INET && a->family != AF_INET6) ||
        strchr(text, '/') != NULL || a->len > sizeof a->sa) {
        abort();
    }
    /* The port is the decimal digits after the last ':'. */
    const char *colon = strrchr(text, ':');
    if (colon == NULL || strtol(colon + 1, NULL, 10) < 0) {
        abort();
    }
    unsigned port, port2;
    uint8_t addr[16], addr2[16];
    inet_key(a, &port, addr);
    if ((long)port != strtol(colon + 1, NULL, 10)) {
        abort();
    }
    char again[128];
    mp__lst_format_inet(&a->sa, again, sizeof again);
    mp__lst_addr_t b;
    if (mp__lst_parse_address(again, true, &b) != 0 || b.family != a->family) {
        abort();
    }
    inet_key(&b, &port2, addr2);
    if (port2 != port || memcmp(addr, addr2, 16) != 0) {
        abort();
    }
}

int
mp_fuzz_address(const uint8_t *data, size_t size)
{
    char text[ADDRESS_MAX + 1];
    if (size > ADDRESS_MAX) {
        size = ADDRESS_MAX;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    mp__lst_addr_t a;
    if (mp__lst_parse_address(text, true, &a) == 0) {
        address_check(text, &a);
    }
    return 0;
}

#ifdef MP_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return mp_fuzz_address(data, size);
}
#endif
