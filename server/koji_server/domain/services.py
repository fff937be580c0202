"""The interview use cases. Each runs in one unit of work and raises domain errors."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
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
from koji_server.domain.changes import AnalysisStatusChanged, ChangeFeed, Completed, MessageAdded
from koji_server.domain.conversation import Decision, Reading
from koji_server.domain.errors import (
    AlreadyCompleted,
    DomainError,
    Forbidden,
    InvalidSessionToken,
    NotFound,
    StorageUnavailable,
    StudyNotActive,
    Unauthorized,
)
from koji_server.domain.interview import Interview
from koji_server.domain.model import (
    Analysis,
    AnalysisStatus,
    Answer,
    AnswerSource,
    AskedQuestion,
    CompletionReason,
    CompletionSummary,
    GivenAnswer,
    InterviewDetail,
    InterviewMode,
    InterviewPage,
    InterviewStatus,
    Message,
    MessageExchange,
    Permission,
    Principal,
    ReplyPiece,
    Respondent,
    Role,
    StartedInterview,
    StudyQuestion,
    StudyStatus,
    Usage,
)
from koji_server.domain.page_tokens import PageTokens, Position
from koji_server.domain.study_design import brief_from_stored, questions_from_stored
from koji_server.storage.repository import InterviewFilter, MessageRecord
from koji_server.storage.unit_of_work import UnitOfWork, UnitOfWorkFactory
from koji_server.support.cache import TtlCache
from koji_server.support.clock import Clock, precise_now, whole_seconds
from koji_server.support.singleflight import SingleFlight

ANALYSIS_JOB = "analyze_interview"
DEFAULT_PAGE_SIZE = 50
MAX_GUIDES = 1_000
MAX_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class InterviewQuery:
    """ListInterviews' parameters."""

    study_id: str
    status: InterviewStatus | None = None
    updated_after: datetime | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True, slots=True)
class CacheSettings:
    auth_seconds: float = 2.0
    final_interview_seconds: float = 60.0
    final_interview_entries: int = 10_000


def new_id() -> str:
    return str(uuid.uuid4())


def require(principal: Principal, permission: Permission) -> None:
    if permission not in principal.permissions:
        raise Forbidden(permission.value)


def _message(row: MessageRecord, asked: AskedQuestion | None = None) -> Message:
    return Message(row.id, Role(row.role), row.content, row.created_at, asked)


class InterviewService:
    """Start, converse, complete and read interviews on behalf of an API key."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        on_completed: Callable[[], None] | None = None,
        caching: CacheSettings | None = None,
        page_tokens: PageTokens | None = None,
        clock: Clock = precise_now,
        changes: ChangeFeed | None = None,
        listener: conversation.Listener | None = None,
        wording: conversation.Wording | None = None,
    ) -> None:
        self._units = units
        self._clock = clock
        # Reads answers for the conversation engine; `wording`: a language
        # model that words its moves (None: the built-in wording).
        self._listener = listener or _default_listener()
        self._wording = wording
        # Where committed changes are announced to watchers (none: not announced).
        self._changes = changes or ChangeFeed()
        # A secret of this process unless configured (several processes must
        # share one to honour each other's tokens).
        self._page_tokens = page_tokens or PageTokens(secrets.token_bytes(32))
        # Called after a completion commits (wakes the pipeline worker).
        self._on_completed = on_completed or (lambda: None)
        caching = caching or CacheSettings()
        # Keys: a revocation takes effect within auth_seconds.
        self._principals: TtlCache[str, Principal] = TtlCache(caching.auth_seconds, 10_000)
        # Unknown and revoked keys, as briefly: a client repeating a bad key
        # costs no database read each time.
        self._refused_keys: TtlCache[str, bool] = TtlCache(caching.auth_seconds, 10_000)
        # Completed, analysed interviews no longer change (but for an operator's
        # reanalyze, seen within final_interview_seconds).
        self._final: TtlCache[str, tuple[str, InterviewDetail]] = TtlCache(
            caching.final_interview_seconds, caching.final_interview_entries
        )
        # ...and a reanalysis announced on the feed (by any process) drops it.
        self._changes.observe(self._final.discard)
        # Studies' guides (an interview's study is active or was: its
        # questions no longer change). Write units read this mapping and never
        # change it; a guide missing from it is loaded outside the unit and
        # the event loop puts a new mapping in its place.
        self._guides: Guides = {}
        self._key_loads: SingleFlight[str, Principal] = SingleFlight()
        self._detail_loads: SingleFlight[str, tuple[str, InterviewDetail]] = SingleFlight()

    async def authenticate(self, api_key: str | None) -> Principal:
        if not credentials.looks_like(api_key, credentials.API_KEY_PREFIX):
            raise Unauthorized()
        assert api_key is not None
        key_hash = credentials.hash_secret(api_key)
        cached = self._principals.get(key_hash)
        if cached is not None:
            return cached
        if self._refused_keys.get(key_hash):
            raise Unauthorized()

        async def load() -> Principal:
            key = await self._units.read(lambda uow: uow.keys.by_hash(key_hash))
            if (
                key is None
                or not credentials.secret_matches(api_key, key.key_hash)
                or key.revoked_at is not None
            ):
                self._refused_keys.put(key_hash, True)
                raise Unauthorized()
            return Principal(
                key_id=key.id,
                project_id=key.project_id,
                permissions=frozenset(Permission(p) for p in key.permissions.split(",") if p),
                rate_limit_per_minute=key.rate_limit_per_minute,
            )

        # When a busy key's entry expires, its in-flight requests share one load.
        return await self._key_loads.run(
            key_hash, load, lambda principal: self._principals.put(key_hash, principal)
        )

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

        def start(uow: UnitOfWork) -> tuple[Interview, MessageRecord, AskedQuestion | None]:
            study = uow.studies.get(study_id, principal.project_id)
            if study is None:
                raise NotFound("study", study_id)
            if study.status != StudyStatus.ACTIVE:
                raise StudyNotActive(study.id, study.status)
            questions = questions_from_stored(study.id, study.questions)
            opening = interviewer.opening(study.title, questions, respondent.display_name)
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
                question_index=0,
                follow_up_asked=False,
                respondent_messages=0,
                interviewer_messages=1,
                started_at=now,
                updated_at=_to_milliseconds(self._clock()),
                conversation=conversation.State().stored(),
            )
            first = _interviewer_record(interview.id, 1, opening, now)
            uow.interviews.create(interview)
            uow.interviews.append([first])
            return interview, first, opening.asked

        interview, first, asked = await self._units.write(start)
        return StartedInterview(
            interview_id=interview.id,
            session_token=token,
            status=InterviewStatus.ACTIVE,
            started_at=now,
            initial_message=_message(first, asked),
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
        said = Said(principal, interview_id, session_token, content, given)
        if self._wording is not None:
            return await self._converse_with_model(said, _discard)
        return await self._exchange(said)

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
                interviewer_response=_message(reply, asked),
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
        here, on the event loop, not in a write unit)."""

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
        require(principal, Permission.CHAT)
        interview_id = validation.uuid_field("interview_id", interview_id)
        _require_token_shape(session_token)
        if given is None or content:
            content = validation.message_content(content)
        said = Said(principal, interview_id, session_token, content, given)
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

    def _completed(self, summary: CompletionSummary) -> None:
        self._on_completed()
        self._changes.publish(
            summary.interview_id,
            self._clock(),
            Completed(summary),
            AnalysisStatusChanged(summary.analysis_status),
        )

    async def usage(self, principal: Principal | None, project_id: str | None = None) -> Usage:
        """Completed interviews of the caller's project (or, for the operator,
        of project_id) by quality-gate outcome."""
        if principal is not None:
            require(principal, Permission.READ)
            project_id = principal.project_id
        assert project_id is not None

        def count(uow: UnitOfWork) -> dict[str, int]:
            if principal is None and uow.projects.get(project_id) is None:
                raise NotFound("project", project_id)
            return uow.interviews.usage(project_id)

        return Usage(project_id=project_id, **await self._units.read(count))

    async def list_interviews(
        self, principal: Principal | None, query: InterviewQuery
    ) -> InterviewPage:
        """A page of a study's interviews by (updated_at, id), without their
        transcripts; a principal of None is the local operator."""
        if principal is not None:
            require(principal, Permission.READ)
        study_id = validation.uuid_field("study_id", query.study_id)
        if query.page_size < 0:
            raise validation.invalid("page_size", "must not be negative")
        size = min(query.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

        def read(uow: UnitOfWork) -> InterviewPage:
            project_id = principal.project_id if principal is not None else None
            study = uow.studies.get(study_id, project_id)
            if study is None:
                raise NotFound("study", study_id)
            where = InterviewFilter(
                study.project_id,
                study_id,
                query.status.value if query.status is not None else None,
                query.updated_after,
            )
            scope = "|".join(
                [where.project_id, study_id, where.status or "", _iso(where.updated_after)]
            )
            after = None
            if query.page_token:
                position = self._page_tokens.read(scope, query.page_token)
                after = (position.updated_at, position.interview_id)
            rows = uow.interviews.page(where, after, size + 1)
            now = self._now()
            listed = tuple(
                replace(_detail(row, (), None, now), updated_at=row.updated_at)  # type: ignore[arg-type]
                for row in rows[:size]
            )
            token = ""
            if len(rows) > size:
                last = rows[size - 1]
                assert last.updated_at is not None
                token = self._page_tokens.issue(scope, Position(last.updated_at, last.id))
            return InterviewPage(listed, token)

        return await self._units.read(read)

    async def get_interview(
        self, principal: Principal | None, interview_id: str
    ) -> InterviewDetail:
        """Read an interview; a principal of None is the local operator (any project)."""
        if principal is not None:
            require(principal, Permission.READ)
        interview_id = validation.uuid_field("interview_id", interview_id)
        project_id = principal.project_id if principal is not None else None
        found = self._final.get(interview_id) if principal is not None else None
        if found is None:
            found = await self._load_detail(interview_id)
        owner, detail = found
        if project_id is not None and owner != project_id:
            raise NotFound("interview", interview_id)
        return detail

    async def _load_detail(self, interview_id: str) -> tuple[str, InterviewDetail]:
        """(owner project, detail) from the database; concurrent reads of one
        interview share a single load."""

        def load(uow: UnitOfWork) -> tuple[str, InterviewDetail]:
            interview = uow.interviews.record(interview_id)
            if interview is None:
                raise NotFound("interview", interview_id)
            transcript = uow.interviews.messages(interview_id)
            analysis = uow.interviews.analysis(interview_id)
            questions = _questions(uow, interview.study_id)
            detail = _detail(interview, transcript, analysis, self._now(), questions)
            return interview.project_id, detail

        def keep_if_final(found: tuple[str, InterviewDetail]) -> None:
            if found[1].analysis_status is AnalysisStatus.COMPLETED:
                self._final.put(interview_id, found)

        return await self._detail_loads.run(
            interview_id, lambda: self._units.read(load), keep_if_final
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


def _default_listener() -> conversation.Listener:
    from koji_server.interviewer.listening import Listener

    return Listener()


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


def _to_milliseconds(value: datetime) -> datetime:
    """The precision of the database's own updates to updated_at (SQLite's 'now')."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


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


def _detail(
    interview: Interview,
    transcript: Sequence[MessageRecord],
    analysis: Analysis | None,
    now: datetime,
    questions: Sequence[StudyQuestion] = (),
) -> InterviewDetail:
    by_id = {q.question_id: q for q in questions}
    contents = {m.id: m.content for m in transcript}
    shown = answers.settled(answers.all_from_stored(interview.answers)) if transcript else ()
    return InterviewDetail(
        interview_id=interview.id,
        study_id=interview.study_id,
        status=interview.status,
        mode=interview.mode,
        locale=interview.locale,
        respondent=interview.respondent,
        started_at=interview.started_at,
        stats=interview.stats(now),
        transcript=tuple(_message(m, _asked(m, by_id)) for m in transcript),
        completed_at=interview.completed_at,
        reason=interview.reason,
        feedback=interview.feedback,
        analysis_status=interview.analysis_status,
        analysis=analysis if interview.analysis_status == AnalysisStatus.COMPLETED else None,
        answers=answers.detailed(shown, contents),
    )


def _asked(message: MessageRecord, questions: dict[str, StudyQuestion]) -> AskedQuestion | None:
    """The question an interviewer message served, if it says."""
    question = questions.get(message.question_id or "")
    return AskedQuestion(question, bool(message.follow_up)) if question is not None else None
