/* ZION helpers over librandomx; see zion_rx.h. */
#define _DEFAULT_SOURCE /* madvise */
#include <errno.h>
#include <fenv.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "zion_rx.h"

static inline uint64_t load_le64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v); /* x86-64 and aarch64 Linux are little-endian */
    return v;
}

static inline void store_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* hash <= target, both little-endian 256-bit; compared from the most significant limb. */
static inline int le256_leq(const uint8_t *hash, const uint8_t *target) {
    for (int limb = 3; limb >= 0; --limb) {
        uint64_t h = load_le64(hash + 8 * limb);
        uint64_t t = load_le64(target + 8 * limb);
        if (h != t) {
            return h < t;
        }
    }
    return 1;
}

/* librandomx's hash_first/next/last leave the thread's floating-point environment as the
 * program left it (rounding mode, flush-to-zero); randomx_calculate_hash restores it. The
 * loops below restore it too, so the calling thread's arithmetic is never changed. */
static uint64_t search(randomx_vm *vm, const uint8_t *blob, size_t size, size_t nonce_offset,
                       uint32_t start, uint64_t count, const uint8_t *target,
                       uint32_t *out_nonces, uint8_t *out_hashes, size_t max_hits,
                       size_t *n_hits, volatile const int32_t *stop);

uint64_t zrx_search(randomx_vm *vm, const uint8_t *blob, size_t size, size_t nonce_offset,
                    uint32_t start, uint64_t count, const uint8_t *target,
                    uint32_t *out_nonces, uint8_t *out_hashes, size_t max_hits,
                    size_t *n_hits, volatile const int32_t *stop) {
    fenv_t saved;
    fegetenv(&saved);
    uint64_t done = search(vm, blob, size, nonce_offset, start, count, target, out_nonces,
                           out_hashes, max_hits, n_hits, stop);
    fesetenv(&saved);
    return done;
}

static uint64_t search(randomx_vm *vm, const uint8_t *blob, size_t size, size_t nonce_offset,
                       uint32_t start, uint64_t count, const uint8_t *target,
                       uint32_t *out_nonces, uint8_t *out_hashes, size_t max_hits,
                       size_t *n_hits, volatile const int32_t *stop) {
    uint8_t buf[ZRX_MAX_INPUT];
    uint8_t hash[RANDOMX_HASH_SIZE];
    *n_hits = 0;
    if (count == 0 || max_hits == 0 || size > ZRX_MAX_INPUT || nonce_offset + 4 > size) {
        return 0;
    }
    memcpy(buf, blob, size);
    uint32_t nonce = start;
    store_le32(buf + nonce_offset, nonce);
    randomx_calculate_hash_first(vm, buf, size);
    uint64_t done = 0;
    for (;;) {
        uint32_t hashed = nonce; /* the nonce whose hash the next call outputs */
        int last = (done + 1 == count) || (stop != NULL && *stop);
        if (last) {
            randomx_calculate_hash_last(vm, hash);
        } else {
            store_le32(buf + nonce_offset, ++nonce);
            randomx_calculate_hash_next(vm, buf, size, hash);
        }
        ++done;
        if (le256_leq(hash, target)) {
            out_nonces[*n_hits] = hashed;
            memcpy(out_hashes + RANDOMX_HASH_SIZE * *n_hits, hash, RANDOMX_HASH_SIZE);
            ++*n_hits;
            if (*n_hits == max_hits && !last) {
                /* No room for more hits: finish the pending hash and let the caller resume
                 * at start + done (that nonce's hash is computed again then). */
                randomx_calculate_hash_last(vm, hash);
                return done;
            }
        }
        if (last) {
            return done;
        }
    }
}

void zrx_hash_batch(randomx_vm *vm, const uint8_t *data, const size_t *sizes, size_t n,
                    uint8_t *out) {
    if (n == 0) {
        return;
    }
    fenv_t saved;
    fegetenv(&saved);
    randomx_calculate_hash_first(vm, data, sizes[0]);
    const uint8_t *next = data + sizes[0];
    for (size_t i = 1; i < n; ++i) {
        randomx_calculate_hash_next(vm, next, sizes[i], out + RANDOMX_HASH_SIZE * (i - 1));
        next += sizes[i];
    }
    randomx_calculate_hash_last(vm, out + RANDOMX_HASH_SIZE * (n - 1));
    fesetenv(&saved);
}

int zrx_advise_huge_pages(void *p, size_t size) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    long page = sysconf(_SC_PAGESIZE);
    if (p == NULL || page <= 0) {
        return EINVAL;
    }
    uintptr_t begin = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t end = ((uintptr_t)p + size) & ~((uintptr_t)page - 1);
    if (end <= begin) {
        return EINVAL;
    }
    return madvise((void *)begin, end - begin, MADV_HUGEPAGE) == 0 ? 0 : errno;
#else
    (void)p;
    (void)size;
    return ENOSYS;
#endif
}

void *zrx_cache_memory(randomx_cache *cache) {
    return cache == NULL ? NULL : *(void **)cache;
}
