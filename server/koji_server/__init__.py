"""Koji interview service: the koji.v1 API over gRPC, backed by SQLite."""
