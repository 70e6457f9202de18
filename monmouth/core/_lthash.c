/*
 * The lattice hash's per-account work in C (monmouth.core._lthash).
 *
 * Every account a block writes costs the node one 2048-byte BLAKE3 extendable output (the
 * account's LtHash), on its main thread, the pipeline's critical path. The Python binding of
 * BLAKE3 produces those 32 output blocks one after another (about 1.3 us of the 1.6 a digest
 * costs on this machine kind); they are independent compressions of the same root node that
 * differ only in their counter, so here they run side by side in SIMD lanes. Three paths
 * (`paths_here`), the fastest the CPU runs chosen when the module loads: AVX-512 (16 blocks a
 * pass, the 16 words of each transposed into place in registers), AVX2 (8 a pass) and the
 * portable one (GCC vector extensions, 4 lanes: SSE2 on any x86-64, NEON on arm64; scalar C
 * without them); each also adds hashes to the lanes (`mix_one`). Integer arithmetic only: the
 * bytes are the same on every path and machine, and the tests run every path the CPU has.
 * On an AVX-512 Xeon a 49-byte account's digest went from 0.83 to 0.45 us in session 12
 * (`benches/bench_lthash.py`): the rounds are now most of it (about 280 ns for 32 blocks, near
 * what two vector ports can issue), then the chunk's other blocks, one scalar compression each
 * (about 70 ns: a chain of dependent steps, which SIMD rows did not shorten, 77 against 82 ns).
 *
 * The hashing follows the BLAKE3 specification (section 2: compression, chunks, the tree, the
 * extendable output). `monmouth.core.lthash.digest_py` (the `blake3` package) is the reference
 * the tests hold this one to, over every input length around the chunk and block boundaries.
 *
 * - digest(data) -> bytes: the 2048-byte output over `data`;
 * - account_digest(pubkey, raw) -> bytes: the same over an encoded account's hash input
 *   (`monmouth.rust_svm.accounts.account_hash_input`), without building it;
 * - mix(lanes, ins, outs): lanes (2048 writable bytes, 1024 little-endian u16) plus every
 *   2048-byte hash of `ins` and minus every one of `outs`, wrapping;
 * - mix_writes(lanes, cache, keys, olds, news) -> writes: a block's whole lattice-hash pass
 *   over its changed accounts in one call (`monmouth.core.lthash.mix_writes_py` is the
 *   reference): at small blocks each account is written once per block it changes in, and
 *   the Python around each digest (two calls, a cache lookup, three appends) was a fifth of
 *   an account's cost (140 to 180 ns of 740 to 1,030, best of 300 blocks of 100 accounts).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define BLOCK_LEN 64
#define CHUNK_LEN 1024
#define OUT_LEN 2048
#define OUT_BLOCKS (OUT_LEN / BLOCK_LEN)

enum { CHUNK_START = 1, CHUNK_END = 2, PARENT = 4, ROOT = 8 };

static const uint32_t IV[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                               0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

/* The message word each of the 16 positions reads in each of the 7 rounds (the permutation
 * applied round after round). */
static const uint8_t SCHEDULE[7][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8},
    {3, 4, 10, 12, 13, 2, 7, 14, 6, 5, 9, 0, 11, 15, 8, 1},
    {10, 7, 12, 9, 14, 3, 13, 15, 4, 0, 11, 2, 5, 8, 1, 6},
    {12, 13, 9, 11, 15, 10, 14, 8, 7, 2, 5, 3, 0, 1, 6, 4},
    {9, 14, 11, 5, 8, 12, 15, 1, 13, 3, 0, 10, 2, 6, 4, 7},
    {11, 15, 5, 0, 1, 9, 8, 6, 14, 10, 2, 12, 3, 4, 7, 13},
};

static inline void store32(uint8_t *p, uint32_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &w, 4);
#else
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
#endif
}

/* Macros, not functions, so that the same text serves the scalar compression and the SIMD
 * ones (ROT: how a path rotates its words right, ROTR where shifts do). */
#define ROTR(x, n) ((x) >> (n) | (x) << (32 - (n)))

#define G_ROT(ROT, v, a, b, c, d, x, y)                                                         \
    do {                                                                                        \
        v[a] = v[a] + v[b] + (x);                                                               \
        v[d] = ROT(v[d] ^ v[a], 16);                                                            \
        v[c] = v[c] + v[d];                                                                     \
        v[b] = ROT(v[b] ^ v[c], 12);                                                            \
        v[a] = v[a] + v[b] + (y);                                                               \
        v[d] = ROT(v[d] ^ v[a], 8);                                                             \
        v[c] = v[c] + v[d];                                                                     \
        v[b] = ROT(v[b] ^ v[c], 7);                                                             \
    } while (0)

/* The 7 rounds over the state v, message words m (unrolled: the schedule's indexes become
 * constants). */
#define ROUNDS_ROT(ROT, v, m)                                                                   \
    _Pragma("GCC unroll 7") for (int r = 0; r < 7; r++) {                                       \
        const uint8_t *s = SCHEDULE[r];                                                         \
        G_ROT(ROT, v, 0, 4, 8, 12, m[s[0]], m[s[1]]);                                           \
        G_ROT(ROT, v, 1, 5, 9, 13, m[s[2]], m[s[3]]);                                           \
        G_ROT(ROT, v, 2, 6, 10, 14, m[s[4]], m[s[5]]);                                          \
        G_ROT(ROT, v, 3, 7, 11, 15, m[s[6]], m[s[7]]);                                          \
        G_ROT(ROT, v, 0, 5, 10, 15, m[s[8]], m[s[9]]);                                          \
        G_ROT(ROT, v, 1, 6, 11, 12, m[s[10]], m[s[11]]);                                        \
        G_ROT(ROT, v, 2, 7, 8, 13, m[s[12]], m[s[13]]);                                         \
        G_ROT(ROT, v, 3, 4, 9, 14, m[s[14]], m[s[15]]);                                         \
    }

#define ROUNDS(v, m) ROUNDS_ROT(ROTR, v, m)

/* The compression function; out gets all 16 words (the first 8 are the chaining value). */
static void compress(const uint32_t cv[8], const uint32_t m[16], uint64_t counter,
                     uint32_t block_len, uint32_t flags, uint32_t out[16]) {
    uint32_t v[16] = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7],
                      IV[0], IV[1], IV[2], IV[3], (uint32_t)counter, (uint32_t)(counter >> 32),
                      block_len, flags};
    ROUNDS(v, m)
    for (int i = 0; i < 8; i++) {
        out[i] = v[i] ^ v[i + 8];
        out[i + 8] = v[i + 8] ^ cv[i];
    }
}

static void words(const uint8_t block[BLOCK_LEN], uint32_t m[16]) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(m, block, BLOCK_LEN); /* four 16-byte moves, not a loop of 16 */
#else
    for (int i = 0; i < 16; i++) {
        const uint8_t *p = block + 4 * i;
        m[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
#endif
}

/* ------------------------------------------------------------------ the root's 32 outputs */

/* Each path writes the root node's 32 output blocks (cv, m, block_len, flags) to out, block j
 * at out + 64 j: the same bytes on every path. */
typedef void (*RootFn)(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                       uint32_t flags, uint8_t out[OUT_LEN]);

#if defined(__GNUC__) || defined(__clang__)
/* 4 lanes: a word of the state is one 128-bit register. With 16 lanes (4 registers a word)
 * most of the state lived on the stack: 3.8 us a 49-byte account_digest on SSE2, 1.55 with 4. */
#define LANES 4
typedef uint32_t vec __attribute__((vector_size(4 * LANES)));

/* The portable path (GCC vector extensions: whatever SIMD the compiler targets, SSE2 on any
 * x86-64, NEON on arm64), output blocks first .. first + LANES - 1. */
static void root_lanes(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                       uint32_t flags, uint32_t first, uint8_t *out) {
    vec v[16];
    for (int i = 0; i < 8; i++) {
        vec w = {0};
        v[i] = w + cv[i];
    }
    for (int i = 0; i < 4; i++) {
        vec w = {0};
        v[8 + i] = w + IV[i];
    }
    for (int j = 0; j < LANES; j++) {
        v[12][j] = first + (uint32_t)j; /* counters below 2^32: the high word stays 0 */
        v[13][j] = 0;
        v[14][j] = block_len;
        v[15][j] = flags;
    }
    ROUNDS(v, m)
    /* Word i of every lane's block, then each lane's 16 words in order (a transpose). */
    uint32_t t[16][LANES] __attribute__((aligned(64)));
    for (int i = 0; i < 8; i++) {
        vec lo = v[i] ^ v[i + 8], hi = v[i + 8] ^ cv[i];
        memcpy(t[i], &lo, sizeof lo);
        memcpy(t[i + 8], &hi, sizeof hi);
    }
    for (int j = 0; j < LANES; j++)
        for (int i = 0; i < 16; i++)
            store32(out + BLOCK_LEN * j + 4 * i, t[i][j]);
}
#else
#define LANES 1
static void root_lanes(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                       uint32_t flags, uint32_t first, uint8_t *out) {
    uint32_t w[16];
    compress(cv, m, first, block_len, flags, w);
    for (int i = 0; i < 16; i++)
        store32(out + 4 * i, w[i]);
}
#endif

static void root_portable(const uint32_t cv[8], const uint32_t m[16], uint32_t block_len,
                          uint32_t flags, uint8_t out[OUT_LEN]) {
    for (uint32_t first = 0; first < OUT_BLOCKS; first += LANES)
        root_lanes(cv, m, block_len, flags, first, out + BLOCK_LEN * first);
}

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define X86_PATHS 1

/* Loops over registers unrolled (GCC unrolls none at -O2): each array element then stays in a
 * register instead of going through the stack. */
#define UNROLL _Pragma("GCC unroll 16")

/* AVX-512: 16 blocks per pass, the 16 state words in 16 of the 32 registers (the compiler
 * turns ROTR into vprord and each message word into a broadcast operand), and the words
 * transposed into blocks in registers, 64 shuffles a pass. Through memory (256 4-byte stores a
 * pass) and with the state spilled around it, the 32 blocks took 470 ns; 280 now. */
typedef uint32_t vec16 __attribute__((vector_size(64)));

__attribute__((target("avx512f"))) static void root_avx512(const uint32_t cv[8],
                                                           const uint32_t m[16],
                                                           uint32_t block_len, uint32_t flags,
                                                           uint8_t out[OUT_LEN]) {
    for (uint32_t first = 0; first < OUT_BLOCKS; first += 16) {
        vec16 v[16];
        UNROLL for (int i = 0; i < 8; i++)
            v[i] = (vec16)_mm512_set1_epi32((int)cv[i]);
        UNROLL for (int i = 0; i < 4; i++)
            v[8 + i] = (vec16)_mm512_set1_epi32((int)IV[i]);
        /* Counters below 2^32: the high word stays 0. */
        v[12] = (vec16)_mm512_add_epi32(_mm512_set1_epi32((int)first),
                                        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                                          12, 13, 14, 15));
        v[13] = (vec16)_mm512_setzero_si512();
        v[14] = (vec16)_mm512_set1_epi32((int)block_len);
        v[15] = (vec16)_mm512_set1_epi32((int)flags);
        ROUNDS(v, m)
        /* r[i]: word i of the 16 blocks; o[j]: block j's 16 words. */
        __m512i r[16], a[16], b[16];
        UNROLL for (int i = 0; i < 8; i++) {
            r[i] = (__m512i)(v[i] ^ v[i + 8]);
            r[i + 8] = (__m512i)(v[i + 8] ^ (vec16)_mm512_set1_epi32((int)cv[i]));
        }
        /* Within each 128-bit lane L (blocks 4L .. 4L+3): pairs of words, then the 4 words
         * i .. i+3 of block 4L+k in b[i+k] ... */
        UNROLL for (int i = 0; i < 16; i += 2) {
            a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
            a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
        }
        UNROLL for (int i = 0; i < 16; i += 4) {
            b[i] = _mm512_unpacklo_epi64(a[i], a[i + 2]);
            b[i + 1] = _mm512_unpackhi_epi64(a[i], a[i + 2]);
            b[i + 2] = _mm512_unpacklo_epi64(a[i + 1], a[i + 3]);
            b[i + 3] = _mm512_unpackhi_epi64(a[i + 1], a[i + 3]);
        }
        /* ... then a 4x4 transpose of 128-bit lanes: block 4L+k is lane L of b[k], b[4+k],
         * b[8+k], b[12+k]. */
        uint8_t *o = out + BLOCK_LEN * first;
        UNROLL for (int k = 0; k < 4; k++) {
            __m512i c0 = _mm512_shuffle_i32x4(b[k], b[4 + k], 0x44);
            __m512i c1 = _mm512_shuffle_i32x4(b[k], b[4 + k], 0xEE);
            __m512i c2 = _mm512_shuffle_i32x4(b[8 + k], b[12 + k], 0x44);
            __m512i c3 = _mm512_shuffle_i32x4(b[8 + k], b[12 + k], 0xEE);
            _mm512_storeu_si512(o + BLOCK_LEN * k, _mm512_shuffle_i32x4(c0, c2, 0x88));
            _mm512_storeu_si512(o + BLOCK_LEN * (4 + k), _mm512_shuffle_i32x4(c0, c2, 0xDD));
            _mm512_storeu_si512(o + BLOCK_LEN * (8 + k), _mm512_shuffle_i32x4(c1, c3, 0x88));
            _mm512_storeu_si512(o + BLOCK_LEN * (12 + k), _mm512_shuffle_i32x4(c1, c3, 0xDD));
        }
    }
}

/* AVX2: 8 blocks per pass, the same way in 256-bit registers (16 state words and the
 * temporaries do not all fit in 16 registers: a few spill). */
typedef uint32_t vec8 __attribute__((vector_size(32)));

/* The 8 words r[0..7] of 8 blocks into their blocks: o[j] gets block j's 8 words. */
__attribute__((target("avx2"))) static inline void transpose8(const __m256i r[8], __m256i o[8]) {
    __m256i a[8], b[8];
    UNROLL for (int i = 0; i < 8; i += 2) {
        a[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
        a[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
    }
    UNROLL for (int i = 0; i < 8; i += 4) {
        b[i] = _mm256_unpacklo_epi64(a[i], a[i + 2]);
        b[i + 1] = _mm256_unpackhi_epi64(a[i], a[i + 2]);
        b[i + 2] = _mm256_unpacklo_epi64(a[i + 1], a[i + 3]);
        b[i + 3] = _mm256_unpackhi_epi64(a[i + 1], a[i + 3]);
    }
    /* b[k]: words 0..3 of blocks k (low half) and 4+k (high); b[4+k]: words 4..7. */
    UNROLL for (int k = 0; k < 4; k++) {
        o[k] = _mm256_permute2x128_si256(b[k], b[4 + k], 0x20);
        o[4 + k] = _mm256_permute2x128_si256(b[k], b[4 + k], 0x31);
    }
}

/* AVX2 has no rotate: by 16 and 8 bits, one byte shuffle (vpshufb) instead of two shifts and
 * an or (a sixth fewer instructions in the rounds). */
__attribute__((target("avx2"))) static inline vec8 rotr_avx2(vec8 x, int n) {
    if (n == 16)
        return (vec8)_mm256_shuffle_epi8(
            (__m256i)x, _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2,
                                         3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
    if (n == 8)
        return (vec8)_mm256_shuffle_epi8(
            (__m256i)x, _mm256_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1,
                                         2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12));
    return ROTR(x, n);
}

__attribute__((target("avx2"))) static void root_avx2(const uint32_t cv[8], const uint32_t m[16],
                                                      uint32_t block_len, uint32_t flags,
                                                      uint8_t out[OUT_LEN]) {
    for (uint32_t first = 0; first < OUT_BLOCKS; first += 8) {
        vec8 v[16];
        UNROLL for (int i = 0; i < 8; i++)
            v[i] = (vec8)_mm256_set1_epi32((int)cv[i]);
        UNROLL for (int i = 0; i < 4; i++)
            v[8 + i] = (vec8)_mm256_set1_epi32((int)IV[i]);
        v[12] = (vec8)_mm256_add_epi32(_mm256_set1_epi32((int)first),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        v[13] = (vec8)_mm256_setzero_si256();
        v[14] = (vec8)_mm256_set1_epi32((int)block_len);
        v[15] = (vec8)_mm256_set1_epi32((int)flags);
        ROUNDS_ROT(rotr_avx2, v, m)
        __m256i lo[8], hi[8], olo[8], ohi[8];
        UNROLL for (int i = 0; i < 8; i++) {
            lo[i] = (__m256i)(v[i] ^ v[i + 8]);
            hi[i] = (__m256i)(v[i + 8] ^ (vec8)_mm256_set1_epi32((int)cv[i]));
        }
        transpose8(lo, olo);
        transpose8(hi, ohi);
        uint8_t *o = out + BLOCK_LEN * first;
        UNROLL for (int j = 0; j < 8; j++) {
            _mm256_storeu_si256((__m256i *)(o + BLOCK_LEN * j), olo[j]);
            _mm256_storeu_si256((__m256i *)(o + BLOCK_LEN * j + 32), ohi[j]);
        }
    }
}
#endif

/* ------------------------------------------------------------------ mixing */

/* lanes += or -= one hash (add: 1 or 0), lane by lane, wrapping: 1024 u16, little-endian in
 * memory, as the hash's bytes are. */
typedef void (*MixFn)(uint8_t *lanes, const uint8_t *d, int add);

#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) &&                    \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* One loop for each sign over vectors of type T: with the choice inside one loop, GCC's AVX2
 * build of it went through the stack for every vector (1,200 instructions a hash). */
#define MIX_LOOPS(T)                                                                            \
    do {                                                                                        \
        T a, x;                                                                                 \
        if (add)                                                                                \
            for (int i = 0; i < OUT_LEN; i += (int)sizeof(T)) {                                 \
                memcpy(&a, lanes + i, sizeof a);                                                \
                memcpy(&x, d + i, sizeof x);                                                    \
                a += x;                                                                         \
                memcpy(lanes + i, &a, sizeof a);                                                \
            }                                                                                   \
        else                                                                                    \
            for (int i = 0; i < OUT_LEN; i += (int)sizeof(T)) {                                 \
                memcpy(&a, lanes + i, sizeof a);                                                \
                memcpy(&x, d + i, sizeof x);                                                    \
                a -= x;                                                                         \
                memcpy(lanes + i, &a, sizeof a);                                                \
            }                                                                                   \
    } while (0)

typedef uint16_t lanes16 __attribute__((vector_size(16)));

static void mix_portable(uint8_t *lanes, const uint8_t *d, int add) { MIX_LOOPS(lanes16); }

#ifdef X86_PATHS
typedef uint16_t lanes32 __attribute__((vector_size(32)));
typedef uint16_t lanes64 __attribute__((vector_size(64)));

/* 16-bit lanes in 512-bit registers take AVX-512BW. */
__attribute__((target("avx512f,avx512bw"))) static void mix_avx512(uint8_t *lanes,
                                                                   const uint8_t *d, int add) {
    MIX_LOOPS(lanes64);
}

__attribute__((target("avx2"))) static void mix_avx2(uint8_t *lanes, const uint8_t *d, int add) {
    MIX_LOOPS(lanes32);
}
#endif
#else
static void mix_portable(uint8_t *lanes, const uint8_t *d, int add) {
    for (int i = 0; i < OUT_LEN; i += 2) {
        unsigned lane = lanes[i] | (unsigned)lanes[i + 1] << 8;
        unsigned x = d[i] | (unsigned)d[i + 1] << 8;
        lane = add ? lane + x : lane - x;
        lanes[i] = (uint8_t)lane;
        lanes[i + 1] = (uint8_t)(lane >> 8);
    }
}
#endif

/* ------------------------------------------------------------------ the paths */

/* The paths in use, chosen when the module loads (the fastest that `paths_here` finds). */
static RootFn root_blocks = root_portable;
static MixFn mix_one = mix_portable;

typedef struct {
    const char *name;
    RootFn root;
    MixFn mix;
} Path;

#define MAX_PATHS 3

/* The paths this CPU runs, fastest first (the AVX-512 one: F for the rounds, BW for adding
 * 16-bit lanes). */
static int paths_here(Path paths[MAX_PATHS]) {
    int n = 0;
#ifdef X86_PATHS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
        paths[n++] = (Path){"avx512", root_avx512, mix_avx512};
    if (__builtin_cpu_supports("avx2"))
        paths[n++] = (Path){"avx2", root_avx2, mix_avx2};
#endif
    paths[n++] = (Path){"portable", root_portable, mix_portable};
    return n;
}

/* ------------------------------------------------------------------ the hasher */

/* What the root compression takes: the specification's `Output`. */
typedef struct {
    uint32_t cv[8];
    uint32_t m[16];
    uint64_t counter;
    uint32_t block_len, flags;
} Output;

typedef struct {
    uint32_t cv[8];
    uint64_t chunk; /* this chunk's index */
    uint8_t block[BLOCK_LEN];
    uint32_t block_len, blocks;
    uint32_t stack[54][8]; /* chaining values of finished subtrees, 2^54 chunks at most */
    int depth;
} Hasher;

static void hasher_init(Hasher *h) {
    memcpy(h->cv, IV, sizeof IV);
    h->chunk = 0;
    h->block_len = h->blocks = 0;
    h->depth = 0;
}

static uint32_t start_flag(const Hasher *h) { return h->blocks == 0 ? CHUNK_START : 0; }

static void chunk_output(const Hasher *h, Output *o) {
    memcpy(o->cv, h->cv, sizeof o->cv);
    uint8_t block[BLOCK_LEN] = {0};
    memcpy(block, h->block, h->block_len);
    words(block, o->m);
    o->counter = h->chunk;
    o->block_len = h->block_len;
    o->flags = start_flag(h) | CHUNK_END;
}

static void output_cv(const Output *o, uint32_t cv[8]) {
    uint32_t w[16];
    compress(o->cv, o->m, o->counter, o->block_len, o->flags, w);
    memcpy(cv, w, 8 * sizeof(uint32_t));
}

static void parent_output(const uint32_t left[8], const uint32_t right[8], Output *o) {
    memcpy(o->cv, IV, sizeof IV);
    memcpy(o->m, left, 8 * sizeof(uint32_t));
    memcpy(o->m + 8, right, 8 * sizeof(uint32_t));
    o->counter = 0;
    o->block_len = BLOCK_LEN;
    o->flags = PARENT;
}

/* A chunk is full and more input follows: its chaining value joins the tree. */
static void finish_chunk(Hasher *h) {
    Output o;
    uint32_t cv[8];
    chunk_output(h, &o);
    output_cv(&o, cv);
    uint64_t total = h->chunk + 1;
    /* Merge while the number of chunks so far is even: the stack is the binary form of it. */
    while ((total & 1) == 0) {
        Output p;
        parent_output(h->stack[--h->depth], cv, &p);
        output_cv(&p, cv);
        total >>= 1;
    }
    memcpy(h->stack[h->depth++], cv, sizeof cv);
    memcpy(h->cv, IV, sizeof IV);
    h->chunk++;
    h->block_len = h->blocks = 0;
}

static void update(Hasher *h, const uint8_t *in, size_t len) {
    while (len) {
        if (h->block_len == BLOCK_LEN) {
            if (h->blocks == CHUNK_LEN / BLOCK_LEN - 1) {
                finish_chunk(h); /* the full buffer is the chunk's last block */
                continue;
            }
            /* Compress a full block only when more input follows: the last is the output's. */
            uint32_t m[16], w[16];
            words(h->block, m);
            compress(h->cv, m, h->chunk, BLOCK_LEN, start_flag(h), w);
            memcpy(h->cv, w, sizeof h->cv);
            h->blocks++;
            h->block_len = 0;
        }
        size_t take = BLOCK_LEN - h->block_len;
        if (take > len)
            take = len;
        memcpy(h->block + h->block_len, in, take);
        h->block_len += (uint32_t)take;
        in += take;
        len -= take;
    }
}

/* The 2048-byte extendable output of everything hashed. */
static void finalize(const Hasher *h, uint8_t out[OUT_LEN]) {
    Output o;
    chunk_output(h, &o);
    for (int i = h->depth - 1; i >= 0; i--) {
        uint32_t cv[8];
        output_cv(&o, cv);
        parent_output(h->stack[i], cv, &o);
    }
    /* The root's output blocks are numbered from 0, whatever node it is. */
    root_blocks(o.cv, o.m, o.block_len, o.flags | ROOT, out);
}

/* ------------------------------------------------------------------ Python */

static PyObject *digest(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, OUT_LEN);
    if (out) {
        Hasher h;
        hasher_init(&h);
        update(&h, data.buf, (size_t)data.len);
        finalize(&h, (uint8_t *)PyBytes_AS_STRING(out));
    }
    PyBuffer_Release(&data);
    return out;
}

/* The store's account layout: lamports (u64) 0:8, rent epoch 8:16, executable 16, owner 17:49,
 * data 49:. The hash covers lamports, data, executable, owner, then the pubkey. */
#define ACCOUNT_HEADER 49

/* The account's digest (`account_digest`) into `out`; -1 with ValueError when `raw` is too
 * short to be an encoded account. */
static int account_digest_into(const void *key, Py_ssize_t key_len, const void *raw,
                               Py_ssize_t raw_len, uint8_t *out) {
    if (raw_len < ACCOUNT_HEADER) {
        PyErr_SetString(PyExc_ValueError, "an encoded account is at least 49 bytes");
        return -1;
    }
    const uint8_t *r = (const uint8_t *)raw;
    Hasher h;
    hasher_init(&h);
    update(&h, r, 8);
    update(&h, r + ACCOUNT_HEADER, (size_t)(raw_len - ACCOUNT_HEADER));
    update(&h, r + 16, 1);
    update(&h, r + 17, 32);
    update(&h, (const uint8_t *)key, (size_t)key_len);
    finalize(&h, out);
    return 0;
}

static PyObject *account_digest(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "account_digest(pubkey, raw)");
        return NULL;
    }
    Py_buffer key, raw;
    if (PyObject_GetBuffer(args[0], &key, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &raw, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&key);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, OUT_LEN);
    if (out && account_digest_into(key.buf, key.len, raw.buf, raw.len,
                                   (uint8_t *)PyBytes_AS_STRING(out)) < 0)
        Py_CLEAR(out);
    PyBuffer_Release(&key);
    PyBuffer_Release(&raw);
    return out;
}

/* lanes += sign * hash, lane by lane, wrapping (u16, little-endian in memory); with lanes
 * NULL, only checks that every hash is 2048 bytes (so that a bad one changes nothing). */
static int mix_all(uint8_t *lanes, PyObject *hashes, int add) {
    PyObject *seq = PySequence_Fast(hashes, "ins and outs are lists of 2048-byte hashes");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t k = 0; k < n; k++) {
        Py_buffer b;
        if (PyObject_GetBuffer(items[k], &b, PyBUF_SIMPLE) < 0) {
            Py_DECREF(seq);
            return -1;
        }
        if (b.len != OUT_LEN) {
            PyBuffer_Release(&b);
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "a lattice hash is 2048 bytes");
            return -1;
        }
        if (lanes)
            mix_one(lanes, b.buf, add);
        PyBuffer_Release(&b);
    }
    Py_DECREF(seq);
    return 0;
}

static PyObject *mix(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "mix(lanes, ins, outs)");
        return NULL;
    }
    Py_buffer lanes;
    if (PyObject_GetBuffer(args[0], &lanes, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    int failed = 0;
    if (lanes.len != OUT_LEN) {
        PyErr_SetString(PyExc_ValueError, "a lattice hash is 2048 bytes");
        failed = 1;
    } else {
        /* Every hash is checked before any is mixed. No Python code runs in between (the
         * GIL is held), so the lists cannot change. */
        failed = mix_all(NULL, args[2], 0) < 0 || mix_all(NULL, args[1], 1) < 0 ||
                 mix_all(lanes.buf, args[2], 0) < 0 || mix_all(lanes.buf, args[1], 1) < 0;
    }
    PyBuffer_Release(&lanes);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}


static int bytes_equal(PyObject *a, PyObject *b) {
    Py_ssize_t n = PyBytes_GET_SIZE(a);
    return a == b ||
           (n == PyBytes_GET_SIZE(b) && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), n) == 0);
}

/* mix_writes(lanes, cache, keys, olds, news): for each account whose value changed (old !=
 * new; None: absent), subtract the old value's digest (cache[key] = (value, digest) when it
 * holds that value, else hashed) and add the new one's, keeping it as cache[key]; returns
 * [(key, old, new)] of the changed ones, in order. */
static PyObject *mix_writes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "mix_writes(lanes, cache, keys, olds, news)");
        return NULL;
    }
    PyObject *cache = args[1], *keys = args[2], *olds = args[3], *news = args[4];
    if (!PyDict_CheckExact(cache) || !PyList_CheckExact(keys) || !PyList_CheckExact(olds) ||
        !PyList_CheckExact(news)) {
        PyErr_SetString(PyExc_TypeError, "mix_writes(lanes, dict, list, list, list)");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(olds) != n || PyList_GET_SIZE(news) != n) {
        PyErr_SetString(PyExc_ValueError, "keys, olds and news differ in length");
        return NULL;
    }
    /* Types first, so that a bad argument changes nothing (no Python code runs below: the
     * lists cannot change under the loop). */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *old = PyList_GET_ITEM(olds, i), *new = PyList_GET_ITEM(news, i);
        if (!PyBytes_CheckExact(PyList_GET_ITEM(keys, i)) ||
            (old != Py_None && !PyBytes_CheckExact(old)) ||
            (new != Py_None && !PyBytes_CheckExact(new))) {
            PyErr_SetString(PyExc_TypeError, "keys are bytes, values bytes or None");
            return NULL;
        }
    }
    Py_buffer lanes;
    if (PyObject_GetBuffer(args[0], &lanes, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    if (lanes.len != OUT_LEN) {
        PyBuffer_Release(&lanes);
        PyErr_SetString(PyExc_ValueError, "a lattice hash is 2048 bytes");
        return NULL;
    }
    PyObject *writes = PyList_New(0);
    uint8_t scratch[OUT_LEN];
    for (Py_ssize_t i = 0; writes && i < n; i++) {
        PyObject *key = PyList_GET_ITEM(keys, i);
        PyObject *old = PyList_GET_ITEM(olds, i), *new = PyList_GET_ITEM(news, i);
        if (old == new || (old != Py_None && new != Py_None && bytes_equal(old, new)))
            continue;
        const char *k = PyBytes_AS_STRING(key);
        Py_ssize_t klen = PyBytes_GET_SIZE(key);
        if (old != Py_None) {
            const uint8_t *d = NULL;
            PyObject *cached = PyDict_GetItemWithError(cache, key); /* borrowed */
            if (cached && PyTuple_CheckExact(cached) && PyTuple_GET_SIZE(cached) == 2 &&
                PyBytes_CheckExact(PyTuple_GET_ITEM(cached, 0)) &&
                PyBytes_CheckExact(PyTuple_GET_ITEM(cached, 1)) &&
                PyBytes_GET_SIZE(PyTuple_GET_ITEM(cached, 1)) == OUT_LEN &&
                bytes_equal(PyTuple_GET_ITEM(cached, 0), old))
                d = (const uint8_t *)PyBytes_AS_STRING(PyTuple_GET_ITEM(cached, 1));
            else if (PyErr_Occurred() ||
                     account_digest_into(k, klen, PyBytes_AS_STRING(old), PyBytes_GET_SIZE(old),
                                         scratch) < 0)
                goto fail;
            else
                d = scratch;
            mix_one(lanes.buf, d, 0);
        }
        if (new != Py_None) {
            PyObject *digest = PyBytes_FromStringAndSize(NULL, OUT_LEN);
            if (!digest)
                goto fail;
            uint8_t *d = (uint8_t *)PyBytes_AS_STRING(digest);
            if (account_digest_into(k, klen, PyBytes_AS_STRING(new), PyBytes_GET_SIZE(new), d) <
                0) {
                Py_DECREF(digest);
                goto fail;
            }
            mix_one(lanes.buf, d, 1);
            PyObject *entry = PyTuple_Pack(2, new, digest);
            Py_DECREF(digest);
            if (!entry)
                goto fail;
            int failed = PyDict_SetItem(cache, key, entry);
            Py_DECREF(entry);
            if (failed < 0)
                goto fail;
        }
        PyObject *write = PyTuple_Pack(3, key, old, new);
        if (!write)
            goto fail;
        int failed = PyList_Append(writes, write);
        Py_DECREF(write);
        if (failed < 0)
            goto fail;
    }
    PyBuffer_Release(&lanes);
    return writes;
fail:
    Py_XDECREF(writes);
    PyBuffer_Release(&lanes);
    return NULL;
}

/* For the tests and the benchmark: every path this CPU runs is held to the reference, not
 * only the chosen one (on an AVX-512 machine the AVX2 and portable paths would otherwise go
 * untested). */
static PyObject *paths(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    Path p[MAX_PATHS];
    int n = paths_here(p);
    PyObject *names = PyTuple_New(n);
    for (int i = 0; names && i < n; i++) {
        PyObject *name = PyUnicode_FromString(p[i].name);
        if (!name) {
            Py_CLEAR(names);
            break;
        }
        PyTuple_SET_ITEM(names, i, name);
    }
    return names;
}

static PyObject *path(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    Path p[MAX_PATHS];
    int n = paths_here(p);
    for (int i = 0; i < n; i++)
        if (p[i].root == root_blocks && p[i].mix == mix_one)
            return PyUnicode_FromString(p[i].name);
    Py_RETURN_NONE; /* unreachable: each pair in use comes from the table */
}

static PyObject *use(PyObject *self, PyObject *name) {
    (void)self;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "_use(path): a path's name");
        return NULL;
    }
    Path p[MAX_PATHS];
    int n = paths_here(p);
    for (int i = 0; i < n; i++) {
        if (PyUnicode_CompareWithASCIIString(name, p[i].name) != 0)
            continue;
        PyObject *previous = path(NULL, NULL);
        if (previous) {
            root_blocks = p[i].root;
            mix_one = p[i].mix;
        }
        return previous;
    }
    PyErr_SetString(PyExc_ValueError, "not a path this CPU runs");
    return NULL;
}

static PyMethodDef methods[] = {
    {"_paths", paths, METH_NOARGS,
     "_paths()\n--\n\nThe names of the SIMD paths this CPU runs, fastest first."},
    {"_path", path, METH_NOARGS, "_path()\n--\n\nThe name of the path in use."},
    {"_use", use, METH_O,
     "_use(path)\n--\n\nUse the named path from now on (tests, benchmarks); returns the name "
     "of the one in use before."},
    {"digest", digest, METH_O,
     "digest(data)\n--\n\nThe 2048-byte BLAKE3 extendable output over data."},
    {"account_digest", (PyCFunction)(void (*)(void))account_digest, METH_FASTCALL,
     "account_digest(pubkey, raw)\n--\n\nThe 2048-byte BLAKE3 output over an encoded account's "
     "lattice-hash input (lamports, data, executable, owner, pubkey)."},
    {"mix", (PyCFunction)(void (*)(void))mix, METH_FASTCALL,
     "mix(lanes, ins, outs)\n--\n\nAdd every hash of ins to lanes and subtract every one of "
     "outs (u16 lanes, wrapping), in place."},
    {"mix_writes", (PyCFunction)(void (*)(void))mix_writes, METH_FASTCALL,
     "mix_writes(lanes, cache, keys, olds, news)\n--\n\nMix a block's changed accounts into "
     "lanes (out: the old value's digest, from cache when it holds that value; in: the new "
     "one's, kept in cache); returns [(key, old, new)] of those whose value changed."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lthash", "The lattice hash's per-account work, in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__lthash(void) {
    Path p[MAX_PATHS];
    paths_here(p);
    root_blocks = p[0].root;
    mix_one = p[0].mix;
    return PyModule_Create(&module);
}
