"""Re-analysis on an operator's word (`koji-admin interviews reanalyze`,
`studies reanalyze`): run here and now, replace the stored result atomically."""

from __future__ import annotations

from koji_server.domain.analysis_input import AnalysisOutput, TranscriptInput
from koji_server.domain.errors import InterviewNotCompleted, NotFound
from koji_server.domain.model import AnalysisStatus
from koji_server.pipeline.jobs import load_transcript, record_events, stage_times
from koji_server.storage.status import JobStatus
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import precise_now


async def reanalyze(units: UnitOfWorkFactory, interview_id: str) -> AnalysisOutput:
    """Run the analysis of a completed interview again, here and now, and
    replace its result in one transaction (the operator's `reanalyze`).
    Events are sent only if the interview never had them (its analysis had
    failed); a repeat analysis of a completed one announces nothing new."""
    from koji_server.analysis.analyze import analyze

    def frozen(uow: UnitOfWork) -> tuple[TranscriptInput, str]:
        interview = uow.interviews.get(interview_id)
        if interview is None:
            raise NotFound("interview", interview_id)
        if interview.completed_at is None:
            raise InterviewNotCompleted(interview_id)
        return load_transcript(uow, interview_id)

    transcript, digest = await units.read(frozen)
    finalized_at = precise_now()
    output = analyze(transcript)
    now = precise_now()
    stages = stage_times(finalized_at, output, "reanalyzed_at", now)

    def store(uow: UnitOfWork) -> None:
        interview = uow.interviews.get(interview_id)
        assert interview is not None
        uow.interviews.replace_analysis(interview_id, output, digest, stages, now)
        interview.analysis_status = AnalysisStatus.COMPLETED.value
        if not uow.events.for_interview(interview_id):
            # Its first analysis never finished (it failed): announce this one.
            record_events(uow, interview, output, now)
        for job in uow.jobs.for_interview(interview_id):
            if job.status in (JobStatus.PENDING, JobStatus.FAILED):
                job.status = JobStatus.DONE
                job.finished_at = now

    await units.write(store)
    return output
