"""What an uploaded file really is: its kind by content (magic bytes, zip and OLE containers),
a safe file name, and a refusal in words people understand for anything else.

The extension a person gave is only trusted to agree with the content: a PDF named `.docx`, an
`.exe` renamed `.pdf`, a macro-enabled workbook or an HTML page named `.txt` are all refused.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from engine.errors import EngineError


@dataclass(frozen=True)
class Kind:
    """One accepted kind of document."""

    name: str
    """The short name forms use in `x-accept` (`pdf`, `docx`, ...)."""
    label: str
    content_type: str
    """The content type downloads are served with (never one a browser would run)."""
    extensions: tuple[str, ...]


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("pdf", "PDF", "application/pdf", ("pdf",)),
        Kind(
            "docx",
            "Word",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ("docx",),
        ),
        Kind(
            "xlsx",
            "Excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ("xlsx",),
        ),
        Kind(
            "pptx",
            "PowerPoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            ("pptx",),
        ),
        Kind("doc", "Word 97-2003", "application/msword", ("doc",)),
        Kind("xls", "Excel 97-2003", "application/vnd.ms-excel", ("xls",)),
        Kind("ppt", "PowerPoint 97-2003", "application/vnd.ms-powerpoint", ("ppt",)),
        Kind("png", "PNG image", "image/png", ("png",)),
        Kind("jpg", "JPEG image", "image/jpeg", ("jpg", "jpeg")),
        Kind("gif", "GIF image", "image/gif", ("gif",)),
        Kind("csv", "CSV", "text/csv; charset=utf-8", ("csv",)),
        Kind("txt", "text", "text/plain; charset=utf-8", ("txt",)),
    )
}
"""Every kind Pathfinder stores; a form narrows it with `x-accept`."""

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
EXECUTABLE_MAGIC = (b"MZ", b"\x7fELF", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"#!")
BLOCKED_EXTENSIONS = frozenset(
    [
        "exe",
        "dll",
        "com",
        "bat",
        "cmd",
        "ps1",
        "sh",
        "bash",
        "js",
        "mjs",
        "vbs",
        "vbe",
        "wsf",
        "jar",
        "msi",
        "scr",
        "html",
        "htm",
        "svg",
        "xhtml",
        "php",
        "py",
        "docm",
        "xlsm",
        "pptm",
        "dotm",
        "xltm",
        "app",
        "dmg",
        "apk",
        "hta",
        "lnk",
    ]
)
MARKUP_START = re.compile(rb"^\s*<(!doctype|html|svg|script|\?xml|head|body|iframe)", re.I)
OLE_MACROS = "_VBA_PROJECT".encode("utf-16-le")
NAME_MAX = 120


class FileRefused(EngineError):
    """An uploaded file was refused; `message` says why and what to do."""

    http_status = 422
    title = "File refused"


def describe_accept(accept: tuple[str, ...]) -> str:
    """`PDF, Word (.docx)`-style list of what a field takes, for the form and for messages."""
    return ", ".join(f"{KINDS[k].label} (.{KINDS[k].extensions[0]})" for k in accept if k in KINDS)


def safe_filename(name: str, fallback: str = "document") -> str:
    """The last path part of `name`, normalised, with only letters, digits, spaces and `._-()`."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = unicodedata.normalize("NFKC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w .()-]", "_", base, flags=re.UNICODE)
    base = re.sub(r"\s+", " ", base).strip(" ._")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = stem[: NAME_MAX - len(ext) - 1].strip(" ._") or fallback
    return f"{stem}.{ext.lower()}" if ext else stem


def _zip_kind(content: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise FileRefused(
            "Documents with macros are not accepted: save it without macros "
            "(.docx, .xlsx, .pptx) or as a PDF."
        )
    for prefix, kind in (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx")):
        if any(n.startswith(prefix) for n in names):
            return kind
    return None


def _text_kind(content: bytes, ext: str) -> str | None:
    if b"\x00" in content:
        return None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if re.search(r"[\x01-\x08\x0b\x0e-\x1f\x7f]", text) or MARKUP_START.match(content):
        return None
    return "csv" if ext == "csv" else "txt"


def sniff(content: bytes, ext: str = "") -> str | None:
    """The kind of `content` by its bytes (`ext` only tells CSV from text and old Office
    formats apart), or None when it is none of the accepted kinds."""
    if content.startswith(EXECUTABLE_MAGIC):
        return None
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if content.startswith(b"PK\x03\x04"):
        return _zip_kind(content)
    if content.startswith(OLE_MAGIC):
        if OLE_MACROS in content:
            raise FileRefused("Documents with macros are not accepted: save it as a PDF.")
        return ext if ext in ("doc", "xls", "ppt") else "doc"
    return _text_kind(content, ext)


@dataclass(frozen=True)
class Checked:
    """A file that passed every check."""

    kind: Kind
    filename: str


def check(filename: str, content: bytes, accept: tuple[str, ...], max_bytes: int) -> Checked:
    """Refuse (with `FileRefused`) an empty, oversized, executable or unaccepted file, or one
    whose name's extension disagrees with its content; else its kind and a safe name."""
    name = safe_filename(filename)
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    allowed = describe_accept(accept)
    if not content:
        raise FileRefused(f"'{name}' is empty. Choose the document itself.")
    if len(content) > max_bytes:
        raise FileRefused(
            f"'{name}' is {human_size(len(content))}; files may be at most "
            f"{human_size(max_bytes)}. Compress it or split it, then upload it again."
        )
    if ext in BLOCKED_EXTENSIONS:
        raise FileRefused(f"'{name}' cannot be uploaded: .{ext} files are not accepted.")
    kind_name = sniff(content, ext)
    if kind_name is None:
        raise FileRefused(
            f"'{name}' is not a document Pathfinder accepts. Upload one of: {allowed}."
        )
    kind = KINDS[kind_name]
    if kind_name not in accept:
        raise FileRefused(f"'{name}' is a {kind.label} file; this field takes {allowed}.")
    if not ext:
        name = f"{name}.{kind.extensions[0]}"
    elif ext not in kind.extensions and not (kind_name == "txt" and ext in ("text", "md")):
        raise FileRefused(
            f"'{name}' contains a {kind.label} file but its name ends in .{ext}. "
            "Rename it or choose the right file."
        )
    return Checked(kind, name)


def human_size(size: int) -> str:
    """`1.2 MB`, `340 KB`, `12 bytes`."""
    if size < 1024:
        return f"{size} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
