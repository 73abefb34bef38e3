"""`python -m bnnjax.cost`: the paper's cost model beside bnnjax's measured bytes."""

from absl import app

from bnnjax.cost import report

if __name__ == '__main__':
  report.define_flags()
  app.run(report.main)
