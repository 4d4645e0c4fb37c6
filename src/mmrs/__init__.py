"""mmrs: the tested library behind the book *Multimodal recommender systems, tested*.

Every chapter of the book imports from here; every number on its pages is computed here.
Sub-packages are named after what they hold: :mod:`mmrs.data` (registry, loaders, splits,
statistics), :mod:`mmrs.chapters.plots` (the book's figures), :mod:`mmrs.config` (the one size knob).
"""

__version__ = "0.2.0"
