"""Interview links: a study's links (token stored hashed), and which link
started an interview.

The table interview_links (one row per link: its study and project, the
SHA-256 of its token, expiry, cap, count, creation and revocation times),
and interviews.link_id (NULL for every interview of before: they were all
started with an API key).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interview_links",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=36), nullable=False),
        sa.Column("study_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("max_interviews", sa.Integer(), nullable=False),
        sa.Column("interview_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        "ix_interview_links_study", "interview_links", ["study_id", "created_at"], unique=False
    )
    # Not batch mode: SQLite would rebuild interviews and lose its
    # interviews_touch trigger (0001); it takes the REFERENCES inline.
    if op.get_context().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE interviews ADD COLUMN link_id VARCHAR(36) REFERENCES interview_links (id)"
        )
    else:
        op.add_column("interviews", sa.Column("link_id", sa.String(length=36), nullable=True))
        op.create_foreign_key(
            "interviews_link_id_fkey", "interviews", "interview_links", ["link_id"], ["id"]
        )


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        op.drop_constraint("interviews_link_id_fkey", "interviews", type_="foreignkey")
    op.drop_column("interviews", "link_id")
    op.drop_index("ix_interview_links_study", table_name="interview_links")
    op.drop_table("interview_links")
