"""deid-vault: the encrypted, audited store of original-to-pseudonym mappings."""

__version__ = "0.1.0"
