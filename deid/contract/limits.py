"""Sizes both sides enforce, written once."""

from __future__ import annotations

MAX_ORIGINAL_LENGTH = 10240
"""The longest patient key or original a vault takes by default (its
``VAULT_MAX_VALUE_LENGTH``). The engine quarantines a file holding a longer one
(no valid DICOM value comes near) instead of letting the store refuse the whole
chunk, which would stop the run at every rerun."""

MAX_BATCH_ITEMS = 5000
"""Items a vault takes in one get-or-create request by default (its
``VAULT_MAX_BATCH_ITEMS``); the HTTP store splits longer batches."""
