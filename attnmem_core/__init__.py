"""attnmem_core: the shared library behind the attnmem replication book.

One small module per idea: parameters and profiles (`config`), seeding and devices
(`runtime`), training (`training`), whether a run converged (`convergence`), intervals over
seeds and test items (`intervals`), claims and their verdicts (`claims`), results with
provenance (`results`), plots (`plots`), the notebook runner (`runner`), and the models,
memories and data sets the replications share.
"""
