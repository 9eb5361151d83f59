/* SPDX-License-Identifier: MIT */
/* fuzz.h - the fuzz entry points. Each returns 0 and must never crash,
 * hang or leak, whatever the input. Built two ways: as libFuzzer targets
 * (MP_FUZZ_LIBFUZZER defines LLVMFuzzerTestOneInput for one of them) and
 * into fuzz_replay, which runs a corpus through all of them without
 * libFuzzer. */
#ifndef MP_FUZZ_H
#define MP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The longest input the targets look at; the rest is ignored. It keeps
 * every socket write below the socket buffer, so nothing blocks. */
#define MP_FUZZ_MAX_INPUT 4096u

/* Frame headers and a framed stream read by a connection. */
int mp_fuzz_framing(const uint8_t *data, size_t size);

/* The handshake: parsing of challenges and responses, and both sides of
 * the handshake run against the input as the peer's bytes. */
int mp_fuzz_handshake(const uint8_t *data, size_t size);

/* The manager's request decoder and executor: requests run against a
 * scratch store, as the server runs them. */
int mp_fuzz_manager(const uint8_t *data, size_t size);

/* The listener's address parser (numeric hosts only: no name service),
 * checked against the text it parsed. */
int mp_fuzz_address(const uint8_t *data, size_t size);

#endif /* MP_FUZZ_H */
