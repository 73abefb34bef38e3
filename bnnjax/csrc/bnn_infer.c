/* Reference inference for a fully binary network exported by bnnjax.
 *
 * C99, no dependencies beyond the C library, no floating point: every product is
 * XNOR, AND and popcount on uint32 words (algorithm.md step 1), so it runs on tiny
 * hardware. The network comes from a generated header:
 *
 *   python -m bnnjax.predict --model=net.bnn --network=0 --c_header=bnn_model.h \
 *       --dataset=NAME --c_inputs=inputs.bin      # the packed test split
 *   cc -std=c99 -O2 -I. bnn_infer.c -o bnn_infer  # bnn_model.h beside it (-I)
 *   ./bnn_infer inputs.bin > predictions.txt      # one prediction per line
 *
 * Bits (bnnjax/bits.py): a vector of n values in {-1, 0, +1} is two planes of
 * W = ceil(n / 32) words, sign (1 for +1) and nonzero (1 for +1 and -1); element e is
 * bit e / W of word e % W; padding bits are 0. With nz = nz_x AND nz_w,
 *   x . w = 2 * popcount(nz AND XNOR(s_x, s_w)) - popcount(nz).
 * Inputs are ±1 (their nonzero plane is every real bit). Semantics: BNN_REFERENCE 1
 * takes sign(0) = 0 (an activation may be 0), 0 takes sign(0) = +1.
 * Head: argmax of the output scores (the lowest index wins ties), or, for one output
 * (BNN_HEAD_SIGN), class 1 if z > 0, 0 if z < 0, and for z = 0 class 1 under binary
 * semantics and -1 (no class) under reference semantics, as bnnjax.
 *
 * Input file ('BNNI', all little-endian uint32): magic "BNNI", version 1, number of
 * samples B, inputs per sample D, words per sample W = ceil(D / 32), then B * W words,
 * sample after sample. Exit status 0 on success, 1 on a bad input file (one line
 * "error: ..." on stderr).
 *
 * Build with -DBNN_PORTABLE_POPCOUNT to use the portable popcount below instead of the
 * compiler's builtin.
 */
#include <stdint.h>
#include <stdio.h>

#include "bnn_model.h"

static int popcount32(uint32_t x) {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BNN_PORTABLE_POPCOUNT)
  return __builtin_popcount(x);
#else
  x = x - ((x >> 1) & 0x55555555u);
  x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
  x = (x + (x >> 4)) & 0x0F0F0F0Fu;
  return (int)((x * 0x01010101u) >> 24);
#endif
}

/* x . w for one row w of a layer: x has sign/nonzero planes of `words` words. */
static int32_t dot(const uint32_t *xs, const uint32_t *xn, const uint32_t *ws,
                   const uint32_t *wn, int words) {
  int32_t agree = 0, count = 0;
  int k;
  for (k = 0; k < words; ++k) {
    uint32_t nz = wn ? (xn[k] & wn[k]) : xn[k];
    agree += popcount32(nz & ~(xs[k] ^ ws[k]));
    count += popcount32(nz);
  }
  return 2 * agree - count;
}

/* Planes of the valid (non-padding) bits of an n-vector: the nonzero plane of ±1. */
static void valid_bits(uint32_t *nz, int n) {
  int w = (n + 31) / 32, e;
  for (e = 0; e < w; ++e) nz[e] = 0;
  for (e = 0; e < n; ++e) nz[e % w] |= (uint32_t)1 << (e / w);
}

static uint32_t read_u32(const unsigned char *b) {
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
         ((uint32_t)b[3] << 24);
}

static int fail(const char *msg, long value) {
  fprintf(stderr, "error: %s%ld\n", msg, value);
  return 1;
}

/* Predicted class of one sample x (sign plane, BNN_INPUT_WORDS words). */
static int predict(const uint32_t *x, const uint32_t *x_valid) {
  static uint32_t sign[2][BNN_MAX_WORDS], nz[2][BNN_MAX_WORDS];
  const uint32_t *xs = x, *xn = x_valid;
  int l, j, cur = 0;
#if !BNN_HEAD_SIGN
  int best = 0;
  int32_t best_z = 0;
#endif
  for (l = 0; l < BNN_NUM_LAYERS; ++l) {
    const bnn_layer_t *L = &bnn_layers[l];
    int w_out = (L->num_out + 31) / 32;
    for (j = 0; j < w_out; ++j) sign[cur][j] = nz[cur][j] = 0;
    for (j = 0; j < L->num_out; ++j) {
      int32_t a = dot(xs, xn, L->sign + (long)j * L->words,
                      L->nz ? L->nz + (long)j * L->words : 0, L->words);
      uint32_t bit = (uint32_t)1 << (j / w_out);
#if BNN_REFERENCE
      if (a > 0) sign[cur][j % w_out] |= bit;
      if (a != 0) nz[cur][j % w_out] |= bit;
#else
      if (a >= 0) sign[cur][j % w_out] |= bit;
      nz[cur][j % w_out] |= bit;
#endif
    }
    xs = sign[cur];
    xn = nz[cur];
    cur ^= 1;
  }
  {
    const bnn_layer_t *P = &bnn_layers[BNN_NUM_LAYERS];
    for (j = 0; j < P->num_out; ++j) {
      int32_t z = dot(xs, xn, P->sign + (long)j * P->words,
                      P->nz ? P->nz + (long)j * P->words : 0, P->words);
#if BNN_HEAD_SIGN
      if (z > 0) return 1;
      if (z < 0) return 0;
      return BNN_REFERENCE ? -1 : 1;
#else
      if (j == 0 || z > best_z) {
        best = j;
        best_z = z;
      }
#endif
    }
  }
#if BNN_HEAD_SIGN
  return -1; /* not reached: one output column */
#else
  return best;
#endif
}

int main(int argc, char **argv) {
  static uint32_t x[BNN_INPUT_WORDS], x_valid[BNN_INPUT_WORDS];
  unsigned char head[20], buf[4 * BNN_INPUT_WORDS];
  uint32_t num_samples, num_inputs, words, i;
  int k;
  FILE *f;
  if (argc != 2) {
    fprintf(stderr, "usage: %s INPUTS.bin (BNNI packed inputs)\n", argv[0]);
    return 2;
  }
  f = fopen(argv[1], "rb");
  if (!f) {
    fprintf(stderr, "error: cannot open %s\n", argv[1]);
    return 1;
  }
  if (fread(head, 1, 20, f) != 20 || head[0] != 'B' || head[1] != 'N' || head[2] != 'N' ||
      head[3] != 'I') {
    fprintf(stderr, "error: %s is not a BNNI inputs file\n", argv[1]);
    return 1;
  }
  if (read_u32(head + 4) != 1)
    return fail("unsupported BNNI version ", (long)read_u32(head + 4));
  num_samples = read_u32(head + 8);
  num_inputs = read_u32(head + 12);
  words = read_u32(head + 16);
  if (num_inputs != BNN_NUM_INPUTS || words != BNN_INPUT_WORDS) {
    fprintf(stderr, "error: wrong input width: the file has %lu inputs (%lu words) per "
            "sample, the model expects %d (%d words)\n", (unsigned long)num_inputs,
            (unsigned long)words, BNN_NUM_INPUTS, BNN_INPUT_WORDS);
    return 1;
  }
  valid_bits(x_valid, BNN_NUM_INPUTS);
  for (i = 0; i < num_samples; ++i) {
    if (fread(buf, 4, BNN_INPUT_WORDS, f) != BNN_INPUT_WORDS)
      return fail("truncated inputs file at sample ", (long)i);
    for (k = 0; k < BNN_INPUT_WORDS; ++k) {
      x[k] = read_u32(buf + 4 * k);
      if (x[k] & ~x_valid[k]) return fail("padding bits set in sample ", (long)i);
    }
    printf("%d\n", predict(x, x_valid));
  }
  fclose(f);
  return 0;
}
