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


def integer_init(g, semantics):
  if semantics == 'reference':
    return np.trunc(g).astype(np.int64)  # truncation toward zero
  return (2 * np.floor(g / np.float32(2)) + 1).astype(np.int64)


def init(key, layers, num_inputs, num_classes, semantics, weight_clip=0,
         train_classifiers=False, num_outputs=None):
  """Returns dict(hidden=[int64 (N_{l-1}, N_l)], classifiers=[int64 (N_l, C_out)],
  classifier_hidden=[int64 (N_l, C_out)] (empty unless train_classifiers), key).

  Key schedule as documented in bnnjax.model.init: one draw for all H, one for all P."""
  num_outputs = num_classes if num_outputs is None else num_outputs
  key, k_h, k_p = jax.random.split(key, 3)
  widths = (num_inputs,) + tuple(layers)
  shapes_h = [(widths[l], widths[l + 1]) for l in range(len(layers))]
  shapes_p = [(widths[l + 1], num_outputs) for l in range(len(layers))]
  size_h = sum(a * b for a, b in shapes_h)
  size_p = sum(a * b for a, b in shapes_p)
  c = clip_value(weight_clip, semantics)
  g = np.asarray(jnp.float32(64.0) * jax.random.normal(k_h, (size_h,), jnp.float32))
  h_all = integer_init(g, semantics)
  q_all = None
  if train_classifiers:
    gp = np.asarray(jnp.float32(64.0) * jax.random.normal(k_p, (size_p,), jnp.float32))
    q_all = np.clip(integer_init(gp, semantics), -c, c)
    p_all = np.sign(q_all)
  elif semantics == 'reference':
    gp = np.asarray(jnp.float32(64.0) * jax.random.normal(k_p, (size_p,), jnp.float32))
    p_all = np.sign(np.trunc(gp)).astype(np.int64)
  else:
    p_all = np.where(np.asarray(jax.random.bernoulli(k_p, 0.5, (size_p,))), 1,
                     -1).astype(np.int64)
  hidden, classifiers, classifier_hidden = [], [], []
  oh = op = 0
  for sh, sp in zip(shapes_h, shapes_p):
    hidden.append(np.clip(h_all[oh:oh + sh[0] * sh[1]].reshape(sh), -c, c))
    classifiers.append(p_all[op:op + sp[0] * sp[1]].reshape(sp))
    if train_classifiers:
      classifier_hidden.append(q_all[op:op + sp[0] * sp[1]].reshape(sp))
    oh += sh[0] * sh[1]
    op += sp[0] * sp[1]
  return dict(hidden=hidden, classifiers=classifiers, classifier_hidden=classifier_hidden,
              key=key, prev_acc=np.float32(0))


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


def predict_one(z_mu, semantics, head):
  """Class predicted from one score vector; -1 when a 'sign' head scores 0 under
  'reference' (no class, as the authors' code compares sign(z) with the ±1 label)."""
  if head == 'argmax':
    return int(np.argmax(z_mu))
  s = int(sign(np.array([z_mu[0]]), semantics)[0])
  return {1: 1, -1: 0, 0: -1}[s]


def error_set(z, y, valid, tau, semantics, head):
  """Step 3, per sample: wrong, or a top-1 minus top-2 gap (sign head: |z|) below τ."""
  err = np.zeros(len(y), bool)
  for mu in range(len(y)):
    if not valid[mu]:
      continue
    if head == 'argmax':
      order = np.sort(z[mu])[::-1]
      err[mu] = np.argmax(z[mu]) != y[mu] or (order[0] - order[1]) < tau
    else:
      y_pm = 2 * int(y[mu]) - 1
      err[mu] = (int(sign(np.array([z[mu, 0]]), semantics)[0]) != y_pm
                 or abs(z[mu, 0]) < tau)
  return err


def reinforce(h_new, key, p_r, prev_acc):
  """Step 7 (float32 arithmetic as in bnnjax)."""
  const = np.float32(math.sqrt(2.0 / (math.pi * h_new.shape[0])))
  one_minus = np.float32(max(np.float32(1.0) - np.float32(prev_acc), 0.0))
  prob = np.float32(np.float32(p_r) * np.sqrt(one_minus)) * const
  grow = bernoulli_mask(key, prob, h_new.shape)
  return h_new + 2 * np.sign(h_new) * grow


def step(state, x, y, valid, params, semantics, group_sizes, head='argmax',
         train_classifiers=False):
  """One literal training step; returns (new_state, num_correct)."""
  r, p_r, weight_clip = params
  key, step_key = jax.random.split(state['key'])
  layer_keys = jax.random.split(step_key, len(state['hidden']))
  pre, post, scores = forward(state, x, semantics)
  b = x.shape[0]
  correct = sum(1 for mu in range(b)
                if valid[mu] and predict_one(scores[-1][mu], semantics, head) == y[mu])
  inputs = [x.astype(np.int64)] + post[:-1]
  c = clip_value(weight_clip, semantics)
  new_hidden, new_classifiers, new_q = [], [], []
  stats = []  # per layer: (samples in the error set, neurons selected for any sample)
  for l, (h, p) in enumerate(zip(state['hidden'], state['classifiers'])):
    n = h.shape[1]
    gamma = group_sizes[l]
    tau = int(np.floor(np.float32(r) * np.float32(n)))
    z = scores[l]
    err = error_set(z, y, valid, tau, semantics, head)  # step 3
    if train_classifiers and err.any():
      # Trained classifier: for μ in M, move the true column (argmax: +s where
      # z_y < 0; sign: y±·s where sign(z)·y± < 0), reinforce (fan-in N_l), clip.
      q = state['classifier_hidden'][l].copy()
      for mu in range(b):
        if not err[mu]:
          continue
        if head == 'argmax':
          if z[mu, y[mu]] < 0:
            q[:, y[mu]] += 2 * post[l][mu]
        else:
          y_pm = 2 * int(y[mu]) - 1
          if int(sign(np.array([z[mu, 0]]), semantics)[0]) * y_pm < 0:
            q[:, 0] += 2 * y_pm * post[l][mu]
      q_key = jax.random.fold_in(layer_keys[l], 1)
      q = np.clip(reinforce(q, q_key, p_r, state['prev_acc']), -c, c)
      p = np.sign(q)
      new_q.append(q)
    elif train_classifiers:
      new_q.append(state['classifier_hidden'][l])
    new_classifiers.append(p)
    # Steps 4-5: targets and group selection (explicit loops).
    m = np.zeros((b, n), np.int64)
    if head == 'argmax':
      t = p[:, y].T  # (B, N)
    else:
      t = (2 * y.astype(np.int64) - 1)[:, None] * p[:, 0][None, :]
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
    # Steps 7-8: reinforcement, clip.
    h_new = np.clip(reinforce(h + delta, layer_keys[l], p_r, state['prev_acc']), -c, c)
    new_hidden.append(h_new if err.any() else h)
    stats.append((int(err.sum()), int(np.any(m, axis=0).sum())))
  new_state = dict(state, hidden=new_hidden, key=key, classifiers=new_classifiers,
                   classifier_hidden=new_q, stats=stats)
  return new_state, correct


def evaluate(state, x, y, semantics, head='argmax'):
  scores = forward(state, x, semantics)[2][-1]
  return sum(1 for mu in range(x.shape[0])
             if predict_one(scores[mu], semantics, head) == y[mu])


def train(key, x_pool, y_pool, layers, group_sizes, num_classes, batch_size, num_epochs,
          num_test, params, semantics, shuffle_split=True, head='argmax',
          train_classifiers=False):
  """Whole run as bnnjax.run documents it; returns (state, train %[E], test %[E]).
  state['diagnostics'] holds per epoch: error-set sizes and selected-neuron counts per
  layer (summed over steps), sign flips per layer, and the hidden weights."""
  n = x_pool.shape[0]
  split_key, init_key = jax.random.split(key)
  perm = (np.asarray(jax.random.permutation(split_key, n)) if shuffle_split
          else np.arange(n))
  train_idx, test_idx = perm[:n - num_test], perm[n - num_test:]
  state = init(init_key, layers, x_pool.shape[1], num_classes, semantics, params[2],
               train_classifiers, 1 if head == 'sign' else num_classes)
  train_accs, test_accs = [], []
  diag = {'errors': [], 'updated': [], 'flips': [], 'hidden': []}
  for _ in range(num_epochs):
    k, perm_key = jax.random.split(state['key'])
    state['key'] = k
    order = np.asarray(jax.random.permutation(perm_key, jnp.asarray(train_idx)))
    correct = 0
    before = [np.sign(h) for h in state['hidden']]
    errors = np.zeros(len(layers), np.int64)
    updated = np.zeros(len(layers), np.int64)
    for start in range(0, len(order), batch_size):
      idx = order[start:start + batch_size]
      state, c = step(state, x_pool[idx], y_pool[idx], np.ones(len(idx), bool), params,
                      semantics, group_sizes, head, train_classifiers)
      correct += c
      errors += [e for e, _ in state['stats']]
      updated += [u for _, u in state['stats']]
    diag['errors'].append(errors)
    diag['updated'].append(updated)
    diag['flips'].append([int(np.sum(b != np.sign(h))) for b, h in zip(before,
                                                                        state['hidden'])])
    diag['hidden'].append([h.copy() for h in state['hidden']])
    acc = np.float32(correct) / np.float32(len(train_idx))
    state['prev_acc'] = acc
    train_accs.append(100.0 * correct / len(train_idx))
    test_accs.append(100.0 * evaluate(state, x_pool[test_idx], y_pool[test_idx], semantics,
                                      head) / len(test_idx))
  state['diagnostics'] = diag
  return state, np.array(train_accs), np.array(test_accs)


# ----------------------------------------------------------------------------------
# Binary conv nets (docs/conv.md), literal loops
# ----------------------------------------------------------------------------------


def conv_layer_shapes(image_shape, blocks, layers):
  """[(H, W, C, k, stride, pad, pool, F, Ho, Wo, Hp, Wp)] per layer; blocks are
  (filters, kernel, pool, stride, padding); dense layers are 1x1 maps with kernel 1."""
  h, w, c = image_shape
  out = []
  for f, k, pool, st, pad in blocks:
    ho, wo = (h + 2 * pad - k) // st + 1, (w + 2 * pad - k) // st + 1
    out.append((h, w, c, k, st, pad, pool, f, ho, wo, ho // pool, wo // pool))
    h, w, c = ho // pool, wo // pool, f
  d = h * w * c
  for n in layers:
    out.append((1, 1, d, 1, 1, 0, 1, n, 1, 1, 1, 1))
    d = n
  return out


def conv_forward(state, images, shapes, semantics):
  """images: int64 (B, H, W, C) ±1. Per layer: patches {(mu, i, j): vector}, a (B, Ho,
  Wo, F), pooled (B, Hp, Wp, F), z (B, C_out); each patch read pixel by pixel."""
  m = images.astype(np.int64)
  out = []
  for (h, w, c, k, st, pad, pool, f, ho, wo, hp, wp), hid, p in zip(
      shapes, state['hidden'], state['classifiers']):
    m = m.reshape(m.shape[0], h, w, c)
    b = m.shape[0]
    padv = 0 if semantics == 'reference' else 1
    wsign = np.sign(hid)
    a = np.zeros((b, ho, wo, f), np.int64)
    patches = {}
    for mu in range(b):
      for i in range(ho):
        for j in range(wo):
          vec = []
          for di in range(k):
            for dj in range(k):
              for ch in range(c):
                r, q = i * st + di - pad, j * st + dj - pad
                vec.append(m[mu, r, q, ch] if 0 <= r < h and 0 <= q < w else padv)
          vec = np.array(vec, np.int64)
          patches[mu, i, j] = vec
          a[mu, i, j] = vec @ wsign
    s = sign(a, semantics)
    pooled = np.zeros((b, hp, wp, f), np.int64)
    for i in range(hp):
      for j in range(wp):
        pooled[:, i, j] = s[:, i * pool:(i + 1) * pool, j * pool:(j + 1) * pool].max(axis=(1, 2))
    z = pooled.reshape(b, -1) @ p
    out.append((patches, a, pooled, z))
    m = pooled
  return out


def conv_step(state, images, y, valid, params, semantics, shapes, group_sizes,
              select='filter', margin=0, freeze=0, head='argmax'):
  """One literal conv training step. params: (r_q, p_q, weight_clip) in the integer
  units of `bnnjax.conv.ConvParams`; state['prev_acc'] an int (units of 2^-30).
  freeze: number of leading layers left unchanged. Returns (new_state, correct)."""
  r_q, p_q, weight_clip = params
  key, step_key = jax.random.split(state['key'])
  layer_keys = jax.random.split(step_key, len(shapes))
  fwd = conv_forward(state, images, shapes, semantics)
  b = images.shape[0]
  correct = sum(1 for mu in range(b)
                if valid[mu] and predict_one(fwd[-1][3][mu], semantics, head) == y[mu])
  c = clip_value(weight_clip, semantics)
  new_hidden, stats = [], []
  for l, ((h, w, ch, k, st, pad, pool, f, ho, wo, hp, wp), hid, p) in enumerate(
      zip(shapes, state['hidden'], state['classifiers'])):
    if l < freeze:
      new_hidden.append(hid)
      stats.append((0, 0))
      continue
    patches, a, pooled, z = fwd[l]
    units = hp * wp * f
    err = error_set(z, y, valid, (r_q * units) // 2**16, semantics, head)
    # Targets of units and of positions; candidates.
    if head == 'argmax':
      t_units = p[:, y].T.reshape(b, hp, wp, f)
    else:
      t_units = ((2 * y.astype(np.int64) - 1)[:, None] * p[:, 0][None, :]).reshape(
          b, hp, wp, f)
    t = np.zeros((b, ho, wo, f), np.int64)
    cand = np.zeros((b, ho, wo, f), bool)
    for mu in range(b):
      for i in range(hp * pool):
        for j in range(wp * pool):
          for fi in range(f):
            tu = t_units[mu, i // pool, j // pool, fi]
            t[mu, i, j, fi] = tu
            stab = a[mu, i, j, fi] * tu
            unit_wrong = pooled[mu, i // pool, j // pool, fi] * tu < 0
            cand[mu, i, j, fi] = err[mu] and tu != 0 and (
                (stab < 0 and unit_wrong) or (0 <= stab < margin))
    g = np.zeros((b, ho, wo, f), np.int64)
    gamma = group_sizes[l]

    def keep_group_winners(mu, chosen):
      # chosen: {filter: its chosen position}; in each group of γ filters, the one with
      # the least |a| there (lowest index on ties) keeps its target.
      for g0 in range(0, f, gamma):
        win = None
        for fi in range(g0, g0 + gamma):
          if fi in chosen and (win is None or abs(a[mu][chosen[fi]][fi]) <
                               abs(a[mu][chosen[win]][win])):
            win = fi
        if win is not None:
          g[mu][chosen[win]][win] = t[mu][chosen[win]][win]

    for mu in range(b):
      if select == 'all':
        g[mu] = np.where(cand[mu], t[mu], 0)
      elif select == 'filter':
        chosen = {}
        for fi in range(f):  # least |a|, first in row-major order on ties
          best = None
          for i in range(ho):
            for j in range(wo):
              if cand[mu, i, j, fi] and (best is None or abs(a[mu, i, j, fi]) <
                                         abs(a[mu][best][fi])):
                best = (i, j)
          if best is not None:
            chosen[fi] = best
        keep_group_winners(mu, chosen)
      else:  # 'unit'
        for ui in range(hp):
          for uj in range(wp):
            chosen = {}
            for fi in range(f):
              best = None
              for di in range(pool):
                for dj in range(pool):
                  q = (ui * pool + di, uj * pool + dj)
                  if cand[mu][q][fi] and (best is None or abs(a[mu][q][fi]) <
                                          abs(a[mu][best][fi])):
                    best = q
              if best is not None:
                chosen[fi] = best
            keep_group_winners(mu, chosen)
    delta = np.zeros_like(hid)
    for (mu, i, j), vec in patches.items():
      delta += 2 * np.outer(vec, g[mu, i, j])
    h_sum = hid + delta
    # Integer reinforcement: T = p_q * ((isqrt(2^30 - prev_acc) * c) >> 15).
    fan_in = k * k * ch
    cst = int(round(math.sqrt(2.0 / (math.pi * fan_in)) * 2**16))
    thr = p_q * ((math.isqrt(2**30 - int(state['prev_acc'])) * cst) >> 15)
    seed = np.asarray(jax.random.bits(layer_keys[l], (2,), jnp.uint32)).astype(np.uint64)
    idx = np.arange(hid.size, dtype=np.uint64).reshape(hid.shape)
    bits_ = lowbias32((lowbias32(idx ^ seed[0]) + seed[1]) & 0xFFFFFFFF)
    grow = bits_ < thr
    h_new = np.clip(h_sum + 2 * np.sign(h_sum) * grow, -c, c)
    new_hidden.append(h_new if err.any() else h_sum)
    stats.append((int(err.sum()), int(np.any(g != 0, axis=(0, 1, 2)).sum())))
  return dict(state, hidden=new_hidden, key=key, stats=stats), correct


# BEP (bnnjax.baselines.bep, docs/bep.md): a literal NumPy step, Python integers for
# the fixed-point thresholds.
# ----------------------------------------------------------------------------------

BEP_ONE = 2**16


def bep_sign(x):
  """sign with sign(0) = +1 (BEP, both semantics)."""
  return np.where(np.asarray(x) >= 0, 1, -1).astype(np.int64)


def hash_u32(key, shape):
  """bnnjax.rng.hash_bits in NumPy (uint64 values below 2^32)."""
  seed = np.asarray(jax.random.bits(key, (2,), jnp.uint32)).astype(np.uint64)
  idx = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape)
  return lowbias32((lowbias32(idx ^ seed[0]) + seed[1]) & 0xFFFFFFFF)


def bep_step(state, x, y, valid, nu, robustness, p_reinforce, weight_clip, semantics,
             group_sizes):
  """One BEP step as docs/bep.md states it. state: dict(hidden=[int64 (N_{l-1}, N_l)],
  codebook=int64 (K_L, C), key, epoch=int, counts=[5 ints]); nu, robustness,
  p_reinforce: REAL values (quantised here to multiples of 2^-16, as bep.hparams);
  weight_clip: int (0: 32767). Returns (new_state, num_correct)."""
  nu_q, r_q, pr_q = (int(np.round(np.float64(v) * BEP_ONE)) for v in
                     (nu, robustness, p_reinforce))
  c_max = 32767 if weight_clip <= 0 else min(weight_clip, 32767)
  if semantics == 'binary' and c_max % 2 == 0:
    c_max -= 1
  hidden, p = state['hidden'], state['codebook']
  num_layers = len(hidden)
  b = x.shape[0]
  # Forward.
  a_in = [x.astype(np.int64)]
  pre, post = [], []
  for h in hidden:
    z = a_in[-1] @ bep_sign(h)
    pre.append(z)
    post.append(bep_sign(z))
    a_in.append(post[-1])
  scores = post[-1] @ p
  correct_rows = np.array([valid[m] and int(np.argmax(scores[m])) == y[m] for m in range(b)])
  # Epoch counts.
  counts = list(state['counts'])
  if state['epoch'] != counts[0]:
    counts = [state['epoch'], counts[3], counts[4], 0, 0]
  key, step_key = jax.random.split(state['key'])
  layer_keys = jax.random.split(step_key, num_layers)
  # Trigger: margin < r K_L.
  k_last = hidden[-1].shape[1]
  trig = np.zeros(b, bool)
  for m in range(b):
    others = [scores[m, c] for c in range(scores.shape[1]) if c != y[m]]
    margin = scores[m, y[m]] - max(others)
    trig[m] = valid[m] and margin * BEP_ONE < r_q * k_last
  # Desired activations, top-down.
  target = [None] * num_layers
  target[-1] = p[:, y].T.astype(np.int64)
  for l in range(num_layers - 2, -1, -1):
    n_here = hidden[l].shape[1]
    gate = np.abs(pre[l + 1]) * BEP_ONE <= nu_q * n_here
    gated = np.where(gate, target[l + 1], 0)
    target[l] = bep_sign(gated @ bep_sign(hidden[l + 1]).T)
  # Reinforcement threshold: floor(p_r,q kappa / 2^16) * floor(sqrt(E) 2^16).
  e16 = (counts[1] * BEP_ONE) // max(counts[2], 1)
  s16 = math.isqrt(e16 * BEP_ONE)
  new_hidden = []
  for l, h in enumerate(hidden):
    gs = group_sizes[l]
    n = h.shape[1]
    delta = np.zeros_like(h)
    for m in range(b):
      if not trig[m]:
        continue
      for g0 in range(0, n, gs):
        best = None
        for j in range(g0, g0 + gs):
          if target[l][m, j] != post[l][m, j] and (
              best is None or abs(pre[l][m, j]) < abs(pre[l][m, best])):
            best = j
        if best is not None:
          delta[:, best] += 2 * a_in[l][m] * target[l][m, best]
    h_new = h + delta
    kappa = int(math.floor(math.sqrt(2.0 / (math.pi * h.shape[0])) * BEP_ONE))
    thr = ((pr_q * kappa) >> 16) * s16
    grow = hash_u32(layer_keys[l], h.shape) < thr
    h_new = np.clip(h_new + 2 * bep_sign(h_new) * grow, -c_max, c_max)
    new_hidden.append(h_new if trig.any() else h)
  counts[3] += int(np.sum(valid & ~correct_rows))
  counts[4] += int(np.sum(valid))
  return dict(state, hidden=new_hidden, key=key, counts=counts), int(correct_rows.sum())
