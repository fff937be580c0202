"""The interview's commands: start, converse, complete. Each runs in one
write unit of work, raises domain errors, and announces what it committed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from koji_server.domain import answer_parsing, answers, credentials, interviewer, validation
from koji_server.domain.auth import require
from koji_server.domain.changes import AnalysisStatusChanged, ChangeFeed, Completed, MessageAdded
from koji_server.domain.errors import (
    AlreadyCompleted,
    DomainError,
    FieldViolation,
    InvalidRequest,
    InvalidSessionToken,
    NotFound,
    StorageUnavailable,
    StudyNotActive,
)
from koji_server.domain.interview import Interview
from koji_server.domain.links import open_link
from koji_server.domain.model import (
    Answer,
    AnswerSource,
    AskedQuestion,
    CompletionReason,
    CompletionSummary,
    GivenAnswer,
    InterviewMode,
    InterviewStatus,
    MessageExchange,
    Permission,
    Principal,
    ReplyPiece,
    Respondent,
    Role,
    StartedInterview,
    StudyQuestion,
    StudyStatus,
)
from koji_server.domain.ports import MessageRecord, StudyRecord, UnitOfWork, UnitOfWorkFactory
from koji_server.domain.study_design import questions_from_stored
from koji_server.support.clock import Clock, precise_now, whole_seconds

ANALYSIS_JOB = "analyze_interview"
# How a link-started interview's own session may complete it.
SESSION_REASONS = frozenset({CompletionReason.NATURAL, CompletionReason.RESPONDENT_LEFT})
MAX_GUIDES = 1_000


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Guide:
    """A study's questions, as a write unit loaded them (an interview's
    study is active or was: its questions no longer change)."""

    study_id: str
    questions: tuple[StudyQuestion, ...]


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
        self._guides: dict[str, tuple[StudyQuestion, ...]] = {}

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
        respondent = _checked_respondent(respondent)
        locale = validation.locale(locale)
        token = credentials.new_session_token()
        now = self._now()

        def start(uow: UnitOfWork) -> tuple[Interview, MessageRecord, AskedQuestion | None]:
            study = uow.studies.get(study_id, principal.project_id)
            if study is None:
                raise NotFound("study", study_id)
            if study.status != StudyStatus.ACTIVE:
                raise StudyNotActive(study.id, study.status)
            return self._begin(uow, study, respondent, mode, locale, token, now)

        return await self._started(start, token, now)

    async def start_from_link(
        self, token: str, respondent: Respondent, locale: str, rid: str = ""
    ) -> StartedInterview:
        """An interview of a link's study, for whoever holds the link (no API
        key): `rid` (a personalised link's) becomes the respondent's
        external id. The link's count goes up in the same transaction."""
        respondent = _checked_respondent(
            Respondent(rid or respondent.external_id, respondent.display_name, respondent.metadata)
        )
        locale = validation.locale(locale)
        session_token = credentials.new_session_token()
        now = self._now()
        precise = self._clock()

        def start(uow: UnitOfWork) -> tuple[Interview, MessageRecord, AskedQuestion | None]:
            link = open_link(uow, token, precise, lock=True)
            uow.links.save(replace(link, interview_count=link.interview_count + 1))
            study = uow.studies.get(link.study_id)
            assert study is not None  # open_link read it
            return self._begin(
                uow, study, respondent, InterviewMode.TEXT, locale, session_token, now, link.id
            )

        return await self._started(start, session_token, now)

    def _begin(
        self,
        uow: UnitOfWork,
        study: StudyRecord,
        respondent: Respondent,
        mode: InterviewMode,
        locale: str,
        token: str,
        now: datetime,
        link_id: str | None = None,
    ) -> tuple[Interview, MessageRecord, AskedQuestion | None]:
        """A new interview of `study` and its opening message, written."""
        questions = questions_from_stored(study.id, study.questions)
        opening = interviewer.opening(study.title, questions, respondent.display_name)
        interview = Interview(
            id=new_id(),
            project_id=study.project_id,
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
            link_id=link_id,
        )
        first = _interviewer_record(interview.id, 1, opening, now)
        uow.interviews.create(interview)
        uow.interviews.append([first])
        return interview, first, opening.asked

    async def _started(
        self,
        start: Callable[[UnitOfWork], tuple[Interview, MessageRecord, AskedQuestion | None]],
        token: str,
        now: datetime,
    ) -> StartedInterview:
        interview, first, asked = await self._units.write(start)
        return StartedInterview(
            interview_id=interview.id,
            session_token=token,
            status=InterviewStatus.ACTIVE,
            started_at=now,
            initial_message=first.message(asked),
        )

    async def send_message(
        self,
        principal: Principal,
        interview_id: str,
        session_token: str | None,
        content: str,
        given: GivenAnswer | None = None,
    ) -> MessageExchange:
        """The respondent's message (and, from a widget, the current
        question's answer) and the interviewer's reply."""
        require(principal, Permission.CHAT)
        interview_id = validation.uuid_field("interview_id", interview_id)
        _require_token_shape(session_token)
        if given is None or content:
            content = validation.message_content(content)
        now = self._now()
        guides = self._guides

        def exchange(uow: UnitOfWork) -> tuple[MessageExchange, Guide | None]:
            interview = _interview_for_token(uow, principal, interview_id, session_token)
            interview.ensure_open()
            questions = guides.get(interview.study_id)
            loaded = None
            if questions is None:
                questions = _questions(uow, interview.study_id)
                loaded = Guide(interview.study_id, questions)
            question = interviewer.current_question(questions, interview.position)
            said_id = new_id()
            heard = hear(question, content, given, said_id, interview.answers)
            said_content = content or heard.written
            validation.transcript_room(
                interview.id,
                interview.respondent_messages,
                said_content,
                lambda: uow.interviews.respondent_bytes(interview.id),
            )
            answer = interviewer.reply(questions, interview.position, said_content, heard.heard)
            stored = heard.answers
            if answer.skipped is not None:
                stored = answers.skipped(stored, answer.skipped, said_id)
            count = interview.messages_count
            said = MessageRecord(
                id=said_id,
                interview_id=interview.id,
                seq=count + 1,
                role=Role.RESPONDENT.value,
                content=said_content,
                created_at=now,
            )
            reply = _interviewer_record(interview.id, count + 2, answer, now)
            uow.interviews.append([said, reply])
            uow.interviews.save(interview.exchanged(answer.position, stored), interview)
            done = MessageExchange(
                message_id=said.id,
                interviewer_response=reply.message(answer.asked),
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
        self,
        principal: Principal,
        interview_id: str,
        session_token: str | None,
        content: str,
        given: GivenAnswer | None = None,
    ) -> AsyncIterator[ReplyPiece | MessageExchange]:
        """send_message, with the reply handed out in pieces before the whole
        exchange. Both messages are stored before the first piece; every
        failure is raised before it."""
        done = await self.send_message(principal, interview_id, session_token, content, given)
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
        if principal.interview_id is not None and reason not in SESSION_REASONS:
            raise InvalidRequest(
                [FieldViolation("reason", "a link's session completes natural or respondent_left")]
            )

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


def _questions(uow: UnitOfWork, study_id: str) -> tuple[StudyQuestion, ...]:
    study = uow.studies.get(study_id)
    assert study is not None  # foreign key
    return questions_from_stored(study.id, study.questions)


@dataclass(frozen=True, slots=True)
class Hearing:
    """What a respondent's message was to the current question: how the
    interviewer takes it, the interview's answers with it recorded, and a
    widget's answer written out (for a message sent without words)."""

    heard: interviewer.Heard
    answers: list[Any] | None
    written: str = ""


def hear(
    question: StudyQuestion | None,
    content: str,
    given: GivenAnswer | None,
    message_id: str,
    stored: list[Any] | None,
) -> Hearing:
    """A widget's answer is checked (InvalidRequest if it does not fit the
    current question); words are read against a structured question, and a
    miss is left for the interviewer to ask again; an open question keeps
    the words."""
    if given is not None:
        answer = replace(answers.checked(question, given), message_ids=(message_id,))
        assert question is not None
        return Hearing(
            interviewer.Heard.ANSWERED,
            answers.recorded(stored, answer),
            answers.written_out(question, answer),
        )
    if question is None:
        return Hearing(interviewer.Heard.WORDS, stored)
    if not question.type.structured:
        return Hearing(interviewer.Heard.WORDS, answers.words(stored, question, message_id))
    parsed = answer_parsing.parse(question, content)
    if parsed is None:
        return Hearing(interviewer.Heard.MISSED, answers.missed(stored, question, message_id))
    answer = Answer(
        question_id=question.question_id,
        type=question.type,
        scale_value=parsed.scale_value,
        option_ids=parsed.option_ids,
        yes_no=parsed.yes_no,
        message_ids=(message_id,),
        source=AnswerSource.TEXT,
    )
    return Hearing(interviewer.Heard.ANSWERED, answers.recorded(stored, answer))


def _interviewer_record(
    interview_id: str, seq: int, said: interviewer.Reply, now: datetime
) -> MessageRecord:
    asked = said.asked
    return MessageRecord(
        id=new_id(),
        interview_id=interview_id,
        seq=seq,
        role=Role.INTERVIEWER.value,
        content=said.content,
        created_at=now,
        question_id=asked.question.question_id if asked is not None else None,
        follow_up=asked.follow_up if asked is not None else None,
    )


def _checked_respondent(respondent: Respondent) -> Respondent:
    return Respondent(
        external_id=validation.short_text("respondent.external_id", respondent.external_id),
        display_name=validation.short_text("respondent.display_name", respondent.display_name),
        metadata=validation.json_object("respondent.metadata", respondent.metadata),
    )


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
