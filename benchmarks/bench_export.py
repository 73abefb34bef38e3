r"""Exported file size against the training state, and the predictor's throughput,
measured side by side in one run (Random Prototypes, 1,000 inputs, 525-525, γ 105).

  python benchmarks/bench_export.py              # reference net: 50 epochs (~1-2 min)
  python benchmarks/bench_export.py --epochs=5   # shorter training (more zero weights)

Prints, for a `reference` net trained with the paper's settings (seed 42) and a `binary`
net (its size does not depend on training: no weight is ever 0):
1. Sizes: 1 bit per stored binary value (hidden weights and every local classifier
   entry), the export file and its parts (preamble + JSON header + checksum, sign rows
   padded to whole words, Elias-Fano zero positions), the file with the hidden weights,
   the in-memory training state and its `.npz` checkpoint (as bnnjax.run writes).
   "payload / 1 bit" is the file without its preamble, header and checksum over 1 bit
   per weight: the issue asks for at most 1.10.
2. Throughput on packed inputs (the 12,000 pool samples, best of 3 after a warm-up):
   `export.Predictor` (batch 1024), jitted `model.predict` of the in-memory state, and
   the reference C program (`bnnjax/csrc/bnn_infer.c`, one core, reading the BNNI file,
   start-up included; built with cc -O2, and with -march=native, where the hardware
   popcount instruction replaces the portable bit-count), after checking that all give
   identical predictions.
"""

import argparse
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bnnjax import run as run_lib  # noqa: E402

run_lib.use_cpu_cores()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bnnjax import data as data_lib  # noqa: E402
from bnnjax import export  # noqa: E402
from bnnjax import model  # noqa: E402
from bnnjax.config import Config, HParams  # noqa: E402

LAYERS, GROUP = (525, 525), 105


def best_of(fn, repeats=3):
  fn()  # warm-up (compilation)
  best = float('inf')
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t0)
  return best


def state_bytes(state) -> int:
  return sum(np.asarray(a).nbytes for a in jax.tree_util.tree_leaves(state))


def checkpoint_bytes(state) -> int:
  buf = io.BytesIO()
  np.savez(buf, **{f'leaf_{i}': np.asarray(a)
                   for i, a in enumerate(jax.tree_util.tree_leaves(state))})
  return buf.tell()


def sizes(config, state, ds, folder):
  path = os.path.join(folder, f'{config.semantics}.bnn')
  total = export.save(path, config, state, [42], dataset=ds)
  exp = export.load(path)
  with open(path, 'rb') as f:
    head_len = struct.unpack('<8sIIQ', f.read(24))[2]  # preamble: the header length
  table = exp.header['arrays']
  sign = sum(e['nbytes'] for e in table if e['name'].endswith('.sign'))
  zeros = sum(e['nbytes'] for e in table if e['name'].endswith('.zeros'))
  num_zeros = sum(e['count'] for e in table if e['name'].endswith('.zeros'))
  widths = config.widths
  num_values = sum(widths[l] * widths[l + 1] + widths[l + 1] * config.num_outputs
                   for l in range(len(config.layers)))
  one_bit = num_values / 8
  overhead = 24 + head_len + export.CHECKSUM_BYTES
  with_hidden = export.save(os.path.join(folder, 'h.bnn'), config, state, [42],
                            dataset=ds, include_hidden=True)
  return dict(path=path, exp=exp, total=total, header=overhead, sign=sign, zeros=zeros,
              num_zeros=num_zeros, num_values=num_values, one_bit=one_bit,
              payload_ratio=(total - overhead) / one_bit, file_ratio=total / one_bit,
              with_hidden=with_hidden, state=state_bytes(state),
              checkpoint=checkpoint_bytes(state))


def throughput(config, state, exp, x, folder):
  pred = exp.predictor(batch_size=1024)
  out_pred = pred.predict_packed(x)
  predict_fn = jax.jit(lambda s, xs: model.predict(s, xs, config))
  xj = jnp.asarray(x)
  out_mem = np.asarray(predict_fn(state, xj))
  assert np.array_equal(out_pred, out_mem), 'Predictor != model.predict'
  t_pred = best_of(lambda: pred.predict_packed(x))
  t_mem = best_of(lambda: jax.block_until_ready(predict_fn(state, xj)))
  t_c = {}
  cc = shutil.which(os.environ.get('CC') or 'cc') or shutil.which('gcc')
  if cc:
    export.write_c_header(os.path.join(folder, 'bnn_model.h'), exp)
    inputs = os.path.join(folder, 'inputs.bin')
    export.write_inputs(inputs, x, config.num_inputs)
    for flags in (('-O2',), ('-O2', '-march=native')):
      binary = os.path.join(folder, 'bnn_infer')
      build = subprocess.run([cc, '-std=c99', *flags, f'-I{folder}',
                              os.path.join(export.c_source_dir(), 'bnn_infer.c'), '-o',
                              binary], capture_output=True)
      if build.returncode:
        continue  # e.g. -march=native unsupported
      run_c = lambda: subprocess.run([binary, inputs], capture_output=True,  # noqa
                                     text=True, check=True).stdout
      out_c = np.asarray(run_c().split(), int)
      assert np.array_equal(out_c, out_mem), 'C program != model.predict'
      t_c[' '.join(flags)] = best_of(run_c)
  n = x.shape[0]
  return n / t_pred, n / t_mem, {k: n / v for k, v in t_c.items()}


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--epochs', type=int, default=50)
  args = parser.parse_args()
  ds = data_lib.load('prototypes')
  x = np.asarray(ds.x)
  rows = []
  with tempfile.TemporaryDirectory() as folder:
    for semantics in ('reference', 'binary'):
      config = Config(layers=LAYERS, group_size=GROUP, num_inputs=ds.num_features,
                      num_classes=ds.num_classes, num_test=ds.num_test,
                      num_epochs=args.epochs, semantics=semantics)
      t0 = time.time()
      if semantics == 'reference':
        res = run_lib.make_train(config)(run_lib.seed_keys(42, 1), HParams(),
                                         run_lib.Data(ds.x, ds.y))
        state = jax.tree_util.tree_map(lambda a: a[0], res.states)
        trained = (f'trained {args.epochs} epochs, test {res.test_acc[0, -1]:.2f}% '
                   f'({time.time() - t0:.0f}s)')
      else:
        state = model.init(jax.random.PRNGKey(42), config)
        trained = 'initial state (no weight is ever 0: same size trained)'
      s = sizes(config, state, ds, folder)
      tp = throughput(config, state, s['exp'], x, folder)
      rows.append((semantics, trained, s, tp))

  print(f'Random Prototypes 1000 -> {LAYERS[0]} -> {LAYERS[1]} -> 10 (γ {GROUP}); '
        f'{jax.device_count()} CPU devices, {os.cpu_count()} cores')
  print('\n| semantics | net | 1 bit per weight | export file | preamble+header+'
        'checksum | sign rows | zero positions (count) | payload / 1 bit | file / 1 bit |'
        ' file with hidden weights | training state (memory) | checkpoint .npz |')
  print('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for semantics, trained, s, _ in rows:
    print(f'| {semantics} | {trained} | {s["one_bit"]:,.0f} B ({s["num_values"]:,} '
          f'values) | **{s["total"]:,} B** | {s["header"]:,} B | {s["sign"]:,} B | '
          f'{s["zeros"]:,} B ({s["num_zeros"]:,}) | **{s["payload_ratio"]:.3f}** | '
          f'{s["file_ratio"]:.3f} | {s["with_hidden"]:,} B | {s["state"]:,} B | '
          f'{s["checkpoint"]:,} B |')
  print('\n| semantics | Predictor (packed, samples/s) | model.predict (jit, samples/s) '
        '| C program, cc -O2 (1 core) | C program, cc -O2 -march=native (1 core) |')
  print('|---|---|---|---|---|')
  for semantics, _, _, (tp_pred, tp_mem, tp_c) in rows:
    c = [f'{tp_c[k]:,.0f}' if k in tp_c else 'n/a' for k in ('-O2', '-O2 -march=native')]
    print(f'| {semantics} | {tp_pred:,.0f} | {tp_mem:,.0f} | {c[0]} | {c[1]} |')
  print(f'\n({x.shape[0]:,} packed inputs; Predictor, model.predict and the C program '
        f'gave identical predictions)')


if __name__ == '__main__':
  main()
