"""The study use cases: reading a study's report across its interviews."""

from __future__ import annotations

from typing import Any

from koji_server.domain import validation
from koji_server.domain.auth import require
from koji_server.domain.errors import NotFound
from koji_server.domain.model import (
    Caller,
    Permission,
    StudyQuote,
    StudyReport,
    StudyTheme,
)
from koji_server.domain.ports import StudyReportRecord, UnitOfWork, UnitOfWorkFactory


def report_from_stored(study_id: str, stored: StudyReportRecord | None) -> StudyReport:
    if stored is None:
        return StudyReport(study_id, 0, 0, None, ())
    data: dict[str, Any] = stored.report
    return StudyReport(
        study_id=study_id,
        interviews_analyzed=data["interviews_analyzed"],
        interviews_excluded=data["interviews_excluded"],
        updated_at=stored.updated_at,
        themes=tuple(
            StudyTheme(
                theme_id=t["theme_id"],
                label=t["label"],
                interview_count=t["interview_count"],
                share=t["share"],
                sentiment=t["sentiment"],
                insight_counts=dict(t["insight_counts"]),
                quotes=tuple(StudyQuote(**q) for q in t["quotes"]),
            )
            for t in data["themes"]
        ),
    )


class StudyService:
    def __init__(self, units: UnitOfWorkFactory) -> None:
        self._units = units

    async def get_report(self, caller: Caller, study_id: str) -> StudyReport:
        """The study's report (the operator's: of any project)."""
        require(caller, Permission.READ)
        study_id = validation.uuid_field("study_id", study_id)

        def read(uow: UnitOfWork) -> StudyReport:
            if uow.studies.get(study_id, caller.project_id) is None:
                raise NotFound("study", study_id)
            return report_from_stored(study_id, uow.study_reports.report(study_id))

        return await self._units.read(read)
