"""``deid run``, the batch runner: a folder in parallel, resumable, never half-written.

One module per job: :mod:`~deid.run.settings` (the rule settings and the rules
built from them), :mod:`~deid.run.config` (a run's configuration),
:mod:`~deid.run.ledger` (resuming), :mod:`~deid.run.chunks` (a worker's chunk
pipeline), :mod:`~deid.run.pool` (the worker processes, their signals and
stopping) and :mod:`~deid.run.batch` (the parent: the store, the inputs, the
results, the report).
"""
