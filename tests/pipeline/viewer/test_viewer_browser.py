"""The viewer page in headless Chromium: loads clean, tiles render, swipe, timeline, popups."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

TILES_LOADED = """
const imgs = [...document.querySelectorAll('.cw-' + arguments[0] + ' img.leaflet-tile')]
  .filter(i => i.src.includes('/tiles/') && i.complete && i.naturalWidth > 0);
return imgs.map(i => [i.src, i.naturalWidth, i.naturalHeight]);
"""

TILE_PIXELS = """
const out = [];
for (const img of document.querySelectorAll('img.leaflet-tile')) {
  if (!img.src.includes('/tiles/') || !img.complete || img.naturalWidth !== 256) continue;
  const c = document.createElement('canvas');
  c.width = c.height = 256;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, 256, 256).data;
  let opaque = 0; const values = new Set();
  for (let k = 0; k < d.length; k += 4) {
    if (d[k + 3] === 255) { opaque++; values.add(d[k] + ',' + d[k + 1] + ',' + d[k + 2]); }
  }
  out.push([opaque, values.size]);
}
return out;
"""


def severe(driver: Any) -> list[dict[str, Any]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait(driver: Any, script: str, *args: Any, timeout: float = 15.0) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script, *args)
    )


def open_page(driver: Any, url: str) -> None:
    driver.get_log("browser")  # drop earlier entries
    driver.get(url)
    wait(driver, "return window.campwatchViewer !== undefined")
    for pane in ("before", "after"):
        wait(
            driver, TILES_LOADED.replace("return imgs.map", "return imgs.length && imgs.map"), pane
        )


def map_png(driver: Any) -> np.ndarray:
    png = driver.find_element("id", "map").screenshot_as_png
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB")).astype(np.int32)


def container_point(driver: Any, layer: str) -> tuple[int, int]:
    """A point inside the first feature of an overlay layer, in map container pixels."""
    x, y = driver.execute_script(
        """
        const v = window.campwatchViewer;
        const p = v.map.latLngToContainerPoint(v.layers[arguments[0]].getBounds().getCenter());
        return [Math.round(p.x), Math.round(p.y)];
        """,
        layer,
    )
    return int(x), int(y)


def click_map_at(driver: Any, x: int, y: int) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    m = driver.find_element("id", "map")
    size = m.size
    ActionChains(driver).move_to_element_with_offset(
        m, x - size["width"] // 2, y - size["height"] // 2
    ).click().perform()


def test_page_loads_cleanly_and_tiles_render(browser: Any, served: str, tmp_path: Path) -> None:
    open_page(browser, served)
    assert severe(browser) == []
    loaded = browser.execute_script(TILES_LOADED, "after")
    assert loaded and all(w == h == 256 for _, w, h in loaded)
    assert any("/tiles/cap1/" in src for src, _, _ in loaded)
    pixels = browser.execute_script(TILE_PIXELS)
    assert pixels and max(op for op, _ in pixels) > 10_000  # opaque imagery, not blank tiles
    assert max(n for _, n in pixels) > 50  # and not a flat colour
    assert "SIMULATED IMAGERY" in browser.find_element("id", "simulated-banner").text
    browser.save_screenshot(str(tmp_path / "viewer.png"))


def test_swipe_drag_moves_the_clip_and_the_picture(browser: Any, served: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(browser, served)
    clip_before = browser.execute_script(
        "return window.campwatchViewer.map.getPane('before').style.clip"
    )
    swipe = browser.find_element("id", "swipe")
    ActionChains(browser).click_and_hold(swipe).move_by_offset(-250, 0).release().perform()
    value = int(swipe.get_attribute("value"))
    assert value < 400
    clip_after = browser.execute_script(
        "return window.campwatchViewer.map.getPane('before').style.clip"
    )
    assert clip_after != clip_before and clip_after.startswith("rect(")
    # everything "before" (swipe right) vs everything "after" (swipe left) at the new block
    x, y = container_point(browser, "changes")
    browser.execute_script("window.campwatchViewer.setSwipe(1)")
    all_before = map_png(browser)
    browser.execute_script("window.campwatchViewer.setSwipe(0)")
    all_after = map_png(browser)
    patch = (slice(y - 5, y + 6), slice(x - 5, x + 6))
    assert all_after[patch].mean() > all_before[patch].mean() + 60
    # columns left of the divider come from "before", right of it from "after"
    browser.execute_script("window.campwatchViewer.setSwipe(0.5)")
    half = map_png(browser)
    width = half.shape[1]
    assert np.abs(half[:, : width // 2 - 20] - all_before[:, : width // 2 - 20]).mean() < 3
    assert np.abs(half[:, width // 2 + 40 :] - all_after[:, width // 2 + 40 :]).mean() < 3
    assert severe(browser) == []


def test_clicking_a_change_shows_type_area_dates_and_review(browser: Any, served: str) -> None:
    open_page(browser, served)
    browser.execute_script("window.campwatchViewer.setSwipe(0.95)")
    on_map = "return window.campwatchViewer.map.hasLayer(window.campwatchViewer.layers.changes)"
    assert browser.execute_script(on_map) is False  # off by default when there are events
    browser.find_element("xpath", "//label[contains(., 'All detected changes')]//input").click()
    assert browser.execute_script(on_map) is True
    x, y = container_point(browser, "changes")
    click_map_at(browser, x, y)
    text = wait(
        browser,
        "const p = document.querySelector('.leaflet-popup-content'); return p && p.innerText",
    )
    for expected in (
        "New building",
        "new_or_brighter",
        "9,600 m²",
        "2015-03-02",
        "2019-10-05",
        "unreviewed",
    ):
        assert expected in text
    assert severe(browser) == []


def test_event_popup_shows_labels_as_text(browser: Any, served: str) -> None:
    open_page(browser, served)
    browser.execute_script("window.campwatchViewer.setSwipe(0.95)")
    x, y = container_point(browser, "events")
    click_map_at(browser, x, y)
    text = wait(
        browser,
        "const p = document.querySelector('.leaflet-popup-content'); return p && p.innerText",
    )
    assert "Excavation </script><b>x</b>" in text
    assert "confirmed" in text
    assert (
        browser.execute_script("return document.querySelectorAll('.leaflet-popup b').length") == 0
    )


def test_timeline_picks_the_captures(browser: Any, served: str) -> None:
    open_page(browser, served)
    assert "2019-10-05" in browser.find_element("id", "label-after").text
    browser.find_element("css selector", 'input[name="after"][value="0"]').click()
    assert "AFTER · 2015-03-02" in browser.find_element("id", "label-after").text
    srcs = wait(
        browser, TILES_LOADED.replace("return imgs.map", "return imgs.length && imgs.map"), "after"
    )
    assert all("/tiles/cap0/" in s for s, _, _ in srcs)
    row = browser.find_element("css selector", '#timeline tr[data-capture-id="cap0"]')
    assert "is-after" in row.get_attribute("class")
    count = "return window.campwatchViewer.layers.changes.getLayers().length"
    assert browser.execute_script(count) == 1
    browser.find_element("id", "only-between").click()  # 2015-03-02 .. 2015-03-02: none
    assert browser.execute_script(count) == 0
    browser.find_element("css selector", 'input[name="after"][value="1"]').click()
    assert browser.execute_script(count) == 1
    assert severe(browser) == []


def test_page_works_from_disk(browser: Any, built_viewer: Path) -> None:
    open_page(browser, (built_viewer / "index.html").as_uri())
    loaded = browser.execute_script(TILES_LOADED, "before")
    assert loaded and all(w == 256 for _, w, _ in loaded)
    assert all(src.startswith("file://") for src, _, _ in loaded)
    assert severe(browser) == []
