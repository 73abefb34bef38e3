"""The documentation: every relative link and section anchor in README.md and docs/*.md
resolves, the README stays a front door, and every docs page is reachable from it."""

import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs',
                                                                          '*.md')))
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
FENCE = re.compile(r'^```.*?^```', re.S | re.M)


def _text(path: str) -> str:
  with open(path, encoding='utf-8') as f:
    return FENCE.sub('', f.read())  # links inside code blocks are code, not links


def slug(heading: str) -> str:
  """GitHub's anchor of a Markdown heading: lower case, punctuation dropped (letters,
  digits, '_', '-' and spaces kept), spaces to '-'."""
  return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def anchors(path: str) -> set:
  out, seen = set(), {}
  for line in _text(path).splitlines():
    m = re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
    if m:
      s = slug(m.group(1))
      n = seen.get(s, 0)
      out.add(s if n == 0 else f'{s}-{n}')  # GitHub numbers repeated headings
      seen[s] = n + 1
  return out


def links(path: str):
  return [m.group(1) for m in LINK.finditer(_text(path))]


def test_slug_follows_github():
  assert slug('Two arithmetic semantics') == 'two-arithmetic-semantics'
  assert slug('Performance, GPUs and `--backend=auto`') == 'performance-gpus-and---backendauto'
  assert slug('γ ablation (one hidden layer)') == 'γ-ablation-one-hidden-layer'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_and_anchor_resolves(page):
  problems = []
  for target in links(page):
    if re.match(r'^[a-z][a-z0-9+.-]*:', target):  # http:, https:, mailto:
      continue
    file_part, _, anchor = target.partition('#')
    dest = page if not file_part else os.path.normpath(
        os.path.join(os.path.dirname(page), file_part))
    if not os.path.exists(dest):
      problems.append(f'{target}: no such file')
    elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
      problems.append(f'{target}: no heading #{anchor} in {os.path.relpath(dest, ROOT)}')
  assert not problems, (os.path.relpath(page, ROOT), problems)


def test_readme_is_a_front_door_linking_every_page():
  readme = os.path.join(ROOT, 'README.md')
  with open(readme, encoding='utf-8') as f:
    assert len(f.read().splitlines()) <= 250
  linked = {os.path.normpath(os.path.join(ROOT, t.partition('#')[0]))
            for t in links(readme)}
  for page in PAGES[1:]:
    if os.path.basename(page) != 'README.md':
      assert page in linked, f'{os.path.relpath(page, ROOT)} is not linked from README.md'
  assert os.path.exists(os.path.join(ROOT, 'docs', 'algorithm.md'))
