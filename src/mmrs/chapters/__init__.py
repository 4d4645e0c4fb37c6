"""What the chapters show: tables and figures built from the library's results and records.

The notebooks call these instead of writing analysis or plotting code inline, so every table's
and figure's logic is tested. This layer sits above :mod:`mmrs.records` and
:mod:`mmrs.experiments` and below the notebooks: nothing in the library imports it.

:mod:`~mmrs.chapters.tables`            records as tables; validation-selected grid points.
:mod:`~mmrs.chapters.plots`             Chapters 1-3's figures (degrees, k-core, training curves).
:mod:`~mmrs.chapters.bm3`               Chapter 4's tables (ablations, Table 4, benchmarks).
:mod:`~mmrs.chapters.bm3_analysis`      Chapter 4's collapse diagnostics and hand-checkable BM3.
:mod:`~mmrs.chapters.feature_models`    Chapter 5's graph agreement, pruning keep rates, records.
:mod:`~mmrs.chapters.mm_gnn`            Chapter 5's MMGCN/GRCN/DualGNN/LATTICE/BUIR section: Table 4,
                                        complexity figure, reference ratios, grid status.
:mod:`~mmrs.chapters.hierarchical`      Chapter 6's tables; ``hierarchical_plots`` its figures.
:mod:`~mmrs.chapters.matching`          Chapter 7's tables; ``matching_plots`` and
                                        ``matching_scaling`` its figures and the scaling record.
"""
