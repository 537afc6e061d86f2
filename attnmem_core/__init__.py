"""attnmem_core: the shared library behind the attnmem replication book.

One small module per idea: parameters and profiles (`config`), seeding and devices
(`runtime`), training (`training`), results with provenance (`results`), claims and
their verdicts (`claims`), plots (`plots`), the notebook runner (`runner`), and the
models, memories and data sets the replications share.
"""
