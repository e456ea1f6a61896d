"""The report as PDF, rendered from its self-contained HTML by WeasyPrint (an I/O module).

WeasyPrint needs Pango (Debian: ``libpango-1.0-0`` and ``libpangoft2-1.0-0``);
without it the import fails and :func:`write_pdf` says which packages to install.
The HTML's ``@page`` rules put the simulated-imagery banner and page numbers in
the margin of every page.

The report's figures are inlined as base64 data URIs (the HTML stands alone). WeasyPrint's
pure-Python HTML parser reads those megabytes of base64 character by character: on the
8160² px benchmark's report (14 figures, 10 MB of base64) parsing them and decoding the
URIs cost 3.5 of the PDF's 10.5 s of CPU. :func:`write_pdf` hands WeasyPrint the HTML with
each data URI replaced by a short key and gives it the decoded bytes from its own URL
fetcher: the same images, the same pages (compared pixel for pixel).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from imagery.store import created_mode
from pipeline.errors import PdfError

log = logging.getLogger(__name__)

PANGO_HINT = "apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 (and pip install weasyprint)"
"""What to install when WeasyPrint cannot be imported."""

INLINE_SCHEME = "campwatch-inline"
"""URL scheme of the keys that stand for the HTML's data URIs while WeasyPrint renders it."""

_DATA_URI = re.compile(r"data:(image/[a-z0-9.+-]+);base64,([A-Za-z0-9+/=]+)")


def split_data_uris(html: str) -> tuple[str, dict[str, tuple[str, bytes]]]:
    """``html`` with every base64 image data URI replaced by a key, and the decoded images
    (MIME type, bytes) by key.

    Example:
        >>> text, images = split_data_uris('<img src="data:image/png;base64,AAEC">')
        >>> text
        '<img src="campwatch-inline:0">'
        >>> images
        {'campwatch-inline:0': ('image/png', b'\\x00\\x01\\x02')}
    """
    images: dict[str, tuple[str, bytes]] = {}

    def key(match: re.Match[str]) -> str:
        name = f"{INLINE_SCHEME}:{len(images)}"
        images[name] = (match.group(1), base64.b64decode(match.group(2)))
        return name

    return _DATA_URI.sub(key, html), images


def _url_fetcher(weasyprint: Any, images: dict[str, tuple[str, bytes]]) -> Any:
    """A WeasyPrint URL fetcher that serves ``images`` by key and fetches anything else as
    WeasyPrint would (its ``URLFetcher`` class from version 66, a function before)."""
    urls = weasyprint.urls
    if hasattr(urls, "URLFetcher"):
        base: Any = urls.URLFetcher

        class InlineFetcher(base):
            def fetch(self, url: str, headers: Any = None) -> Any:
                if url in images:
                    mime, data = images[url]
                    return urls.URLFetcherResponse(url, data, {"Content-Type": mime})
                return super().fetch(url, headers)

        return InlineFetcher()

    def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        if url in images:
            mime, data = images[url]
            return {"string": data, "mime_type": mime}
        return weasyprint.default_url_fetcher(url, *args, **kwargs)

    return fetch


def write_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Render ``html_path`` (a self-contained HTML report) to ``pdf_path``, atomically.

    Raises:
        PdfError: WeasyPrint is unavailable or the HTML cannot be read.

    Example:
        >>> # write_pdf(ws.report_dir / "report.html", ws.report_dir / "report.pdf")
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Pango shared library is missing
        raise PdfError(f"cannot write {pdf_path}: WeasyPrint unavailable ({exc}); "
                       f"{PANGO_HINT}") from exc
    html_path, pdf_path = Path(html_path), Path(pdf_path)
    if not html_path.is_file():
        raise PdfError(f"cannot write {pdf_path}: HTML report {html_path} does not exist")
    try:
        html, images = split_data_uris(html_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PdfError(f"cannot write {pdf_path}: cannot read HTML report {html_path} "
                       f"({exc})") from exc
    document = weasyprint.HTML(string=html, base_url=str(html_path.parent),
                               url_fetcher=_url_fetcher(weasyprint, images))
    fd, tmp = tempfile.mkstemp(prefix=f".{pdf_path.name}.", suffix=".pdf", dir=pdf_path.parent)
    os.close(fd)
    os.chmod(tmp, created_mode())
    try:
        document.write_pdf(tmp)
        os.replace(tmp, pdf_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("wrote PDF %s", pdf_path)
    return pdf_path
