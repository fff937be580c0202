"""Rate-limit windows shared by the replicas on one PostgreSQL database.

The table rate_limit_windows (one row per API key: the current window's
start, the requests allowed in it and in the one before), UNLOGGED on
PostgreSQL: no WAL for a row updated on every request, and a crash empties
it, which forgets at most a minute of counts (as a restart of a server on
SQLite does). On SQLite the table exists, unused: one process keeps its
counts in memory.

On PostgreSQL, the function koji_rate_limit_hit does one request's work in
one statement, one round trip: rolls the key's windows over to the caller's
window, decides as api.ratelimit.KeyRateLimiter does (the previous window
weighted by its overlap, plus the current one, plus this request, against
the limit; same floating-point operations in the same order) and counts the
request only if allowed, the row locked throughout so that concurrent
requests from every replica are counted one after the other. The caller
passes its clock's window start and the seconds left in it; a window older
than the row's (a replica whose clock is behind) counts in the row's.

koji_rate_limit_hits does a batch of requests (a process's concurrent ones)
in one round trip: each as koji_rate_limit_hit, in the order given for each
key, the keys taken in sorted order so that two batches lock rows in the
same order and never deadlock; it answers with each request's ordinal (its
1-based place in the arrays).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

POSTGRESQL_HIT_FUNCTION = """
CREATE FUNCTION koji_rate_limit_hit(
    p_key text, p_limit integer, p_window_start double precision,
    p_left_in_window double precision, p_period double precision,
    OUT allowed boolean, OUT current_before integer, OUT previous integer
) LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO rate_limit_windows AS w (key_id, window_start, current_count, previous_count)
  VALUES (p_key, p_window_start, 0, 0)
  ON CONFLICT (key_id) DO UPDATE SET
    previous_count = CASE
      WHEN w.window_start >= p_window_start THEN w.previous_count
      WHEN w.window_start = p_window_start - p_period THEN w.current_count
      ELSE 0 END,
    current_count = CASE
      WHEN w.window_start >= p_window_start THEN w.current_count ELSE 0 END,
    window_start = greatest(w.window_start, p_window_start)
  RETURNING w.current_count, w.previous_count INTO current_before, previous;
  allowed := previous * p_left_in_window / p_period + current_before + 1 <= p_limit;
  IF allowed THEN
    UPDATE rate_limit_windows SET current_count = current_count + 1 WHERE key_id = p_key;
  END IF;
END
$$
"""


POSTGRESQL_HITS_FUNCTION = """
CREATE FUNCTION koji_rate_limit_hits(
    p_keys text[], p_limits integer[], p_window_starts double precision[],
    p_lefts_in_window double precision[], p_period double precision
) RETURNS TABLE (ordinal integer, allowed boolean, current_before integer, previous integer)
LANGUAGE plpgsql AS $$
DECLARE
  n integer;
BEGIN
  FOR n IN
    SELECT k.n FROM unnest(p_keys) WITH ORDINALITY AS k(key_id, n) ORDER BY k.key_id, k.n
  LOOP
    ordinal := n;
    SELECT h.allowed, h.current_before, h.previous INTO allowed, current_before, previous
    FROM koji_rate_limit_hit(
      p_keys[n], p_limits[n], p_window_starts[n], p_lefts_in_window[n], p_period) AS h;
    RETURN NEXT;
  END LOOP;
END
$$
"""


def upgrade() -> None:
    postgres = op.get_context().dialect.name == "postgresql"
    op.create_table(
        "rate_limit_windows",
        sa.Column("key_id", sa.String(length=36), nullable=False),
        sa.Column("window_start", sa.Double(), nullable=False),
        sa.Column("current_count", sa.Integer(), nullable=False),
        sa.Column("previous_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key_id"),
        prefixes=["UNLOGGED"] if postgres else [],
    )
    if postgres:
        op.execute(POSTGRESQL_HIT_FUNCTION)
        op.execute(POSTGRESQL_HITS_FUNCTION)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION koji_rate_limit_hits(text[], integer[], double precision[],"
            " double precision[], double precision)"
        )
        op.execute(
            "DROP FUNCTION koji_rate_limit_hit(text, integer, double precision,"
            " double precision, double precision)"
        )
    op.drop_table("rate_limit_windows")
