/*
 * Ed25519 checks by a key seen before, from tables of its multiples (`_ed25519.c`).
 *
 * A check computes R' = [S]B - [k]A and compares its encoding with the signature's R, as
 * libsodium does; what differs is how: from per-key tables of multiples of A (and a larger
 * one of B), with 12 doublings where a variable-base double multiplication needs 253, half
 * the additions for [S]B, and one inversion for several checks' encodings. About 12 µs a
 * check against libsodium's 41 (AMD EPYC). A table costs about 84 µs to build, two libsodium
 * checks, so only keys that sign again get one (see `_verify.c`).
 */
#ifndef MONMOUTH_ED25519_H
#define MONMOUTH_ED25519_H

#include <stdint.h>

/* A field element mod 2^255 - 19: five limbs of 51 bits (limbs may run a few bits over). */
typedef struct {
    uint64_t v[5];
} ed_fe;

/* An affine point as y + x, y - x and 2dxy: what a mixed addition reads. Two cache lines
 * exactly (120 bytes and padding, aligned), so that one entry costs two misses at most. */
typedef struct {
    ed_fe ypx, ymx, xy2d;
} __attribute__((aligned(128))) ed_niels;

#define ED_ROWS 16
#define ED_COLS 8

/* Row t, column j: (j + 1) * 16^(4t) * P, for the signed radix-16 digits of a scalar; 16 KiB,
 * to be allocated with its alignment (128 bytes: aligned_alloc). */
typedef struct {
    ed_niels p[ED_ROWS][ED_COLS];
} ed_table;

/* A point in extended coordinates (x = X/Z, y = Y/Z, xy = T/Z), as a check computes it. */
typedef struct {
    ed_fe X, Y, Z, T;
} ed_point;

/* The most checks `ed_finish` takes at once. */
#define ED_BATCH 16

/* Constants and the base point's table; 0 when the arithmetic passed its self-checks. */
int ed_init(void);


/*
 * The table of the key's point. The caller vouches for the key (libsodium accepted a signature
 * by it: a canonical encoding of a point on the curve that is not of small order); -1 when the
 * encoding does not decompress.
 */
int ed_table_build(ed_table *table, const unsigned char key[32]);

/*
 * A check in two steps, so that checks can share the inversion their encodings need:
 * `ed_compute` gives R' = [S]B - [k]A from the key's table (0, and no point, when S is not
 * canonical: below the group order L), where k is SHA-512(R || A || M) reduced mod L;
 * `ed_finish` then says, for each of n <= ED_BATCH such points, 1 when it encodes to its
 * signature's R (`rs[i]`, 32 bytes) and is not of small order (it scales the points to
 * Z = 1 in place, with one inversion for all). Together: libsodium's
 * `crypto_sign_verify_detached` for a key that passed its key checks.
 */
int ed_compute(ed_point *out, const ed_table *table, const unsigned char sig[64],
               const unsigned char k[32]);
void ed_finish(unsigned char *verdicts, ed_point *points, const unsigned char *const *rs,
               int n);

/* Both steps for one signature: 1 when it passes. */
int ed_verify(const ed_table *table, const unsigned char sig[64], const unsigned char k[32]);

#endif
