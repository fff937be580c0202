"""The interview's commands: start, converse, complete. Each runs in one
write unit of work, raises domain errors, and announces what it committed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from koji_server.domain import (
    answer_parsing,
    answers,
    conversation,
    credentials,
    interviewer,
    probes,
    validation,
)
from koji_server.domain.auth import require
from koji_server.domain.changes import AnalysisStatusChanged, ChangeFeed, Completed, MessageAdded
from koji_server.domain.conversation import Decision, Reading
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
from koji_server.domain.study_design import brief_from_stored, questions_from_stored
from koji_server.support.clock import Clock, precise_now, whole_seconds

ANALYSIS_JOB = "analyze_interview"
# How a link-started interview's own session may complete it.
SESSION_REASONS = frozenset({CompletionReason.NATURAL, CompletionReason.RESPONDENT_LEFT})
MAX_GUIDES = 1_000


def new_id() -> str:
    return str(uuid.uuid4())


class InterviewCommands:
    """Start, converse with and complete interviews on behalf of an API key
    (or, for a completion, the local operator)."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        changes: ChangeFeed,
        clock: Clock = precise_now,
        *,
        listener: conversation.Listener,
        wording: conversation.Wording | None = None,
    ) -> None:
        self._units = units
        self._clock = clock
        # Reads answers for the conversation engine; `wording`: a language
        # model that words its moves (None: the built-in wording).
        self._listener = listener
        self._wording = wording
        # Where committed changes are announced (to watchers, and to the
        # after-commit handlers: a completion wakes the analysis worker).
        self._changes = changes
        # Studies' guides (an interview's study is active or was: its
        # questions no longer change). Write units read this mapping and never
        # change it; a guide missing from it is loaded outside the unit and
        # the event loop puts a new mapping in its place.
        self._guides: Guides = {}

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
            question_index=0,
            follow_up_asked=False,
            respondent_messages=0,
            interviewer_messages=1,
            started_at=now,
            updated_at=_to_milliseconds(self._clock()),
            link_id=link_id,
            conversation=conversation.State().stored(),
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
        said = _said(principal, interview_id, session_token, content, given)
        if self._wording is not None:
            return await self._converse_with_model(said, _discard)
        return await self._exchange(said)

    async def stream_message(
        self,
        principal: Principal,
        interview_id: str,
        session_token: str | None,
        content: str,
        given: GivenAnswer | None = None,
    ) -> AsyncIterator[ReplyPiece | MessageExchange]:
        """send_message, with the reply handed out in pieces before the whole
        exchange. Without a model, both messages are stored before the first
        piece and every failure is raised before it; with one, every refusal
        is raised before the first piece, the pieces come as the model writes
        them and the exchange is stored after the last."""
        if self._wording is None:
            done = await self.send_message(principal, interview_id, session_token, content, given)
            reply = done.interviewer_response
            for piece in interviewer.pieces(reply.content):
                yield ReplyPiece(reply.message_id, piece)
            yield done
            return
        said = _said(principal, interview_id, session_token, content, given)
        queue: asyncio.Queue[ReplyPiece | MessageExchange | BaseException] = asyncio.Queue()

        async def converse() -> None:
            try:
                queue.put_nowait(await self._converse_with_model(said, queue.put))
            except BaseException as error:  # handed to the stream's reader
                queue.put_nowait(error)

        task = asyncio.create_task(converse())
        try:
            while True:
                event = await queue.get()
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, MessageExchange):
                    return
        finally:
            if not task.done():
                task.cancel()

    async def _exchange(self, said: Said, worded: Worded | None = None) -> MessageExchange:
        """Store the respondent's message and the interviewer's reply, and the
        conversation after them, in one write unit. The engine decides there
        (microseconds: the answer was read before the unit); `worded`: a
        model's wording of the decision planned before, kept if the unit
        decides the same, else the built-in wording."""
        reading = await self._read(said.content)
        now = self._now()

        def exchange(guides: Guides, uow: UnitOfWork) -> MessageExchange:
            decided = _decided(uow, guides, said, reading)
            interview, guide, heard, decision = (
                decided.interview,
                decided.guide,
                decided.heard,
                decided.decision,
            )
            reply_id, text = new_id(), ""
            if worded is not None and worded.decision == decision:
                reply_id, text = worded.reply_id, worded.text
            text = text or probes.wording(guide.engine, decision, reading)
            stored = heard.answers
            question = interviewer.current_question(guide.questions, interview.position)
            if decision.gave_up and question is not None:
                stored = answers.skipped(stored, question, decided.message_id)
            count = interview.messages_count
            respondent = MessageRecord(
                id=decided.message_id,
                interview_id=interview.id,
                seq=count + 1,
                role=Role.RESPONDENT.value,
                content=said.content or heard.written,
                created_at=now,
            )
            asked = guide.asked(decision)
            reply = _interviewer_record(
                interview.id, count + 2, interviewer.Reply(text, asked=asked), now, reply_id
            )
            uow.interviews.append([respondent, reply])
            after = interview.exchanged(decision.state, stored)
            uow.interviews.save(after, interview)
            return MessageExchange(
                message_id=respondent.id,
                interviewer_response=reply.message(asked),
                interview_status=after.status,
                messages_count=count + 2,
            )

        done = await self._with_guides(self._units.write, exchange)
        status, count = done.interview_status, done.messages_count
        self._changes.publish(
            said.interview_id,
            self._clock(),
            MessageAdded(done.message_id, Role.RESPONDENT, count - 1, status),
            MessageAdded(done.interviewer_response.message_id, Role.INTERVIEWER, count, status),
        )
        return done

    async def _converse_with_model(
        self, said: Said, hand_out: Callable[[ReplyPiece], Awaitable[None]]
    ) -> MessageExchange:
        """The engine decides from the stored state (a read, no write lock),
        the model words the move while its pieces are handed out, then the
        exchange is stored as by `_exchange`."""
        assert self._wording is not None
        reading = await self._read(said.content)

        def plan(guides: Guides, uow: UnitOfWork) -> Plan:
            decided = _decided(uow, guides, said, reading)
            recent = tuple(
                conversation.Said(m.role, m.content)
                for m in uow.interviews.messages(said.interview_id)[-conversation.RECENT :]
            )
            return decided.guide, decided.decision, recent

        # Every refusal comes here, before the model is called.
        guide, decision, recent = await self._with_guides(self._units.read, plan)
        fallback = probes.wording(guide.engine, decision, reading)
        reply_id = new_id()

        async def piece(text: str) -> None:
            await hand_out(ReplyPiece(reply_id, text))

        text = await self._wording.word(guide.engine, decision, reading, recent, fallback, piece)
        return await self._exchange(said, Worded(reply_id, decision, text))

    async def _with_guides(
        self,
        run: Callable[[Callable[[UnitOfWork], T]], Awaitable[T]],
        unit: Callable[[Guides, UnitOfWork], T],
    ) -> T:
        """Run a unit with the guides loaded so far; if it meets a study whose
        guide is not among them, load that guide (outside the unit) and run
        the unit again."""
        while True:
            try:
                return await run(partial(unit, self._guides))
            except _GuideNeeded as needed:
                await self._load_guide(needed.study_id)

    async def warm(self) -> None:
        """Load what reading answers needs (the analysis's embedding: seconds
        of imports, once per process) in a thread, ahead of the first message."""
        if not self._listener.ready:
            await asyncio.to_thread(self._listener.warm)

    async def _read(self, content: str) -> Reading:
        if not self._listener.ready:
            # The first reading loads the analysis's embedding (seconds): not
            # on the event loop.
            await asyncio.to_thread(self._listener.warm)
        return self._listener.read(content)

    async def _load_guide(self, study_id: str) -> None:
        """Load a study's guide and keep it (its question vectors computed
        here, on the event loop, not in a write unit): a new mapping, so a
        unit reading the old one is undisturbed."""

        def load(uow: UnitOfWork) -> tuple[str, tuple[StudyQuestion, ...], Any]:
            study = uow.studies.get(study_id)
            assert study is not None  # foreign key
            return study.title, questions_from_stored(study.id, study.questions), study.brief

        title, questions, brief = await self._units.read(load)
        engine = conversation.guide_of(title, questions, brief_from_stored(brief))
        vectors = self._listener.question_vectors([q.text for q in engine.questions])
        loaded = LoadedGuide(questions, replace(engine, vectors=vectors))
        kept = self._guides if len(self._guides) < MAX_GUIDES else {}
        self._guides = {**kept, study_id: loaded}

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


@dataclass(frozen=True, slots=True)
class LoadedGuide:
    """A study's questions, and the conversation engine's guide of them."""

    questions: tuple[StudyQuestion, ...]
    engine: conversation.Guide

    def asked(self, decision: Decision) -> AskedQuestion | None:
        """The question the interviewer's message serves."""
        if decision.question is None:
            return None
        return AskedQuestion(self.questions[decision.question], decision.follow_up)


Guides = dict[str, LoadedGuide]
# A model-worded reply's plan: the guide, the decision, the recent transcript.
Plan = tuple[LoadedGuide, Decision, tuple[conversation.Said, ...]]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Said:
    """A respondent's message, as SendMessage and StreamMessage took it."""

    principal: Principal
    interview_id: str
    session_token: str | None
    content: str
    given: GivenAnswer | None


def _said(
    principal: Principal,
    interview_id: str,
    session_token: str | None,
    content: str,
    given: GivenAnswer | None,
) -> Said:
    """The message checked as far as it can be without the interview."""
    require(principal, Permission.CHAT)
    interview_id = validation.uuid_field("interview_id", interview_id)
    _require_token_shape(session_token)
    if given is None or content:
        content = validation.message_content(content)
    return Said(principal, interview_id, session_token, content, given)


@dataclass(frozen=True, slots=True)
class Worded:
    """A model's wording of a planned decision, and the reply's id its
    pieces went out under."""

    reply_id: str
    decision: Decision
    text: str


@dataclass(frozen=True, slots=True)
class Decided:
    """A message's interview, guide, what it was to the current question
    (`heard`, under the respondent message's id `message_id`) and the
    engine's decision."""

    interview: Interview
    guide: LoadedGuide
    heard: Hearing
    message_id: str
    decision: Decision


def _decided(uow: UnitOfWork, guides: Guides, said: Said, reading: Reading) -> Decided:
    """The interview a message is for, checked (open, room for the message),
    its study's guide (raises _GuideNeeded if it is not loaded), what the
    message was to the current question, and the engine's decision."""
    interview = _interview_for_token(uow, said.principal, said.interview_id, said.session_token)
    interview.ensure_open()
    guide = guides.get(interview.study_id)
    if guide is None:
        raise _GuideNeeded(interview.study_id)
    question = interviewer.current_question(guide.questions, interview.position)
    message_id = new_id()
    heard = hear(question, said.content, said.given, message_id, interview.answers)
    validation.transcript_room(
        interview.id,
        interview.respondent_messages,
        said.content or heard.written,
        lambda: uow.interviews.respondent_bytes(interview.id),
    )
    if question is not None and question.type.structured:
        reading = replace(reading, parsed=heard.heard is interviewer.Heard.ANSWERED)
    decision = conversation.decide(guide.engine, interview.conversation_state, reading)
    return Decided(interview, guide, heard, message_id, decision)


class _GuideNeeded(Exception):
    """A unit met a study whose guide is not loaded yet."""

    def __init__(self, study_id: str) -> None:
        super().__init__(study_id)
        self.study_id = study_id


async def _discard(piece: ReplyPiece) -> None:
    """Where SendMessage's pieces go when a model words the reply."""


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
    interview_id: str, seq: int, said: interviewer.Reply, now: datetime, message_id: str = ""
) -> MessageRecord:
    asked = said.asked
    return MessageRecord(
        id=message_id or new_id(),
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
