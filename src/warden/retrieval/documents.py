"""Readers: files on disk to documents made of sections (.txt .md .html .jsonl .pdf, code).

Each reader normalizes its sections, so everything downstream sees normalized text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

from warden.retrieval.chunking import Section
from warden.retrieval.normalize import Domain, normalize

PROSE_EXTENSIONS = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".pdf")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_MD_FENCE = re.compile(r"^\s*(```|~~~)")


class DocumentError(ValueError):
    """A file that cannot be read as a document; the message names the file (and line)."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    source: str
    title: str
    sections: list[Section]
    metadata: dict[str, Any] = field(default_factory=dict)


def _section(text: str, domain: Domain, path: tuple[str, ...]) -> Section | None:
    clean = normalize(text, domain)
    return Section(clean, domain, path) if clean else None


def _markdown_sections(text: str) -> tuple[str, list[Section]]:
    """Split at headings; fenced blocks become code sections under the current heading."""
    title = ""
    headings: list[str] = []
    out: list[Section] = []
    buffer: list[str] = []
    in_fence = False

    def flush(domain: Domain) -> None:
        section = _section("\n".join(buffer), domain, tuple(headings))
        if section:
            out.append(section)
        buffer.clear()

    for line in text.splitlines():
        if _MD_FENCE.match(line):
            flush("code" if in_fence else "prose")
            in_fence = not in_fence
            continue
        heading = None if in_fence else _MD_HEADING.match(line)
        if heading:
            flush("prose")
            level, name = len(heading.group(1)), heading.group(2).strip()
            headings[:] = [*headings[:level - 1], name]
            title = title or (name if level == 1 else "")
            continue
        buffer.append(line)
    flush("code" if in_fence else "prose")
    return title, out


class _HtmlText(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
    _BLOCK = frozenset({"p", "div", "li", "br", "tr", "section", "article", "blockquote",
                        "table", "ul", "ol", "dd", "dt", "hr"})
    _HEADINGS: ClassVar[dict[str, int]] = {f"h{i}": i for i in range(1, 7)}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections: list[Section] = []
        self._headings: list[str] = []
        self._buffer: list[str] = []
        self._skip = 0
        self._in_title = False
        self._heading_level = 0
        self._heading_text: list[str] = []
        self._pre = 0

    def _flush(self, domain: Domain) -> None:
        section = _section("".join(self._buffer), domain, tuple(self._headings))
        if section:
            self.sections.append(section)
        self._buffer.clear()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skip += 1
        elif tag in self._HEADINGS:
            self._flush("prose")
            self._heading_level, self._heading_text = self._HEADINGS[tag], []
        elif tag == "pre":
            self._flush("prose")
            self._pre += 1
        elif tag in self._BLOCK:
            self._buffer.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._HEADINGS and self._heading_level:
            name = normalize("".join(self._heading_text))
            level = self._heading_level
            self._headings[:] = [*self._headings[:level - 1], name]
            self._heading_level = 0
        elif tag == "pre" and self._pre:
            self._flush("code")
            self._pre -= 1
        elif tag in self._BLOCK:
            self._buffer.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._skip:
            return
        elif self._heading_level:
            self._heading_text.append(data)
        else:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush("code" if self._pre else "prose")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read ({exc.strerror})") from exc


def _jsonl_documents(path: Path) -> Iterator[Document]:
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DocumentError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise DocumentError(f"{path}:{number}: each line needs a string 'text'")
        if "id" not in row or not str(row["id"]).strip():
            raise DocumentError(f"{path}:{number}: each line needs an 'id'")
        metadata = row.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            raise DocumentError(f"{path}:{number}: 'metadata' must be an object")
        domain: Domain = "code" if metadata.get("domain") == "code" else "prose"
        section = _section(row["text"], domain, ())
        title = str(row.get("title") or metadata.get("title") or "")
        yield Document(doc_id=str(row["id"]), source=str(metadata.get("source") or
                                                         f"{path}#{row['id']}"),
                       title=title, sections=[section] if section else [], metadata=metadata)


def _pdf_document(path: Path) -> Document:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError

        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        title = str(info.get("/Title") or "") if info is not None else ""
    except (OSError, PyPdfError) as exc:
        raise DocumentError(f"{path}: not a readable PDF ({exc})") from exc
    sections = [s for i, text in enumerate(pages, start=1)
                if (s := _section(text, "prose", (f"page {i}",)))]
    return Document(str(path), str(path), title or path.stem, sections,
                    {"pages": len(pages)})


def read_documents(path: Path, code_extensions: tuple[str, ...]) -> list[Document]:
    """Every document in one file; raise DocumentError for unsupported or broken files."""
    suffix = path.suffix.lower()
    source = str(path)
    if suffix == ".jsonl":
        return list(_jsonl_documents(path))
    if suffix == ".pdf":
        return [_pdf_document(path)]
    if suffix in (".md", ".markdown"):
        title, sections = _markdown_sections(_read_text(path))
        return [Document(source, source, title or path.stem, sections)]
    if suffix in (".html", ".htm"):
        parser = _HtmlText()
        parser.feed(_read_text(path))
        parser.close()
        return [Document(source, source, normalize(parser.title) or path.stem,
                         parser.sections)]
    if suffix == ".txt":
        section = _section(_read_text(path), "prose", ())
        return [Document(source, source, path.stem, [section] if section else [])]
    if suffix in code_extensions:
        section = _section(_read_text(path), "code", ())
        return [Document(source, source, path.name, [section] if section else [],
                         {"language": suffix.lstrip(".")})]
    raise DocumentError(f"{path}: unsupported file type '{suffix}' (supported: "
                        f"{', '.join(PROSE_EXTENSIONS)} and code: {', '.join(code_extensions)})")


def discover(paths: list[Path], code_extensions: tuple[str, ...]) -> tuple[list[Path], int]:
    """Files to read (sorted, so a run is reproducible) and how many were skipped.

    A file named explicitly must be supported; inside a directory unsupported files and
    hidden entries are skipped.
    """
    supported = set(PROSE_EXTENSIONS) | set(code_extensions)
    files: list[Path] = []
    skipped = 0
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*")):
                relative = candidate.relative_to(path)
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if candidate.is_file():
                    if candidate.suffix.lower() in supported:
                        files.append(candidate)
                    else:
                        skipped += 1
        elif path.is_file():
            files.append(path)
        else:
            raise DocumentError(f"{path}: no such file or directory")
    return sorted(dict.fromkeys(files)), skipped
