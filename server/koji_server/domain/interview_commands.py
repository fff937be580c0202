"""The interview's commands: start, converse, complete. Each runs in one
write unit of work, raises domain errors, and announces what it committed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from koji_server.domain import credentials, interviewer, validation
from koji_server.domain.auth import require
from koji_server.domain.changes import AnalysisStatusChanged, ChangeFeed, Completed, MessageAdded
from koji_server.domain.errors import (
    AlreadyCompleted,
    DomainError,
    InvalidSessionToken,
    NotFound,
    StorageUnavailable,
)
from koji_server.domain.interview import Interview
from koji_server.domain.model import (
    CompletionReason,
    CompletionSummary,
    InterviewMode,
    InterviewStatus,
    MessageExchange,
    Permission,
    Principal,
    ReplyPiece,
    Respondent,
    Role,
    StartedInterview,
)
from koji_server.domain.ports import MessageRecord, UnitOfWork, UnitOfWorkFactory
from koji_server.support.clock import Clock, precise_now, whole_seconds

ANALYSIS_JOB = "analyze_interview"
MAX_GUIDES = 1_000


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Guide:
    """A study's questions, as a write unit loaded them."""

    study_id: str
    questions: tuple[str, ...]


class InterviewCommands:
    """Start, converse with and complete interviews on behalf of an API key
    (or, for a completion, the local operator)."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        changes: ChangeFeed,
        clock: Clock = precise_now,
    ) -> None:
        self._units = units
        self._clock = clock
        # Where committed changes are announced (to watchers, and to the
        # after-commit handlers: a completion wakes the analysis worker).
        self._changes = changes
        # Studies' questions (studies never change). Write units read this
        # mapping and never change it; a unit that loads a guide returns it,
        # and the event loop puts a new mapping in its place.
        self._guides: dict[str, tuple[str, ...]] = {}

    async def start_interview(
        self,
        principal: Principal,
        study_id: str,
        respondent: Respondent,
        mode: InterviewMode,
        locale: str,
    ) -> StartedInterview:
        require(principal, Permission.START)
        study_id = validation.uuid_field("study_id", study_id)
        respondent = Respondent(
            external_id=validation.short_text("respondent.external_id", respondent.external_id),
            display_name=validation.short_text("respondent.display_name", respondent.display_name),
            metadata=validation.json_object("respondent.metadata", respondent.metadata),
        )
        locale = validation.locale(locale)
        token = credentials.new_session_token()
        now = self._now()

        def start(uow: UnitOfWork) -> tuple[Interview, MessageRecord]:
            study = uow.studies.get(study_id, principal.project_id)
            if study is None:
                raise NotFound("study", study_id)
            opening = interviewer.opening(study.title, study.questions, respondent.display_name)
            interview = Interview(
                id=new_id(),
                project_id=principal.project_id,
                study_id=study.id,
                session_token_hash=credentials.hash_secret(token),
                status=InterviewStatus.ACTIVE,
                mode=mode,
                locale=locale,
                respondent_external_id=respondent.external_id,
                respondent_display_name=respondent.display_name,
                respondent_metadata=respondent.metadata,
                question_index=opening.position.question_index,
                follow_up_asked=opening.position.follow_up_asked,
                respondent_messages=0,
                interviewer_messages=1,
                started_at=now,
                updated_at=_to_milliseconds(self._clock()),
            )
            first = MessageRecord(
                id=new_id(),
                interview_id=interview.id,
                seq=1,
                role=Role.INTERVIEWER.value,
                content=opening.content,
                created_at=now,
            )
            uow.interviews.create(interview)
            uow.interviews.append([first])
            return interview, first

        interview, first = await self._units.write(start)
        return StartedInterview(
            interview_id=interview.id,
            session_token=token,
            status=InterviewStatus.ACTIVE,
            started_at=now,
            initial_message=first.message(),
        )

    async def send_message(
        self, principal: Principal, interview_id: str, session_token: str | None, content: str
    ) -> MessageExchange:
        require(principal, Permission.CHAT)
        interview_id = validation.uuid_field("interview_id", interview_id)
        _require_token_shape(session_token)
        content = validation.message_content(content)
        now = self._now()
        guides = self._guides

        def exchange(uow: UnitOfWork) -> tuple[MessageExchange, Guide | None]:
            interview = _interview_for_token(uow, principal, interview_id, session_token)
            interview.ensure_open()
            validation.transcript_room(
                interview.id,
                interview.respondent_messages,
                content,
                lambda: uow.interviews.respondent_bytes(interview.id),
            )
            questions = guides.get(interview.study_id)
            loaded = None
            if questions is None:
                questions = _questions(uow, interview.study_id)
                loaded = Guide(interview.study_id, questions)
            answer = interviewer.reply(questions, interview.position, content)
            count = interview.messages_count
            said = MessageRecord(
                id=new_id(),
                interview_id=interview.id,
                seq=count + 1,
                role=Role.RESPONDENT.value,
                content=content,
                created_at=now,
            )
            reply = MessageRecord(
                id=new_id(),
                interview_id=interview.id,
                seq=count + 2,
                role=Role.INTERVIEWER.value,
                content=answer.content,
                created_at=now,
            )
            uow.interviews.append([said, reply])
            uow.interviews.save(interview.exchanged(answer.position), interview)
            done = MessageExchange(
                message_id=said.id,
                interviewer_response=reply.message(),
                interview_status=answer.position.status,
                messages_count=count + 2,
            )
            return done, loaded

        done, loaded = await self._units.write(exchange)
        if loaded is not None:
            self._keep_guide(loaded)
        status, count = done.interview_status, done.messages_count
        self._changes.publish(
            interview_id,
            self._clock(),
            MessageAdded(done.message_id, Role.RESPONDENT, count - 1, status),
            MessageAdded(done.interviewer_response.message_id, Role.INTERVIEWER, count, status),
        )
        return done

    async def stream_message(
        self, principal: Principal, interview_id: str, session_token: str | None, content: str
    ) -> AsyncIterator[ReplyPiece | MessageExchange]:
        """send_message, with the reply handed out in pieces before the whole
        exchange. Both messages are stored before the first piece; every
        failure is raised before it."""
        done = await self.send_message(principal, interview_id, session_token, content)
        reply = done.interviewer_response
        for piece in interviewer.pieces(reply.content):
            yield ReplyPiece(reply.message_id, piece)
        yield done

    async def complete_interview(
        self,
        principal: Principal,
        interview_id: str,
        session_token: str | None,
        reason: CompletionReason | None,
        feedback: dict[str, Any] | None,
    ) -> CompletionSummary:
        require(principal, Permission.COMPLETE)
        interview_id = validation.uuid_field("interview_id", interview_id)
        _require_token_shape(session_token)
        feedback = validation.json_object("feedback", feedback)

        def complete(uow: UnitOfWork) -> CompletionSummary:
            interview = _interview_for_token(uow, principal, interview_id, session_token)
            return _complete(uow, interview, reason, feedback, self._clock)

        def first_completion(uow: UnitOfWork) -> CompletionSummary | None:
            interview = _interview_for_token(uow, principal, interview_id, session_token)
            return interview.summary() if interview.completed_at is not None else None

        summary = await self._write_or_already_completed(complete, first_completion)
        self._completed(summary)
        return summary

    async def complete_as_operator(
        self, interview_id: str, reason: CompletionReason | None
    ) -> CompletionSummary:
        """The dashboard path: a local operator completes without a session token."""
        interview_id = validation.uuid_field("interview_id", interview_id)

        def complete(uow: UnitOfWork) -> CompletionSummary:
            interview = uow.interviews.record(interview_id)
            if interview is None:
                raise NotFound("interview", interview_id)
            return _complete(uow, interview, reason, None, self._clock)

        def first_completion(uow: UnitOfWork) -> CompletionSummary | None:
            interview = uow.interviews.record(interview_id)
            return (
                None if interview is None or interview.completed_at is None else interview.summary()
            )

        summary = await self._write_or_already_completed(complete, first_completion)
        self._completed(summary)
        return summary

    async def _write_or_already_completed(
        self,
        complete: Callable[[UnitOfWork], CompletionSummary],
        first_completion: Callable[[UnitOfWork], CompletionSummary | None],
    ) -> CompletionSummary:
        """Run the completion; if the write itself fails (a full disk, a
        failed group commit), a repeat completion is still answered as one,
        from a read: the completed state needs no write."""
        try:
            return await self._units.write(complete)
        except Exception as error:
            if isinstance(error, DomainError) and not isinstance(error, StorageUnavailable):
                raise
            try:
                done = await self._units.read(first_completion)
            except DomainError:
                raise  # the right answer anyway: no such interview, wrong token
            except Exception:
                done = None
            if done is not None:
                raise AlreadyCompleted(done) from None
            raise

    def _completed(self, summary: CompletionSummary) -> None:
        self._changes.publish(
            summary.interview_id,
            self._clock(),
            Completed(summary),
            AnalysisStatusChanged(summary.analysis_status),
        )

    def _now(self) -> datetime:
        return whole_seconds(self._clock())

    def _keep_guide(self, loaded: Guide) -> None:
        """Keep a guide a write unit loaded (on the event loop, never in the
        unit): a new mapping, so a unit reading the old one is undisturbed."""
        kept = self._guides if len(self._guides) < MAX_GUIDES else {}
        self._guides = {**kept, loaded.study_id: loaded.questions}


def _questions(uow: UnitOfWork, study_id: str) -> tuple[str, ...]:
    study = uow.studies.get(study_id)
    assert study is not None  # foreign key
    return tuple(study.questions)


def _to_milliseconds(value: datetime) -> datetime:
    """The precision of the database's own updates to updated_at (SQLite's 'now')."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _interview_for_token(
    uow: UnitOfWork, principal: Principal, interview_id: str, token: str | None
) -> Interview:
    interview = uow.interviews.record(interview_id, principal.project_id)
    if interview is None:
        raise NotFound("interview", interview_id)
    assert token is not None
    if not credentials.secret_matches(token, interview.session_token_hash):
        raise InvalidSessionToken()
    return interview


def _require_token_shape(token: str | None) -> None:
    if not credentials.looks_like(token, credentials.SESSION_TOKEN_PREFIX):
        raise InvalidSessionToken()


def _complete(
    uow: UnitOfWork,
    interview: Interview,
    reason: CompletionReason | None,
    feedback: dict[str, Any] | None,
    clock: Clock,
) -> CompletionSummary:
    """Complete once: the state change and the analysis job commit together."""
    enqueued_at = clock()  # precise: the pipeline's latency is measured from here
    completed = interview.completed(reason, feedback, enqueued_at)
    uow.interviews.save(completed, interview)
    uow.jobs.enqueue(new_id(), ANALYSIS_JOB, interview.id, enqueued_at)
    return completed.summary()
