"""Regenerates the colab/ notebooks (.ipynb) from their jupytext sources (.py).

  python colab/build.py           # rewrite badges and REPO lines, write every .ipynb
  python colab/build.py --check   # exit 1 (and say what) if anything is out of date

The `.py` files (jupytext percent format) are the sources: edit them, then run this.
Each `.ipynb` is written from its `.py` without outputs, so the pair stays in sync
(tests/test_notebooks.py fails otherwise). Plain jupytext gives the same notebooks:
`jupytext --to ipynb colab/[0-9]*.py` (this script also keeps the repository below in
every badge and install cell).

GITHUB_REPO is the one place that names the repository: the "Open in Colab" badges and
the Colab install cells are rewritten from it.
"""

import glob
import os
import re
import sys

GITHUB_REPO = 'bnnjax/bnnjax'  # owner/name on GitHub
BRANCH = 'main'

COLAB_DIR = os.path.dirname(os.path.abspath(__file__))
BADGE_IMAGE = 'https://colab.research.google.com/assets/colab-badge.svg'
_BADGE_RE = re.compile(r'\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)')
_REPO_RE = re.compile(r"^REPO = '[^']*'", re.MULTILINE)


def notebook_sources():
  """Paths of the notebooks' .py sources (colab/NN_name.py), sorted."""
  return sorted(glob.glob(os.path.join(COLAB_DIR, '[0-9][0-9]_*.py')))


def colab_url(name: str) -> str:
  """The Colab address of notebook `name` (e.g. '00_quickstart') in the repository."""
  return (f'https://colab.research.google.com/github/{GITHUB_REPO}/blob/{BRANCH}/colab/'
          f'{name}.ipynb')


def badge(name: str) -> str:
  return f'[![Open In Colab]({BADGE_IMAGE})]({colab_url(name)})'


def updated_source(py_path: str) -> str:
  """The text of a .py source with its badge and install-cell REPO line rewritten from
  GITHUB_REPO. Raises ValueError if either is missing."""
  name = os.path.splitext(os.path.basename(py_path))[0]
  with open(py_path, encoding='utf-8') as f:
    text = f.read()
  if not _BADGE_RE.search(text):
    raise ValueError(f'{py_path}: no "Open In Colab" badge')
  if not _REPO_RE.search(text):
    raise ValueError(f"{py_path}: no REPO = '...' line in the install cell")
  text = _BADGE_RE.sub(lambda m: badge(name), text)
  return _REPO_RE.sub(f"REPO = '{GITHUB_REPO}'", text)


def ipynb_text(py_text: str) -> str:
  """The .ipynb (JSON text, no outputs) jupytext makes of a percent-format source, with
  cell ids numbered in order (nbformat draws random ones: rebuilding would then change
  every file)."""
  import jupytext
  nb = jupytext.reads(py_text, fmt='py:percent')
  for i, cell in enumerate(nb.cells):
    cell['id'] = f'cell-{i:02d}'
  return jupytext.writes(nb, fmt='ipynb')


def build(check: bool = False) -> list:
  """Writes (or, with check, only compares) every source and notebook; returns the
  paths that were (or would be) changed."""
  changed = []
  for py in notebook_sources():
    text = updated_source(py)
    ipynb = os.path.splitext(py)[0] + '.ipynb'
    nb_text = ipynb_text(text)  # from the rewritten source, before it is written
    for path, new in ((py, text), (ipynb, nb_text)):
      old = None
      if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
          old = f.read()
      if old != new:
        changed.append(path)
        if not check:
          with open(path, 'w', encoding='utf-8') as f:
            f.write(new)
  return changed


def main(argv) -> int:
  check = '--check' in argv[1:]
  unknown = [a for a in argv[1:] if a != '--check']
  if unknown:
    print(f'error: unexpected arguments {unknown} (usage: build.py [--check])',
          file=sys.stderr)
    return 2
  changed = build(check)
  rel = [os.path.relpath(p) for p in changed]
  if check and changed:
    print('out of date (run python colab/build.py): ' + ', '.join(rel))
    return 1
  print(('wrote ' + ', '.join(rel)) if changed else 'up to date')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv))
