"""colab/: each notebook's jupytext source (.py) and its .ipynb hold the same cells, the
.ipynb carry no outputs, badges and install cells follow colab/build.py, and every
notebook runs headless (nbclient) in smoke mode (BNNJAX_SMOKE=1), install cell skipped.

The kernel is this interpreter: a `python3` kernelspec pointing at sys.executable is
written to a temporary JUPYTER_PATH, so a fresh virtual environment needs nothing
beyond `pip install -e '.[test]'`. The kernel starts in a temporary folder with the
repository on PYTHONPATH (`import bnnjax, experiments`).
"""

import ast
import glob
import importlib.util
import os
import re
import sys

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLAB = os.path.join(ROOT, 'colab')
NOTEBOOKS = ('00_quickstart', '01_reproduce_a_table', '02_sweeps',
             '03_inside_a_binary_network')
SKIP_TAG = 'skip-execution'
SMOKE_ENV = 'BNNJAX_SMOKE'
CELL_TIMEOUT_S = 600
# Files a notebook writes relative to its working directory (a temporary folder here).
WRITES = {'01_reproduce_a_table': ('runs/experiments/main/table.md',
                                   'runs/experiments/main/figure.png'),
          '03_inside_a_binary_network': ('figures/inside_a_binary_network.png',)}


def _load_build():
  spec = importlib.util.spec_from_file_location('colab_build',
                                                os.path.join(COLAB, 'build.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


build = _load_build()


def _paths(name):
  return os.path.join(COLAB, name + '.py'), os.path.join(COLAB, name + '.ipynb')


def _cells(nb):
  """(cell_type, source, metadata) of every cell: what jupytext pairs carry."""
  return [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]


def pair_differences(py_nb, ipynb_nb):
  """Human-readable differences between the notebook jupytext reads from a .py source
  and the .ipynb beside it (cells' types, sources and metadata; the kernelspec)."""
  out = []
  a, b = _cells(py_nb), _cells(ipynb_nb)
  if len(a) != len(b):
    out.append(f'{len(a)} cells in the .py, {len(b)} in the .ipynb')
  for i, (ca, cb) in enumerate(zip(a, b)):
    for field, va, vb in zip(('type', 'source', 'metadata'), ca, cb):
      if va != vb:
        out.append(f'cell {i}: {field} differs: .py {va!r:.120} vs .ipynb {vb!r:.120}')
  if py_nb.metadata.get('kernelspec') != ipynb_nb.metadata.get('kernelspec'):
    out.append('kernelspec differs')
  return out


def _tags(cell):
  return cell.metadata.get('tags', [])


def test_the_notebooks_are_the_listed_pairs():
  sources = {os.path.splitext(os.path.basename(p))[0] for p in build.notebook_sources()}
  ipynbs = {os.path.splitext(os.path.basename(p))[0]
            for p in glob.glob(os.path.join(COLAB, '*.ipynb'))}
  assert sources == set(NOTEBOOKS)
  assert ipynbs == set(NOTEBOOKS)


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_pair_in_sync(name):
  py, ipynb = _paths(name)
  diffs = pair_differences(jupytext.read(py), nbformat.read(ipynb, as_version=4))
  assert not diffs, (f'{name}.py and {name}.ipynb are out of sync (run python '
                     f'colab/build.py): ' + '; '.join(diffs))


def test_sync_check_sees_an_edit(tmp_path):
  py, ipynb = _paths(NOTEBOOKS[0])
  with open(py, encoding='utf-8') as f:
    text = f.read()
  edited = tmp_path / 'edited.py'
  edited.write_text(text.replace('EPOCHS = 50', 'EPOCHS = 49', 1), encoding='utf-8')
  assert 'EPOCHS = 49' in edited.read_text(encoding='utf-8')
  diffs = pair_differences(jupytext.read(str(edited)), nbformat.read(ipynb, as_version=4))
  assert len(diffs) == 1 and 'source differs' in diffs[0]
  # A cell tag is metadata: dropping skip-execution is a difference too.
  untagged = tmp_path / 'untagged.py'
  untagged.write_text(text.replace('# %% tags=["skip-execution"]', '# %%', 1),
                      encoding='utf-8')
  diffs = pair_differences(jupytext.read(str(untagged)),
                           nbformat.read(ipynb, as_version=4))
  assert len(diffs) == 1 and 'metadata differs' in diffs[0]


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_ipynb_carries_no_outputs(name):
  nb = nbformat.read(_paths(name)[1], as_version=4)
  nbformat.validate(nb)
  for i, cell in enumerate(nb.cells):
    if cell.cell_type == 'code':
      assert cell.outputs == [], f'{name}.ipynb cell {i} has outputs'
      assert cell.execution_count is None, f'{name}.ipynb cell {i} has an execution count'


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_badge_install_cell_and_forms(name):
  nb = jupytext.read(_paths(name)[0])
  first = nb.cells[0]
  assert first.cell_type == 'markdown' and first.source.startswith(build.badge(name))
  assert build.colab_url(name).endswith(f'/blob/{build.BRANCH}/colab/{name}.ipynb')
  skipped = [c for c in nb.cells if SKIP_TAG in _tags(c)]
  assert len(skipped) == 1, 'exactly one cell (the install cell) is skip-execution'
  install = skipped[0].source
  assert f"REPO = '{build.GITHUB_REPO}'" in install and 'pip' in install
  assert nb.cells.index(skipped[0]) == 1, 'the install cell comes right after the badge'
  code = '\n'.join(c.source for c in nb.cells if c.cell_type == 'code')
  assert '# @param' in code
  assert SMOKE_ENV in code
  # The setup cell (the first after the install cell) runs the self-test.
  assert 'selftest.main(' in nb.cells[2].source


def _form_choices(name, variable):
  """The choices of a dropdown form field `VARIABLE = ...  # @param [...]`."""
  nb = jupytext.read(_paths(name)[0])
  for cell in nb.cells:
    for line in cell.source.splitlines():
      if line.startswith(f'{variable} = ') and '# @param [' in line:
        return ast.literal_eval(line.split('# @param', 1)[1].strip())
  raise AssertionError(f'{name}: no dropdown form field {variable}')


def test_experiment_form_lists_every_experiment():
  import experiments
  assert _form_choices('01_reproduce_a_table', 'EXPERIMENT') == list(experiments.NAMES)


def test_build_check_is_clean():
  assert build.build(check=True) == []


@pytest.fixture(scope='module')
def kernel_env(tmp_path_factory):
  """A python3 kernelspec for this interpreter on a temporary JUPYTER_PATH, and the
  environment the kernel gets (smoke sizes, the repository importable)."""
  from ipykernel import kernelspec
  prefix = str(tmp_path_factory.mktemp('jupyter'))
  mp = pytest.MonkeyPatch()
  mp.setenv('JUPYTER_PATH', os.path.join(prefix, 'share', 'jupyter'))
  kernelspec.install(kernel_name='python3', prefix=prefix)
  from jupyter_client.kernelspec import KernelSpecManager
  spec = KernelSpecManager().get_kernel_spec('python3')
  assert spec.resource_dir.startswith(prefix) and spec.argv[0] == sys.executable
  env = dict(os.environ)
  env[SMOKE_ENV] = '1'
  env['PYTHONPATH'] = os.pathsep.join(p for p in (ROOT, env.get('PYTHONPATH')) if p)
  env.pop('MPLBACKEND', None)  # the kernel's inline backend renders the figures
  yield env
  mp.undo()


@pytest.mark.slow
@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebook_runs_in_smoke_mode(name, kernel_env, tmp_path):
  nb = nbformat.read(_paths(name)[1], as_version=4)
  client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name='python3',
                          skip_cells_with_tag=SKIP_TAG,
                          resources={'metadata': {'path': str(tmp_path)}})
  client.execute(env=kernel_env)  # raises CellExecutionError on the first failing cell
  for i, cell in enumerate(nb.cells):
    if cell.cell_type != 'code':
      continue
    if SKIP_TAG in _tags(cell):
      assert cell.execution_count is None, f'cell {i} should have been skipped'
    else:
      assert cell.execution_count is not None, f'cell {i} did not run'
      assert not [o for o in cell.outputs if o.output_type == 'error']
  outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.outputs]
  text = ''.join(o.get('text', '') for o in outputs if o.output_type == 'stream')
  assert 'SMOKE sizes' in text, 'the notebook did not see BNNJAX_SMOKE'
  assert re.search(r'^dense_dot +PASS ', text, re.M), 'the self-test did not pass'
  images = [o for o in outputs if 'image/png' in o.get('data', {})]
  assert images, 'the notebook drew no figure'
  for rel in WRITES.get(name, ()):
    assert (tmp_path / rel).is_file(), f'{name} did not write {rel} in its working dir'
