"""`campwatch facilities map`: the registry's offline page in headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from facilities.load import load_registry
from pipeline.cli.facilities import facilities

RESOURCES = """
return performance.getEntriesByType('resource').map(function (e) { return e.name; });
"""


def _severe(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _wait(driver: Any, script: str, timeout: float = 15.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script)
    )


def test_registry_map_offline_in_chromium(browser: Any, tmp_path: Path) -> None:
    out = tmp_path / "registry.html"
    result = CliRunner().invoke(facilities, ["map", "-o", str(out)])
    assert result.exit_code == 0, result.output
    n = len(load_registry())
    assert result.output == f"wrote {out} ({n} facilities)\n"

    browser.get_log("browser")
    browser.get(out.as_uri())
    assert _wait(browser, "return window.campwatchRegistry && window.campwatchRegistry.count") == n
    assert _severe(browser) == []
    # Offline: the page fetches nothing (Leaflet is inlined, there is no base map).
    assert [u for u in browser.execute_script(RESOURCES) if not u.startswith("file:")] == []
    # Every AOI polygon and every source point is drawn.
    drawn = browser.execute_script(
        "return document.querySelectorAll('path.leaflet-interactive').length"
    )
    sources_with_points = sum(1 for f in load_registry().values() for s in f.sources if s.has_point)
    assert drawn == n + sources_with_points
    assert browser.execute_script("return document.querySelectorAll('#list .fac').length") == n

    # Clicking a facility in the list opens its popup: type, status, source and its words.
    browser.find_element("css selector", '#list .fac[data-id="chongjin-kwanliso-25"]').click()
    popup = _wait(
        browser,
        "var p = document.querySelector('.leaflet-popup-content'); return p && p.textContent",
    )
    for text in [
        "Kwan-li-so No. 25, Ch'ŏngjin",
        "type: kwanliso",
        "status: active (as of 2021-09-30)",
        "reported point: 41.834384, 129.72528",
        "North Korea: Imagery Analysis of Camp No. 25 - Update 2",
        "Coordinates: 41.834384 N, 129.725280 E",
        "search area, not a boundary",
    ]:
        assert text in popup, text
    link = browser.find_element("css selector", ".leaflet-popup-content a")
    assert (
        link.get_attribute("href") == "http://www.hrnk.org/uploads/pdfs/ASA_HRNK_Camp25_Update2.pdf"
    )
    assert _severe(browser) == []
