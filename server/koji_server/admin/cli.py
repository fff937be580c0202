"""`koji-admin`: the operator CLI (projects, API keys, studies, interviews,
the schema's migrations).

It talks to the same database as the server (SQLite or PostgreSQL; KOJI_DATABASE_URL or
--database-url); like the server, every command but `db ...` refuses a
schema other than the migrations' head. Secrets are printed once, on
creation, and never again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from koji_server.admin import db, search_cli
from koji_server.api import translate
from koji_server.config import Settings
from koji_server.domain.changes import ChangeFeed
from koji_server.domain.errors import (
    AlreadyCompleted,
    DomainError,
    FieldViolation,
    InvalidRequest,
)
from koji_server.domain.events import EVENT_TYPES
from koji_server.domain.links import Link, LinkService
from koji_server.domain.model import (
    OPERATOR,
    CompletionReason,
    InterviewDetail,
    InterviewPage,
    InterviewStatus,
    QuestionType,
    Study,
    StudyStatus,
)
from koji_server.domain.services import MAX_PAGE_SIZE, InterviewQuery, InterviewService
from koji_server.domain.studies import MAX_STUDY_PAGE, StudyQuery, StudyService
from koji_server.operations.interviews import reanalyze_and_report
from koji_server.operations.projects import (
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    AdminService,
    parse_permissions,
)
from koji_server.operations.webhooks import Delivery, WebhookAdmin
from koji_server.pipeline import study_reports
from koji_server.storage import search_index
from koji_server.storage.backends import open_database
from koji_server.storage.change_relay import Announced, announce
from koji_server.storage.postgres import PostgresDatabase
from koji_server.storage.schema_version import SchemaMismatch
from koji_server.storage.unit_of_work import UnitOfWorkFactory
from koji_server.support.clock import utc_now


@dataclass(frozen=True)
class Context:
    admin: AdminService
    interviews: InterviewService
    units: UnitOfWorkFactory
    database_url: str
    # What the command changed, for the servers on the database (_run sends it).
    changes: ChangeFeed


Command = Callable[[argparse.Namespace, Context], Awaitable[None]]


def _json(message: Message) -> str:
    """A response as the API's JSON prints it (proto field names, every field)."""
    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


async def projects_create(args: argparse.Namespace, ctx: Context) -> None:
    print(await ctx.admin.create_project(args.name))


async def keys_create(args: argparse.Namespace, ctx: Context) -> None:
    created = await ctx.admin.create_key(
        args.project, args.name, parse_permissions(args.permissions), args.rate_limit
    )
    print(created.api_key)
    print(f"key id {created.key_id}; store the key now, it is not shown again", file=sys.stderr)


async def keys_list(args: argparse.Namespace, ctx: Context) -> None:
    for key in await ctx.admin.list_keys(args.project):
        state = f"revoked {key.revoked_at.isoformat()}" if key.revoked_at else "active"
        print(
            f"{key.key_id}  {key.display_prefix}...  project={key.project_id}  "
            f"name={key.name!r}  permissions={','.join(key.permissions)}  "
            f"rate_limit={key.rate_limit_per_minute}/min  {state}"
        )


async def keys_revoke(args: argparse.Namespace, ctx: Context) -> None:
    await ctx.admin.revoke_key(args.key_id)
    print(f"revoked {args.key_id}")


async def studies_create(args: argparse.Namespace, ctx: Context) -> None:
    if args.file is None:
        # As before designs: an active study of open questions, its id printed.
        if not args.title or not args.question:
            raise InvalidRequest(
                [FieldViolation("--title/--question", "give --file, or --title and --question")]
            )
        print(await ctx.admin.create_study(args.project, args.title, args.question))
        return
    if args.title or args.question:
        raise InvalidRequest(
            [FieldViolation("--file", "give --file, or --title and --question, not both")]
        )
    document = read_design(Path(args.file))
    study = await StudyService(ctx.units).create(OPERATOR, document, args.project)
    print(study.study_id)
    print(
        f"draft with {len(study.questions)} questions; "
        f"publish it with: koji-admin studies publish {study.study_id}",
        file=sys.stderr,
    )


def read_design(path: Path) -> dict[str, Any]:
    """A study document, YAML or JSON (JSON is YAML), in the API's shape."""
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InvalidRequest([FieldViolation("--file", f"cannot read {path}: {error}")]) from None
    if not isinstance(document, dict):
        raise InvalidRequest([FieldViolation("--file", "must hold one study (a mapping)")])
    return document


def _print_study(study: Study) -> None:
    from google.protobuf import json_format

    from koji_server.api import study_servicer

    message = study_servicer.study(study)
    print(
        json_format.MessageToJson(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    )


async def studies_show(args: argparse.Namespace, ctx: Context) -> None:
    _print_study(await StudyService(ctx.units).get(OPERATOR, args.study_id))


async def studies_list(args: argparse.Namespace, ctx: Context) -> None:
    service = StudyService(ctx.units)
    status = StudyStatus(args.status) if args.status else None
    token = ""
    listed: list[Study] = []
    while True:
        query = StudyQuery(status, MAX_STUDY_PAGE, token)
        page = await service.list_studies(OPERATOR, query, args.project)
        listed += page.studies
        token = page.next_page_token
        if not token:
            break
    for study in listed:
        print(
            f"{study.study_id}  {study.status.value:<9}  {len(study.questions):>2} questions  "
            f"{study.interview_count:>5} interviews  {study.title}"
        )
    print(f"{len(listed)} studies", file=sys.stderr)


async def studies_publish(args: argparse.Namespace, ctx: Context) -> None:
    study = await StudyService(ctx.units).publish(OPERATOR, args.study_id)
    print(f"{study.study_id} {study.status.value}")


async def studies_close(args: argparse.Namespace, ctx: Context) -> None:
    study = await StudyService(ctx.units).close(OPERATOR, args.study_id)
    print(f"{study.study_id} {study.status.value}")


async def studies_archive(args: argparse.Namespace, ctx: Context) -> None:
    study = await StudyService(ctx.units).archive(OPERATOR, args.study_id)
    print(f"{study.study_id} {study.status.value}")


def _links(ctx: Context) -> LinkService:
    return LinkService(ctx.units, Settings().public_url)


def _link_line(link: Link) -> str:
    limit = str(link.max_interviews) if link.max_interviews else "no limit"
    expires = link.expires_at.isoformat() if link.expires_at else "never"
    state = f"revoked {link.revoked_at.isoformat()}" if link.revoked_at else "open"
    return (
        f"{link.id}  {link.interview_count} interviews ({limit})  expires {expires}  "
        f"created {link.created_at.isoformat()}  {state}"
    )


async def studies_link_create(args: argparse.Namespace, ctx: Context) -> None:
    expires_at = None
    if args.expires_in_days is not None:
        expires_at = utc_now() + timedelta(days=args.expires_in_days)
    created = await _links(ctx).create(OPERATOR, args.study_id, expires_at, args.max_interviews)
    print(created.url)
    print(
        f"link id {created.link.id}; the url is not shown again (KOJI_PUBLIC_URL is its base)",
        file=sys.stderr,
    )


async def studies_link_list(args: argparse.Namespace, ctx: Context) -> None:
    for link in await _links(ctx).list(OPERATOR, args.study_id):
        print(_link_line(link))


async def studies_link_revoke(args: argparse.Namespace, ctx: Context) -> None:
    print(_link_line(await _links(ctx).revoke(OPERATOR, args.study_id, args.link_id)))


async def interviews_complete(args: argparse.Namespace, ctx: Context) -> None:
    reason = CompletionReason(args.reason)
    try:
        summary = await ctx.interviews.complete_as_operator(args.interview_id, reason)
    except AlreadyCompleted as done:
        print(_json(translate.completion(done.summary)))
        print("already completed: nothing changed", file=sys.stderr)
        return
    print(_json(translate.completion(summary)))


async def interviews_list(args: argparse.Namespace, ctx: Context) -> None:
    status = InterviewStatus(args.status) if args.status else None
    token = ""
    listed: list[InterviewDetail] = []
    while True:
        query = InterviewQuery(args.study, status, page_size=MAX_PAGE_SIZE, page_token=token)
        page = await ctx.interviews.list_interviews(OPERATOR, query)
        listed += page.interviews
        token = page.next_page_token
        if not token:
            break
    if args.json:
        print(_json(translate.interview_page(InterviewPage(tuple(listed), ""))))
        return
    for item in listed:
        assert item.updated_at is not None
        updated = translate.timestamp(item.updated_at.replace(microsecond=0)).ToJsonString()
        print(
            f"{item.interview_id}  {item.status.value:<9}  {updated}  "
            f"{item.stats.total_messages} messages"
        )
    print(f"{len(listed)} interviews", file=sys.stderr)


async def _print_interview(ctx: Context, interview_id: str) -> None:
    """The interview as JSON, as GetInterview answers."""
    detail = await ctx.interviews.get_interview(OPERATOR, interview_id)
    print(_json(translate.interview(detail)))


async def interviews_show(args: argparse.Namespace, ctx: Context) -> None:
    await _print_interview(ctx, args.interview_id)


async def interviews_reanalyze(args: argparse.Namespace, ctx: Context) -> None:
    await reanalyze_and_report(ctx.units, ctx.changes, ctx.database_url, [args.interview_id])
    await asyncio.to_thread(search_index.take_in, ctx.database_url, args.interview_id)
    await _print_interview(ctx, args.interview_id)


async def studies_report(args: argparse.Namespace, ctx: Context) -> None:
    from koji_server.admin import study_report

    studies = StudyService(ctx.units)
    report = await studies.get_report(OPERATOR, args.study_id)
    if args.html:
        study = await studies.get(OPERATOR, args.study_id)
        scales = {
            q.question_id: (q.config.scale_min or 0, q.config.scale_max or 0)
            for q in study.questions
            if q.type is QuestionType.SCALE
        }
        page = study_report.html_page(report, f"Study: {study.title}", scales)
        Path(args.html).write_text(page, encoding="utf-8")  # noqa: ASYNC240 (a CLI, one file)
        print(f"wrote {args.html}", file=sys.stderr)
    if args.json:
        print(json.dumps(study_report.as_json(report), indent=2))
    elif not args.html:
        from rich.console import Console

        study_report.print_table(report, Console())


async def studies_reanalyze(args: argparse.Namespace, ctx: Context) -> None:
    from rich.progress import Progress

    study = await StudyService(ctx.units).get_report(OPERATOR, args.study_id)  # checks it exists
    interview_ids = await ctx.units.read(
        lambda uow: uow.study_reports.completed_ids(study.study_id)
    )
    with Progress(transient=False) as progress:
        task = progress.add_task("reanalysing interviews", total=len(interview_ids))
        report = await reanalyze_and_report(
            ctx.units,
            ctx.changes,
            ctx.database_url,
            interview_ids,
            study.study_id,
            lambda: progress.advance(task),
        )
    assert report is not None
    await asyncio.to_thread(search_cli.reindex_study, ctx.database_url, study.study_id)
    print(
        f"study {study.study_id}: {len(interview_ids)} interviews reanalysed, "
        f"{len(report['themes'])} themes"
    )


async def usage(args: argparse.Namespace, ctx: Context) -> None:
    report = await ctx.interviews.usage(OPERATOR, args.project)
    print(
        f"project {report.project_id}: {report.counted} counted toward usage, "
        f"{report.excluded} excluded (failed the quality gate), "
        f"{report.processing} still being analysed, {report.failed} analysis failed"
    )


def _webhooks(ctx: Context) -> WebhookAdmin:
    settings = Settings()
    return WebhookAdmin(
        ctx.units, settings.webhook_timeout_seconds, settings.webhook_allow_private_networks
    )


async def webhooks_add(args: argparse.Namespace, ctx: Context) -> None:
    events = [e.strip() for e in (args.events or "").split(",") if e.strip()]
    endpoint_id, secret = await _webhooks(ctx).add(args.project, args.url, events)
    print(secret)
    print(
        f"endpoint {endpoint_id} verified and added; store the secret now, it is not shown again",
        file=sys.stderr,
    )


async def webhooks_list(args: argparse.Namespace, ctx: Context) -> None:
    for endpoint in await _webhooks(ctx).list(args.project):
        rotating = (
            f"  rotating until {endpoint.rotating_until.isoformat()}"
            if endpoint.rotating_until
            else ""
        )
        print(
            f"{endpoint.endpoint_id}  project={endpoint.project_id}  url={endpoint.url}  "
            f"events={','.join(endpoint.events) or 'all'}{rotating}"
        )


async def webhooks_remove(args: argparse.Namespace, ctx: Context) -> None:
    await _webhooks(ctx).remove(args.endpoint_id)
    print(f"removed {args.endpoint_id}")


async def webhooks_rotate(args: argparse.Namespace, ctx: Context) -> None:
    secret = await _webhooks(ctx).rotate_secret(args.endpoint_id, timedelta(hours=args.grace_hours))
    print(secret)
    print(
        f"new secret for {args.endpoint_id}; the previous one also signs for "
        f"{args.grace_hours:g} h",
        file=sys.stderr,
    )


def _print_delivery(delivery: Delivery) -> None:
    print(
        f"{delivery.delivery_id}  {delivery.event_type}  interview={delivery.interview_id}  "
        f"url={delivery.endpoint_url}  status={delivery.status}  attempts={len(delivery.attempts)}"
    )
    for attempt in delivery.attempts:
        answer = attempt.status_code if attempt.status_code is not None else "-"
        print(
            f"    {attempt.attempted_at.isoformat()}  status={answer}  "
            f"latency={attempt.latency_ms:.0f}ms  error={attempt.error or '-'}"
        )


async def webhooks_deliveries(args: argparse.Namespace, ctx: Context) -> None:
    for delivery in await _webhooks(ctx).deliveries(args.interview):
        _print_delivery(delivery)


async def webhooks_redeliver(args: argparse.Namespace, ctx: Context) -> None:
    delivery = await _webhooks(ctx).redeliver(args.delivery_id)
    _print_delivery(delivery)
    if delivery.status != "succeeded":
        sys.exit(f"koji-admin: redelivery of {args.delivery_id} failed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="koji-admin",
        description="Operate a Koji interview database: projects, API keys, studies and "
        "interviews. Uses the server's database (env KOJI_DATABASE_URL).",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        metavar="URL",
        help="SQLAlchemy URL of the SQLite file or the PostgreSQL database "
        "(postgresql+asyncpg://...) (env KOJI_DATABASE_URL, "
        "default sqlite+aiosqlite:///koji.db)",
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="GROUP")

    def command(
        group: argparse._SubParsersAction, name: str, run: Command, text: str
    ) -> argparse.ArgumentParser:  # type: ignore[type-arg]
        sub: argparse.ArgumentParser = group.add_parser(name, help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    projects = groups.add_parser("projects", help="manage projects").add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    sub = command(projects, "create", projects_create, "Create a project; prints its id.")
    sub.add_argument("--name", required=True, help="the project's name")

    keys = groups.add_parser("keys", help="manage API keys").add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    sub = command(keys, "create", keys_create, "Create an API key; prints the key once.")
    sub.add_argument("--project", required=True, metavar="PROJECT_ID")
    sub.add_argument("--name", required=True, help="a label for the key")
    sub.add_argument(
        "--permissions",
        required=True,
        metavar="P1,P2",
        help="comma-separated: interview:start, interview:chat, interview:complete, "
        "interview:read, study:read, study:write",
    )
    sub.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_LIMIT_PER_MINUTE,
        metavar="PER_MINUTE",
        help="requests per minute for this key (default %(default)s)",
    )
    sub = command(keys, "list", keys_list, "List API keys (never the keys themselves).")
    sub.add_argument("--project", default=None, metavar="PROJECT_ID", help="only this project")
    sub = command(keys, "revoke", keys_revoke, "Revoke an API key at once.")
    sub.add_argument("key_id", metavar="KEY_ID")

    studies = groups.add_parser("studies", help="manage studies").add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    sub = command(
        studies,
        "create",
        studies_create,
        "Create a study; prints its id. With --file: a draft from a YAML or JSON document in "
        "the API's shape (docs/studies.md); with --title and --question: an active study of "
        "open questions, as always.",
    )
    sub.add_argument("--project", required=True, metavar="PROJECT_ID")
    sub.add_argument("--file", default=None, metavar="FILE", help="the study, YAML or JSON")
    sub.add_argument("--title", default=None)
    sub.add_argument(
        "--question",
        action="append",
        metavar="QUESTION",
        help="a guide question; repeat for each, in order",
    )
    sub = command(studies, "show", studies_show, "Print a study as the API's JSON.")
    sub.add_argument("study_id", metavar="STUDY_ID")
    sub = command(studies, "list", studies_list, "List a project's studies, oldest first.")
    sub.add_argument("--project", required=True, metavar="PROJECT_ID")
    sub.add_argument("--status", choices=[s.value for s in StudyStatus])
    for name, run, text in (
        ("publish", studies_publish, "Publish a draft study: it becomes active."),
        ("close", studies_close, "Close an active study: it becomes completed."),
        ("archive", studies_archive, "Archive a study."),
    ):
        sub = command(studies, name, run, text)
        sub.add_argument("study_id", metavar="STUDY_ID")

    sub = command(
        studies,
        "report",
        studies_report,
        "Print a study's report across its interviews: a table of themes (label, interviews, "
        "share, sentiment, one quote), or the API's JSON, or a self-contained HTML page.",
    )
    sub.add_argument("study_id", metavar="STUDY_ID")
    sub.add_argument("--json", action="store_true", help="print GetStudyReport's JSON instead")
    sub.add_argument(
        "--html",
        metavar="FILE",
        default=None,
        help="write one self-contained HTML page (bar chart of themes, quotes) to FILE",
    )
    sub = command(
        studies,
        "reanalyze",
        studies_reanalyze,
        "Run the analysis of every completed interview of a study again, then rebuild the "
        "study's report from scratch (with a progress bar). Safe while the server runs.",
    )
    sub.add_argument("study_id", metavar="STUDY_ID")

    links = studies.add_parser(
        "link", help="a study's interview links (docs/links.md)"
    ).add_subparsers(dest="link_command", required=True, metavar="COMMAND")
    sub = command(
        links,
        "create",
        studies_link_create,
        "Create an interview link to the study; prints its url once (KOJI_PUBLIC_URL/i/TOKEN).",
    )
    sub.add_argument("study_id", metavar="STUDY_ID")
    sub.add_argument(
        "--expires-in-days", type=float, default=None, metavar="DAYS", help="default: never"
    )
    sub.add_argument(
        "--max-interviews", type=int, default=0, metavar="N", help="default 0: no limit"
    )
    sub = command(links, "list", studies_link_list, "List the study's links, newest first.")
    sub.add_argument("study_id", metavar="STUDY_ID")
    sub = command(links, "revoke", studies_link_revoke, "Revoke a link: it starts no interview.")
    sub.add_argument("study_id", metavar="STUDY_ID")
    sub.add_argument("link_id", metavar="LINK_ID")

    interviews = groups.add_parser("interviews", help="operate on interviews").add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    sub = command(
        interviews,
        "complete",
        interviews_complete,
        "Complete an interview without its session token (the dashboard path); prints the "
        "completion summary.",
    )
    sub.add_argument("interview_id", metavar="INTERVIEW_ID")
    sub.add_argument(
        "--reason",
        default=CompletionReason.MANUAL.value,
        choices=[r.value for r in CompletionReason],
        help="why it ended (default %(default)s)",
    )
    sub = command(
        interviews,
        "list",
        interviews_list,
        "List a study's interviews, least recently updated first, without transcripts "
        "(one line each, or the API's JSON with --json).",
    )
    sub.add_argument("--study", required=True, metavar="STUDY_ID")
    sub.add_argument("--status", choices=[s.value for s in InterviewStatus])
    sub.add_argument("--json", action="store_true", help="print the API's JSON")
    sub = command(interviews, "show", interviews_show, "Print an interview as JSON.")
    sub.add_argument("interview_id", metavar="INTERVIEW_ID")
    sub = command(
        interviews,
        "reanalyze",
        interviews_reanalyze,
        "Run a completed interview's analysis again and replace its result atomically; "
        "prints the interview as JSON. Sends webhook events only if the interview never "
        "had them (its analysis had failed).",
    )
    sub.add_argument("interview_id", metavar="INTERVIEW_ID")

    webhooks = groups.add_parser("webhooks", help="manage webhook endpoints").add_subparsers(
        dest="command", required=True, metavar="COMMAND"
    )
    sub = command(
        webhooks,
        "add",
        webhooks_add,
        "Add a webhook endpoint after a signed verification request to it got a 2xx; "
        "prints the whsec_ signing secret once.",
    )
    sub.add_argument("--project", required=True, metavar="PROJECT_ID")
    sub.add_argument("--url", required=True, help="http(s) URL that receives the events")
    sub.add_argument(
        "--events",
        default="",
        metavar="E1,E2",
        help="comma-separated event types (default all): " + ", ".join(EVENT_TYPES),
    )
    sub = command(webhooks, "list", webhooks_list, "List endpoints (never their secrets).")
    sub.add_argument("--project", default=None, metavar="PROJECT_ID")
    sub = command(webhooks, "remove", webhooks_remove, "Stop sending to an endpoint.")
    sub.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    sub = command(
        webhooks,
        "rotate-secret",
        webhooks_rotate,
        "Give an endpoint a new secret (printed once); deliveries are signed with both "
        "the new and the old secret during the grace period.",
    )
    sub.add_argument("endpoint_id", metavar="ENDPOINT_ID")
    sub.add_argument(
        "--grace-hours", type=float, default=24.0, help="old secret stays valid (%(default)s)"
    )
    sub = command(
        webhooks,
        "deliveries",
        webhooks_deliveries,
        "List deliveries with every attempt (status, latency, error).",
    )
    sub.add_argument("--interview", default=None, metavar="INTERVIEW_ID")
    sub = command(
        webhooks,
        "redeliver",
        webhooks_redeliver,
        "Send a delivery again now (same webhook-id) and record the attempt.",
    )
    sub.add_argument("delivery_id", metavar="DELIVERY_ID")

    sub = command(
        groups,
        "usage",
        usage,
        "Report a project's completed interviews: counted toward usage (passed the "
        "quality gate) and excluded.",
    )
    sub.add_argument("--project", required=True, metavar="PROJECT_ID")

    db.add_commands(groups)
    search_cli.add_commands(groups, command)
    return parser


async def _run(args: argparse.Namespace) -> None:
    settings = Settings()
    url = args.database_url or settings.database_url
    if getattr(args, "run_db", None) is not None:
        await args.run_db(url)
        return
    database = open_database(url, settings.sqlite_synchronous)
    try:
        await database.check_schema()
        units = UnitOfWorkFactory(database)
        changes = ChangeFeed()
        changed: list[Announced] = []
        changes.relay_to(lambda *change: changed.append(change))
        context = Context(
            AdminService(units), InterviewService(units, changes=changes), units, database.url,
            changes,
        )  # fmt: skip
        try:
            await args.run(args, context)
        finally:
            # A server on PostgreSQL hears of operators' completions and
            # reanalyses at once (its watches, its cache of final interviews);
            # on SQLite its cache entries expire (final_interview_cache_seconds).
            if isinstance(database, PostgresDatabase):
                await announce(database.engine, changed)
    finally:
        study_reports.close()  # the report updates' engines, if any opened
        await database.dispose()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(_run(args))
    except InvalidRequest as error:
        sys.exit(f"koji-admin: invalid input: {error.message}")
    except DomainError as error:
        sys.exit(f"koji-admin: {error.code}: {error.message}")
    except (ValueError, SchemaMismatch) as error:
        sys.exit(f"koji-admin: {error}")


if __name__ == "__main__":
    main()
