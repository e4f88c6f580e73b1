"""All SQL of the vault lives here; services call these functions, never the ORM directly."""
