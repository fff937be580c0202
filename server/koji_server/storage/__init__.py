"""SQLite storage: schema, engines, repositories and the unit of work."""
