"""What every command shows on the terminal the same way."""

from __future__ import annotations

import argparse
import sys


def progress_wanted(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: asked for, and someone is watching standard error."""
    return not getattr(args, "no_progress", False) and sys.stderr.isatty()
