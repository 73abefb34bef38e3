r"""Performance of bnnjax, side by side in one run: kernels, whole runs, compile, memory.

  python benchmarks/bench_perf.py --quick          # < 60 s: a subset of every section
  python benchmarks/bench_perf.py                  # full (~11 min on a 2-core CPU)
  python benchmarks/bench_perf.py --write          # also writes benchmarks/RESULTS.md

Prints ONE Markdown table (section | case | value | unit | ratio | note). Every ratio
compares numbers measured in this run, on this machine, at the same moment, so it
survives a noisy (shared) machine better than the absolute figures; each figure is the
best of several repetitions.

Sections
--------
kernel   bit-MACs/s of the forward product (B = 100 samples x D inputs x N neurons) and
         of the update's batch-axis product (D x N outputs over B = 100), measured on
         ONE pinned core in a child process, against the machine's ceiling: a small C
         XNOR-popcount kernel (uint64 words, `__builtin_popcountll`) written to a temp
         dir and compiled with `gcc -O3 -march=native` (skipped with a note when no
         compiler exists), also on one core. Rows: packed binary, packed with ternary
         weights (`reference` semantics), int8 and float32 `jnp.dot` of the unpacked ±1
         values. Timings include packing the weights (as in a training step).
e2e      seconds per seed-epoch of whole runs (`bnnjax.run.make_train`, the code path of
         `python -m bnnjax.train`, both CPU cores as separate devices) for Prototypes
         135-135 and 525-525 in both semantics, a 9,216-input 1035-1035 net and a
         1000-input 1035 x 5 net on random ±1 data, at several seed counts; the same
         against the literal NumPy rule of the tests (tests/reference_impl.py, a few
         steps, extrapolated to an epoch) and an optax SGD MLP of equal memory
         (bnnjax.baselines.mlp, widths of the paper's equal-memory groups). In full
         mode the runs of one net alternate over 3 rounds (medians reported).
compile  first-epoch compile time (first epoch minus a steady epoch) per case.
memory   peak resident set size of this process (resource.getrusage) after each case.
job      (full mode) the default main job `python -m bnnjax.train` as a whole command,
         3 times with an empty compilation cache (medians; its first epoch's compile,
         diagnostics on, as the first progress line minus a steady epoch) and once
         reading the cache.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'tests'))  # reference_impl

AUTHORS_SECONDS_PER_SEED = 117.0  # authors' code, Prototypes 135-135, this machine kind

C_KERNEL = r'''
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec; }
/* out[m][k] = n - 2 * sum_w popcount(a[m][w] ^ b[k][w]): rows of W uint64 words. */
static void kernel(const uint64_t *a, const uint64_t *b, int32_t *out, int M, int K,
                   int W, int n) {
  for (int m = 0; m < M; m++) {
    const uint64_t *am = a + (size_t)m * W;
    for (int k = 0; k < K; k++) {
      const uint64_t *bk = b + (size_t)k * W;
      int64_t c = 0;
      for (int w = 0; w < W; w++) c += __builtin_popcountll(am[w] ^ bk[w]);
      out[(size_t)m * K + k] = n - 2 * (int32_t)c;
    }
  }
}
int main(int argc, char **argv) {
  int M = atoi(argv[1]), n = atoi(argv[2]), K = atoi(argv[3]);
  int W = (n + 63) / 64;
  uint64_t *a = malloc(sizeof(uint64_t) * (size_t)M * W);
  uint64_t *b = malloc(sizeof(uint64_t) * (size_t)K * W);
  int32_t *out = malloc(sizeof(int32_t) * (size_t)M * K);
  uint64_t s = 88172645463325252ull;
  for (size_t i = 0; i < (size_t)M * W; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; a[i] = s; }
  for (size_t i = 0; i < (size_t)K * W; i++) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; b[i] = s; }
  double best = 1e30; long check = 0;
  for (int r = 0; r < 7; r++) {
    int reps = 0; double t0 = now(), t;
    do { kernel(a, b, out, M, K, W, n); reps++; t = now() - t0; } while (t < 0.03);
    if (t / reps < best) best = t / reps;
    check += out[0];
  }
  printf("%.9e %ld\n", best, check);
  return 0;
}
'''

B = 100
QUICK_KERNELS = [(1000, 135), (1000, 525), (9216, 1035)]
FULL_KERNELS = [(d, n) for d in (784, 1000, 2304, 9216) for n in (35, 135, 525, 1035, 4095)]
TARGET_KERNELS = {(1000, 525), (9216, 1035)}  # forward product >= 50% of the C ceiling


# ----------------------------------------------------------------------------------
# Kernels (child process, one pinned core)
# ----------------------------------------------------------------------------------


def c_ceiling(shapes, tmp):
  """{(D, N): bit-MACs/s of the C kernel} or (None, note) without a compiler."""
  gcc = shutil.which('gcc') or shutil.which('cc')
  if gcc is None:
    return None, 'no C compiler: ceiling skipped'
  src = os.path.join(tmp, 'xnor.c')
  exe = os.path.join(tmp, 'xnor')
  with open(src, 'w') as f:
    f.write(C_KERNEL)
  proc = subprocess.run([gcc, '-O3', '-march=native', '-o', exe, src], capture_output=True,
                        text=True)
  if proc.returncode:
    return None, f'C kernel did not compile: {proc.stderr.strip()[:200]}'
  out = {}
  for d, n in shapes:
    sec = float(subprocess.run([exe, str(B), str(d), str(n)], capture_output=True,
                               text=True, check=True).stdout.split()[0])
    out[(d, n)] = B * d * n / sec
  return out, f'{gcc} -O3 -march=native, 1 core'


def best_seconds(fn, *args, min_time=0.15, repeats=5):
  """Best mean CPU seconds (all threads of this process) of fn(*args) over `repeats`
  rounds of >= min_time each. CPU time, not wall time: on a shared machine it counts
  the work, not the waiting (the C ceiling is timed the same way)."""
  import jax
  jax.block_until_ready(fn(*args))
  best = float('inf')
  for _ in range(repeats):
    reps, t0 = 0, time.process_time()
    while True:
      jax.block_until_ready(fn(*args))
      reps += 1
      elapsed = time.process_time() - t0
      if elapsed >= min_time:
        break
    best = min(best, elapsed / reps)
  return best


def kernel_rates(shapes, quick=False):
  """{(D, N): {variant: bit-MACs/s}}, this process (call after pinning a core)."""
  import jax
  import jax.numpy as jnp
  import numpy as np
  from bnnjax import bits
  from bnnjax import model
  from bnnjax import platform as platform_lib
  rng = np.random.default_rng(0)
  out = {}
  for d, n in shapes:
    x = jnp.asarray(rng.choice([-1, 1], size=(d, B)).astype(np.int8))
    w = jnp.asarray(rng.choice([-1, 1], size=(d, n)).astype(np.int8))
    w_ter = jnp.asarray(np.where(rng.random((d, n)) < 0.01, 0, np.asarray(w)).astype(np.int8))
    x_packed = bits.pack(x, ternary=False)
    g = jnp.asarray(np.where(rng.random((B, n)) < 0.95, 0,
                             rng.choice([-1, 1], size=(B, n))).astype(np.int8))
    xb = x.T  # [B, D]: the update's inputs, packed along the batch
    fns = {
        'fwd packed binary': (lambda xp, w: bits.packed_dot(xp, bits.pack(w, False), d),
                              x_packed, w),
        'fwd packed reference': (lambda xp, w: bits.packed_dot(xp, bits.pack(w, True), d),
                                 x_packed, w_ter),
        'fwd int8 jnp.dot': (model._int_dot, x, w),
        'fwd f32 jnp.dot': (model._float_dot, x, w),
        'update packed': (lambda s, g: bits.packed_dot(bits.pack(s, False),
                                                       bits.pack(g, True), B), xb, g),
        'update int8 jnp.dot': (model._int_dot, xb, g),
        'update f32 jnp.dot': (model._float_dot, xb, g),
    }
    expect = np.asarray(x, np.int64).T @ np.asarray(w, np.int64)
    got = np.asarray(jax.jit(fns['fwd packed binary'][0])(x_packed, w))
    assert np.array_equal(got, expect), 'packed product differs from the integer matmul'
    out[(d, n)] = {}
    opts = platform_lib.compiler_options(jax.devices()[0].platform)  # as the engine
    for name, (fn, *args) in fns.items():
      out[(d, n)][name] = B * d * n / best_seconds(
          jax.jit(fn, compiler_options=opts), *args, min_time=0.05 if quick else 0.15,
          repeats=3 if quick else 5)
  return out


def kernel_child(shapes_json):
  """Entry of the pinned child: prints {"D,N": {variant: rate}} as JSON."""
  shapes = [tuple(s) for s in json.loads(shapes_json)]
  rates = kernel_rates(shapes, quick=len(shapes) <= len(QUICK_KERNELS))
  print(json.dumps({f'{d},{n}': v for (d, n), v in rates.items()}))


def kernel_rows(shapes, rows, tmp):
  ceiling, note = c_ceiling(shapes, tmp)
  env = dict(os.environ, PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), '--_kernel_child',
                         json.dumps(shapes)], env=env, capture_output=True, text=True)
  if proc.returncode:
    raise RuntimeError(proc.stderr[-2000:])
  rates = json.loads(proc.stdout.strip().splitlines()[-1])
  met = []
  for d, n in shapes:
    r = rates[f'{d},{n}']
    c = ceiling[(d, n)] if ceiling else None
    case = f'B={B} D={d} N={n}'
    if c:
      rows.append(('kernel', case + ' C XNOR-popcount ceiling', c / 1e9, 'G bit-MAC/s',
                   '1.00', note))
    for name, v in r.items():
      ratio = f'{v / c:.2f} of C' if c else '-'
      tgt = ''
      if name == 'fwd packed binary' and (d, n) in TARGET_KERNELS and c:
        tgt = f'target >= 0.50 of C: {"met" if v / c >= 0.5 else "NOT met"}'
        met.append(v / c >= 0.5)
      rows.append(('kernel', f'{case} {name}', v / 1e9, 'G bit-MAC/s', ratio, tgt))
  return met


# ----------------------------------------------------------------------------------
# Whole runs
# ----------------------------------------------------------------------------------


def peak_rss_mb():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def random_data(num_inputs, num_classes, n, seed=0):
  import numpy as np
  from bnnjax import bits
  from bnnjax import run as run_lib
  r = np.random.default_rng(seed)
  x = r.choice(np.array([-1, 1], np.int8), size=(n, num_inputs))
  y = r.integers(0, num_classes, size=n).astype(np.int32)
  return run_lib.Data(bits.pack_numpy(x), y)


def time_run(train, keys, params, data, num_epochs):
  """Per seed-epoch of epochs 2..E: (wall seconds, CPU seconds of this process), the
  first epoch's compile (wall; first epoch minus a steady one), test accuracy."""
  stamps = []
  start = time.time()
  result = train(keys, params, data,
                 lambda *a: stamps.append((time.time(), time.process_time())))
  num_seeds = len(keys)
  steady = (stamps[-1][0] - stamps[0][0]) / (len(stamps) - 1)  # an epoch of every seed
  steady_cpu = (stamps[-1][1] - stamps[0][1]) / (len(stamps) - 1)
  compile_s = max(0.0, (stamps[0][0] - start) - steady)
  return (steady / num_seeds, steady_cpu / num_seeds), compile_s, float(
      result.test_acc[:, -1].mean())


def time_alternating(cases, num_epochs, rounds):
  """cases: {label: (train, keys, params, data)}. Runs every case `rounds` times, the
  cases alternating (in reverse order every other round), so that a drift of the
  machine's speed falls on all of them alike. Returns {label: ((wall, cpu) medians per
  seed-epoch over the rounds, the first round's compile, test accuracy)}."""
  import numpy as np
  times = {label: [] for label in cases}
  first = {}
  for r in range(rounds):
    for label in (list(cases) if r % 2 == 0 else list(cases)[::-1]):
      (sec, cpu), compile_s, acc = time_run(*cases[label], num_epochs)
      times[label].append((sec, cpu))
      first.setdefault(label, (compile_s, acc))
  return {label: (tuple(float(np.median([t[i] for t in times[label]])) for i in (0, 1)),
                  *first[label]) for label in cases}


def ours_case(config, data, num_seeds, num_epochs):
  import dataclasses
  from bnnjax import run as run_lib
  from bnnjax.config import HParams
  config = dataclasses.replace(config, num_epochs=num_epochs)
  train = run_lib.make_train(config, diagnostics=False)
  return train, run_lib.seed_keys(42, num_seeds), HParams(), data


def time_sgd(layers, num_inputs, num_classes, num_test, data, num_seeds, num_epochs):
  from bnnjax import run as run_lib
  from bnnjax.baselines import mlp
  cfg = mlp.MLPConfig(kind='sgd', layers=tuple(layers), num_inputs=num_inputs,
                      num_classes=num_classes, input_mode='bin', num_epochs=num_epochs,
                      num_test=num_test)
  train = run_lib.make_trainer(mlp.make_model(cfg), cfg.protocol)
  return time_run(train, run_lib.seed_keys(42, num_seeds), mlp.MLPParams(0.01), data,
                  num_epochs)


def time_numpy_reference(config, data, num_steps=2):
  """Seconds per seed-epoch of tests/reference_impl.py: `num_steps` steps timed,
  scaled to the epoch's steps, plus one evaluation of the test split."""
  import jax
  import numpy as np
  import reference_impl as ref
  from bnnjax import bits
  x = np.asarray(bits.unpack_rows(jax.numpy.asarray(data.x), config.num_inputs),
                 np.int64)
  y = np.asarray(data.y)
  n_train = x.shape[0] - config.num_test
  state = ref.init(jax.random.PRNGKey(0), config.layers, config.num_inputs,
                   config.num_classes, config.semantics)
  state['prev_acc'] = np.float32(0)
  t0 = time.process_time()
  for s in range(num_steps):
    sl = slice(s * config.batch_size, (s + 1) * config.batch_size)
    state, _ = ref.step(state, x[sl], y[sl], np.ones(config.batch_size, bool),
                        (0.25, 0.5, 0), config.semantics, config.group_size)
  per_step = (time.process_time() - t0) / num_steps
  t0 = time.process_time()
  ref.evaluate(state, x[n_train:], y[n_train:], config.semantics)
  evaluation = time.process_time() - t0
  return per_step * -(-n_train // config.batch_size) + evaluation


def e2e_rows(quick, rows, summary):
  import numpy as np
  from bnnjax import data as data_lib
  from bnnjax import run as run_lib
  from bnnjax.config import Config
  import bench_methods  # the paper's equal-memory widths (reused, not duplicated)
  ds = data_lib.load('prototypes')
  protos = run_lib.Data(ds.x, ds.y)
  epochs = 2 if quick else 4  # full: 3 steady epochs per case and round
  rounds = 1 if quick else 3  # full: the median of 3 alternating rounds
  seeds_small = (2,) if quick else (1, 10, 32)
  seeds_big = (2,) if quick else (1, 10)
  cases = [
      ('Prototypes 135-135', Config(layers=(135, 135), group_size=45), protos,
       seeds_small, 135),
      ('Prototypes 525-525', Config(layers=(525, 525), group_size=105), protos,
       seeds_big, 525),
  ]
  if not quick:
    d9216 = random_data(9216, 10, 3000)
    d1000 = random_data(1000, 10, 3000)
    cases += [
        ('random 9216-in 1035-1035 (3k pool)',
         Config(layers=(1035, 1035), group_size=115, num_inputs=9216, num_test=1000),
         d9216, (1, 10), None),
        ('random 1000-in 1035x5 (3k pool)',
         Config(layers=(1035,) * 5, group_size=115, num_inputs=1000, num_test=1000),
         d1000, (1, 10), None),
    ]
  for name, base, data, seed_counts, level in cases:
    per, cpu_per = {}, {}
    combos = [(semantics, s) for semantics in ('reference', 'binary')
              for s in seed_counts if not (level is None and semantics == 'binary'
                                           and quick)]
    timed = time_alternating(
        {c: ours_case(Config(**{**base.__dict__, 'semantics': c[0]}), data, c[1], epochs)
         for c in combos}, epochs, rounds)
    for semantics in ('reference', 'binary'):
      for s in seed_counts:
        if (semantics, s) not in timed:
          continue
        (sec, cpu), compile_s, acc = timed[(semantics, s)]
        per[(semantics, s)] = sec
        cpu_per[(semantics, s)] = cpu
        rows.append(('e2e', f'{name} {semantics} {s} seeds', sec, 's/seed-epoch', '',
                     f'CPU {cpu:.3g} s/seed-epoch; test acc {acc:.1f}% after {epochs} ep'))
        rows.append(('compile', f'{name} {semantics} {s} seeds', compile_s,
                     's first epoch', '', ''))
        rows.append(('memory', f'after {name} {semantics} {s} seeds', peak_rss_mb(),
                     'MB peak RSS', '', ''))
      s_max = max(seed_counts)
      if s_max > 1 and (semantics, 1) in per:
        ratio = per[(semantics, s_max)] * s_max / per[(semantics, 1)]
        cpu_ratio = cpu_per[(semantics, s_max)] * s_max / cpu_per[(semantics, 1)]
        rows.append(('e2e', f'{name} {semantics}: {s_max} seeds / 1 seed, per call',
                     ratio, 'x (wall)', f'{ratio:.2f} (CPU {cpu_ratio:.2f})',
                     f'target <= 10: {"met" if ratio <= 10 else "NOT met"}'
                     if s_max == 10 else ''))
    for s in seed_counts:
      if ('reference', s) in per and ('binary', s) in per:
        ratio = per[('reference', s)] / per[('binary', s)]
        cpu_ratio = cpu_per[('reference', s)] / cpu_per[('binary', s)]
        rows.append(('e2e', f'{name} reference / binary, {s} seeds', ratio, 'x (wall)',
                     f'{ratio:.2f} (CPU {cpu_ratio:.2f})',
                     f'target <= 1.3: {"met" if max(ratio, cpu_ratio) <= 1.3 else "NOT met"}'))
        summary.setdefault('ref_over_bin', []).append(ratio)
    ours = per[('reference', max(seed_counts))]
    if level in (135, 525) or not quick:
      t_np = time_numpy_reference(Config(**{**base.__dict__, 'semantics': 'reference'}),
                                  data)
      rows.append(('e2e', f'{name} NumPy reference rule (tests), 1 seed', t_np,
                   's/seed-epoch', f'{t_np / ours:.0f}x slower',
                   f'target >= 20x: {"met" if t_np / ours >= 20 else "NOT met"}'))
    if level is not None and (level == 135 or not quick):
      sgd_layers = [int(v) for v in bench_methods.LEVELS[level]['sgd'].split(',')]
      s = max(seed_counts)
      (sec, _), compile_s, acc = time_sgd(sgd_layers, base.num_inputs, base.num_classes,
                                     base.num_test, data, s, epochs)
      rows.append(('e2e', f'{name} optax SGD MLP {"-".join(map(str, sgd_layers))} '
                   f'(equal memory), {s} seeds', sec, 's/seed-epoch',
                   f'{sec / ours:.2f}x ours', f'test acc {acc:.1f}% after {epochs} ep'))
    if name.startswith('Prototypes 135'):
      summary['p135_ref'] = per[('reference', max(seed_counts))]


COLD_JOB_RUNS = 3


def _epoch_seconds(stdout, epoch):
  """Seconds since the start of training on the progress line of `epoch` (1-based)."""
  for line in stdout.splitlines():
    if line.startswith(f'epoch {epoch:3d}/'):
      return float(line.split('(')[-1].strip(' s)'))
  return float('nan')


def _timed_lines(cmd, env):
  """Runs cmd; returns (returncode, stdout, stderr, [(seconds since start, line)],
  seconds until it exited): each stdout line timed as it arrives (the CLI flushes its
  lines)."""
  t0 = time.time()
  proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
  err = []
  reader = threading.Thread(target=lambda: err.append(proc.stderr.read()))
  reader.start()
  timed = [(time.time() - t0, line) for line in proc.stdout]
  proc.wait()
  wall = time.time() - t0
  reader.join()
  return proc.returncode, ''.join(l for _, l in timed), ''.join(err), timed, wall


def main_job_rows(rows):
  """The default main job as a whole command: COLD_JOB_RUNS times with an empty
  compilation cache each (what a newcomer's first run costs), then once reading the
  programs the last one stored. The first epoch's compile of a run: the time from the
  CLI's 'backend:' line (printed as training starts; its progress clock starts there) to
  the first epoch's line, minus one steady epoch (the mean of epochs 3 to the last),
  from the lines' arrival times (the printed seconds have 0.1 s resolution); the figures
  are the median run, the others in the note."""
  import numpy as np
  env = dict(os.environ, PYTHONPATH=ROOT)

  def job(tmp, cache):
    code, out, err, timed, wall = _timed_lines(
        [sys.executable, '-m', 'bnnjax.train', f'--workdir={tmp}/wd',
         f'--compilation_cache={cache}'], env)
    shutil.rmtree(f'{tmp}/wd', ignore_errors=True)
    if code:
      raise RuntimeError(err[-2000:])
    start = [t for t, line in timed if line.startswith('backend:')][0]
    epochs = [t for t, line in timed if line.startswith('epoch ')]
    steady = (epochs[-1] - epochs[1]) / (len(epochs) - 2)
    return wall, _epoch_seconds(out, 1), epochs[0] - start - steady

  name = 'python -m bnnjax.train (Prototypes 135-135, 10 seeds x 50 ep)'
  with tempfile.TemporaryDirectory() as tmp:
    cold = [job(tmp, f'{tmp}/cache{i}') for i in range(COLD_JOB_RUNS)]
    warm = job(tmp, f'{tmp}/cache{COLD_JOB_RUNS - 1}')
  walls = [c[0] for c in cold]
  compiles = [c[2] for c in cold]
  wall, compile_s = float(np.median(walls)), float(np.median(compiles))
  runs = ', '.join(f'{w:.1f} s' for w in walls)
  rows.append(('job', f'{name}, cold: empty compilation cache, median of {COLD_JOB_RUNS}',
               wall, 's whole command',
               f'{AUTHORS_SECONDS_PER_SEED / (wall / 10):.0f}x authors per seed',
               f'target <= 20 s: {"met" if wall <= 20 else "NOT met"}; runs: {runs}; '
               f'first epoch lines: {", ".join(f"{c[1]:.1f} s" for c in cold)}'))
  rows.append(('compile', f'{name}, cold, diagnostics on, median of {COLD_JOB_RUNS}',
               compile_s, 's first epoch', '',
               f'target <= 3 s: {"met" if compile_s <= 3 else "NOT met"}; start of training '
               f'to the first epoch line, minus a steady epoch, runs: '
               f'{", ".join(f"{c:.2f} s" for c in compiles)}'))
  rows.append(('job', f'{name}, warm: programs from the cache', warm[0], 's whole command',
               f'{AUTHORS_SECONDS_PER_SEED / (warm[0] / 10):.0f}x authors per seed',
               f'first epoch line: {warm[1]:.1f} s'))


# ----------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------


def fmt(v):
  if isinstance(v, float):
    return f'{v:.4g}' if abs(v) < 1000 else f'{v:,.0f}'
  return str(v)


def table(rows):
  lines = ['| section | case | value | unit | ratio | note |',
           '|---|---|---:|---|---|---|']
  lines += [f'| {s} | {c} | {fmt(v)} | {u} | {r} | {n} |' for s, c, v, u, r, n in rows]
  return '\n'.join(lines)


def machine():
  import jax
  import numpy as np
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo') as f:
      cpu = next(l.split(':', 1)[1].strip() for l in f if l.startswith('model name'))
  except (OSError, StopIteration):
    pass
  from bnnjax.config import Config, resolved_backend
  load = os.getloadavg() if hasattr(os, 'getloadavg') else ('?',)
  return (f'- machine: {cpu}, {os.cpu_count()} cores, {platform.system()} '
          f'{platform.release()}\n'
          f'- devices: {", ".join(str(d) for d in jax.devices())} (jax backend '
          f'{jax.default_backend()}; backend auto -> {resolved_backend(Config())})\n'
          f'- versions: python {platform.python_version()}, jax {jax.__version__}, '
          f'jaxlib {jax.lib.__version__ if hasattr(jax.lib, "__version__") else "?"}, '
          f'numpy {np.__version__}\n'
          f'- load average at the end (1, 5, 15 min): '
          f'{", ".join(f"{v:.2f}" for v in load)}')


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--quick', action='store_true', help='a subset, < 60 s')
  parser.add_argument('--write', action='store_true',
                      help='write benchmarks/RESULTS.md with the table')
  parser.add_argument('--skip', default='', help='comma list of sections to skip: '
                      'kernel,e2e,job')
  parser.add_argument('--_kernel_child', default=None, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args._kernel_child is not None:
    if hasattr(os, 'sched_setaffinity'):
      os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    kernel_child(args._kernel_child)
    return

  from bnnjax import run as run_lib
  run_lib.use_cpu_cores()
  skip = set(filter(None, args.skip.split(',')))
  started = time.time()
  rows, summary = [], {}
  with tempfile.TemporaryDirectory() as tmp:
    if 'kernel' not in skip:
      kernel_rows(QUICK_KERNELS if args.quick else FULL_KERNELS, rows, tmp)
  if 'e2e' not in skip:
    e2e_rows(args.quick, rows, summary)
  if not args.quick and 'job' not in skip:
    main_job_rows(rows)
  elapsed = time.time() - started
  head = (f'# bnnjax performance ({"quick" if args.quick else "full"} mode)\n\n'
          f'Produced by `python benchmarks/bench_perf.py{" --quick" if args.quick else ""}'
          f' --write` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} '
          f'UTC in {elapsed:.0f} s.\n\n{machine()}\n')
  text = head + '\n' + table(rows) + '\n'
  print(text)
  if args.write:
    path = os.path.join(ROOT, 'benchmarks', 'RESULTS.md')
    with open(path, 'w') as f:
      f.write(text + NOTES)
    print(f'wrote {path}')


NOTES = '''
Notes
- kernel rows run in a child process pinned to one core, as does the C ceiling, and are
  timed in CPU time (work, not waiting: the machine may be shared); the e2e rows use
  every core (one JAX CPU device per core, `bnnjax.run.use_cpu_cores`) and give wall
  time per seed-epoch with this process's CPU time beside it.
- s/seed-epoch: steady-state host wall time of epochs 2..E divided by the seeds of the
  call (100 training steps of B = 100 and one evaluation of the test split on
  Prototypes; 20 steps and 1,000 test samples on the random pools); `compile` is the
  first epoch minus a steady one (the first epoch of a call includes building the
  initial states of every seed).
- Full mode: the runs of one net (both semantics, every seed count) alternate over 3
  rounds of 4 epochs, in reverse order every other round; each figure is the median of
  the rounds, so ratios between them do not absorb a drift of the machine's speed.
- The NumPy reference is timed over 2 steps and scaled to an epoch.
- Ratios compare numbers of this run; on a shared machine absolute times vary by 2x.
'''


if __name__ == '__main__':
  main()
