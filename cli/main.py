"""`pathfinder`: database, deployments, users, worker, audit and the web server.

The engine, SQLAlchemy, SpiffWorkflow and Flask are imported inside the commands that use them,
so `pathfinder --help` and mistyped commands answer at once (see bench/startup.py).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from engine import Engine, Settings, ValidationFailed


def _settings() -> Settings:
    from engine import Settings

    return Settings.from_env()


def _engine() -> Engine:
    from engine import Engine

    return Engine.from_settings(_settings())


class _Main(click.Group):
    """The command group; engine refusals and database clashes end as one line, not a trace."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            from engine import Conflict, EngineError, as_engine_error

            known = as_engine_error(exc)
            if isinstance(exc, EngineError):
                click.echo(f"error: {exc.message}", err=True)
                ctx.exit(1)
            if isinstance(known, Conflict):
                click.echo(
                    "error: another process changed the same data at the same moment; "
                    "nothing was saved. Run the command again.",
                    err=True,
                )
                ctx.exit(1)
            raise


@click.group(cls=_Main)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """Pathfinder: run the Alliance 8.7 pathfinder procedure (and any BPMN process)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("spiff").setLevel(logging.WARNING)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the database named by DATABASE_URL to the newest schema."""
    from engine import upgrade_database

    url = _settings().database_url
    click.echo(f"database at revision {upgrade_database(url, revision)}")


@db.command("current")
def db_current() -> None:
    """Show the schema revision of the database."""
    from engine import database_revision

    click.echo(database_revision(_settings().database_url) or "not migrated")


def _print_problems(err: ValidationFailed) -> None:
    click.echo(f"Deployment refused: {len(err.problems)} problem(s)", err=True)
    for p in err.problems:
        where = ":".join(str(x) for x in (p.file, p.line) if x)
        element = (
            f" [{p.element_id}{' ' + repr(p.element_name) if p.element_name else ''}]"
            if p.element_id
            else ""
        )
        click.echo(f"  {p.severity}: {where}{element} {p.message}", err=True)


def _referenced_forms(files: dict[str, bytes], forms_dir: Path) -> dict[str, bytes]:
    """The form files in `forms_dir` that the diagrams name (so no unrelated form is attached)."""
    if not forms_dir.is_dir():
        return {}
    text = b"\n".join(files.values())
    return {
        p.name: p.read_bytes()
        for p in sorted(forms_dir.glob("*.json"))
        if b'"' + p.name.encode() + b'"' in text
    }


@main.command()
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--forms", "forms_dir", type=click.Path(file_okay=False, path_type=Path), help="Form folder."
)
@click.option("--bundled", is_flag=True, help="Deploy the processes shipped in processes/.")
@click.option("--actor", default="cli", show_default=True, help="Recorded as the deployer.")
def deploy(files: tuple[Path, ...], forms_dir: Path | None, bundled: bool, actor: str) -> None:
    """Validate and deploy BPMN/DMN FILES (a new version only when the content changed)."""
    from engine import EngineError, ValidationFailed

    settings = _settings()
    engine = _engine()
    forms_dir = forms_dir or settings.forms_dir
    try:
        if bundled:
            results = engine.deploy_directory(settings.processes_dir, forms_dir, actor)
        elif files:
            from engine import i18n

            sources = {f.name: f.read_bytes() for f in files}
            # Translations beside the diagrams (processes/i18n/) and the forms (forms/i18n/);
            # the engine keeps those of this upload's forms and processes.
            referenced = _referenced_forms(sources, forms_dir)
            stems = {i18n.form_key("fr", name).split("/")[-1] for name in referenced}
            translations = {
                name: data
                for name, data in i18n.translation_files(files[0].parent, forms_dir).items()
                if name.split("/")[-1] in stems or "/process." in name
            }
            forms = {**referenced, **translations}
            results = engine.deploy(sources, forms, actor)
        else:
            raise click.UsageError("Name FILES or use --bundled.")
    except ValidationFailed as err:
        _print_problems(err)
        sys.exit(1)
    except EngineError as err:
        click.echo(f"error: {err.message}", err=True)
        sys.exit(1)
    for r in results:
        state = "deployed" if r.created else "unchanged"
        note = "" if r.executable else " (stored for viewing; not executable)"
        click.echo(f"{r.process_key} version {r.version}: {state}{note}")


@main.group()
def i18n() -> None:
    """Translations: English, French and Spanish."""


@i18n.command("check")
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path(__file__).resolve().parent.parent,
    show_default="the source tree",
    help="The Pathfinder source tree to check.",
)
@click.option("--lang", "languages", multiple=True, help="Only these languages (fr, es).")
@click.option("--quiet", is_flag=True, help="Print the counts only.")
@click.option(
    "--stale",
    "show_stale",
    is_flag=True,
    help="Also list form and element translations whose English changed since (not an error).",
)
def i18n_check(root: Path, languages: tuple[str, ...], quiet: bool, show_stale: bool) -> None:
    """List what is not translated per language: product, forms, element names (exit 1 if any)."""
    from cli.i18n_check import check, report_stale
    from engine import i18n

    if show_stale:
        report_stale(root, languages or i18n.TRANSLATED, quiet)

    reports = check(root, languages or i18n.TRANSLATED)
    for r in reports:
        click.echo(
            f"{r.lang}: {r.total} missing "
            f"(product {len(r.product)}, forms {len(r.forms)}, element names {len(r.elements)})"
        )
        if not quiet:
            for kind, items in (
                ("product", r.product),
                ("forms", r.forms),
                ("elements", r.elements),
            ):
                for item in items:
                    click.echo(f"  {kind}: {item}")
    if any(r.total for r in reports):
        sys.exit(1)


@i18n.command("stamp")
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path(__file__).resolve().parent.parent,
    show_default="the source tree",
    help="The Pathfinder source tree.",
)
@click.option("--lang", "languages", multiple=True, help="Only these languages (fr, es).")
def i18n_stamp(root: Path, languages: tuple[str, ...]) -> None:
    """Record the English each form and element translation was made from (after review)."""
    from cli.i18n_check import stamp
    from engine import i18n

    for lang in languages or i18n.TRANSLATED:
        for path in stamp(root, lang):
            click.echo(f"stamped {path}")


@main.group()
def users() -> None:
    """User accounts."""


@users.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, help="Repeat for several roles.")
@click.option("--country", help="ISO 3166-1 alpha-3, for country users.")
@click.option("--email")
@click.option("--name", "display_name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(
    username: str,
    roles: tuple[str, ...],
    country: str | None,
    email: str | None,
    display_name: str | None,
    password_stdin: bool,
) -> None:
    """Create a user (prompts for the password unless --password-stdin)."""
    from engine import EngineError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = _engine()
    try:
        engine.people.create(
            username, password, roles, country=country, email=email, display_name=display_name
        )
    except EngineError as err:
        click.echo(f"error: {err.message} {json.dumps(err.details.get('errors', {}))}", err=True)
        sys.exit(1)
    click.echo(f"user {username} added with roles {', '.join(roles)}")


@main.group()
def audit() -> None:
    """Audit trail."""


@audit.command("verify")
@click.option("--instance", "instance_id", type=int, help="Verify one instance only.")
@click.option(
    "--file",
    "export",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify an exported JSON file offline (no database needed).",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also prove that the database still extends every chain head this signed checkpoint "
    "lists, and name each chain rewritten since.",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM public key that signed the checkpoint (default: PATHFINDER_CHECKPOINT_KEY).",
)
def audit_verify(
    instance_id: int | None,
    export: Path | None,
    checkpoint: Path | None,
    public_key: Path | None,
) -> None:
    """Recompute the hash chains and the attached files' SHA-256; name the first altered,
    inserted or removed event and every changed or missing file."""
    from engine import verify_export

    if checkpoint is not None:
        _verify_checkpoint(checkpoint, public_key)
        return
    if export is not None:
        reports = verify_export(_read_json(export, "a Pathfinder export"))
        files = []
    else:
        engine = _engine()
        reports = list(engine.verify(instance_id))
        files = engine.verify_attachments(instance_id)
    broken = [r for r in reports if not r.intact]
    for r in reports:
        if not r.intact or instance_id is not None or export is not None:
            click.echo(r.message)
    for problem in files:
        click.echo(problem.message)
    total = sum(r.events for r in reports)
    if broken or files:
        if broken:
            click.echo(f"BROKEN: {len(broken)} of {len(reports)} chains", err=True)
        if files:
            click.echo(f"BROKEN: {len(files)} attached file(s) changed or missing", err=True)
        sys.exit(1)
    click.echo(f"intact, {total} events in {len(reports)} chains")


def _read_json(path: Path, what: str) -> dict[str, object]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        click.echo(f"{path}: not {what} ({err})", err=True)
        sys.exit(2)
    if not isinstance(document, dict):
        click.echo(f"{path}: not {what}", err=True)
        sys.exit(2)
    return document


def _verify_checkpoint(path: Path, public_key: Path | None) -> None:
    from engine import EngineError

    document = _read_json(path, "a Pathfinder checkpoint")
    try:
        report, chains = _engine().checkpoints.verify(document, public_key)
    except EngineError as err:
        click.echo(f"error: {err.message}", err=True)
        sys.exit(2)
    broken = [r for r in chains if not r.intact]
    for r in broken:
        click.echo(r.message)
    for rewritten in report.rewritten:
        click.echo(f"REWRITTEN {rewritten.message}")
    click.echo(report.message, err=not report.intact)
    if not report.intact or broken:
        sys.exit(1)
    click.echo(f"intact, {sum(r.events for r in chains)} events in {len(chains)} chains")


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Write a signed checkpoint of every chain head now (PATHFINDER_CHECKPOINT_DIR), and mail
    it to PATHFINDER_AUDIT_MAILBOX when set."""
    from engine import EngineError

    try:
        path = _engine().checkpoints.write(actor="cli")
    except EngineError as err:
        click.echo(f"error: {err.message}", err=True)
        sys.exit(1)
    click.echo(f"checkpoint written to {path}")


from cli.run import purge, seed, serve, worker  # noqa: E402  (after `main`: they use its helpers)

main.add_command(worker)
main.add_command(serve)
main.add_command(seed)
main.add_command(purge)
