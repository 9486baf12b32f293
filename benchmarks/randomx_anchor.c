/*
 * randomx_anchor: the reference hash rate of plain C over the public librandomx API.
 *
 * The anchor that benchmarks/bench_randomx.py compares the randomx-cpu backend with:
 * the same key, the same inputs and the same thread layout, with no Python in the
 * loop. It builds the cache (and, in fast mode, the dataset, initialised on all
 * threads), creates one VM per thread with randomx_get_flags() (plus FULL_MEM in fast
 * mode), starts every thread at one barrier, stops them after the given seconds and
 * prints one JSON line. Set-up time (cache and dataset) is reported separately;
 * neither it nor VM creation is part of the hash rate.
 *
 *   op=verify: randomx_calculate_hash over a fixed set of distinct 76-byte blobs
 *              (thread t hashes blob[0]=t, blob[1]=n, blob[2..]=2..75 for n=0..7).
 *   op=search: randomx_calculate_hash_first/next over incrementing nonces written
 *              little-endian at byte 39 of the 76-byte blob 00 01 .. 4b (thread t
 *              starts at t << 26); every hash is compared with an all-zero target,
 *              which nobody meets.
 *
 * Build: cc -O2 -pthread -o randomx_anchor randomx_anchor.c -lrandomx
 * Usage: randomx_anchor --mode light|fast --threads N --seconds S --op verify|search
 *                       [--key HEX] [--intervals K] [--start-at T]
 *
 * --start-at T makes every thread wait until the wall-clock time T (seconds since the
 * epoch, CLOCK_REALTIME) before it starts hashing: two programs started together can
 * hash at the same time ("start_late_seconds" says how late the set-up made this one).
 * --intervals K also reports the rate of each of K equal parts of the run
 * ("interval_hps"), to tell drift within one process from differences between
 * processes.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <randomx.h>

#define BLOB_SIZE 76
#define NONCE_OFFSET 39
#define VERIFY_BLOBS 8
#define MAX_THREADS 256
#define MAX_INTERVALS 100

/* zion_plugin_randomx.bench.BENCH_KEY */
static const char DEFAULT_KEY_HEX[] =
    "5a494f4e2062656e63686d61726b206b657920303030303030303030303030ff";

enum op { OP_VERIFY, OP_SEARCH };

struct shared {
    randomx_flags flags;
    randomx_cache *cache;
    randomx_dataset *dataset;
    enum op op;
    pthread_barrier_t start_line;
    atomic_int stop;
    atomic_int failed;
};

struct worker {
    pthread_t thread;
    struct shared *shared;
    unsigned index;
    uint64_t hashes;
    uint64_t hits;
    double cpu_seconds;          /* this thread's CPU time while hashing */
    _Atomic uint64_t progress;   /* hashes so far, for --intervals */
};

struct init_slice {
    pthread_t thread;
    randomx_dataset *dataset;
    randomx_cache *cache;
    unsigned long start;
    unsigned long count;
};

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_seconds(double seconds) {
    if (!(seconds > 0)) {
        return;
    }
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* hash <= target, both read as little-endian 256-bit integers. */
static int meets_target(const uint8_t *hash, const uint8_t *target) {
    for (int i = RANDOMX_HASH_SIZE - 1; i >= 0; --i) {
        if (hash[i] != target[i]) {
            return hash[i] < target[i];
        }
    }
    return 1;
}

static void hash_verify(struct worker *w, randomx_vm *vm) {
    uint8_t blobs[VERIFY_BLOBS][BLOB_SIZE];
    uint8_t hash[RANDOMX_HASH_SIZE];
    for (int n = 0; n < VERIFY_BLOBS; ++n) {
        for (int i = 0; i < BLOB_SIZE; ++i) {
            blobs[n][i] = (uint8_t)i;
        }
        blobs[n][0] = (uint8_t)w->index;
        blobs[n][1] = (uint8_t)n;
    }
    uint64_t done = 0;
    while (!atomic_load_explicit(&w->shared->stop, memory_order_relaxed)) {
        randomx_calculate_hash(vm, blobs[done % VERIFY_BLOBS], BLOB_SIZE, hash);
        ++done;
        atomic_store_explicit(&w->progress, done, memory_order_relaxed);
    }
    w->hashes = done;
}

static void hash_search(struct worker *w, randomx_vm *vm) {
    static const uint8_t target[RANDOMX_HASH_SIZE]; /* all zero: nobody meets it */
    uint8_t blob[BLOB_SIZE];
    uint8_t hash[RANDOMX_HASH_SIZE];
    uint64_t hits = 0;
    for (int i = 0; i < BLOB_SIZE; ++i) {
        blob[i] = (uint8_t)i;
    }
    uint32_t nonce = (uint32_t)w->index << 26;
    put_le32(blob + NONCE_OFFSET, nonce);
    randomx_calculate_hash_first(vm, blob, BLOB_SIZE);
    uint64_t done = 0;
    for (;;) {
        /* Each call outputs the hash of the nonce before the one it is given. */
        int last = atomic_load_explicit(&w->shared->stop, memory_order_relaxed);
        if (last) {
            randomx_calculate_hash_last(vm, hash);
        } else {
            put_le32(blob + NONCE_OFFSET, ++nonce);
            randomx_calculate_hash_next(vm, blob, BLOB_SIZE, hash);
        }
        ++done;
        atomic_store_explicit(&w->progress, done, memory_order_relaxed);
        hits += (uint64_t)meets_target(hash, target);
        if (last) {
            break;
        }
    }
    w->hashes = done;
    w->hits = hits;
}

static void *worker_main(void *arg) {
    struct worker *w = arg;
    struct shared *s = w->shared;
    randomx_flags flags = s->flags;
    if (s->dataset != NULL) {
        flags |= RANDOMX_FLAG_FULL_MEM;
    }
    randomx_vm *vm = randomx_create_vm(flags, s->cache, s->dataset);
    if (vm == NULL) {
        fprintf(stderr, "randomx_anchor: cannot create a VM (flags %d)\n", (int)flags);
        atomic_store(&s->failed, 1);
    }
    pthread_barrier_wait(&s->start_line);
    if (vm != NULL && !atomic_load(&s->failed)) {
        double cpu_begin = thread_cpu_seconds();
        if (s->op == OP_SEARCH) {
            hash_search(w, vm);
        } else {
            hash_verify(w, vm);
        }
        w->cpu_seconds = thread_cpu_seconds() - cpu_begin;
    }
    if (vm != NULL) {
        randomx_destroy_vm(vm);
    }
    return NULL;
}

static void *init_main(void *arg) {
    struct init_slice *slice = arg;
    randomx_init_dataset(slice->dataset, slice->cache, slice->start, slice->count);
    return NULL;
}

static int parse_hex(const char *hex, uint8_t *out, size_t max, size_t *len) {
    size_t n = strlen(hex);
    if (n == 0 || n % 2 != 0 || n / 2 > max) {
        return -1;
    }
    for (size_t i = 0; i < n / 2; ++i) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: randomx_anchor --mode light|fast --threads N --seconds S "
            "--op verify|search [--key HEX] [--intervals K] [--start-at T]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *mode = "light";
    const char *op_name = "verify";
    const char *key_hex = DEFAULT_KEY_HEX;
    long threads = 1;
    double seconds = 10.0;
    long intervals = 1;
    double start_at = 0.0;
    for (int i = 1; i < argc; ++i) {
        if (i + 1 >= argc) {
            usage();
        }
        if (strcmp(argv[i], "--mode") == 0) {
            mode = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0) {
            threads = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--op") == 0) {
            op_name = argv[++i];
        } else if (strcmp(argv[i], "--start-at") == 0) {
            start_at = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "--intervals") == 0) {
            intervals = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--key") == 0) {
            key_hex = argv[++i];
        } else {
            usage();
        }
    }
    int fast = strcmp(mode, "fast") == 0;
    if ((!fast && strcmp(mode, "light") != 0) || threads < 1 || threads > MAX_THREADS ||
        !(seconds > 0) || intervals < 1 || intervals > MAX_INTERVALS) {
        usage();
    }
    enum op op;
    if (strcmp(op_name, "verify") == 0) {
        op = OP_VERIFY;
    } else if (strcmp(op_name, "search") == 0) {
        op = OP_SEARCH;
    } else {
        usage();
        return 2;
    }
    uint8_t key[60];
    size_t key_len;
    if (parse_hex(key_hex, key, sizeof key, &key_len) != 0) {
        fprintf(stderr, "randomx_anchor: --key must be 1 to 60 bytes in hex\n");
        return 2;
    }

    struct shared s;
    memset(&s, 0, sizeof s);
    s.flags = randomx_get_flags();
    s.op = op;
    atomic_init(&s.stop, 0);
    atomic_init(&s.failed, 0);

    double setup_begin = now_seconds();
    s.cache = randomx_alloc_cache(s.flags);
    if (s.cache == NULL) {
        fprintf(stderr, "randomx_anchor: cannot allocate the cache\n");
        return 1;
    }
    randomx_init_cache(s.cache, key, key_len);
    double cache_seconds = now_seconds() - setup_begin;
    double dataset_seconds = 0.0;
    if (fast) {
        double dataset_begin = now_seconds();
        s.dataset = randomx_alloc_dataset(s.flags & RANDOMX_FLAG_LARGE_PAGES);
        if (s.dataset == NULL) {
            fprintf(stderr, "randomx_anchor: cannot allocate the dataset\n");
            return 1;
        }
        unsigned long items = randomx_dataset_item_count();
        struct init_slice slices[MAX_THREADS];
        unsigned long start = 0;
        for (long t = 0; t < threads; ++t) {
            unsigned long count = items / (unsigned long)threads +
                                  ((unsigned long)t < items % (unsigned long)threads ? 1 : 0);
            slices[t] = (struct init_slice){.dataset = s.dataset, .cache = s.cache,
                                            .start = start, .count = count};
            start += count;
            if (pthread_create(&slices[t].thread, NULL, init_main, &slices[t]) != 0) {
                fprintf(stderr, "randomx_anchor: cannot start a thread\n");
                return 1;
            }
        }
        for (long t = 0; t < threads; ++t) {
            pthread_join(slices[t].thread, NULL);
        }
        dataset_seconds = now_seconds() - dataset_begin;
    }

    struct worker workers[MAX_THREADS];
    pthread_barrier_init(&s.start_line, NULL, (unsigned)threads + 1);
    for (long t = 0; t < threads; ++t) {
        workers[t] = (struct worker){.shared = &s, .index = (unsigned)t};
        if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "randomx_anchor: cannot start a thread\n");
            return 1;
        }
    }
    double setup_seconds = now_seconds() - setup_begin; /* VMs: created meanwhile */
    double start_late = 0.0;
    if (start_at > 0) {
        start_late = wall_seconds() - start_at;
        sleep_seconds(-start_late);
    }
    pthread_barrier_wait(&s.start_line); /* every VM exists: the clock starts */
    double begin = now_seconds();
    double interval_hps[MAX_INTERVALS];
    uint64_t counted = 0;
    double mark = begin;
    for (long k = 0; k < intervals; ++k) {
        sleep_seconds(begin + seconds * (double)(k + 1) / (double)intervals - now_seconds());
        uint64_t sum = 0;
        for (long t = 0; t < threads; ++t) {
            sum += atomic_load_explicit(&workers[t].progress, memory_order_relaxed);
        }
        double at = now_seconds();
        interval_hps[k] = at > mark ? (double)(sum - counted) / (at - mark) : 0.0;
        counted = sum;
        mark = at;
    }
    atomic_store(&s.stop, 1);
    uint64_t total = 0;
    uint64_t hits = 0;
    double cpu = 0.0;
    for (long t = 0; t < threads; ++t) {
        pthread_join(workers[t].thread, NULL);
        total += workers[t].hashes;
        hits += workers[t].hits;
        cpu += workers[t].cpu_seconds;
    }
    double elapsed = now_seconds() - begin;
    if (atomic_load(&s.failed)) {
        return 1;
    }
    printf("{\"program\": \"randomx_anchor\", \"mode\": \"%s\", \"threads\": %ld, "
           "\"op\": \"%s\", \"hashes\": %llu, \"hits\": %llu, \"seconds\": %.3f, "
           "\"hashes_per_second\": %.2f, \"cache_seconds\": %.3f, "
           "\"dataset_seconds\": %.3f, \"setup_seconds\": %.3f, \"cpu_seconds\": %.3f, "
           "\"hashes_per_cpu_second\": %.2f, \"start_late_seconds\": %.3f, \"flags\": %d, "
           "\"interval_hps\": [",
           mode, threads, op_name, (unsigned long long)total, (unsigned long long)hits, elapsed,
           elapsed > 0 ? (double)total / elapsed : 0.0, cache_seconds, dataset_seconds,
           setup_seconds, cpu, cpu > 0 ? (double)total / cpu : 0.0,
           start_at > 0 ? start_late : 0.0, (int)s.flags);
    for (long k = 0; k < intervals; ++k) {
        printf("%s%.2f", k ? ", " : "", interval_hps[k]);
    }
    printf("]}\n");
    if (s.dataset != NULL) {
        randomx_release_dataset(s.dataset);
    }
    randomx_release_cache(s.cache);
    return 0;
}
