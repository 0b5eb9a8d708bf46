"""One module per ledger format; each has ``table(format, schema, name, settings)``."""
