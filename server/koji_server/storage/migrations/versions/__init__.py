"""One module per schema revision, oldest first (0001 is the schema of
before Alembic: SQLite's PRAGMA user_version 3)."""
