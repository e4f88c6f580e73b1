"""What each ``deid`` command does, once :mod:`deid.cli` has parsed its arguments: one
module per command, imported only when that command runs.

Commands return their exit status, or raise a :class:`~deid.contract.errors.DeidError`
saying what to do, which :func:`deid.cli.main` prints.
"""
