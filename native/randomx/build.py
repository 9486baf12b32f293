"""cffi (API mode) build of ``zion_plugin_randomx._native`` against the system librandomx.

Used by plugins/randomx (its setup.py names this file in ``cffi_modules``). Needs the
RandomX headers and library: ``apt-get install librandomx-dev`` on Debian/Ubuntu.
``ZION_RANDOMX_INCLUDE`` / ``ZION_RANDOMX_LIB`` point at another installation.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

CDEF = """
typedef enum {
    RANDOMX_FLAG_DEFAULT = 0,
    RANDOMX_FLAG_LARGE_PAGES = 1,
    RANDOMX_FLAG_HARD_AES = 2,
    RANDOMX_FLAG_FULL_MEM = 4,
    RANDOMX_FLAG_JIT = 8,
    RANDOMX_FLAG_SECURE = 16,
    RANDOMX_FLAG_ARGON2_SSSE3 = 32,
    RANDOMX_FLAG_ARGON2_AVX2 = 64,
    RANDOMX_FLAG_ARGON2 = 96
} randomx_flags;

typedef struct randomx_dataset randomx_dataset;
typedef struct randomx_cache randomx_cache;
typedef struct randomx_vm randomx_vm;

#define RANDOMX_HASH_SIZE 32
#define RANDOMX_DATASET_ITEM_SIZE 64
#define ZRX_MAX_INPUT 65536

randomx_flags randomx_get_flags(void);
randomx_cache *randomx_alloc_cache(randomx_flags flags);
void randomx_init_cache(randomx_cache *cache, const void *key, size_t keySize);
void randomx_release_cache(randomx_cache *cache);
randomx_dataset *randomx_alloc_dataset(randomx_flags flags);
unsigned long randomx_dataset_item_count(void);
void randomx_init_dataset(randomx_dataset *dataset, randomx_cache *cache,
                          unsigned long startItem, unsigned long itemCount);
void randomx_release_dataset(randomx_dataset *dataset);
randomx_vm *randomx_create_vm(randomx_flags flags, randomx_cache *cache,
                              randomx_dataset *dataset);
void randomx_vm_set_cache(randomx_vm *machine, randomx_cache *cache);
void randomx_vm_set_dataset(randomx_vm *machine, randomx_dataset *dataset);
void randomx_destroy_vm(randomx_vm *machine);
void randomx_calculate_hash(randomx_vm *machine, const void *input, size_t inputSize,
                            void *output);

uint64_t zrx_search(randomx_vm *vm, const uint8_t *blob, size_t size, size_t nonce_offset,
                    uint32_t start, uint64_t count, const uint8_t *target,
                    uint32_t *out_nonces, uint8_t *out_hashes, size_t max_hits,
                    size_t *n_hits, volatile const int32_t *stop);
void zrx_hash_batch(randomx_vm *vm, const uint8_t *data, const size_t *sizes, size_t n,
                    uint8_t *out);
int zrx_advise_huge_pages(void *p, size_t size);
void *zrx_cache_memory(randomx_cache *cache);
void *randomx_get_dataset_memory(randomx_dataset *dataset);
"""


def _dirs(var: str) -> list[str]:
    return [d for d in os.environ.get(var, "").split(os.pathsep) if d]


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "zion_plugin_randomx._native",
    '#include "zion_rx.h"',
    # setuptools wants sources relative to the directory it builds in
    sources=[os.path.relpath(HERE / "zion_rx.c")],
    include_dirs=[os.path.relpath(HERE), *_dirs("ZION_RANDOMX_INCLUDE")],
    library_dirs=_dirs("ZION_RANDOMX_LIB"),
    libraries=["randomx", "m"],
    extra_compile_args=[
        "-O2",
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror=implicit-function-declaration",
    ],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
