"""``python -m vault.cli``: the same as the ``deid-vault`` console script."""

from vault.cli.program import run_main

run_main()
