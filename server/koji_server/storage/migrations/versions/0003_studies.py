"""Studies designed through the API: status, brief, typed questions, answers.

studies gains `status` (draft | active | completed | archived; the default
`active`, which every existing study becomes: they were usable as soon as
created), `brief` (the research brief, JSON; NULL: none), `updated_at` and
`published_at` (set to created_at for existing studies), and the index of
ListStudies' keyset. Its `questions` change shape: from a list of strings
to the API's question objects; each existing question becomes an
`open_ended` one, required, with `max_follow_ups` 1 (what the interviewer
did with it: one follow-up on a short answer) and a fresh id.

interviews gains `answers` (the study questions' answers so far, JSON;
NULL for interviews of before: nothing was recorded). messages gains
`question_id` and `follow_up`: which question an interviewer message served
(NULL for messages of before).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:30:00
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _open_ended(text: str) -> dict[str, Any]:
    return {
        "question_id": str(uuid.uuid4()),
        "text": text,
        "type": "open_ended",
        "required": True,
        "config": {},
        "probing": {"max_follow_ups": 1, "instructions": ""},
    }


def upgrade() -> None:
    op.add_column(
        "studies",
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
    )
    op.add_column("studies", sa.Column("brief", sa.JSON(), nullable=True))
    op.add_column("studies", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.add_column("studies", sa.Column("published_at", sa.DateTime(), nullable=True))
    op.create_index(
        "ix_studies_listing", "studies", ["project_id", "created_at", "id"], unique=False
    )
    op.add_column("interviews", sa.Column("answers", sa.JSON(), nullable=True))
    op.add_column("messages", sa.Column("question_id", sa.String(length=36), nullable=True))
    op.add_column("messages", sa.Column("follow_up", sa.Boolean(), nullable=True))

    connection = op.get_bind()
    studies = sa.table(
        "studies",
        sa.column("id", sa.String()),
        sa.column("questions", sa.JSON()),
        sa.column("created_at", sa.DateTime()),
    )
    rows = connection.execute(sa.select(studies.c.id, studies.c.questions)).all()
    for study_id, questions in rows:
        if isinstance(questions, str):  # a driver that hands JSON back as text
            questions = json.loads(questions)
        converted = [q if isinstance(q, dict) else _open_ended(str(q)) for q in questions or []]
        connection.execute(
            studies.update().where(studies.c.id == study_id).values(questions=converted)
        )
    op.execute("UPDATE studies SET updated_at = created_at, published_at = created_at")


def downgrade() -> None:
    connection = op.get_bind()
    studies = sa.table("studies", sa.column("id", sa.String()), sa.column("questions", sa.JSON()))
    rows = connection.execute(sa.select(studies.c.id, studies.c.questions)).all()
    for study_id, questions in rows:
        if isinstance(questions, str):
            questions = json.loads(questions)
        texts = [q["text"] if isinstance(q, dict) else str(q) for q in questions or []]
        connection.execute(studies.update().where(studies.c.id == study_id).values(questions=texts))
    op.drop_column("messages", "follow_up")
    op.drop_column("messages", "question_id")
    op.drop_column("interviews", "answers")
    op.drop_index("ix_studies_listing", table_name="studies")
    op.drop_column("studies", "published_at")
    op.drop_column("studies", "updated_at")
    op.drop_column("studies", "brief")
    op.drop_column("studies", "status")
