"""Self-test of the arithmetic bnnjax depends on, on the backend JAX sees.

    python -m bnnjax.selftest          (or the console script `bnnjax-selftest`)

Runs every check below on JAX's default device, prints one line per check (name,
PASS/FAIL, its seconds, a short detail), then the platform, device kind and versions.
Exit status (docs/selftest.md): 0 every check passed; 1 a check of bnnjax's own
arithmetic failed; 2 bad arguments; 3 only informational raw dots failed. A user on a
new accelerator runs it before trusting a result: XLA:GPU's int8 dot once returned twice
the right value at small shapes (benchmarks/results/gpu_h200_2026-11-26.md).

Checks (integers compared exactly; the float baselines with a tolerance, see there):
* products: `bits.packed_dot` (with the packing of `bits.pack`) and `model.dense_dot`
  (int8 dot on CPU, float32 HIGHEST elsewhere) at small and large shapes, binary and
  ternary operands, every loop form of the packed product; and, informational, the raw
  dots a dense path could take, each on its own line: int8 x int8 -> int32, float32
  (HIGHEST and default precision), bfloat16 and float16 operands with float32
  accumulation. Operands are {-1, 0, +1}, so every exact dot is an integer; NumPy
  computes it in float64, exact for these sums (< 2^53).
* the keyed sampler (`bnnjax.rng`): threefry against the Random123 known answers (and
  JAX's splits and bits against the CPU's on an accelerator), the lowbias32 hash and the
  Bernoulli masks against NumPy, the epoch permutation against a NumPy stable sort.
* one training step (two for the float baselines) of each method family against the
  NumPy references in `bnnjax.selftest_ref`: the rule (`ours`) in both semantics on both
  backends, `cp_r`, `flip`, `sgd`, `adam`, `ste`.

Every check compiles one small program (19 in all, with the XLA options of the run
engine's programs); the whole test takes ~18 s on a quiet 2-core CPU, almost all of it
compiling. The persistent compilation cache is not used: the compiler is under test too.
"""

import argparse
import functools
import os
import platform as py_platform
import sys
import time
from typing import Callable, Dict, List, NamedTuple, Optional

import numpy as np

import jax
import jax.numpy as jnp
from jax import lax

from bnnjax import bits
from bnnjax import model
from bnnjax import platform as platform_lib
from bnnjax import rng
from bnnjax import selftest_ref as ref
from bnnjax.config import Config, HParams

PLANT_ENV = 'BNNJAX_SELFTEST_PLANT'
# Float baselines: float32 on the device against float64 NumPy. Two optimiser steps
# move weights by ~lr (>= 0.05 here) per wrong term; float32 rounding, amplified by
# Adam's g / sqrt(g^2) for small gradients, stays below 1e-5 (as tests/test_baselines).
FLOAT_RTOL = FLOAT_ATOL = 1e-5

# Products a.T @ b of a [n, M] and b [n, K], and which operands hold zeros (t: ternary,
# {-1, 0, +1}; b: binary, ±1). The small shapes take a loop form each of the packed
# product (n = 20: one word; 70: a scan of 2 chunks with a padding word, every pattern;
# 270: 9 words, one word per iteration); then the rule's own products: the update
# (S^T G, a contraction over a batch of 100: binary or ternary inputs, ternary G), the
# forward product of a layer (binary data or ternary activations, binary or ternary
# weights; 32 words, a scan of 2 x 16), and a large one (129 words, the loop over
# uneven chunks).
ALL_PATTERNS = ('bb', 'tt', 'tb', 'bt')
PRODUCTS = ((20, 3, 5, ALL_PATTERNS), (70, 5, 7, ALL_PATTERNS),
            (270, 9, 31, ('bb', 'tt')), (100, 1000, 135, ('bt', 'tt')),
            (1000, 100, 135, ('bb', 'bt', 'tt')), (4100, 128, 384, ('bb', 'tt')))
# The packed product accumulated into an init (init + 2 a.T b: the update's form, whose
# right operand, the selected targets, is ternary).
ACCUMULATED = ('100x1000x135 bt', '1000x100x135 tt')


class Check(NamedTuple):
  """name: the check's id (also what --only and --plant take); ok: it passed; detail:
  one short line; seconds: its wall time, compilation included."""
  name: str
  ok: bool
  detail: str
  seconds: float = 0.0


# ----------------------------------------------------------------------------------
# Programs and comparisons
# ----------------------------------------------------------------------------------


def _jit(fn):
  """fn jitted with the XLA options of the run engine's programs on this platform
  (`platform.compiler_options`), so the code under test is compiled as a run's is."""
  return jax.jit(fn, compiler_options=platform_lib.compiler_options(
      jax.default_backend()))


class _Mismatch(Exception):
  """A result differs from its reference (a FAIL, not a crash)."""


def _plant(got, planted: bool):
  """got (host arrays) with one entry of the first changed by +1 (bool: negated),
  when planted: a wrong result the check must catch."""
  if not planted:
    return got
  got = [np.array(g) for g in got]
  first = got[0].reshape(-1)
  first[0] = ~first[0] if first.dtype == bool else first[0] + 1
  return got


def _exact(cases: List[str], got, want) -> Optional[str]:
  """None when every got[i] equals want[i] exactly (values and shapes), else a
  description of the first mismatch."""
  for case, g, w in zip(cases, got, want):
    g, w = np.asarray(g), np.asarray(w)
    if g.shape != w.shape:
      return f'{case}: shape {g.shape}, want {w.shape}'
    bad = np.argwhere(g != w)  # values compared as they are: a float 3.5 is not 3
    if len(bad):
      i = tuple(int(v) for v in bad[0])
      return (f'{case}: {len(bad)} of {g.size} entries differ, first at {i}: got '
              f'{g[i]}, want {w[i]}')
  return None


def _operands(seed: int, n: int, m: int, k: int, pattern: str):
  """int8 a [n, m], b [n, k]: ±1, or {-1, 0, +1} (a third zeros) where `pattern` says
  't' for that operand."""
  rs = np.random.RandomState(seed)
  draw = lambda shape, kind: (rs.randint(-1, 2, shape) if kind == 't'
                              else 2 * rs.randint(0, 2, shape) - 1).astype(np.int8)
  return draw((n, m), pattern[0]), draw((n, k), pattern[1])


class _Case(NamedTuple):
  label: str  # 'NxMxK pattern'
  a: np.ndarray  # int8[n, M]
  b: np.ndarray  # int8[n, K]
  pattern: str
  want: np.ndarray  # int64[M, K]: a.T @ b in float64 (exact: |sums| < 2^53)


@functools.lru_cache(maxsize=None)
def _cases() -> tuple:
  cases = []
  for i, (n, m, k, patterns) in enumerate(PRODUCTS):
    for j, pattern in enumerate(patterns):
      a, b = _operands(100 * i + j, n, m, k, pattern)
      want = (a.astype(np.float64).T @ b.astype(np.float64)).astype(np.int64)
      cases.append(_Case(f'{n}x{m}x{k} {pattern}', a, b, pattern, want))
  return tuple(cases)


# ----------------------------------------------------------------------------------
# Products
# ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _packed_program(patterns, ns, accumulated):
  """One jitted program: the packed products of the cases (bits.pack, then
  bits.packed_dot), then those of `accumulated` (indices) added twice to an init."""
  def product(a, b, pattern, n, init=None):
    return bits.packed_dot(bits.pack(a, pattern[0] == 't'),
                           bits.pack(b, pattern[1] == 't'), n, init=init,
                           scale=1 if init is None else 2)

  @_jit
  def products(pairs, inits):
    out = [product(a, b, p, n) for (a, b), p, n in zip(pairs, patterns, ns)]
    return out + [product(*pairs[i], patterns[i], ns[i], c)
                  for i, c in zip(accumulated, inits)]
  return products


def check_packed(planted=False) -> str:
  """bits.packed_dot of bits.pack(a), bits.pack(b) for every case, and accumulated
  into an init (init + 2 a.T b) for the cases of ACCUMULATED."""
  cases = _cases()
  acc = tuple(i for i, c in enumerate(cases) if c.label in ACCUMULATED)
  rs = np.random.RandomState(7)
  inits = [rs.randint(-1000, 1000, cases[i].want.shape).astype(np.int32) for i in acc]
  program = _packed_program(tuple(c.pattern for c in cases),
                            tuple(c.a.shape[0] for c in cases), acc)
  got = program([(c.a, c.b) for c in cases], inits)
  want = [c.want for c in cases] + [x + 2 * cases[i].want for i, x in zip(acc, inits)]
  labels = [c.label for c in cases] + [f'{cases[i].label} init + 2 a.T b' for i in acc]
  return _verdict(labels, _plant(jax.device_get(got), planted), want)


@functools.lru_cache(maxsize=None)
def _dense_program(ns):
  return _jit(lambda pairs: [model.dense_dot(a, b, n) for (a, b), n in zip(pairs, ns)])


def check_dense(planted=False) -> str:
  """model.dense_dot (the dense backend's product) for every case."""
  cases = _cases()
  got = _dense_program(tuple(c.a.shape[0] for c in cases))([(c.a, c.b) for c in cases])
  return _verdict([c.label for c in cases], _plant(jax.device_get(got), planted),
                  [c.want for c in cases])


_DIMS = (((0,), (0,)), ((), ()))


@functools.lru_cache(maxsize=None)
def _dot_program(dtype, out_dtype, precision):
  return _jit(lambda pairs: [
      lax.dot_general(a.astype(dtype), b.astype(dtype), _DIMS, precision=precision,
                      preferred_element_type=out_dtype) for a, b in pairs])


def _dot_check(dtype, out_dtype, precision=None):
  """A check of lax.dot_general on operands cast to `dtype`, accumulated in
  `out_dtype`, for every case (a path bnnjax may take or not; reported apart)."""
  def check(planted=False) -> str:
    cases = _cases()
    got = _dot_program(dtype, out_dtype, precision)([(c.a, c.b) for c in cases])
    return _verdict([c.label for c in cases], _plant(jax.device_get(got), planted),
                    [c.want for c in cases])
  return check


def _verdict(labels, got, want) -> str:
  bad = _exact(labels, got, want)
  if bad:
    raise _Mismatch(bad)
  return f'{len(want)} products equal NumPy exactly (n up to {max(PRODUCTS)[0]})'


# ----------------------------------------------------------------------------------
# The keyed sampler
# ----------------------------------------------------------------------------------

# Random123's known answers of Threefry-2x32 (20 rounds): (key, counter) -> output.
THREEFRY_KAT = (
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6b200159, 0x99ba4efe)),
    ((0xffffffff, 0xffffffff), (0xffffffff, 0xffffffff), (0x1cb996fc, 0xbb002be7)),
    ((0x13198a2e, 0x03707344), (0x243f6a88, 0x85a308d3), (0xc4923a9c, 0x483df7a0)),
)


def _threefry_2x32():
  try:
    from jax.extend.random import threefry_2x32
  except ImportError:  # older JAX
    from jax._src.prng import threefry_2x32
  return threefry_2x32


@functools.lru_cache(maxsize=None)
def _threefry_program():
  """Threefry-2x32 of (key, counter) pairs, and jax.random.split and bits of a key."""
  threefry = _threefry_2x32()
  return _jit(lambda keys, counts, key: [threefry(k, c) for k, c in zip(keys, counts)]
              + [jax.random.split(key, 3), jax.random.bits(key, (2,), jnp.uint32)])


def check_threefry(planted=False) -> str:
  """Threefry-2x32 on the device equals Random123's known answers; jax.random.split and
  bits on the device equal the host CPU's (the references' key schedule)."""
  key = np.array([0, 42], np.uint32)
  got = _threefry_program()([np.uint32(k) for k, _, _ in THREEFRY_KAT],
                            [np.uint32(c) for _, c, _ in THREEFRY_KAT], key)
  got = _plant(jax.device_get(got), planted)
  split, words = got[-2:]
  bad = _exact([f'known answer {i}' for i in range(len(THREEFRY_KAT))], got[:-2],
               [np.uint32(w) for _, _, w in THREEFRY_KAT])
  bad = bad or _exact(['split', 'bits'], [split, words],
                      [ref.split(key, 3), ref.seed_words(key)])
  if bad:
    raise _Mismatch(bad)
  same = jax.devices()[0].platform == ref.host_device().platform
  return (f'{len(THREEFRY_KAT)} Random123 known answers; split and bits equal '
          f'{"the host CPU" if not same else "themselves (the device is the CPU)"}')


HASH_SHAPE = (37, 29)
MASK_PROBS = (0.0, 1e-3, 0.3, 0.999, 1.0)
PERM_SIZES = (2000,)  # two rounds of sorting


@functools.lru_cache(maxsize=None)
def _hash_program():
  return _jit(lambda key: [rng.hash_bits(key, HASH_SHAPE)] + [
      rng.bernoulli_mask(key, jnp.float32(p), HASH_SHAPE) for p in MASK_PROBS])


def check_hash(planted=False) -> str:
  """rng.hash_bits and rng.bernoulli_mask (several p) equal their NumPy definition."""
  key = np.array([0, 7], np.uint32)
  got = _plant(jax.device_get(_hash_program()(key)), planted)
  want = [ref.hash_bits(ref.seed_words(key), HASH_SHAPE)] + [
      ref.bernoulli_mask(key, p, HASH_SHAPE) for p in MASK_PROBS]
  bad = _exact(['hash'] + [f'mask p={p}' for p in MASK_PROBS], got, want)
  if bad:
    raise _Mismatch(bad)
  return (f'hash of {np.prod(HASH_SHAPE)} indices and masks at p = '
          f'{", ".join(str(p) for p in MASK_PROBS)} equal NumPy')


@functools.lru_cache(maxsize=None)
def _permutation_program():
  return _jit(lambda key: [rng.permutation(key, jnp.arange(n, dtype=jnp.int32))
                           for n in PERM_SIZES])


def check_permutation(planted=False) -> str:
  """rng.permutation (the epoch shuffle; a uint64 sort off TPU, a key-value sort on
  TPU) equals rounds of a NumPy stable sort by the same threefry bits."""
  key = np.array([0, 11], np.uint32)
  got = _plant(jax.device_get(_permutation_program()(key)), planted)
  want = [ref.permutation(key, np.arange(n)) for n in PERM_SIZES]
  bad = _exact([f'n={n}' for n in PERM_SIZES], got, want)
  if bad:
    raise _Mismatch(bad)
  return f'permutations of {" and ".join(map(str, PERM_SIZES))} equal NumPy'


# ----------------------------------------------------------------------------------
# One training step per method family
# ----------------------------------------------------------------------------------

D, C, B = 70, 4, 24  # 70 inputs: 3 words with padding bits; a partial batch of 21
PREV_ACC = 0.3


def _batch(seed):
  rs = np.random.RandomState(seed)
  x = (2 * rs.randint(0, 2, (B, D)) - 1).astype(np.int8)
  y = rs.randint(0, C, B).astype(np.int32)
  valid = np.arange(B) < B - 3
  return x, y, valid


def _integer_state(seed, hidden_shapes, classifier_rows, semantics):
  """A `model.State` with hidden weights int32[shape] in [-9, 9] (odd under 'binary',
  with zeros under 'reference') and classifiers int8[rows, C] in {-1, 0, 1}
  ('reference') or ±1, drawn in NumPy (the check is of the step, not of the float
  Normal draws of `model.init`)."""
  rs = np.random.RandomState(seed)
  if semantics == 'reference':
    hidden = [rs.randint(-9, 10, shape) for shape in hidden_shapes]
    cls = [rs.randint(-1, 2, (rows, C)) for rows in classifier_rows]
  else:
    hidden = [2 * rs.randint(-5, 5, shape) + 1 for shape in hidden_shapes]
    cls = [2 * rs.randint(0, 2, (rows, C)) - 1 for rows in classifier_rows]
  return model.State(hidden=tuple(h.astype(np.int32) for h in hidden),
                     classifiers=tuple(p.astype(np.int8) for p in cls),
                     key=np.array([0, seed], np.uint32), prev_acc=np.float32(PREV_ACC),
                     epoch=np.int32(0))


def _layer_shapes(config):
  return list(zip(config.widths[:-1], config.layers))


def _device_batch(x, y, valid):
  return model.Batch(bits.pack_numpy(x), y, valid)


def _integer_verdict(state, new_state, metrics, want_hidden, want_key, want_correct,
                     planted):
  got = _plant(jax.device_get([np.asarray(h) for h in new_state.hidden]), planted)
  labels = [f'layer {l + 1} weights' for l in range(len(got))]
  bad = _exact(labels + ['key', 'correct'],
               got + [np.asarray(new_state.key), np.asarray(metrics.correct)],
               want_hidden + [want_key, np.int64(want_correct)])
  if bad:
    raise _Mismatch(bad)
  moved = sum(int(np.sum(w != np.asarray(h))) for w, h in zip(want_hidden,
                                                               state.hidden))
  if not moved:  # the comparison would prove nothing
    raise _Mismatch('the reference step moved no weight')
  return f'weights, key and correct count equal NumPy; {moved} weights moved'


@functools.lru_cache(maxsize=None)
def _jit_step(step_fn, config):
  return _jit(lambda state, batch, params: step_fn(state, batch, params, config))


# The cases: (config, params, state, (x int8[B, D] ±1, y, valid)); the tests run them
# through the tests' own references too (tests/test_selftest.py).


def rule_case(semantics: str, backend: str):
  """The rule, two layers, τ and reinforcement active; unbounded ('reference') or
  clipped at 7 ('binary')."""
  config = Config(layers=(12, 10), group_size=(4, 5), num_inputs=D, num_classes=C,
                  batch_size=B, num_test=5, semantics=semantics, backend=backend)
  params = HParams(robustness=0.5, p_reinforce=0.5,
                   weight_clip=0 if semantics == 'reference' else 7)
  return (config, params, _integer_state(1, _layer_shapes(config), config.layers,
                                         semantics), _batch(2))


def cp_r_case():
  """Two stacked committee blocks (the second reads the 15 signs of the first),
  'reference', the platform's backend."""
  from bnnjax.baselines import cp_r
  config = cp_r.CPConfig(blocks=((15, 3), (10, 2)), num_inputs=D, num_classes=C,
                         batch_size=B, semantics='reference')
  params = HParams(robustness=0.5, p_reinforce=0.5, weight_clip=7)
  state = _integer_state(3, list(zip(config.fan_ins, config.perceptrons)),
                         [k2 for _, k2 in config.blocks], 'reference')
  return config, params, state, _batch(4)


def flip_case():
  """1-bit weights ({-1, 0, +1} under 'reference'), q = 0.3, the platform's backend."""
  from bnnjax.baselines import flip
  config = Config(layers=(12, 10), group_size=(4, 5), num_inputs=D, num_classes=C,
                  batch_size=B, num_test=5, semantics='reference')
  params = flip.FlipParams(robustness=0.5, flip_prob=0.3, counter_clip=1)
  state = _integer_state(5, _layer_shapes(config), config.layers, 'reference')
  state = state._replace(hidden=tuple(np.sign(h).astype(np.int8) for h in state.hidden))
  return config, params, state, _batch(6)


def conv_case():
  """A conv net (`bnnjax.conv`): a 6 x 6 image, 4 filters 3 x 3 with 2 x 2 pooling, a
  dense layer of 6, the default selection with margin 2, 'reference', integer-only."""
  from bnnjax import conv
  config = conv.ConvConfig(image_shape=(6, 6, 1), conv='4:3:2', layers=(6,),
                           group_size=(2, 3), num_classes=C, batch_size=B, margin=2)
  params = conv.ConvParams(robustness_q=32768, p_reinforce_q=32768, weight_clip=0)
  state = _integer_state(7, [(9, 4), (16, 6)], [16, 6], 'reference')
  state = state._replace(prev_acc=np.int32(int(PREV_ACC * 2**30)))
  x, y, valid = _batch(8)
  return config, params, state, (x[:, :36], y, valid)


def _as_int64(arrays):
  return [np.asarray(a).astype(np.int64) for a in arrays]


def _rule_check(semantics: str, backend: str):
  def check(planted=False) -> str:
    """model.step (the rule, steps 1-8) against selftest_ref.rule_step."""
    config, params, state, (x, y, valid) = rule_case(semantics, backend)
    new, metrics = _jit_step(model.step, config)(state, _device_batch(x, y, valid),
                                                 params)
    want, key, correct = ref.rule_step(
        _as_int64(state.hidden), _as_int64(state.classifiers), state.key, PREV_ACC, x,
        y, valid, params, semantics, config.group_size)
    return _integer_verdict(state, new, metrics, want, key, correct, planted)
  return check


def check_cp_r(planted=False) -> str:
  """cp_r.step against selftest_ref.cp_r_step."""
  from bnnjax.baselines import cp_r
  config, params, state, (x, y, valid) = cp_r_case()
  new, metrics = _jit_step(cp_r.step, config)(state, _device_batch(x, y, valid), params)
  want, key, correct = ref.cp_r_step(
      _as_int64(state.hidden), _as_int64(state.classifiers), state.key, PREV_ACC, x, y,
      valid, params, config.semantics, config.blocks)
  return _integer_verdict(state, new, metrics, want, key, correct, planted)


def check_flip(planted=False) -> str:
  """flip.step (random flips of 1-bit weights) against selftest_ref.flip_step."""
  from bnnjax.baselines import flip
  config, params, state, (x, y, valid) = flip_case()
  new, metrics = _jit_step(flip.step, config)(state, _device_batch(x, y, valid), params)
  want, key, correct = ref.flip_step(
      _as_int64(state.hidden), _as_int64(state.classifiers), state.key, x, y, valid,
      params.robustness, params.flip_prob, config.semantics, config.group_size)
  return _integer_verdict(state, new, metrics, want, key, correct, planted)


def check_conv(planted=False) -> str:
  """conv.step (a conv block and a dense layer, integer-only) against
  selftest_ref.conv_step."""
  from bnnjax import conv
  config, params, state, (x, y, valid) = conv_case()
  new, metrics = _jit_step(conv.step, config)(state, _device_batch(x, y, valid), params)
  want, key, correct = ref.conv_step(
      _as_int64(state.hidden), _as_int64(state.classifiers), state.key,
      int(state.prev_acc), x.reshape(B, 6, 6, 1), y, valid, tuple(params),
      config.semantics, (3, 1), (2, 1), config.group_size, config.margin, 1)
  return _integer_verdict(state, new, metrics, want, key, correct, planted)


MLP_LR = {'sgd': 0.5, 'adam': 0.05, 'ste': 0.2}  # big steps: visible changes
# Every gradient entry of the case is 0 or at least this: float32 rounding cannot flip
# the sign of Adam's first steps (g / sqrt(g^2), ±1 whatever |g|).
MIN_GRADIENT = 1e-4


def mlp_case(kind: str):
  """(config, params, float32 weights [(5, 4), (4, 3)], two batches (x float32[6, 5],
  y, valid)): one hidden layer, float inputs, partial batches."""
  from bnnjax.baselines import mlp
  d_in, n, c, b = 5, 4, 3, 6
  config = mlp.MLPConfig(kind=kind, layers=(n,), num_inputs=d_in, num_classes=c,
                         batch_size=b, input_mode='fp')
  rs = np.random.RandomState(12)
  scale = 3.0 if kind == 'ste' else 1.0  # ste: some latent weights beyond the clip
  weights = [(scale * rs.uniform(-1, 1, (a, o)) / np.sqrt(a)).astype(np.float32)
             for a, o in ((d_in, n), (n, c))]
  batches = []
  for _ in range(2):
    x = (rs.normal(size=(b, d_in)) * 2).astype(np.float32)
    batches.append((x, rs.randint(0, c, b).astype(np.int32), np.arange(b) < b - 2))
  return config, mlp.MLPParams(MLP_LR[kind]), weights, batches


def _mlp_check(kind: str):
  def check(planted=False) -> str:
    """Two mlp.step calls (sgd, adam or ste) against selftest_ref.mlp_steps, within
    FLOAT_RTOL / FLOAT_ATOL. Matrix products at float32 precision: the defaults of
    GPUs (TF32) and TPUs (bfloat16 passes) round more coarsely, which is a property of
    those platforms, not an error of the step."""
    from bnnjax.baselines import mlp
    config, params, weights, batches = mlp_case(kind)
    state = mlp.State(weights=tuple(weights),
                      opt_state=mlp.optimizer(kind).init(tuple(weights)),
                      key=np.array([0, 9], np.uint32), prev_acc=np.float32(0),
                      epoch=np.int32(0))
    step = _jit_step(mlp.step, config)
    correct = []
    with jax.default_matmul_precision('float32'):
      for x, y, valid in batches:
        state, count = step(state, model.Batch(x, y, valid), params)
        correct.append(int(count))
    got = _plant(jax.device_get(list(state.weights)), planted)
    want, want_correct, smallest = ref.mlp_steps(weights, batches, kind,
                                                 params.learning_rate)
    if smallest < MIN_GRADIENT:  # a bug of this case, not of the device
      raise _Mismatch(f'ill-conditioned case: a gradient entry of {smallest:.2g}')
    if correct != want_correct:
      raise _Mismatch(f'correct counts {correct}, want {want_correct}')
    dev = max(float(np.max(np.abs(g - w))) for g, w in zip(got, want))
    for l, (g, w) in enumerate(zip(got, want)):
      if not np.allclose(g, w, rtol=FLOAT_RTOL, atol=FLOAT_ATOL):
        raise _Mismatch(f'layer {l + 1} weights: max |got - want| = {dev:.3g} beyond '
                        f'rtol = atol = {FLOAT_ATOL:g}')
    moved = max(float(np.max(np.abs(w - w0))) for w, w0 in zip(want, weights))
    if moved < 10 * FLOAT_ATOL:
      raise _Mismatch('the reference steps hardly moved the weights')
    return (f'2 steps: weights within {FLOAT_ATOL:g} of float64 NumPy (max deviation '
            f'{dev:.2g}, weights moved up to {moved:.2g}); correct counts equal')
  return check


# ----------------------------------------------------------------------------------
# The list of checks, and the command
# ----------------------------------------------------------------------------------

CHECKS: Dict[str, Callable[..., str]] = {
    'packed_dot': check_packed,
    'dense_dot': check_dense,
    'int8_dot': _dot_check(jnp.int8, jnp.int32),
    'f32_dot_highest': _dot_check(jnp.float32, jnp.float32, lax.Precision.HIGHEST),
    'f32_dot_default': _dot_check(jnp.float32, jnp.float32),
    'bf16_dot_f32_acc': _dot_check(jnp.bfloat16, jnp.float32),
    'f16_dot_f32_acc': _dot_check(jnp.float16, jnp.float32),
    'threefry': check_threefry,
    'keyed_hash': check_hash,
    'permutation': check_permutation,
    'step_ours_reference_packed': _rule_check('reference', 'packed'),
    'step_ours_reference_dense': _rule_check('reference', 'dense'),
    'step_ours_binary_packed': _rule_check('binary', 'packed'),
    'step_ours_binary_dense': _rule_check('binary', 'dense'),
    'step_cp_r': check_cp_r,
    'step_flip': check_flip,
    'step_conv': check_conv,
    'step_sgd': _mlp_check('sgd'),
    'step_adam': _mlp_check('adam'),
    'step_ste': _mlp_check('ste'),
}


# The raw dots: reported, but not paths of bnnjax's arithmetic (`dense_dot` checks the
# dot the dense backend really takes on this platform). Candidates for a faster exact
# dense path (docs/selftest.md); a FAIL among them alone gives exit status 3, not 1, so
# that a platform with, e.g., a wrong int8 dot (XLA:GPU, benchmarks/gpu_diag.py) that
# bnnjax does not use is not refused.
INFORMATIONAL = ('int8_dot', 'f32_dot_highest', 'f32_dot_default', 'bf16_dot_f32_acc',
                 'f16_dot_f32_acc')
# Exit statuses of the command.
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_INFORMATIONAL_FAIL = 0, 1, 2, 3


def exit_status(checks: List[Check]) -> int:
  """EXIT_PASS when every check passed; EXIT_FAIL when a check of bnnjax's own
  arithmetic failed; else EXIT_INFORMATIONAL_FAIL when only raw dots (INFORMATIONAL)
  failed."""
  failed = {c.name for c in checks if not c.ok}
  if failed - set(INFORMATIONAL):
    return EXIT_FAIL
  return EXIT_INFORMATIONAL_FAIL if failed else EXIT_PASS


def _names(text: Optional[str], what: str) -> List[str]:
  """Comma-separated check names -> list; ValueError naming the valid ones."""
  names = [v.strip() for v in (text or '').split(',') if v.strip()]
  unknown = [v for v in names if v not in CHECKS]
  if unknown:
    raise ValueError(f'{what}: unknown check(s) {unknown}; valid: {list(CHECKS)}')
  return names


def run_checks(only=None, plant=None, report_fn=None) -> List[Check]:
  """Runs the checks named in `only` (all by default) and returns one Check each.

  plant: names of checks whose device result gets one entry changed by +1 before the
  comparison (a wrong product that must make them FAIL; for the tests). A check that
  raises is a FAIL with the exception in its detail. report_fn(check) is called as each
  check ends."""
  only = list(CHECKS) if only is None else list(only)
  plant = set(plant or ())
  for name in list(only) + sorted(plant):
    if name not in CHECKS:
      raise ValueError(f'unknown check {name!r}; valid: {list(CHECKS)}')
  results = []
  for name in only:
    start = time.time()
    try:
      check = Check(name, True, CHECKS[name](planted=name in plant))
    except _Mismatch as e:
      check = Check(name, False, str(e))
    except Exception as e:  # pylint: disable=broad-except
      check = Check(name, False, f'raised {type(e).__name__}: {e}'.splitlines()[0])
    check = check._replace(seconds=time.time() - start)
    results.append(check)
    if report_fn is not None:
      report_fn(check)
  return results


def environment() -> List[str]:
  """Lines naming the platform, the device and the versions."""
  import jaxlib
  import bnnjax
  dev = jax.devices()[0]
  return [f'platform: {dev.platform} ({jax.device_count()} device(s)), device kind: '
          f'{dev.device_kind}',
          f'versions: jax {jax.__version__}, jaxlib {jaxlib.__version__}, numpy '
          f'{np.__version__}, bnnjax {bnnjax.__version__}, python '
          f'{py_platform.python_version()}']


class _Parser(argparse.ArgumentParser):
  """argparse with the project's one-line errors ('error: ...', exit status 2)."""

  def error(self, message):
    print(f'error: {message} (python -m bnnjax.selftest --help)', file=sys.stderr)
    sys.exit(2)


def main(argv=None) -> int:
  """The command: prints one line per check, the environment and a summary; returns
  the exit status: 0 every check passed, 1 a check of bnnjax's arithmetic failed, 2
  bad arguments, 3 only informational dots (INFORMATIONAL) failed."""
  parser = _Parser(
      prog='python -m bnnjax.selftest',
      description='Checks the arithmetic bnnjax depends on against NumPy on the JAX '
                  'backend of this process (docs/selftest.md). Exit status: 0 pass, 1 '
                  'a check of bnnjax\'s arithmetic failed, 2 bad arguments, 3 only '
                  'informational dots failed.')
  parser.add_argument('--only', default=None,
                      help=f'comma-separated checks to run (default: all): '
                           f'{", ".join(CHECKS)}')
  parser.add_argument('--plant', default=os.environ.get(PLANT_ENV),
                      help=argparse.SUPPRESS)  # tests: a wrong result that must FAIL
  try:
    args = parser.parse_args(argv)
  except SystemExit as e:  # --help (0) or a bad argument (2, its line printed)
    return e.code if isinstance(e.code, int) else EXIT_USAGE
  try:
    only = _names(args.only, '--only') or None
    plant = _names(args.plant, f'--plant (${PLANT_ENV})')
  except ValueError as e:
    print(f'error: {e}', file=sys.stderr)
    return EXIT_USAGE
  start = time.time()
  width = max(len(name) for name in only or CHECKS)
  checks = run_checks(only, plant, lambda c: print(
      f'{c.name:<{width}}  {"PASS" if c.ok else "FAIL"}  {c.seconds:4.1f} s  '
      f'{"(informational) " if c.name in INFORMATIONAL else ""}{c.detail}', flush=True))
  for line in environment():
    print(line)
  failed = [c.name for c in checks if not c.ok]
  status = exit_status(checks)
  verdict = {EXIT_PASS: '',
             EXIT_FAIL: f'; FAILED: {", ".join(failed)}',
             EXIT_INFORMATIONAL_FAIL: f'; FAILED, informational only (raw dots; '
                                      f'dense_dot passed): {", ".join(failed)}'}[status]
  print(f'{len(checks) - len(failed)} of {len(checks)} checks passed in '
        f'{time.time() - start:.1f} s{verdict}; exit status {status}')
  return status


def run():
  """Console script `bnnjax-selftest`."""
  sys.exit(main())


if __name__ == '__main__':
  run()
