r"""The packed binary conv forward against a C im2col + XNOR-popcount ceiling.

  python benchmarks/bench_conv.py [--reps 50] [--batch 100]

For each conv layer shape of experiments/conv.py (a batch of ±1 maps, F filters k x k,
stride 1, no padding) it times, side by side in one run:

* bnnjax: `conv.im2col` + `bits.pack_rows` + `bits.packed_dot` (what a conv layer's
  forward computes on the packed backend), jitted, on this machine's CPU devices;
* C: a single-threaded, branch-free im2col that packs each patch into uint32 words and
  an XNOR-popcount loop (`a = n - 2 * popcount(patch ^ w)`), compiled here with
  `gcc -O3 -march=native` (`__builtin_popcount`): what a plain hand-written kernel
  reaches without SIMD intrinsics or threads.

Both outputs are checked equal (int32 pre-activations) before timing. Prints, per shape,
ms per batch for each and the ratio C time / bnnjax time (>= 0.3: bnnjax at least 30 % of
the C ceiling's speed). Needs gcc or cc; without one it says so and times bnnjax only.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from bnnjax import bits  # noqa: E402
from bnnjax import config as config_lib  # noqa: E402
from bnnjax import conv  # noqa: E402

# (name, image H x W x C, filters, kernel): the conv layers of experiments/conv.py.
SHAPES = (('mnist5k block 1 (28x28x1, 16 3x3)', (28, 28, 1), 16, 3),
          ('mnist5k block 2 (13x13x16, 32 3x3)', (13, 13, 16), 32, 3),
          ('digits block 1 (8x8x1, 16 3x3)', (8, 8, 1), 16, 3))

C_SOURCE = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* argv: B H W C F K reps in.bin out.bin. in.bin: int8 maps [B,H,W,C] then int8 signs
   of the filters [K*K*C, F]. Prints ns per batch; writes int32 a [B*P, F]. */
int main(int argc, char **argv) {
  int B = atoi(argv[1]), H = atoi(argv[2]), W = atoi(argv[3]), C = atoi(argv[4]);
  int F = atoi(argv[5]), K = atoi(argv[6]), reps = atoi(argv[7]);
  int Ho = H - K + 1, Wo = W - K + 1, P = Ho * Wo, n = K * K * C, nw = (n + 31) / 32;
  int8_t *maps = malloc((size_t)B * H * W * C), *wts = malloc((size_t)n * F);
  FILE *f = fopen(argv[8], "rb");
  if (!f || fread(maps, 1, (size_t)B * H * W * C, f) != (size_t)B * H * W * C ||
      fread(wts, 1, (size_t)n * F, f) != (size_t)n * F) return 2;
  fclose(f);
  uint32_t *wp = calloc((size_t)F * nw, 4), *pp = calloc((size_t)B * P * nw, 4);
  uint32_t *bit = malloc((size_t)B * H * W * C * 4);
  int32_t *out = malloc((size_t)B * P * F * 4);
  for (int fi = 0; fi < F; fi++)
    for (int e = 0; e < n; e++)
      if (wts[e * F + fi] > 0) wp[fi * nw + e / 32] |= 1u << (e % 32);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int r = 0; r < reps; r++) {
    for (size_t e = 0; e < (size_t)B * H * W * C; e++) bit[e] = maps[e] > 0;
    for (int b = 0; b < B; b++)          /* im2col, packed, branch-free */
      for (int i = 0; i < Ho; i++)
        for (int j = 0; j < Wo; j++) {
          uint32_t *row = pp + ((size_t)(b * P + i * Wo + j)) * nw;
          for (int w = 0; w < nw; w++) row[w] = 0;
          int e = 0;
          for (int di = 0; di < K; di++)
            for (int dj = 0; dj < K; dj++)
              for (int c = 0; c < C; c++, e++)
                row[e >> 5] |= bit[(((size_t)b * H + i + di) * W + j + dj) * C + c] << (e & 31);
        }
    for (int q = 0; q < B * P; q++)      /* XNOR-popcount */
      for (int fi = 0; fi < F; fi++) {
        int d = 0;
        for (int w = 0; w < nw; w++) d += __builtin_popcount(pp[(size_t)q * nw + w] ^ wp[fi * nw + w]);
        out[(size_t)q * F + fi] = n - 2 * d;
      }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%.0f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / reps);
  f = fopen(argv[9], "wb");
  fwrite(out, 4, (size_t)B * P * F, f);
  fclose(f);
  return 0;
}
"""


def jax_forward(shape, filters, kernel):
  """Jitted (maps int8[B,H,W,C], w int8[n, F]) -> int32[B*P, F] on the packed path."""
  layer = config_lib.conv_net_shapes(shape, (config_lib.ConvBlock(filters, kernel),),
                                     ())[0]

  @jax.jit
  def fwd(maps, w):
    cols = conv.im2col(maps, layer, 'binary')
    return bits.packed_dot(bits.pack_rows(cols, False), bits.pack(w, False),
                           layer.fan_in)
  return fwd


def time_call(fn, reps):
  fn().block_until_ready()
  best = float('inf')
  for _ in range(3):
    t = time.perf_counter()
    for _ in range(reps):
      out = fn()
    out.block_until_ready()
    best = min(best, (time.perf_counter() - t) / reps)
  return best


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--reps', type=int, default=50)
  ap.add_argument('--batch', type=int, default=100)
  args = ap.parse_args()
  cc = shutil.which('gcc') or shutil.which('cc')
  tmp = tempfile.mkdtemp()
  exe = os.path.join(tmp, 'conv_c')
  if cc:
    src = os.path.join(tmp, 'conv.c')
    with open(src, 'w') as f:
      f.write(C_SOURCE)
    build = subprocess.run([cc, '-O3', '-march=native', '-o', exe, src],
                           capture_output=True, text=True)
    if build.returncode:
      print('C build failed:', build.stderr.strip().splitlines()[-1:])
      cc = None
  print(f'jax {jax.__version__}, {jax.device_count()} {jax.default_backend()} device(s); '
        f'batch {args.batch}; C: {cc or "none"} -O3 -march=native (1 thread)')
  print(f'{"shape":38s} {"bnnjax ms":>10s} {"C ms":>8s} {"C/bnnjax":>9s}')
  r = np.random.default_rng(0)
  for name, shape, filters, kernel in SHAPES:
    maps = r.choice(np.array([-1, 1], np.int8), size=(args.batch,) + shape)
    n = kernel * kernel * shape[2]
    w = r.choice(np.array([-1, 1], np.int8), size=(n, filters))
    fwd = jax_forward(shape, filters, kernel)
    mj, wj = jnp.asarray(maps), jnp.asarray(w)
    out = np.asarray(fwd(mj, wj))
    t_jax = time_call(lambda: fwd(mj, wj), args.reps)
    t_c = None
    if cc:
      inp, outp = os.path.join(tmp, 'in.bin'), os.path.join(tmp, 'out.bin')
      with open(inp, 'wb') as f:
        f.write(maps.tobytes() + w.tobytes())
      t_c = min(float(subprocess.run(  # best of 3, as for bnnjax
          [exe, str(args.batch), *map(str, shape), str(filters), str(kernel),
           str(args.reps), inp, outp], capture_output=True, text=True,
          check=True).stdout) / 1e9 for _ in range(3))
      got = np.fromfile(outp, np.int32).reshape(out.shape)
      if not np.array_equal(got, out):
        raise SystemExit(f'{name}: C and bnnjax pre-activations differ')
    ratio = f'{t_c / t_jax:9.2f}' if t_c else '      n/a'
    c_ms = f'{t_c * 1e3:8.3f}' if t_c else '     n/a'
    print(f'{name:38s} {t_jax * 1e3:10.3f} {c_ms} {ratio}', flush=True)


if __name__ == '__main__':
  main()
