"""Keeps each study's report up to date as analyses land.

The synthesis (analysis/study.py) runs where the analyses run, in the
analysis process, never in the server process: there the working state is
read from the database (a big study's is megabytes: reading, parsing and
writing it in the server would take the event loop's time), updated with
the interviews it has not taken in yet, and written back only if nobody
wrote it in between (else the update starts again from the newer state).
Interviews whose update was lost (a crash between the analysis and the
report) are taken in by the next update of their study, so the report
catches up by itself.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from koji_server.domain import study_aggregates
from koji_server.domain.analysis_input import StudyInterview, StudyUpdate, StudyUpdated
from koji_server.domain.study_design import questions_from_stored
from koji_server.storage.backends import sync_engines
from koji_server.storage.repository import AnalysedInterview, DirectTables
from koji_server.storage.schema import StudyReportRow
from koji_server.storage.unit_of_work import UnitOfWork
from koji_server.support.clock import precise_now

log = logging.getLogger(__name__)

MAX_TRIES = 5
# Databases a process keeps engines open for (one, but in tests and tools).
MAX_DATABASES = 4


def _insights(analysed: AnalysedInterview) -> StudyInterview:
    return StudyInterview(
        interview_id=analysed.interview_id,
        passed=analysed.passed,
        insights=tuple(
            (i["message_id"], i["quote"], i["type"], float(i["sentiment"]))
            for i in analysed.insights
        ),
    )


def take_in(database_url: str, interview_id: str, replaced: bool = False) -> bool:
    """Bring the report of the interview's study up to date: every analysed
    interview it has not taken in yet, and this one again if its analysis
    was `replaced`. False if there was nothing to do."""
    work = partial(_pending, interview_id=interview_id, replaced=replaced)
    return _update(database_url, work, _update_in_worker) is not None


def rebuild(database_url: str, study_id: str) -> dict[str, Any]:
    """Rebuild a study's report from every analysed interview (the
    operator's `studies reanalyze`); returns the report."""
    report = _update(database_url, partial(_everything, study_id=study_id), _rebuild_in_worker)
    if report is None:
        raise LookupError(study_id)
    return report


@dataclass(frozen=True, slots=True)
class _Engines:
    read: Engine
    write: Engine
    read_tables: DirectTables
    write_tables: DirectTables

    def dispose(self) -> None:
        self.read.dispose()
        self.write.dispose()


class EngineCache:
    """This process's engines by database URL (the analysis processes, and
    koji-admin's threads): at most `size` databases open, the least recently
    used one disposed when another opens, every one by `close`."""

    def __init__(self, size: int = MAX_DATABASES) -> None:
        self._size = size
        self._open: OrderedDict[str, _Engines] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, database_url: str) -> _Engines:
        with self._lock:
            engines = self._open.get(database_url)
            if engines is not None:
                self._open.move_to_end(database_url)
                return engines
            while len(self._open) >= self._size:
                _, oldest = self._open.popitem(last=False)
                oldest.dispose()
            read, write = sync_engines(database_url)
            engines = _Engines(
                read,
                write,
                DirectTables.for_dialect(read.dialect),
                DirectTables.for_dialect(write.dialect, writing=True),
            )
            self._open[database_url] = engines
            return engines

    def close(self) -> None:
        with self._lock:
            while self._open:
                self._open.popitem()[1].dispose()

    def __len__(self) -> int:
        return len(self._open)


_engines = EngineCache()


def close() -> None:
    """Dispose of this process's engines (they reopen on the next update)."""
    _engines.close()


def _update(
    database_url: str,
    read_work: Callable[[UnitOfWork], tuple[str, str, int, StudyUpdate] | None],
    compute: Callable[[StudyUpdate], StudyUpdated],
) -> dict[str, Any] | None:
    """Read the state, compute the new one here, write it if nobody else did
    meanwhile (else start again from theirs); the report written, or None if
    there was nothing to do. Runs over this process's own connections."""
    engines = _engines.get(database_url)
    read, write = engines.read, engines.write
    read_tables, write_tables = engines.read_tables, engines.write_tables
    for _ in range(MAX_TRIES):
        with Session(read) as session, session.begin():
            uow = UnitOfWork(session, read_tables)
            work = read_work(uow)
            if work is None:
                return None
            questions = _question_aggregates(uow, work[0])
        study_id, project_id, version, update = work
        updated = compute(update)
        updated = replace(updated, report={**updated.report, "questions": questions})
        try:
            with Session(write) as session, session.begin():
                if _save(study_id, project_id, version, updated, UnitOfWork(session, write_tables)):
                    return updated.report
        except IntegrityError:
            # PostgreSQL: another process wrote the study's first report
            # meanwhile (SQLite's write lock makes that impossible).
            continue
    raise RuntimeError(f"study report: gave up after {MAX_TRIES} concurrent updates")


def _question_aggregates(uow: UnitOfWork, study_id: str) -> list[dict[str, Any]]:
    """The structured questions' aggregates over the gated interviews (read
    whole at each update: a few small JSON values per interview)."""
    study = uow.studies.get(study_id)
    assert study is not None
    questions = questions_from_stored(study.id, study.questions)
    if not any(q.type.structured for q in questions):
        return []
    gated = uow.study_reports.gated_answers(study_id)
    return study_aggregates.to_stored(study_aggregates.aggregate(questions, gated))


def _everything(uow: UnitOfWork, *, study_id: str) -> tuple[str, str, int, StudyUpdate] | None:
    study = uow.studies.get(study_id)
    if study is None:
        return None
    row = uow.study_reports.get(study_id)
    interviews = tuple(_insights(a) for a in uow.study_reports.analysed(study_id))
    return study_id, study.project_id, row.version if row else 0, StudyUpdate(None, interviews)


def _pending(
    uow: UnitOfWork, *, interview_id: str, replaced: bool
) -> tuple[str, str, int, StudyUpdate] | None:
    interview = uow.interviews.record(interview_id)
    if interview is None:
        return None
    study_id = interview.study_id
    row = uow.study_reports.get(study_id)
    included = set(row.included) if row is not None else set()
    missing = [i for i in uow.study_reports.analysed_ids(study_id) if i not in included]
    if replaced and interview_id not in missing:
        missing.append(interview_id)
    if not missing:
        return None
    analysed = uow.study_reports.analysed(study_id, missing)
    update = StudyUpdate(
        row.state if row is not None else None, tuple(_insights(a) for a in analysed)
    )
    return study_id, interview.project_id, row.version if row is not None else 0, update


def _save(
    study_id: str, project_id: str, version: int, updated: StudyUpdated, uow: UnitOfWork
) -> bool:
    row = uow.study_reports.get(study_id)
    if (row.version if row is not None else 0) != version:
        return False  # someone else updated it meanwhile: start again from theirs
    now = precise_now()
    if row is None:
        uow.study_reports.add(
            StudyReportRow(
                study_id=study_id,
                project_id=project_id,
                report=updated.report,
                state=updated.state,
                included=list(updated.included),
                version=1,
                updated_at=now,
            )
        )
    else:
        row.report = updated.report
        row.state = updated.state
        row.included = list(updated.included)
        row.version = version + 1
        row.updated_at = now
    return True


def _update_in_worker(update: StudyUpdate) -> StudyUpdated:
    from koji_server.analysis import study

    state = study.from_json(json.loads(update.state) if update.state else None)
    for interview in update.interviews:
        study.update(state, study.interview_insights(interview))
    return _updated(state)


def _rebuild_in_worker(update: StudyUpdate) -> StudyUpdated:
    from koji_server.analysis import study

    return _updated(study.rebuild([study.interview_insights(i) for i in update.interviews]))


def _updated(state: Any) -> StudyUpdated:
    from koji_server.analysis import study

    report = study.report(state)  # first: it refreshes labels and quotes
    text = json.dumps(study.to_json(state), separators=(",", ":"))
    return StudyUpdated(text, tuple(state.included), report)
