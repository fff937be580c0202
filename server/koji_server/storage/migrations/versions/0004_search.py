"""Search across interviews: the full-text index and the search entries.

Keyword search reads a full-text index of the respondent messages that
follows the messages table by itself, so a message is found by its words as
soon as it is stored:
- SQLite: the FTS5 table search_fts (porter stemming; BM25 ranking) holding
  each respondent message's text, id, project and study, filled by
  triggers on messages.
- PostgreSQL: the stored generated column messages.search_tsv
  (to_tsvector('english', ...) of respondent messages, NULL for the
  interviewer's) with a GIN index.
Neither is in the models (storage/schema.py): tests/test_migrations.py
leaves these names out of its comparison.

search_entries (in the models) holds what the analysis adds per respondent
message: its vector, insight type, sentiment, theme and the interview's
quality. The migration backfills both: the full-text index from every
respondent message (PostgreSQL computes the generated column itself), and
the entries of every analysed interview (storage.search_index, which loads
the embeddings; `koji-admin search reindex` does the same later, with a
progress bar, for a big database).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_FTS = (
    "CREATE VIRTUAL TABLE search_fts USING fts5(content, message_id UNINDEXED,"
    " project_id UNINDEXED, study_id UNINDEXED, tokenize = 'porter unicode61')"
)
# The project and study ride along, so that the best matches of a project
# are found in the index alone (joins for every match of a common word
# cost ten times as much).
_SCOPE = "(SELECT {column} FROM interviews WHERE id = NEW.interview_id)"
SQLITE_TRIGGERS = (
    f"""
    CREATE TRIGGER search_fts_insert AFTER INSERT ON messages
    FOR EACH ROW WHEN NEW.role = 'respondent'
    BEGIN
      INSERT INTO search_fts (content, message_id, project_id, study_id)
      VALUES (NEW.content, NEW.id, {_SCOPE.format(column="project_id")},
              {_SCOPE.format(column="study_id")});
    END
    """,
    """
    CREATE TRIGGER search_fts_delete AFTER DELETE ON messages
    FOR EACH ROW WHEN OLD.role = 'respondent'
    BEGIN
      DELETE FROM search_fts WHERE message_id = OLD.id;
    END
    """,
    f"""
    CREATE TRIGGER search_fts_update AFTER UPDATE OF content, role ON messages
    FOR EACH ROW
    BEGIN
      DELETE FROM search_fts WHERE message_id = OLD.id;
      INSERT INTO search_fts (content, message_id, project_id, study_id)
      SELECT NEW.content, NEW.id, {_SCOPE.format(column="project_id")},
             {_SCOPE.format(column="study_id")}
      WHERE NEW.role = 'respondent';
    END
    """,
)
SQLITE_BACKFILL = (
    "INSERT INTO search_fts (content, message_id, project_id, study_id)"
    " SELECT m.content, m.id, i.project_id, i.study_id FROM messages m"
    " JOIN interviews i ON i.id = m.interview_id WHERE m.role = 'respondent'"
)
POSTGRESQL_COLUMN = (
    "ALTER TABLE messages ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS"
    " (CASE WHEN role = 'respondent' THEN to_tsvector('english', content) END) STORED"
)
POSTGRESQL_INDEX = "CREATE INDEX ix_search_tsv ON messages USING gin (search_tsv)"


def upgrade() -> None:
    op.create_table(
        "search_entries",
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("interview_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("study_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("insight_type", sa.String(length=16), nullable=True),
        sa.Column("sentiment", sa.Double(), nullable=True),
        sa.Column("theme_id", sa.String(length=64), nullable=True),
        sa.Column("theme_label", sa.String(length=200), nullable=True),
        sa.Column("quality_score", sa.Double(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("indexed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["interview_id"], ["interviews.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index(
        "ix_search_entries_changes", "search_entries", ["project_id", "indexed_at"], unique=False
    )
    op.create_index(
        op.f("ix_search_entries_interview_id"), "search_entries", ["interview_id"], unique=False
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(POSTGRESQL_COLUMN)
        op.execute(POSTGRESQL_INDEX)
    else:
        op.execute(SQLITE_FTS)
        for trigger in SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute(SQLITE_BACKFILL)
    from koji_server.storage import search_index

    search_index.backfill(op.get_bind())


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_search_tsv")
        op.execute("ALTER TABLE messages DROP COLUMN search_tsv")
    else:
        for name in ("search_fts_insert", "search_fts_delete", "search_fts_update"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE search_fts")
    op.drop_index(op.f("ix_search_entries_interview_id"), table_name="search_entries")
    op.drop_index("ix_search_entries_changes", table_name="search_entries")
    op.drop_table("search_entries")
