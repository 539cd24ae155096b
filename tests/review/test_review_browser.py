"""The review page in a real headless Chromium (Debian's package) driven by Playwright.

On a generated whole-body study: the page loads with no console errors, the table
has one row per lesion, clicking the MIP over a lesion selects its row, removing it
lowers TMTV by exactly its volume, save writes the files, a reload shows the saved
state, and a screenshot is written (``CARPET_REVIEW_SCREENSHOT`` or the test's
tmp folder) for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Python Playwright is in the [test] extra"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open_page(browser, server):
    page = browser.new_page(viewport={"width": 1500, "height": 900})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # requests cut short by a reload are ERR_ABORTED, not failures
    page.on(
        "requestfailed",
        lambda r: (
            None
            if "ERR_ABORTED" in (r.failure or "")
            else problems.append(f"request failed: {r.url}")
        ),
    )
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return page, problems


def test_review_page_end_to_end(browser, review_server, review_dir, tmp_path):
    session = review_server.backend
    session.display_max_voxels = 2_000_000  # software WebGL in CI: keep the slice textures small
    page, problems = _open_page(browser, review_server)
    # the start URL's token was exchanged for the cookie and left the address bar
    assert page.url == f"http://127.0.0.1:{review_server.port}/"
    assert page.title() == "carpet review"
    page.wait_for_selector("body[data-viewer='ready']", timeout=120_000)

    lesions = session.lesions()
    rows = page.locator("#lesions tbody tr")
    assert rows.count() == len(lesions) > 1

    # click the MIP over the hottest lesion: its row is selected
    target = max(lesions, key=lambda r: r["suv_max"])
    info = session.mip_info()
    box = page.locator("#mip").bounding_box()
    col, row = target["mip_px"]
    page.mouse.click(
        box["x"] + (col + 0.5) * box["width"] / info["width"],
        box["y"] + (row + 0.5) * box["height"] / info["height"],
    )
    selected = page.locator("#lesions tbody tr.selected")
    selected.wait_for(timeout=10_000)
    assert selected.get_attribute("data-lesion-id") == str(target["lesion_id"])
    page.wait_for_function(
        f"() => document.getElementById('cursor').textContent.includes('lesion {target['lesion_id']}')",
        timeout=10_000,
    )

    # remove it with the keyboard shortcut: TMTV drops by exactly its volume
    tmtv0 = session.summary()["patient"]["tmtv_ml"]
    page.keyboard.press("r")
    page.wait_for_selector(
        f"#lesions tbody tr.status-removed[data-lesion-id='{target['lesion_id']}']", timeout=20_000
    )
    tmtv1 = session.summary()["patient"]["tmtv_ml"]
    assert tmtv1 == pytest.approx(tmtv0 - target["volume_ml"], rel=1e-12)
    assert page.locator("#t-tmtv").inner_text() == f"{tmtv1:.2f}"
    assert page.locator("#state").inner_text() == "unsaved edits"

    # undo and redo from the keyboard
    page.keyboard.press("Control+z")
    page.wait_for_function(
        f"() => document.getElementById('t-tmtv').textContent === '{tmtv0:.2f}'", timeout=20_000
    )
    page.keyboard.press("Control+y")
    page.wait_for_function(
        f"() => document.getElementById('t-tmtv').textContent === '{tmtv1:.2f}'", timeout=20_000
    )

    # sortable table: sort by SUVmax descending puts the hottest first
    page.click("th[data-key='suv_max']")
    assert page.locator("#lesions tbody tr").first.get_attribute("data-lesion-id") == str(
        target["lesion_id"]
    )

    # save writes the files
    page.click("#btn-save")
    page.wait_for_function(
        "() => document.getElementById('state').textContent === 'saved'", timeout=120_000
    )
    edits = json.loads((review_dir / "edits.json").read_text())
    assert edits["actions"] == [{"action": "remove", "lesion_id": target["lesion_id"]}]
    assert json.loads((review_dir / "patient.json").read_text())["tmtv_ml"] == pytest.approx(
        tmtv1, rel=1e-12
    )
    assert (review_dir / "auto" / "mask.nii.gz").exists()

    # a reload shows the saved state
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    assert page.locator("#t-tmtv").inner_text() == f"{tmtv1:.2f}"
    assert (
        page.locator(
            f"#lesions tbody tr[data-lesion-id='{target['lesion_id']}'] td"
        ).last.inner_text()
        == "removed"
    )
    assert page.locator("#state").inner_text() == "saved"
    page.wait_for_selector("body[data-viewer='ready']", timeout=120_000)

    # add a lesion by seed at the cursor ("a"): the removed lesion's voxels grow back as a new id
    page.click(f"#lesions tbody tr[data-lesion-id='{target['lesion_id']}']")
    page.keyboard.press("a")
    page.wait_for_selector("#lesions tbody tr.status-added", timeout=30_000)
    added = page.locator("#lesions tbody tr.status-added")
    assert added.count() == 1
    assert int(added.get_attribute("data-lesion-id")) == max(r["lesion_id"] for r in lesions) + 1
    assert session.summary()["patient"]["tmtv_ml"] == pytest.approx(tmtv0, rel=1e-12)

    shot = Path(os.environ.get("CARPET_REVIEW_SCREENSHOT", tmp_path / "review.png"))
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    page.close()
    assert problems == []


def test_page_refuses_without_token(browser, review_server):
    page = browser.new_page()
    res = page.goto(f"http://127.0.0.1:{review_server.port}/")
    assert res.status == 401
    assert "access token required" in page.content()
    page.close()
