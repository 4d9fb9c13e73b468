#ifndef GUARDRAIL_DIGEST_H
#define GUARDRAIL_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/// 1 when this CPU has the x86 SHA extensions (and the SSSE3/SSE4.1 they are used with), else 0.
int guardrail_sha256_accelerated(void);

/// SHA-256 of `length` bytes at `data` into `digest` (32 bytes), on the SHA extensions.
/// Only call when `guardrail_sha256_accelerated()` returned 1.
void guardrail_sha256(const uint8_t *data, size_t length, uint8_t digest[32]);

#endif
