"""The conversation engine's state on each interview (issue 22).

interviews.conversation: JSON, the state domain.conversation keeps between
messages (follow-ups asked, probes used, questions an earlier answer
covered, ...), but for the question, which stays in question_index. Null for
interviews started before: the engine reads their state from question_index
and follow_up_asked.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("interviews", sa.Column("conversation", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("interviews", "conversation")
