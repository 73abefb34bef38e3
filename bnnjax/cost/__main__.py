"""`python -m bnnjax.cost`: the paper's cost model beside bnnjax's measured bytes."""

from absl import app

from bnnjax.cost import tables

if __name__ == '__main__':
  tables.define_flags()
  app.run(tables.main)
