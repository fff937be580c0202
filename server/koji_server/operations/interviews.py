"""Re-analysis on an operator's word (`koji-admin interviews reanalyze`,
`studies reanalyze`): run here and now, replace the stored result atomically,
announce it, and bring the study's report up to date."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from koji_server.domain.analysis_input import AnalysisOutput, TranscriptInput
from koji_server.domain.changes import ChangeFeed
from koji_server.domain.errors import NotFound
from koji_server.pipeline import study_reports
from koji_server.pipeline.jobs import analysis_changes, load_transcript, record_events, stage_times
from koji_server.storage.status import JobStatus
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import precise_now


async def reanalyze(
    units: UnitOfWorkFactory, changes: ChangeFeed, interview_id: str
) -> AnalysisOutput:
    """Run the analysis of a completed interview again, here and now, replace
    its result in one transaction (the operator's `reanalyze`), and publish
    it on `changes` once committed. Events are sent only if the interview
    never had them (its analysis had failed); a repeat analysis of a
    completed one announces nothing new to webhooks."""
    from koji_server.analysis.analyze import analyze

    def frozen(uow: UnitOfWork) -> tuple[TranscriptInput, str]:
        interview = uow.interviews.record(interview_id)
        if interview is None:
            raise NotFound("interview", interview_id)
        interview.ensure_completed()
        return load_transcript(uow, interview_id)

    transcript, digest = await units.read(frozen)
    finalized_at = precise_now()
    output = analyze(transcript)
    now = precise_now()
    stages = stage_times(finalized_at, output, "reanalyzed_at", now)

    def store(uow: UnitOfWork) -> None:
        interview = uow.interviews.record(interview_id)
        assert interview is not None
        uow.interviews.replace_analysis(interview_id, output, digest, stages, now)
        uow.interviews.save(interview.analysed(), interview)
        if not uow.events.for_interview(interview_id):
            # Its first analysis never finished (it failed): announce this one.
            record_events(uow, interview, output, now)
        for job in uow.jobs.for_interview(interview_id):
            if job.status in (JobStatus.PENDING, JobStatus.FAILED):
                job.status = JobStatus.DONE
                job.finished_at = now

    await units.write(store)
    changes.publish(interview_id, precise_now(), *analysis_changes(output))
    return output


async def reanalyze_and_report(
    units: UnitOfWorkFactory,
    changes: ChangeFeed,
    database_url: str,
    interview_ids: Sequence[str],
    study_id: str | None = None,
    progress: Callable[[], None] = lambda: None,
) -> dict[str, Any] | None:
    """Reanalyse each interview (`progress` after each), then bring the
    report up to date: rebuilt from scratch when `study_id` names the study
    they all belong to (returns it), else the interviews taken in again."""
    for interview_id in interview_ids:
        await reanalyze(units, changes, interview_id)
        progress()
    if study_id is not None:
        return await asyncio.to_thread(study_reports.rebuild, database_url, study_id)
    for interview_id in interview_ids:
        await asyncio.to_thread(study_reports.take_in, database_url, interview_id, True)
    return None
