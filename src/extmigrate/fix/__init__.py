"""`extmigrate fix`: remedies per rule (in the worker), patches, compat header (in the parent)."""
