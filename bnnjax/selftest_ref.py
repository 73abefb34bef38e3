"""Literal NumPy references of the self-test (`bnnjax.selftest`), one step per method.

The installed package's own copy of the references in `tests/` (`tests/reference_impl.py`
for the rule, `tests/test_baselines.py` for CP+R and the float MLPs,
`tests/test_continual.py` for `flip`), cut down to what the self-test runs: the argmax
head, fixed classifiers, one hidden layer for the MLPs. `tests/test_selftest.py` checks
that each agrees with its counterpart in tests/ on a case, so they cannot drift apart.

Integers are int64 NumPy arrays and each step is written as algorithm.md states it, with
explicit loops where the spec describes a choice (the group selection). The key schedule
(threefry splits of the JAX key, and the two seed words of `bnnjax.rng.hash_bits`) is
JAX's, computed on the host CPU device (`host_random`), so that on an accelerator the
device's threefry is compared with the CPU's; the hash, the thresholds and everything
else are NumPy. Dimensions: B batch, D inputs, N hidden, C classes.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

MAX_WEIGHT = 2**30 - 1  # bnnjax.config.MAX_WEIGHT, restated


def host_device():
  """The CPU device (where the references draw JAX's threefry), or the default device
  when this process has no CPU backend (JAX_PLATFORMS without cpu)."""
  try:
    return jax.devices('cpu')[0]
  except RuntimeError:
    return jax.devices()[0]


def split(key, num: int) -> np.ndarray:
  """uint32[num, 2]: jax.random.split(key, num) on the host device."""
  with jax.default_device(host_device()):
    return np.asarray(jax.random.split(np.asarray(key, np.uint32), num))


def seed_words(key) -> np.ndarray:
  """uint64[2]: the two uint32 words `bnnjax.rng.hash_bits` draws from key."""
  with jax.default_device(host_device()):
    words = jax.random.bits(np.asarray(key, np.uint32), (2,), jnp.uint32)
  return np.asarray(words).astype(np.uint64)


def sign(x, semantics):
  if semantics == 'reference':
    return np.sign(x).astype(np.int64)
  return np.where(x >= 0, 1, -1).astype(np.int64)


def lowbias32(x):
  x = x.astype(np.uint64) & 0xFFFFFFFF
  x ^= x >> 16
  x = (x * 0x7FEB352D) & 0xFFFFFFFF
  x ^= x >> 15
  x = (x * 0x846CA68B) & 0xFFFFFFFF
  x ^= x >> 16
  return x


def hash_bits(seed, shape):
  """uint64[shape] (values < 2^32): lowbias32(lowbias32(index ^ seed0) + seed1)."""
  idx = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
  return lowbias32((lowbias32(idx ^ seed[0]) + seed[1]) & 0xFFFFFFFF)


def threshold(p):
  """floor(p * 2^32) for float32 p in [0, 1), 2^32 - 1 for p >= 1 (as bnnjax.rng)."""
  p = np.float32(min(max(np.float32(p), np.float32(0)), np.float32(1)))
  if p >= 1:
    return 0xFFFFFFFF
  return int(min(p * np.float32(4294967296.0), np.float32(4294967040.0)))


def bernoulli_mask(key, p, shape):
  return hash_bits(seed_words(key), shape) < threshold(p)


def permutation(key, x):
  """jax.random.permutation of a 1-D x: rounds of a stable sort by fresh uint32 bits."""
  n = len(x)
  num_rounds = int(np.ceil(3 * np.log(max(1, n)) / np.log(np.iinfo(np.uint32).max)))
  for _ in range(num_rounds):
    key, subkey = split(key, 2)
    with jax.default_device(host_device()):
      sort_keys = np.asarray(jax.random.bits(subkey, (n,), jnp.uint32))
    x = x[np.argsort(sort_keys, kind='stable')]
  return x


def clip_value(weight_clip, semantics):
  c = MAX_WEIGHT if weight_clip <= 0 else min(weight_clip, MAX_WEIGHT)
  if semantics == 'binary' and c % 2 == 0:
    c -= 1
  return c


def reinforce(h, key, p_r, prev_acc):
  """Step 7: H + 2 sign(H) where a Bernoulli(p_l) of the keyed hash fires."""
  const = np.float32(math.sqrt(2.0 / (math.pi * h.shape[0])))
  one_minus = np.float32(max(np.float32(1.0) - np.float32(prev_acc), 0.0))
  prob = np.float32(np.float32(p_r) * np.sqrt(one_minus)) * const
  return h + 2 * np.sign(h) * bernoulli_mask(key, prob, h.shape)


def error_set(z, y, valid, tau):
  """Step 3: bool[B], argmax z != y or top-1 minus top-2 below τ (argmax head)."""
  err = np.zeros(len(y), bool)
  for mu in range(len(y)):
    if valid[mu]:
      order = np.sort(z[mu])[::-1]
      err[mu] = np.argmax(z[mu]) != y[mu] or order[0] - order[1] < tau
  return err


def select_wrong(pre, t, err, gamma):
  """Steps 4-5: int64[B, N] mask; per sample in M and group of γ, the wrong neuron
  (a·t < 0) with the smallest |a|, the lowest index on ties."""
  m = np.zeros(pre.shape, np.int64)
  for mu in np.flatnonzero(err):
    for g0 in range(0, pre.shape[1], gamma):
      best = None
      for j in range(g0, g0 + gamma):
        if pre[mu, j] * t[mu, j] < 0 and (best is None or
                                          abs(pre[mu, j]) < abs(pre[mu, best])):
          best = j
      if best is not None:
        m[mu, best] = 1
  return m


def rule_step(hidden, classifiers, key, prev_acc, x, y, valid, params, semantics,
              group_sizes):
  """One step of the rule (steps 1-8), argmax head, fixed classifiers.

  hidden: [int64 (N_{l-1}, N_l)], classifiers: [int64 (N_l, C)], key: uint32[2],
  x: int (B, D) ±1, params: (r, p_r, weight_clip). Returns (new hidden, new key,
  number of correct pre-update predictions)."""
  r, p_r, weight_clip = params
  key, step_key = split(key, 2)
  layer_keys = split(step_key, len(hidden))
  s, inputs, pre, post, scores = x.astype(np.int64), [], [], [], []
  for h, p in zip(hidden, classifiers):  # step 1
    inputs.append(s)
    pre.append(s @ np.sign(h))
    s = sign(pre[-1], semantics)
    post.append(s)
    scores.append(s @ p)
  correct = int(np.sum((np.argmax(scores[-1], axis=1) == y) & valid))  # step 2
  c = clip_value(weight_clip, semantics)
  new_hidden = []
  for l, (h, p) in enumerate(zip(hidden, classifiers)):
    err = error_set(scores[l], y, valid, int(np.floor(np.float32(r) * h.shape[1])))
    t = p[:, y].T  # (B, N)
    m = select_wrong(pre[l], t, err, group_sizes[l])
    h_new = h + 2 * inputs[l].T @ (t * m)  # step 6
    h_new = np.clip(reinforce(h_new, layer_keys[l], p_r, prev_acc), -c, c)  # 7-8
    new_hidden.append(h_new if err.any() else h)
  return new_hidden, key, correct


def cp_r_step(hidden, classifiers, key, prev_acc, x, y, valid, params, semantics,
              blocks):
  """One CP+R step (algorithm.md, "Baselines of the paper"), argmax head; blocks
  ((K1, K2), ...), hidden [int64 (N_in, K1)], classifiers [int64 (K2, C)]. Returns
  (new hidden, new key, correct)."""
  r, p_r, weight_clip = params
  key, step_key = split(key, 2)
  block_keys = split(step_key, len(blocks))
  s, inputs, pre, votes, scores = x.astype(np.int64), [], [], [], []
  for (k1, k2), h, p in zip(blocks, hidden, classifiers):
    inputs.append(s)
    pre.append(s @ np.sign(h))
    s = sign(pre[-1], semantics)
    votes.append(s.reshape(len(s), k2, k1 // k2).sum(axis=2))  # committee sums
    scores.append(sign(votes[-1], semantics) @ p)
  correct = int(np.sum((np.argmax(scores[-1], axis=1) == y) & valid))
  c = clip_value(weight_clip, semantics)
  new_hidden = []
  for l, ((k1, k2), h, p) in enumerate(zip(blocks, hidden, classifiers)):
    g = k1 // k2
    err = error_set(scores[l], y, valid, int(np.floor(np.float32(r) * k2)))
    t = p[:, y].T  # (B, K2) committee targets; a committee is wrong when c·t < 0
    member_t = np.repeat(np.where(votes[l] * t < 0, t, 0), g, axis=1)
    m = select_wrong(pre[l], member_t, err, g)
    h_new = h + 2 * inputs[l].T @ (member_t * m)
    h_new = np.clip(reinforce(h_new, block_keys[l], p_r, prev_acc), -c, c)
    new_hidden.append(h_new if err.any() else h)
  return new_hidden, key, correct


def flip_step(hidden, classifiers, key, x, y, valid, robustness, flip_prob, semantics,
              group_sizes, counter_clip=1):
  """One `flip` step: the drive Δ = S^T G of the rule (its step with p_r = 0 and no
  clip: H + 2Δ), then each weight with Δ ≠ 0 moves by 2 sign(Δ) with probability
  min(1, q|Δ|) from the keyed hash, and the counter's clip (1: a flip)."""
  moved, new_key, correct = rule_step(hidden, classifiers, key, 0.0, x, y, valid,
                                      (robustness, 0.0, 0), semantics, group_sizes)
  layer_keys = split(split(key, 2)[1], len(hidden))
  c = clip_value(counter_clip, semantics)
  out = []
  for l, (w, h_new) in enumerate(zip(hidden, moved)):
    delta = (h_new - w) // 2
    p = np.minimum(np.float32(flip_prob) * np.abs(delta).astype(np.float32),
                   np.float32(1))
    thr = np.where(p >= 1, 0xFFFFFFFF,
                   np.minimum(p * np.float32(4294967296.0),
                              np.float32(4294967040.0)).astype(np.uint64))
    fire = (delta != 0) & ((hash_bits(seed_words(layer_keys[l]), w.shape) < thr)
                           | (p >= 1))
    out.append(np.clip(w + 2 * np.sign(delta) * fire, -c, c))
  return out, new_key, correct


def mlp_grads(weights, x, y, valid, kind):
  """Loss gradients of a bias-free MLP with one hidden layer, literally in float64.
  sgd/adam: ReLU; ste: sign(·) of weights and activations (sign(0) = +1), each
  pre-activation scaled by 1/sqrt(fan_in), d sign(v)/dv := 1{|v| <= 1}. Loss: mean
  cross-entropy over the valid rows. Returns (grads, logits)."""
  w1, w2 = (np.asarray(w, np.float64) for w in weights)
  x = np.asarray(x, np.float64)
  sgn = lambda v: np.where(v >= 0, 1.0, -1.0)
  if kind == 'ste':
    s1, s2 = 1 / np.sqrt(w1.shape[0]), 1 / np.sqrt(w2.shape[0])
    a1 = (x @ sgn(w1)) * s1
    h1 = sgn(a1)
    logits = (h1 @ sgn(w2)) * s2
  else:
    a1 = x @ w1
    h1 = np.maximum(a1, 0)
    logits = h1 @ w2
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  d = (p - np.eye(w2.shape[1])[y]) * valid[:, None] / valid.sum()  # dL/dlogits
  if kind == 'ste':
    g2 = (h1.T @ d) * s2 * (np.abs(w2) <= 1)
    g1 = (x.T @ ((d @ sgn(w2).T) * s2 * (np.abs(a1) <= 1))) * s1 * (np.abs(w1) <= 1)
  else:
    g2 = h1.T @ d
    g1 = x.T @ ((d @ w2.T) * (a1 > 0))
  return [g1, g2], logits


def mlp_steps(weights, batches, kind, lr):
  """Optimiser steps t = 1, 2, ... over batches [(x, y, valid)]: SGD (W -= lr g), Adam
  (optax's defaults: b1 0.9, b2 0.999, eps 1e-8, bias-corrected moments), STE (Adam on
  the latent weights, then the clip to [-1, 1]). Returns (weights, [correct per step],
  the smallest nonzero |gradient entry| of every step: a case where it is tiny, a true
  zero as float64 rounding, is one where Adam's g / sqrt(g^2) gives float32 any sign)."""
  weights = [np.asarray(w, np.float64) for w in weights]
  m = [np.zeros_like(w) for w in weights]
  v = [np.zeros_like(w) for w in weights]
  correct, smallest = [], np.inf
  for t, (x, y, valid) in enumerate(batches, 1):
    grads, logits = mlp_grads(weights, x, y, valid, kind)
    correct.append(int(np.sum((np.argmax(logits, 1) == y) & valid)))
    smallest = min([smallest] + [np.abs(g[g != 0]).min() for g in grads if g.any()])
    for i, g in enumerate(grads):
      if kind == 'sgd':
        weights[i] = weights[i] - lr * g
        continue
      m[i] = 0.9 * m[i] + 0.1 * g
      v[i] = 0.999 * v[i] + 0.001 * g * g
      update = (m[i] / (1 - 0.9**t)) / (np.sqrt(v[i] / (1 - 0.999**t)) + 1e-8)
      weights[i] = weights[i] - lr * update
      if kind == 'ste':
        weights[i] = np.clip(weights[i], -1.0, 1.0)
  return weights, correct, smallest


def conv_step(hidden, classifiers, key, prev_acc, images, y, valid, params, semantics,
              kernels, pools, group_sizes, margin, num_conv):
  """`bnnjax.conv.step` (docs/conv.md; stride 1, no padding, 'filter' selection, argmax
  head) in NumPy: images int[B, H, W, C] ±1; layers given by their kernels and pools,
  the first num_conv conv blocks, then dense layers (a 1 x 1 map, kernel 1); params (robustness_q, p_reinforce_q, clip) and
  prev_acc in the integer units of `conv.ConvParams` and the engine. Returns (hidden,
  key, correct)."""
  r_q, p_q, weight_clip = params
  key, step_key = split(key, 2)
  layer_keys = split(step_key, len(hidden))
  m, fwd = images.astype(np.int64), []
  for l, (h, p, k, pool) in enumerate(zip(hidden, classifiers, kernels, pools)):
    if l >= num_conv:  # a dense layer reads the flattened map
      m = m.reshape(m.shape[0], 1, 1, -1)
    b, ho, wo = m.shape[0], m.shape[1] - k + 1, m.shape[2] - k + 1
    cols = np.stack([m[:, di:di + ho, dj:dj + wo, :] for di in range(k)
                     for dj in range(k)], axis=3).reshape(b, ho, wo, -1)
    a = cols @ np.sign(h)
    hp, wp, f = ho // pool, wo // pool, h.shape[1]
    pooled = sign(a, semantics)[:, :hp * pool, :wp * pool].reshape(
        b, hp, pool, wp, pool, f).max(axis=(2, 4))
    fwd.append((cols, a, pooled, pooled.reshape(b, -1) @ p))
    m = pooled
  correct = int(np.sum((np.argmax(fwd[-1][3], axis=1) == y) & valid))
  c = clip_value(weight_clip, semantics)
  new = []
  for l, (h, p, pool, gamma) in enumerate(zip(hidden, classifiers, pools, group_sizes)):
    cols, a, pooled, z = fwd[l]
    b, ho, wo, f = a.shape
    hp, wp = pooled.shape[1:3]
    err = error_set(z, y, valid, (r_q * pooled[0].size) >> 16)
    t_units = p[:, y].T.reshape(b, hp, wp, f)
    t = np.zeros(a.shape, np.int64)
    wrong = np.zeros(a.shape, bool)
    up = lambda v: np.repeat(np.repeat(v, pool, axis=1), pool, axis=2)
    t[:, :hp * pool, :wp * pool] = up(t_units)
    wrong[:, :hp * pool, :wp * pool] = up(pooled * t_units < 0)
    stab = a * t
    cand = (((stab < 0) & wrong) | ((stab >= 0) & (stab < margin))) & (t != 0)
    g = np.zeros(a.shape, np.int64)
    for mu in np.flatnonzero(err):  # per filter the least |a|, then per group of γ
      best = {}
      for fi in range(f):
        pos = np.flatnonzero(cand[mu, :, :, fi].reshape(-1))
        if pos.size:
          q = pos[np.argmin(np.abs(a[mu, :, :, fi].reshape(-1)[pos]))]
          best[fi] = (q // wo, q % wo)
      for g0 in range(0, f, gamma):
        mine = [fi for fi in range(g0, g0 + gamma) if fi in best]
        if mine:
          win = min(mine, key=lambda fi: (abs(a[mu][best[fi]][fi]), fi))
          g[mu][best[win]][win] = t[mu][best[win]][win]
    h_sum = h + 2 * cols.reshape(-1, cols.shape[-1]).T @ g.reshape(-1, f)
    cst = int(round(math.sqrt(2.0 / (math.pi * h.shape[0])) * 2**16))
    thr = p_q * ((math.isqrt(2**30 - int(prev_acc)) * cst) >> 15)
    grow = hash_bits(seed_words(layer_keys[l]), h.shape) < thr
    h_new = np.clip(h_sum + 2 * np.sign(h_sum) * grow, -c, c)
    new.append(h_new if err.any() else h_sum)
  return new, key, correct
