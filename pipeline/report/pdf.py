"""The report as PDF, rendered from its self-contained HTML by WeasyPrint (an I/O module).

WeasyPrint needs Pango (Debian: ``libpango-1.0-0`` and ``libpangoft2-1.0-0``);
without it the import fails and :func:`write_pdf` says which packages to install.
The HTML's ``@page`` rules put the simulated-imagery banner and page numbers in
the margin of every page.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from imagery.store import created_mode
from pipeline.errors import PdfError

log = logging.getLogger(__name__)

PANGO_HINT = "apt-get install -y libpango-1.0-0 libpangoft2-1.0-0 (and pip install weasyprint)"
"""What to install when WeasyPrint cannot be imported."""


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
    document = weasyprint.HTML(filename=str(html_path), base_url=str(html_path.parent))
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
