"""The vault's rules. Services flush, never commit; the caller owns the transaction."""
