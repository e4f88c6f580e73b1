"""``deid-vault``: set up, serve and operate the vault.

Every command reads its settings from ``VAULT_*`` environment variables (see
``vault/config.py``). Commands that change the vault act as the command-line
operator and are audited. :func:`main` runs one command in process and returns its
exit status; :func:`build_parser` is the whole command line (cheap to build).
"""

from vault.cli.parser import build_parser
from vault.cli.program import main, run_main

__all__ = ["build_parser", "main", "run_main"]
