"""Inheritune trainer: inherit the first n layers of a reference model, train, grow until the
validation loss reaches the reference's (Algorithm 1 of Sanyal et al., arXiv 2404.08634).

Model surgery (inherit / grow / init-random) is done by the project's CLI (`dist/cli.js`);
this package only trains, evaluates and decides when to grow.
"""

__version__ = "0.1.0"
