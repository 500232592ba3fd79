"""Which database a URL names: one module per kind of database."""
