/* ZION helpers over librandomx: the loops that would cost too much per hash in Python. */
#ifndef ZION_RX_H
#define ZION_RX_H

#include <stddef.h>
#include <stdint.h>
#include <randomx.h>

/* Largest input the helpers accept (a hashing blob is far smaller). */
#define ZRX_MAX_INPUT 65536

/*
 * Hash `count` nonces starting at `start`: the nonce is written as a little-endian
 * uint32 at blob[nonce_offset .. nonce_offset+3] of a private copy of `blob`.
 * A hash qualifies when, read as a little-endian 256-bit integer, it is <= `target`
 * (32 bytes, little-endian). Qualifying (nonce, hash) pairs are written to
 * out_nonces / out_hashes (32 bytes each); *n_hits receives how many. The loop stops
 * early when *stop becomes non-zero (checked between hashes; may be NULL) or when
 * max_hits pairs were found. Returns the number of nonces hashed: the caller resumes
 * at start + the returned count. The caller guarantees
 * nonce_offset + 4 <= size <= ZRX_MAX_INPUT and start + count <= 2^32.
 */
uint64_t zrx_search(randomx_vm *vm, const uint8_t *blob, size_t size, size_t nonce_offset,
                    uint32_t start, uint64_t count, const uint8_t *target,
                    uint32_t *out_nonces, uint8_t *out_hashes, size_t max_hits,
                    size_t *n_hits, volatile const int32_t *stop);

/*
 * Hash `n` inputs stored back to back in `data` (input i has sizes[i] bytes) into
 * out (32 bytes each), pipelined with randomx_calculate_hash_first/next/last.
 */
void zrx_hash_batch(randomx_vm *vm, const uint8_t *data, const size_t *sizes, size_t n,
                    uint8_t *out);

/*
 * Ask the kernel to back [p, p + size), shrunk inward to page boundaries, with
 * transparent huge pages (Linux madvise MADV_HUGEPAGE). Call it before the memory is
 * first written. Returns 0, or an errno value: the advice is only a hint, and fails
 * harmlessly where transparent huge pages are unavailable.
 */
int zrx_advise_huge_pages(void *p, size_t size);

/*
 * The memory of a cache (RandomX v1 keeps it as the first member of randomx_cache;
 * the caller checks that the address lies in a mapping of the cache's size).
 */
void *zrx_cache_memory(randomx_cache *cache);

#endif
