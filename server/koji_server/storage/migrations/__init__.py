"""Alembic migrations for SQLite and PostgreSQL, shipped inside the package
(run by `koji-admin db upgrade`, see storage.migrate)."""
