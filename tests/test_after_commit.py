"""After-commit effects start from one place, the change feed
(domain.changes.ChangeFeed.on_committed); the interview's analysis changes
go through the entity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from koji_server.domain.changes import AnalysisStatusChanged, ChangeFeed, Completed
from koji_server.domain.errors import InterviewNotCompleted
from koji_server.domain.interview import Interview
from koji_server.domain.model import (
    AnalysisStatus,
    CompletionSummary,
    InterviewMode,
    InterviewStatus,
    Stats,
)

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _open() -> Interview:
    return Interview(
        id="i1",
        project_id="p",
        study_id="s",
        session_token_hash="h",
        status=InterviewStatus.ACTIVE,
        mode=InterviewMode.TEXT,
        locale="en",
        respondent_external_id="",
        respondent_display_name="",
        respondent_metadata=None,
        question_index=0,
        follow_up_asked=False,
        respondent_messages=0,
        interviewer_messages=1,
        started_at=AT,
    )


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


def test_the_analysis_outcome_is_a_transition_of_a_completed_interview() -> None:
    with pytest.raises(InterviewNotCompleted):
        _open().analysed()
    with pytest.raises(InterviewNotCompleted):
        _open().analysis_failed()
    completed = _open().completed(None, None, AT)
    assert completed.analysis_status is AnalysisStatus.PROCESSING
    assert completed.analysed().analysis_status is AnalysisStatus.COMPLETED
    assert completed.analysis_failed().analysis_status is AnalysisStatus.FAILED
