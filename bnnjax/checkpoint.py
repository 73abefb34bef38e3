"""Checkpoints and atomic files: a killed run resumes and reaches the same bits.

A checkpoint (`<workdir>/checkpoint.npz`) holds the flat states of every run, the
accuracy history, the diagnostics so far, the wall time so far and a fingerprint of the
run: the config's result fields (`config.result_dict`: speed knobs left out, so a run
resumes with another backend or seed chunk), the hyper-parameters, seeds and data, and
`code_fingerprint` of the code that decides its bits (the engine and the method's model
modules, comments and docstrings excluded). A checkpoint of another run or other code
is refused with an error naming the file, never silently mixed in or restarted.

Every file is written atomically: to a temporary file in the same folder, synced, then
renamed over the target (`atomic_write`).
"""

import ast
import hashlib
import math
import os
import tempfile
import zipfile
from typing import Callable, Dict, Iterable, Sequence

import jax
import numpy as np

_ROOT = os.path.dirname(os.path.abspath(__file__))
# Modules whose code decides the bits of every run (besides the method's own modules).
ENGINE_MODULES = ('bits', 'rng', 'engine', 'diagnostics')


# ----------------------------------------------------------------------------------
# Fingerprints
# ----------------------------------------------------------------------------------


def _strip_docstrings(tree: ast.AST) -> ast.AST:
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                         ast.AsyncFunctionDef)):
      body = node.body
      if body and isinstance(body[0], ast.Expr) and isinstance(
          getattr(body[0], 'value', None), ast.Constant) and isinstance(
              body[0].value.value, str):
        node.body = body[1:] or [ast.Pass()]
  return tree


def normalized_source(path: str) -> str:
  """The code of a Python file without comments, docstrings or layout (`ast.unparse`
  of its syntax tree without docstrings): edits of those do not change it."""
  with open(path, encoding='utf-8') as f:
    return ast.unparse(_strip_docstrings(ast.parse(f.read())))


def code_fingerprint(modules: Iterable[str] = ()) -> str:
  """SHA-256 of the normalized code of ENGINE_MODULES and `modules` (paths relative to
  the bnnjax package without '.py', e.g. 'model', 'baselines/cp_r') and of the hidden
  weights' saturation bound. A change of that code refuses older checkpoints (remove
  them, or finish with the code that wrote them); a change of a comment or docstring
  does not."""
  from bnnjax import config
  h = hashlib.sha256()
  for name in tuple(ENGINE_MODULES) + tuple(m for m in modules if m not in ENGINE_MODULES):
    h.update(name.encode())
    h.update(normalized_source(os.path.join(_ROOT, name + '.py')).encode())
  h.update(f'MAX_WEIGHT={config.MAX_WEIGHT}'.encode())
  return h.hexdigest()


def fingerprint(config_text: str, code: str, params, keys, data) -> str:
  """Identifies a run (for its checkpoint): the config's text, the code fingerprint,
  the flat hyper-parameters, the run keys and the data pool."""
  h = hashlib.sha256()
  h.update(config_text.encode())
  h.update(code.encode())
  for a in list(params) + [keys, data.x, data.y]:
    h.update(np.ascontiguousarray(np.asarray(a)).tobytes())
  return h.hexdigest()


def config_text(config, method: str = '') -> str:
  """The text of a config in a fingerprint: 'Type({result fields})', prefixed with
  'method/' when given (the rule's own runs have no prefix, as before the prefix
  existed, so their checkpoints keep resuming)."""
  from bnnjax.config import result_dict
  text = f'{type(config).__name__}({result_dict(config)!r})'
  return f'{method}/{text}' if method else text


# ----------------------------------------------------------------------------------
# Atomic files
# ----------------------------------------------------------------------------------


def atomic_write(path: str, write_fn: Callable) -> None:
  """Calls write_fn(file) on a temporary file beside `path`, then renames it over path.

  On any failure the temporary file is removed and an existing `path` is left as it
  was; an OSError (e.g. ENOSPC) is raised again naming `path`."""
  folder = os.path.dirname(os.path.abspath(path))
  tmp = None
  try:
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix=os.path.basename(path))
    with os.fdopen(fd, 'wb') as f:
      write_fn(f)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    if tmp is not None and os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(e, OSError) and getattr(e, 'filename', None) != path:
      raise OSError(e.errno, f'could not write {path}: {e.strerror or e}; the previous '
                    f'file (if any) is unchanged', path) from e
    raise


def remove_stale_temporaries(path: str) -> None:
  """Removes `atomic_write` temporaries of `path` left by a killed write (never read)."""
  folder = os.path.dirname(os.path.abspath(path))
  suffix = os.path.basename(path)
  if os.path.isdir(folder):
    for name in os.listdir(folder):
      if name.startswith('.tmp-') and name.endswith(suffix):
        try:
          os.remove(os.path.join(folder, name))
        except OSError:
          pass


# ----------------------------------------------------------------------------------
# Checkpoint files
# ----------------------------------------------------------------------------------


def narrow(a: np.ndarray) -> np.ndarray:
  """An integer array in the smallest signed dtype of int8/int16 holding its values
  (checkpoints of the widest nets shrink 2-4x; loading casts back, losslessly)."""
  if a.dtype.kind != 'i' or a.size == 0 or a.dtype.itemsize <= 1:
    return a
  lo, hi = int(a.min()), int(a.max())
  for t in (np.int8, np.int16):
    if np.dtype(t).itemsize < a.dtype.itemsize and np.iinfo(t).min <= lo and \
        hi <= np.iinfo(t).max:
      return a.astype(t)
  return a


def save(path: str, fingerprint_hex: str, states, history: np.ndarray,
         metrics: Dict = None, wall_seconds: float = 0.0) -> None:
  """Writes a checkpoint atomically: flat states [R, ...], history [2, R, E] (train,
  test accuracy), metrics {name: [R, E, ...]}, the wall time so far."""
  leaves = jax.tree_util.tree_leaves(states)
  arrays = {f'leaf_{i}': narrow(np.asarray(v)) for i, v in enumerate(leaves)}
  arrays['history'] = history
  arrays['fingerprint'] = np.asarray(fingerprint_hex)
  arrays['wall_seconds'] = np.asarray(wall_seconds, np.float64)
  for name, v in (metrics or {}).items():
    arrays[f'metric_{name}'] = np.asarray(v)
  atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path: str, fingerprints: Sequence[str], like_states):
  """(states, history [2, R, E], metrics {name: [R, E, ...]}, wall seconds so far) of a
  checkpoint whose fingerprint is one of `fingerprints`. Another run's checkpoint, or a
  truncated or corrupted file, raises ValueError naming it."""
  leaves, treedef = jax.tree_util.tree_flatten(like_states)
  try:
    with np.load(path) as z:
      if str(z['fingerprint']) not in fingerprints:
        raise _Mismatch()
      wall = float(z['wall_seconds']) if 'wall_seconds' in z.files else 0.0
      new = []
      for i, like in enumerate(leaves):
        a = z[f'leaf_{i}']
        if a.shape != like.shape or a.dtype.kind != like.dtype.kind:
          raise ValueError(f'leaf {i} is {a.dtype}{list(a.shape)}, expected '
                           f'{like.dtype}{list(like.shape)}')
        new.append(a.astype(like.dtype))
      history = z['history']
      metrics = {k[len('metric_'):]: z[k] for k in z.files if k.startswith('metric_')}
      if history.ndim != 3 or history.shape[:2] != (2, leaves[0].shape[0]):
        raise ValueError(f'history has shape {list(history.shape)}')
  except _Mismatch:
    raise ValueError(
        f'checkpoint {path} belongs to a different run (config, hyper-parameters, '
        f'seeds, data or the code of the rule differ); remove it or use another '
        f'workdir') from None
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
    raise ValueError(
        f'checkpoint {path} is unreadable or incomplete ({type(e).__name__}: {e}). '
        f'bnnjax writes checkpoints atomically, so it was damaged afterwards (disk, '
        f'copy) or written by another program: remove it to start the run again, or '
        f'restore a good copy') from None
  return jax.tree_util.tree_unflatten(treedef, new), history, metrics, wall


class _Mismatch(Exception):
  pass


# Automatic checkpoints (checkpoint_every = 0): write after every epoch while a write
# takes at most CHEAP_SECONDS or at most OVERHEAD of an epoch; otherwise every K epochs,
# K = the measured write time over OVERHEAD of the epoch time, so the overhead stays
# near it (the widest paper nets: gigabytes of states).
OVERHEAD = 0.05
CHEAP_SECONDS = 1.0


class Policy:
  """Decides after which epochs a checkpoint is written (the last always is)."""

  def __init__(self, every: int):
    self.every = every
    self.since = 0  # epochs since the last write
    self.epoch_seconds = None
    self.write_seconds = None

  def due(self, epochs_done: int, last: bool, epoch_seconds: float) -> bool:
    self.since += 1
    if last:
      return True
    if self.every:
      return epochs_done % self.every == 0
    self.epoch_seconds = epoch_seconds if self.epoch_seconds is None else min(
        self.epoch_seconds, epoch_seconds)
    if self.write_seconds is None or self.write_seconds <= CHEAP_SECONDS:
      return True  # measure one write; cheap writes every epoch
    k = math.ceil(self.write_seconds / (OVERHEAD * max(self.epoch_seconds, 1e-9)))
    return self.since >= max(1, k)

  def saved(self, seconds: float) -> None:
    self.since = 0
    self.write_seconds = seconds
