"""A slow, literal NumPy reference of the rule (algorithm.md steps 1-8), for the tests.

Integers are int64 NumPy arrays and every step is written as the spec states it, with
explicit loops where the spec describes a choice (the group selection). Randomness is
taken from the same sources as bnnjax, re-derived here: JAX's threefry for key splits,
Normal draws and permutations (the documented key schedule), and the keyed lowbias32
hash of bnnjax.rng re-implemented in NumPy.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

MAX_WEIGHT = 2**30 - 1


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


def bernoulli_mask(key, p32, shape):
  seed = np.asarray(jax.random.bits(key, (2,), jnp.uint32)).astype(np.uint64)
  idx = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
  h = lowbias32((lowbias32(idx ^ seed[0]) + seed[1]) & 0xFFFFFFFF)
  p32 = np.float32(min(max(p32, np.float32(0)), np.float32(1)))
  if p32 >= 1:
    thr = 0xFFFFFFFF
  else:
    thr = int(np.float32(p32 * np.float32(4294967296.0)))
  return h < thr


def clip_value(weight_clip, semantics):
  c = MAX_WEIGHT if weight_clip <= 0 else min(weight_clip, MAX_WEIGHT)
  if semantics == 'binary' and c % 2 == 0:
    c -= 1
  return c


def init(key, layers, num_inputs, num_classes, semantics, weight_clip=0):
  """Returns dict(hidden=[int64 (N_{l-1}, N_l)], classifiers=[int64 (N_l, C)], key).

  Key schedule as documented in bnnjax.model.init: one draw for all H, one for all P."""
  key, k_h, k_p = jax.random.split(key, 3)
  widths = (num_inputs,) + tuple(layers)
  shapes_h = [(widths[l], widths[l + 1]) for l in range(len(layers))]
  shapes_p = [(widths[l + 1], num_classes) for l in range(len(layers))]
  size_h = sum(a * b for a, b in shapes_h)
  size_p = sum(a * b for a, b in shapes_p)
  c = clip_value(weight_clip, semantics)
  g = np.asarray(jnp.float32(64.0) * jax.random.normal(k_h, (size_h,), jnp.float32))
  if semantics == 'reference':
    h_all = np.trunc(g).astype(np.int64)  # truncation toward zero
    gp = np.asarray(jnp.float32(64.0) * jax.random.normal(k_p, (size_p,), jnp.float32))
    p_all = np.sign(np.trunc(gp)).astype(np.int64)
  else:
    h_all = (2 * np.floor(g / np.float32(2)) + 1).astype(np.int64)
    p_all = np.where(np.asarray(jax.random.bernoulli(k_p, 0.5, (size_p,))), 1,
                     -1).astype(np.int64)
  hidden, classifiers = [], []
  oh = op = 0
  for sh, sp in zip(shapes_h, shapes_p):
    hidden.append(np.clip(h_all[oh:oh + sh[0] * sh[1]].reshape(sh), -c, c))
    classifiers.append(p_all[op:op + sp[0] * sp[1]].reshape(sp))
    oh += sh[0] * sh[1]
    op += sp[0] * sp[1]
  return dict(hidden=hidden, classifiers=classifiers, key=key, prev_acc=np.float32(0))


def forward(state, x, semantics):
  """x: int64 (B, D) ±1. Returns lists a_l, s_l, z_l."""
  s = x.astype(np.int64)
  pre, post, scores = [], [], []
  for h, p in zip(state['hidden'], state['classifiers']):
    w = np.sign(h)
    a = s @ w
    s = sign(a, semantics)
    z = s @ p
    pre.append(a)
    post.append(s)
    scores.append(z)
  return pre, post, scores


def step(state, x, y, valid, params, semantics, group_sizes):
  """One literal training step; returns (new_state, num_correct)."""
  r, p_r, weight_clip = params
  key, step_key = jax.random.split(state['key'])
  layer_keys = jax.random.split(step_key, len(state['hidden']))
  pre, post, scores = forward(state, x, semantics)
  b = x.shape[0]
  correct = int(np.sum((np.argmax(scores[-1], axis=1) == y) & valid))
  inputs = [x.astype(np.int64)] + post[:-1]
  c = clip_value(weight_clip, semantics)
  new_hidden = []
  for l, (h, p) in enumerate(zip(state['hidden'], state['classifiers'])):
    n = h.shape[1]
    gamma = group_sizes[l]
    tau = int(np.floor(np.float32(r) * np.float32(n)))
    z = scores[l]
    # Step 3: error set.
    err = np.zeros(b, bool)
    for mu in range(b):
      if not valid[mu]:
        continue
      order = np.sort(z[mu])[::-1]
      err[mu] = np.argmax(z[mu]) != y[mu] or (order[0] - order[1]) < tau
    # Steps 4-5: targets and group selection (explicit loops).
    m = np.zeros((b, n), np.int64)
    t = p[:, y].T  # (B, N)
    for mu in range(b):
      if not err[mu]:
        continue
      for g0 in range(0, n, gamma):
        best = None
        for j in range(g0, g0 + gamma):
          if pre[l][mu, j] * t[mu, j] < 0:
            if best is None or abs(pre[l][mu, j]) < abs(pre[l][mu, best]):
              best = j
        if best is not None:
          m[mu, best] = 1
    # Step 6: supervised update.
    s_prev = inputs[l]
    delta = np.zeros_like(h)
    for mu in range(b):
      delta += 2 * np.outer(s_prev[mu], t[mu] * m[mu])
    h_new = h + delta
    # Step 7: reinforcement (float32 arithmetic as in bnnjax).
    const = np.float32(math.sqrt(2.0 / (math.pi * h.shape[0])))
    one_minus = np.float32(max(np.float32(1.0) - np.float32(state['prev_acc']), 0.0))
    prob = np.float32(np.float32(p_r) * np.sqrt(one_minus)) * const
    grow = bernoulli_mask(layer_keys[l], prob, h.shape)
    h_new = h_new + 2 * np.sign(h_new) * grow
    # Step 8: clip.
    h_new = np.clip(h_new, -c, c)
    new_hidden.append(h_new if err.any() else h)
  new_state = dict(state, hidden=new_hidden, key=key)
  return new_state, correct


def evaluate(state, x, y, semantics):
  return int(np.sum(np.argmax(forward(state, x, semantics)[2][-1], axis=1) == y))


def train(key, x_pool, y_pool, layers, group_sizes, num_classes, batch_size, num_epochs,
          num_test, params, semantics, shuffle_split=True):
  """Whole run as bnnjax.run documents it; returns (state, train %[E], test %[E])."""
  n = x_pool.shape[0]
  split_key, init_key = jax.random.split(key)
  perm = (np.asarray(jax.random.permutation(split_key, n)) if shuffle_split
          else np.arange(n))
  train_idx, test_idx = perm[:n - num_test], perm[n - num_test:]
  state = init(init_key, layers, x_pool.shape[1], num_classes, semantics, params[2])
  train_accs, test_accs = [], []
  for _ in range(num_epochs):
    k, perm_key = jax.random.split(state['key'])
    state['key'] = k
    order = np.asarray(jax.random.permutation(perm_key, jnp.asarray(train_idx)))
    correct = 0
    for start in range(0, len(order), batch_size):
      idx = order[start:start + batch_size]
      state, c = step(state, x_pool[idx], y_pool[idx], np.ones(len(idx), bool), params,
                      semantics, group_sizes)
      correct += c
    acc = np.float32(correct) / np.float32(len(train_idx))
    state['prev_acc'] = acc
    train_accs.append(100.0 * correct / len(train_idx))
    test_accs.append(100.0 * evaluate(state, x_pool[test_idx], y_pool[test_idx], semantics)
                     / len(test_idx))
  return state, np.array(train_accs), np.array(test_accs)
