"""The `dailypapers` command. Thin: it parses options and calls services.

Exit codes: 0 done; 1 an error (a configuration or environment error is one line naming the
setting, see dailypapers/cli_errors.py); 2 `import` stored what it could but refused some records
or files, or `mail bounce` could not read or match its message; 64 (EX_USAGE) the command line
itself is wrong.
"""

from __future__ import annotations

import os
import sys
import tomllib
import traceback
from typing import Any

import click
import pydantic
import sqlalchemy as sa

from dailypapers.cli_errors import (
    EXIT_REFUSED,
    ConfigError,
    bind_socket,
    database_error,
    engine_error,
    safe_url,
    settings_error,
)
from dailypapers.db.engine import make_engine, read_transaction, write_transaction
from dailypapers.db.migrate import current_revision, head_revision, upgrade
from dailypapers.settings import Settings, get_settings

EX_USAGE = 64  # sysexits.h; click's own 2 is taken by "import refused some records"


def _open_engine(settings: Settings) -> sa.Engine:
    url = settings.effective_database_url
    try:
        return make_engine(url, **settings.engine_options)
    except (sa.exc.ArgumentError, ModuleNotFoundError, OSError) as exc:
        error = engine_error(exc, url, settings.is_default_database)
        if error is None:
            raise
        raise error from exc


def _engine(settings: Settings) -> sa.Engine:
    engine = _open_engine(settings)
    upgrade(engine)
    return engine


def _safe_url(settings: Settings) -> str:
    return safe_url(settings.effective_database_url)


def _debugging(ctx: click.Context) -> bool:
    if ctx.params.get("verbose"):
        return True
    try:  # the setting, from the environment or the config file ...
        return get_settings().debug
    except Exception:  # noqa: BLE001 - when the settings are what is wrong: the variable
        return os.environ.get("DAILYPAPERS_DEBUG", "").lower() in ("1", "true", "yes", "on")


class _Group(click.Group):
    """Usage errors exit 64; configuration and environment errors are one line and exit 1."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:
            exc.exit_code = EX_USAGE
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            _check_config_file()
            return super().invoke(ctx)
        except click.UsageError as exc:
            exc.exit_code = EX_USAGE
            raise
        except (ConfigError, pydantic.ValidationError, tomllib.TOMLDecodeError,
                sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            if _debugging(ctx):
                traceback.print_exc()
            raise click.ClickException(str(_as_config_error(exc))) from None


def _check_config_file() -> None:
    named = os.environ.get("DAILYPAPERS_CONFIG")
    if named and not os.path.isfile(named):
        raise ConfigError(f"DAILYPAPERS_CONFIG: {named} is not a file; point it at a TOML "
                          "settings file or unset it")


def _as_config_error(exc: BaseException) -> ConfigError:
    if isinstance(exc, ConfigError):
        return exc
    if isinstance(exc, tomllib.TOMLDecodeError):
        path = os.environ.get("DAILYPAPERS_CONFIG") or "dailypapers.toml"
        return ConfigError(f"DAILYPAPERS_CONFIG: {path} is not valid TOML ({exc}); correct it")
    if isinstance(exc, pydantic.ValidationError):
        return settings_error(exc)
    settings = get_settings()  # valid: a database error comes after the settings were read
    return database_error(exc, settings.effective_database_url,  # type: ignore[arg-type]
                          settings.is_default_database)


@click.group(cls=_Group, invoke_without_command=True)
@click.option("-v", "--verbose", is_flag=True,
              help="Show the traceback of an error (or set DAILYPAPERS_DEBUG=1).")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Daily Papers: gather, rank, search and mail research papers."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int,
              help="0 picks a free port (printed).")
@click.option("--demo/--no-demo", default=None,
              help="Load the bundled sample papers (default: only into an empty default SQLite database).")
@click.option("--no-sync", is_flag=True, help="Do not fetch from upstreams in the background.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Web processes on the one port; background jobs run in the supervising "
              "process, once (see README, Production).")
def serve(host: str, port: int, demo: bool | None, no_sync: bool, workers: int) -> None:
    """Serve the site and the API (and keep data current unless --no-sync)."""
    from dailypapers.demo import is_empty, load_demo
    from dailypapers.serving import (
        check_connection_budget, runs_jobs_here, serve_one, serve_workers, supervisor_threads,
    )
    from dailypapers.metrics import forget_dead_processes, use_multiprocess_dir
    from dailypapers.web.app import create_app

    from dailypapers.community.secret_key import SecretKeyError, load_secret_key

    settings = get_settings()
    engine = _engine(settings)  # a database that cannot be reached is the first thing to say
    try:  # then, before binding: on PostgreSQL a missing key is a refusal to start
        load_secret_key(settings)
    except SecretKeyError as exc:
        raise click.ClickException(str(exc)) from None
    # Every web process has a pool; with --workers the supervisor keeps one too.
    check_connection_budget(engine, settings, workers + 1 if workers > 1 else workers)
    # Bound (and listening) before anything says "Serving": a port in use, out of range or an
    # unknown host is one line here, not a traceback after the announcement.
    sock = bind_socket(host, port)
    with read_transaction(engine) as conn:
        empty = is_empty(conn)
    if demo or (demo is None and empty and settings.is_default_database):
        click.echo("Loading the bundled demo papers …")
        counts = load_demo(engine)
        click.echo(f"Demo: {counts.inserted} papers inserted, {counts.unchanged} unchanged.")
    # Metrics of the previous run's processes go; this run's processes write beside them.
    forget_dead_processes(use_multiprocess_dir(settings))
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    processes = f" with {workers} web processes" if workers > 1 else ""
    click.echo(f"Serving {_safe_url(settings)} on http://{shown_host}:{bound_port}/papers"
               f"{processes}")
    if workers > 1:
        if settings.ratelimit_storage.startswith("memory://"):
            click.echo(f"warning: DAILYPAPERS_RATELIMIT_STORAGE is memory://, so each of the "
                       f"{workers} web processes counts rate limits alone; set redis://host:port "
                       "to share them", err=True)
        from dailypapers.logs import configure

        configure(settings.log_format)  # the supervisor's own lines (its jobs threads)
        serve_workers(sock, host=host, workers=workers,
                      threads=supervisor_threads(settings, engine, sync=not no_sync))
        return
    # One process: one thread for every scheduled job (the sync unless --no-sync, the digests)
    # and the index thread, which embeds too unless DAILYPAPERS_EMBED_IN_BACKGROUND=false.
    from dailypapers.jobs import Scheduler, scheduled_jobs

    background = Scheduler(settings, engine, jobs=scheduled_jobs(sync=not no_sync)) \
        if runs_jobs_here(settings) else None
    serve_one(create_app(settings, engine, background=background, index_worker=True,
                         own_logging=True), sock, host=host)


@main.command("import")
@click.argument("paths", nargs=-1, required=True)
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(min=1))
@click.option("--strict", is_flag=True,
              help="A file in no known format is an error (default: skipped with a warning).")
@click.option("--fetch-media", is_flag=True,
              help="Then fetch thumbnails and avatars, as `dailypapers media` (default: the next "
              "sync does).")
def import_(paths: tuple[str, ...], batch_size: int, strict: bool, fetch_media: bool) -> None:
    """Import files, folders or globs (HF daily JSON, arXiv OAI-PMH/Atom/RSS, Kaggle JSON lines).

    Exit code 0: everything landed; 2: some records or files were refused (the rest landed);
    1: an error; 64: a usage error."""
    from tqdm import tqdm

    from dailypapers.ingest.files import ImportError_, import_paths

    settings = get_settings()
    engine = _engine(settings)
    bar = tqdm(unit=" records", unit_scale=True, dynamic_ncols=True, disable=None)

    def progress(n: int, path: str) -> None:
        bar.set_postfix_str(path.rsplit("/", 1)[-1], refresh=False)
        bar.update(n)

    try:
        run_id, counts = import_paths(
            engine, paths, batch_size=batch_size, progress=progress,
            stall_seconds=settings.import_stall_seconds, log=_log_lines(bar), strict=strict,
        )
    except ImportError_ as exc:
        raise click.ClickException(str(exc)) from None
    except sa.exc.DBAPIError as exc:
        if isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError)):
            raise  # the database went away: one line naming the setting (_Group)
        raise click.ClickException(f"database {_safe_url(settings)}: {_first_line(exc)}") from None
    finally:
        bar.close()
    click.echo(
        f"Run {run_id}: {counts.inserted} inserted, {counts.updated} updated, "
        f"{counts.unchanged} unchanged, {counts.refused} refused."
    )
    for refusal in counts.refusal_list:  # one line each: a script can count and grep them
        click.echo(f"  refused {refusal.describe()}", err=True)
    if fetch_media:
        from dailypapers.ingest.media import fetch_media as fetch

        fetch(settings, engine, log=click.echo)
    sys.exit(EXIT_REFUSED if counts.refused else 0)


def _log_lines(bar: Any) -> Any:
    """Progress news to stdout, warnings to stderr (where the refusals go too)."""
    return lambda line: bar.write(line, file=sys.stderr if line.startswith("warning:") else None)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@main.command()
def sync() -> None:
    """Fetch new papers from Hugging Face and arXiv once, then exit."""
    from dailypapers.sync.runner import run_sync

    settings = get_settings()
    engine = _engine(settings)
    report = run_sync(settings, engine, log=click.echo, media=True)
    sys.exit(0 if report.ok else 1)


@main.command()
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Images to fetch this run [default: DAILYPAPERS_MEDIA_FETCH_MAX].")
def media(limit: int | None) -> None:
    """Fetch thumbnails and organisation avatars not fetched yet into <data_dir>/media.

    Exit code 0 even when some images were refused (each is listed with its reason)."""
    from dailypapers.ingest.media import fetch_media

    settings = get_settings()
    fetch_media(settings, _engine(settings), limit=limit, log=click.echo)


@main.command()
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "dense"]), default="hybrid",
              show_default=True)
@click.option("--sort", type=click.Choice(["relevance", "newest", "upvotes"]), default="relevance",
              show_default=True)
def search(query: str, limit: int, mode: str, sort: str) -> None:
    """Search papers from the terminal (same syntax as the site: "phrase", -word, author:, cat:)."""
    from dailypapers import catalog
    from dailypapers.index.query import QueryError
    from dailypapers.index.search import SearchService
    from dailypapers.status import coverage_note, vector_coverage

    settings = get_settings()
    engine = _engine(settings)
    service = SearchService.from_settings(engine, settings)
    from dailypapers.index.keyword import SearchFilters

    try:
        service.catch_up()
        with read_transaction(engine) as conn:  # what a moderator hid stays out here too
            hidden = catalog.hidden_paper_ids(conn)
        results = service.search(query, limit=limit, mode=mode, sort=sort,
                                 filters=SearchFilters(hidden_ids=hidden))
    except QueryError as exc:
        raise click.UsageError(str(exc)) from None
    for warning in results.warnings:
        click.echo(f"note: {warning}", err=True)
    with read_transaction(engine) as conn:
        rows = catalog.papers_by_ids(conn, [h.paper_id for h in results.hits])
        embedded, total = vector_coverage(conn, settings.embedder)
    mode = coverage_note(results.mode, embedded, total)
    if not results.hits:
        if mode != results.mode:
            click.echo(f"note: {mode}", err=True)
        click.echo("No papers match.")
        sys.exit(1)
    click.echo(f"{results.total} results ({mode}); top {len(results.hits)}:")
    for rank, hit in enumerate(results.hits, 1):
        paper = rows.get(hit.paper_id)
        if paper:
            click.echo(f"{rank:3}. {paper['id']:<18} {_paper_date(paper)}  "
                       f"{_one_line(paper['title'], 100)} — {_authors(paper['authors'])}")


def _one_line(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _paper_date(paper: dict[str, Any]) -> str:
    """The arXiv submission day, else Hugging Face's publication day (stored as received)."""
    stamp = paper.get("submitted_at") or paper.get("hf_published_at") or ""
    return stamp[:10] or "—"


def _authors(authors: Any, shown: int = 3) -> str:
    names = [_one_line(a.get("name", ""), 60) for a in authors or [] if isinstance(a, dict)]
    names = [n for n in names if n]
    if not names:
        return "(no authors)"
    if len(names) > shown:
        return ", ".join(names[:shown]) + f" et al. ({len(names)} authors)"
    return ", ".join(names)


@main.command()
@click.option("--embed/--no-embed", default=True, help="Also embed papers that have no vector yet.")
@click.option("--processes", type=click.IntRange(1, 64), default=None,
              help="Processes that embed at once, one core each [default: the cores, at most 8].")
def reindex(embed: bool, processes: int | None) -> None:
    """Rebuild the search indexes from the database (safe to interrupt: the old index serves)."""
    from tqdm import tqdm

    from dailypapers.index.embed_processes import embed_in_processes
    from dailypapers.index.search import SearchService

    settings = get_settings()
    engine = _engine(settings)
    service = SearchService.from_settings(engine, settings)
    report = service.keyword.rebuild(engine)
    click.echo(f"Keyword index rebuilt: {report}")
    if embed:
        processes = processes or min(os.cpu_count() or 1, 8)
        with tqdm(unit=" papers", desc="embedding", disable=None) as bar:
            done = embed_in_processes(engine, settings.effective_database_url,
                                      settings.engine_options, settings.embedder, processes,
                                      on_batch=bar.update)
        click.echo(f"Embedded {done} papers with {service.embedder.name}.")


@main.command()
def status() -> None:
    """Show the database, its contents, the last sync per source, recent refusals and how far
    the search indexes have caught up."""
    from dailypapers.notify import bounces
    from dailypapers.notify.outbox import status_lines
    from dailypapers.status import gather_status, search_status

    settings = get_settings()
    engine = _open_engine(settings)
    with read_transaction(engine) as conn:
        revision = current_revision(engine)
        report = (gather_status(conn) + search_status(conn, settings.data_dir, settings.embedder)
                  + (status_lines(conn) if sa.inspect(conn).has_table("digest_outbox") else [])
                  + (bounces.status_lines(conn) if sa.inspect(conn).has_table("mail_events")
                     else [])
                  if revision else None)
    click.echo(f"Database: {_safe_url(settings)}")
    click.echo(f"Schema:   {revision or 'not created'} (latest {head_revision()})")
    if report is None:
        return
    for line in report:
        click.echo(line)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the latest revision."""
    settings = get_settings()
    engine = _open_engine(settings)
    upgrade(engine)
    click.echo(f"{_safe_url(settings)} is at revision {current_revision(engine)}")


@db.command("recount")
def db_recount() -> None:
    """Rebuild cached counts (local upvotes and comments, comment upvotes, trending scores) from
    rows; print the drift fixed."""
    from dailypapers.rank.stored import recount
    from dailypapers.rank.trending import TrendingParams

    settings = get_settings()
    params = TrendingParams.from_settings(settings)
    with write_transaction(_engine(settings)) as conn:
        report = recount(conn, params)
    click.echo(f"Recounted {report.papers} papers and {report.feature_days} feature days "
               f"(trending: tau {params.tau_hours:g} h, comments capped at {params.comment_cap}).")
    for pid, cached, actual in report.vote_drift:
        click.echo(f"  {pid}: local upvotes {cached} -> {actual}")
    if report.vote_drift_total > len(report.vote_drift):
        click.echo(f"  ... and {report.vote_drift_total - len(report.vote_drift)} more papers")
    for pid, cached, actual in report.comment_drift:
        click.echo(f"  {pid}: local comments {cached} -> {actual}")
    if report.comment_drift_total > len(report.comment_drift):
        click.echo(f"  ... and {report.comment_drift_total - len(report.comment_drift)} more papers")
    if report.comment_drift_total or report.comment_votes_fixed:
        click.echo(f"Fixed {report.comment_drift_total} local comment counts and "
                   f"{report.comment_votes_fixed} comment upvote counts.")
    click.echo(f"Fixed {report.vote_drift_total} local upvote counts and "
               f"{report.scores_fixed} trending scores." if report.drift else "No drift.")


@main.group()
def demo() -> None:
    """The bundled sample papers."""


@demo.command("load")
def demo_load() -> None:
    """Load the bundled sample papers (marked as demo rows)."""
    from dailypapers.demo import load_demo

    counts = load_demo(_engine(get_settings()))
    click.echo(f"Demo: {counts.inserted} inserted, {counts.updated} updated, {counts.unchanged} unchanged.")


@demo.command("remove")
def demo_remove() -> None:
    """Delete the demo rows and nothing else (with the votes, comments and collection entries
    people added to demo papers)."""
    from dailypapers.demo import remove_demo, remove_demo_community

    engine = _engine(get_settings())
    with write_transaction(engine) as conn:
        added = remove_demo_community(conn)
        n_papers, n_features = remove_demo(conn)
    click.echo(f"Removed {n_papers} demo papers and {n_features} demo feature days.")
    click.echo(f"Removed {added.votes} votes, {added.comments} comments and "
               f"{added.collection_entries} collection entries on demo papers.")


@main.group()
def user() -> None:
    """Accounts."""


@user.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="An administrator (the first one is made this way).")
@click.option("--moderator", is_flag=True, help="A moderator.")
@click.option("--email", default="", help="Address for password resets.")
def user_create(name: str, admin: bool, moderator: bool, email: str) -> None:
    """Create an account. The password is asked for (twice), or read from the first line of
    standard input when that is not a terminal: never from the command line, where other users
    of the machine can read it."""
    from dailypapers.community.accounts import AccountError, create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    engine = _engine(get_settings())
    try:
        with write_transaction(engine) as conn:
            account = create_user(conn, name, password, email=email, is_admin=admin,
                                  is_moderator=moderator)
    except AccountError as exc:
        raise click.ClickException(f"{exc.field or 'user'}: {exc.message}") from None
    roles = [r for r, on in (("administrator", admin), ("moderator", moderator)) if on]
    click.echo(f"User {account.username} created (id {account.id})"
               + (f", {' and '.join(roles)}." if roles else "."))


@user.command("moderator")
@click.argument("name")
@click.option("--revoke", is_flag=True, help="Take the moderator role away instead.")
def user_moderator(name: str, revoke: bool) -> None:
    """Make an account a moderator (hide papers, suspend users, work the flag queue), or with
    --revoke an ordinary account again. Administrators moderate whatever this says."""
    from dailypapers.community.moderation import ModerationError, set_moderator

    engine = _engine(get_settings())
    try:
        with write_transaction(engine) as conn:
            changed = set_moderator(conn, name, not revoke)
    except ModerationError as exc:
        raise click.ClickException(exc.message) from None
    role = "no longer a moderator" if revoke else "a moderator"
    click.echo(f"{name} is {role}." + ("" if changed else " (It already was so.)"))


# `worker`, `scheduler` and `jobs`: the task queue's commands (cli_queue.py); `digest send`
# and `mail …` (cli_mail.py).
from dailypapers import cli_mail, cli_queue  # noqa: E402  (after main and _engine exist)

cli_queue.install(main, _engine)
cli_mail.install(main, _engine)
