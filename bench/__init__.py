"""Benchmarks of ``deid run``, measured against a floor taken in the same run.

``python -m bench`` (or ``make bench``) generates a corpus, measures how fast
pydicom alone reads and writes those files unchanged (the floor), then times
``deid run`` with the Basic Profile on 1, 2, ... workers and ``deid --version``,
every one a whole process, and reports files per second, the ratio to the floor
and peak memory. Results go to ``bench/results/``.
"""
