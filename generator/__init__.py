"""paylink: one secret link per customer to a static page of what they owe right now.

This package is kept import-light on purpose: the edge imports
``paylink.tokens`` and ``paylink.layout`` and must not pay for click,
Jinja2 or Babel.
"""

__version__ = "0.1.0"
