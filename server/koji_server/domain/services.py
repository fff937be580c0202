"""The interview use cases. Each runs in one unit of work and raises domain errors."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from koji_server.domain import answer_parsing, answers, credentials, interviewer, validation
from koji_server.domain.changes import AnalysisStatusChanged, ChangeFeed, Completed, MessageAdded
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
from koji_server.domain.study_design import questions_from_stored
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
    ) -> None:
        self._units = units
        self._clock = clock
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
        # Studies' questions (studies never change). Write units read this
        # mapping and never change it; a unit that loads a guide returns it,
        # and the event loop puts a new mapping in its place.
        self._guides: dict[str, tuple[str, ...]] = {}
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
                question_index=opening.position.question_index,
                follow_up_asked=opening.position.follow_up_asked,
                respondent_messages=0,
                interviewer_messages=1,
                started_at=now,
                updated_at=_to_milliseconds(self._clock()),
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
                interviewer_response=_message(reply, answer.asked),
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

    def _keep_guide(self, loaded: Guide) -> None:
        """Keep a guide a write unit loaded (on the event loop, never in the
        unit): a new mapping, so a unit reading the old one is undisturbed."""
        kept = self._guides if len(self._guides) < MAX_GUIDES else {}
        self._guides = {**kept, loaded.study_id: loaded.questions}


@dataclass(frozen=True, slots=True)
class Guide:
    """A study's questions, as a write unit loaded them (an interview's
    study is active or was: its questions no longer change)."""

    study_id: str
    questions: tuple[StudyQuestion, ...]


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
