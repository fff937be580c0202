"""After-commit effects start from one place, the change feed
(domain.changes.ChangeFeed.on_committed)."""

from __future__ import annotations

from datetime import UTC, datetime

from koji_server.domain.changes import AnalysisStatusChanged, ChangeFeed, Completed
from koji_server.domain.model import AnalysisStatus, CompletionSummary, Stats

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_handlers_run_for_this_process_commits_of_their_kind_only() -> None:
    feed = ChangeFeed()
    completed: list[str] = []
    feed.on_committed(Completed, lambda interview_id, _change: completed.append(interview_id))
    summary = CompletionSummary("i1", AT, AnalysisStatus.PROCESSING, Stats(1, 0, 1))
    feed.publish("i1", AT, Completed(summary), AnalysisStatusChanged(AnalysisStatus.PROCESSING))
    feed.publish("i2", AT, AnalysisStatusChanged(AnalysisStatus.FAILED))
    # Another process's commit, relayed here: its effects ran there.
    feed.deliver("i3", AT, Completed(summary))
    assert completed == ["i1"]
