"""Readers for each file type, and discovery."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA

from warden.config.retrieval import ChunkingConfig
from warden.retrieval.documents import DocumentError, discover, read_documents

CODE = tuple(ChunkingConfig().code_extensions)


def test_markdown_sections_headings_and_code_fences() -> None:
    [doc] = read_documents(DATA / "v1" / "kettle.md", CODE)
    assert doc.title == "Electric kettles"
    paths = [(s.heading_path, s.domain) for s in doc.sections]
    assert (("Electric kettles", "Descaling"), "prose") in paths
    assert (("Electric kettles", "Safety"), "code") in paths
    assert not any("#" in s.text.split("\n")[0] for s in doc.sections if s.domain == "prose")


def test_html_drops_scripts_and_styles_and_keeps_headings() -> None:
    [doc] = read_documents(DATA / "v1" / "warranty.html", CODE)
    text = " ".join(s.text for s in doc.sections)
    assert doc.title == "Warranty"
    assert "never indexed" not in text and "color: red" not in text
    assert any(s.heading_path == ("Warranty", "Claims") for s in doc.sections)
    assert any(s.domain == "code" and "claim --order" in s.text for s in doc.sections)


def test_jsonl_one_document_per_line_with_metadata() -> None:
    docs = read_documents(DATA / "v1" / "returns.jsonl", CODE)
    assert docs[0].doc_id == "faq-returns"
    assert docs[0].metadata == {"lang": "en", "topic": "returns"}
    assert len(docs) == 7


@pytest.mark.parametrize("line, message", [
    ("not json", "returns.jsonl:2: not valid JSON"),
    ('{"text": "no id"}', "needs an 'id'"),
    ('{"id": 3}', "needs a string 'text'"),
    ('{"id": 3, "text": "x", "metadata": []}', "'metadata' must be an object"),
])
def test_jsonl_errors_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "returns.jsonl"
    path.write_text('{"id": 1, "text": "fine"}\n' + line + "\n")
    with pytest.raises(DocumentError, match=message):
        read_documents(path, CODE)


def _tiny_pdf(text: str) -> bytes:
    """A one-page PDF with one line of Helvetica text, offsets computed by hand."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream +
        b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n" \
        .encode()
    return bytes(out)


def test_pdf_text_is_read_per_page(tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(_tiny_pdf("Kettle manual: descale monthly."))
    [doc] = read_documents(path, CODE)
    assert doc.sections[0].heading_path == ("page 1",)
    assert "descale monthly" in doc.sections[0].text


def test_broken_pdf_and_unknown_types_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(DocumentError, match=r"bad\.pdf"):
        read_documents(tmp_path / "bad.pdf", CODE)
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(DocumentError, match=r"unsupported file type '\.png'"):
        read_documents(tmp_path / "image.png", CODE)


def test_discover_walks_directories_skipping_hidden_and_unsupported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.md").write_text("hidden")
    (tmp_path / "logo.png").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.py").write_text("x = 1")
    files, skipped = discover([tmp_path], CODE)
    assert [f.name for f in files] == ["a.md", "b.py"]
    assert skipped == 1
    with pytest.raises(DocumentError, match="no such file"):
        discover([tmp_path / "missing"], CODE)
