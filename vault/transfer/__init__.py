"""Moving a trial between vaults: transfer keys, the sealed bundle, export and import."""
