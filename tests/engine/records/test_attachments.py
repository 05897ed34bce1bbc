"""Attachments in the engine: checks by content, storage once per content, attaching on
completion with hashes in the history, access by country, and verification of the files."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import Actor, Engine, Forbidden, InvalidData, NotFound, VirtualClock
from engine.demo import drive
from engine.records.file_store import LocalStore
from engine.records.filetypes import FileRefused, check, safe_filename, sniff
from engine.store.models import Attachment, AuditEvent, Instance
from tests.conftest import ROOT
from tests.fixtures import documents as docs

EOI = "submit_expression_of_interest"
EOI_DATA = {
    "letter_date": "2027-02-12",
    "signed_by_minister": True,
    "minister_name": "Hon. Ram Bahadur Thapa",
    "ministry": "Ministry of Labour",
    "addressee": "ilo_director_general",
    "senior_official_name": "Sita Sharma",
    "senior_official_email": "sita@example.org",
    "topics_covered": ["child_labour"],
    "commitments": ["national_action_plan"],
}
ALL = ("pdf", "docx", "xlsx", "pptx", "doc", "xls", "ppt", "png", "jpg", "gif", "csv", "txt")
MB = 1024 * 1024


@pytest.fixture
def people(actors: dict[str, Actor]) -> dict[str, Actor]:
    return {a.username: a for a in actors.values()}


@pytest.fixture
def deployed(engine: Engine) -> Engine:
    engine.deploy_directory(ROOT / "processes", ROOT / "forms")
    return engine


def _case(engine: Engine, clock: VirtualClock, people: dict[str, Actor], country: str) -> Instance:
    inst = engine.start("pathfinder", {"country": country, "country_name": country}, people["sam"])
    assert not drive(engine, clock, inst.id, stop_at=EOI, actors=people)
    return engine.instance(inst.id)


def _eoi(engine: Engine, instance: Instance) -> str:
    return next(t.id for t in engine.ready_tasks(instance.id) if t.element_id == EOI)


@pytest.fixture
def nepal(deployed: Engine, clock: VirtualClock, people: dict[str, Actor]) -> Instance:
    return _case(deployed, clock, people, "NPL")


# -- checks by content ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "ext", "kind"),
    [
        (docs.PDF, "pdf", "pdf"),
        (docs.PNG, "png", "png"),
        (docs.office("docx"), "docx", "docx"),
        (docs.office("xlsx"), "xlsx", "xlsx"),
        (docs.office("pptx"), "pptx", "pptx"),
        (docs.OLE_DOC, "xls", "xls"),
        (docs.CSV, "csv", "csv"),
        (docs.EXE, "pdf", None),
        (docs.HTML, "txt", None),
        (b"PK\x03\x04 not really a zip", "docx", None),
    ],
)
def test_kind_is_read_from_the_content(content: bytes, ext: str, kind: str | None) -> None:
    assert sniff(content, ext) == kind


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("setup.pdf", docs.EXE, "not a document Pathfinder accepts"),
        ("letter.docx", docs.PDF, "contains a PDF file but its name ends in .docx"),
        ("budget.xlsm", docs.office("xlsx", macros=True), "not accepted"),
        ("budget.xlsx", docs.office("xlsx", macros=True), "macros"),
        ("page.txt", docs.HTML, "not a document"),
        ("run.exe", docs.PDF, ".exe files are not accepted"),
        ("empty.pdf", b"", "is empty"),
        ("photo.png", docs.PNG, "this field takes PDF (.pdf)"),
    ],
)
def test_refused_files_say_why(name: str, content: bytes, says: str) -> None:
    with pytest.raises(FileRefused) as refused:
        check(name, content, ("pdf",) if name == "photo.png" else ALL, MB)
    assert says in refused.value.message


def test_oversize_file_is_refused_with_both_sizes() -> None:
    with pytest.raises(FileRefused, match=r"is 1\.5 MB; files may be at most 1\.0 MB"):
        check("big.pdf", docs.PDF + b" " * int(1.5 * MB), ("pdf",), MB)


def test_file_names_are_sanitised() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\sita\\Lettre signée <final>.PDF") == "Lettre signée _final.pdf"
    assert safe_filename("\x00\x1b.pdf") == "pdf"
    assert check("scan", docs.PDF, ALL, MB).filename == "scan.pdf"


# -- upload, complete, history -------------------------------------------------------------------


def test_upload_then_complete_records_the_file_in_the_history(
    deployed: Engine, nepal: Instance, people: dict[str, Actor]
) -> None:
    task = _eoi(deployed, nepal)
    info = deployed.tasks.upload(task, "letter_file", "EOI letter.pdf", docs.PDF, people["nima"])
    assert info.state == "uploaded" and info.sha256 == hashlib.sha256(docs.PDF).hexdigest()
    deployed.complete(task, {**EOI_DATA, "letter_file": info.id}, people["nima"])
    with deployed.session() as s:
        row = s.get(Attachment, info.id)
        assert row is not None and row.state == "attached" and row.uploaded_by == "nima"
    event = next(
        e for e in deployed.history(nepal.id) if e.kind == "task_completed" and e.element_id == EOI
    )
    assert event.data["submitted"]["letter_file"] == info.id
    assert event.data["attachments"] == [
        {
            "id": info.id,
            "field": "letter_file",
            "filename": "EOI letter.pdf",
            "size": len(docs.PDF),
            "sha256": info.sha256,
        }
    ]
    assert all(r.intact for r in deployed.verify(nepal.id))
    assert deployed.verify_attachments(nepal.id) == []


def test_same_content_uploaded_twice_is_stored_once(
    deployed: Engine, nepal: Instance, people: dict[str, Actor], settings: object
) -> None:
    task = _eoi(deployed, nepal)
    first = deployed.tasks.upload(task, "letter_file", "a.pdf", docs.PDF, people["nima"])
    second = deployed.tasks.upload(task, "letter_file", "b.pdf", docs.PDF, people["nima"])
    assert first.id != second.id and first.sha256 == second.sha256
    store = deployed.files
    assert isinstance(store, LocalStore)
    stored = [p for p in store.root.rglob("*") if p.is_file()]
    assert stored == [store.path(first.sha256)]


def test_upload_is_refused_for_an_unknown_field_a_wrong_type_and_other_people(
    deployed: Engine, nepal: Instance, people: dict[str, Actor]
) -> None:
    task = _eoi(deployed, nepal)
    with pytest.raises(InvalidData) as bad:
        deployed.tasks.upload(task, "ministry", "a.pdf", docs.PDF, people["nima"])
    assert "ministry" in bad.value.errors
    with pytest.raises(InvalidData) as wrong:
        deployed.tasks.upload(
            task, "letter_file", "sheet.xlsx", docs.office("xlsx"), people["nima"]
        )
    assert "this field takes" in wrong.value.errors["letter_file"]
    with pytest.raises(NotFound):  # another country's task: as if it did not exist
        deployed.tasks.upload(task, "letter_file", "a.pdf", docs.PDF, people["kofi"])
    with pytest.raises(Forbidden):  # auditors see it and never act
        deployed.tasks.upload(task, "letter_file", "a.pdf", docs.PDF, people["aud"])


def test_completion_refuses_a_file_uploaded_for_another_task(
    deployed: Engine, clock: VirtualClock, nepal: Instance, people: dict[str, Actor]
) -> None:
    kenya = _case(deployed, clock, people, "KEN")
    theirs = deployed.tasks.upload(
        _eoi(deployed, kenya), "letter_file", "k.pdf", docs.PDF, people["kofi"]
    )
    with pytest.raises(InvalidData) as refused:
        deployed.complete(
            _eoi(deployed, nepal), {**EOI_DATA, "letter_file": theirs.id}, people["nima"]
        )
    assert refused.value.errors == {
        "letter_file": "This file was not uploaded for this task. Upload it again."
    }
    with pytest.raises(InvalidData):
        deployed.complete(_eoi(deployed, nepal), {**EOI_DATA, "letter_file": "x"}, people["nima"])


# -- access --------------------------------------------------------------------------------------


def test_download_follows_who_may_see_the_instance(
    deployed: Engine, nepal: Instance, people: dict[str, Actor]
) -> None:
    task = _eoi(deployed, nepal)
    info = deployed.tasks.upload(task, "letter_file", "letter.pdf", docs.PDF, people["nima"])
    with pytest.raises(NotFound):  # not submitted yet: only its uploader
        deployed.open_attachment(info.id, people["sam"])
    _, f = deployed.open_attachment(info.id, people["nima"])
    f.close()
    deployed.complete(task, {**EOI_DATA, "letter_file": info.id}, people["nima"])
    for who in ("nima", "sam", "aud", "ada", "chris"):
        found, f = deployed.open_attachment(info.id, people[who])
        with f:
            assert f.read() == docs.PDF and found.filename == "letter.pdf"
    with pytest.raises(NotFound):
        deployed.open_attachment(info.id, people["kofi"])
    with pytest.raises(NotFound):
        deployed.open_attachment("00000000-0000-0000-0000-000000000000", people["ada"])


# -- verification --------------------------------------------------------------------------------


@pytest.fixture
def attached(deployed: Engine, nepal: Instance, people: dict[str, Actor]) -> Path:
    task = _eoi(deployed, nepal)
    info = deployed.tasks.upload(task, "letter_file", "letter.pdf", docs.PDF, people["nima"])
    deployed.complete(task, {**EOI_DATA, "letter_file": info.id}, people["nima"])
    assert isinstance(deployed.files, LocalStore)
    return deployed.files.path(info.sha256)


def test_a_file_changed_or_removed_on_disk_is_reported(
    deployed: Engine, nepal: Instance, attached: Path
) -> None:
    attached.write_bytes(docs.pdf("forged"))
    (problem,) = deployed.verify_attachments()
    assert problem.instance_id == nepal.id and problem.filename == "letter.pdf"
    assert "was changed on disk" in problem.message
    assert f"instance:{nepal.id}: event #" in problem.message
    assert "(Submit expression of interest)" in problem.message
    attached.unlink()
    (problem,) = deployed.verify_attachments(nepal.id)
    assert "is missing from storage" in problem.message


def test_cli_audit_verify_reports_a_changed_file(
    deployed: Engine, nepal: Instance, attached: Path, database_url: str, settings: object
) -> None:
    from cli.main import main

    env = {"DATABASE_URL": database_url, "PATHFINDER_VAR_DIR": str(attached.parents[3])}
    ok = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    attached.write_bytes(docs.pdf("forged"))
    broken = CliRunner().invoke(main, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert f"instance:{nepal.id}: event #" in broken.output
    assert "file 'letter.pdf'" in broken.output and "was changed on disk" in broken.output


def test_a_form_sent_back_keeps_its_letter_when_submitted_again(
    deployed: Engine, nepal: Instance, people: dict[str, Actor]
) -> None:
    task = _eoi(deployed, nepal)
    info = deployed.tasks.upload(task, "letter_file", "letter.pdf", docs.PDF, people["nima"])
    deployed.complete(task, {**EOI_DATA, "letter_file": info.id}, people["nima"])
    review = next(t.id for t in deployed.ready_tasks(nepal.id))
    deployed.complete(
        review,
        {"eoi_decision": "sent_back", "eoi_review_comments": "Name the senior official."},
        people["sam"],
    )
    again = _eoi(deployed, nepal)
    assert again != task
    deployed.complete(again, {**EOI_DATA, "letter_file": info.id}, people["nima"])
    events = [e for e in deployed.history(nepal.id) if e.element_id == EOI]
    recorded = [e.data["attachments"][0]["id"] for e in events if e.kind == "task_completed"]
    assert recorded == [info.id, info.id]


# -- uploads never attached ----------------------------------------------------------------------


def test_uploads_never_attached_are_removed_after_the_set_age(
    deployed: Engine, nepal: Instance, people: dict[str, Actor], clock: VirtualClock
) -> None:
    task = _eoi(deployed, nepal)
    kept = deployed.tasks.upload(task, "letter_file", "letter.pdf", docs.PDF, people["nima"])
    dropped = deployed.tasks.upload(task, "letter_file", "scan.png", docs.PNG, people["nima"])
    deployed.tasks.save_draft(task, {"letter_file": kept.id}, people["nima"])
    store = deployed.files
    assert isinstance(store, LocalStore)

    clock.advance(timedelta(days=6))
    assert deployed.remove_stale_uploads() == 0
    clock.advance(timedelta(days=2))
    assert deployed.remove_stale_uploads() == 1

    with deployed.session() as s:
        assert s.get(Attachment, dropped.id) is None
        assert s.get(Attachment, kept.id) is not None
    assert not store.path(dropped.sha256).exists()
    assert store.path(kept.sha256).exists()
    [event] = [e for e in deployed.verify() if e.chain == "system"]
    assert event.intact
    with deployed.session() as s:
        removed = list(
            s.execute(select(AuditEvent).where(AuditEvent.kind == "uploads_removed")).scalars()
        )
    assert [u["id"] for u in removed[0].data["uploads"]] == [dropped.id]
    assert removed[0].data["uploads"][0]["filename"] == "scan.png"
    # The draft's file is still there for the form.
    deployed.complete(task, {**EOI_DATA, "letter_file": kept.id}, people["nima"])
    assert deployed.verify_attachments(nepal.id) == []
