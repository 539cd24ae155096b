"""Side-by-side review of a `carpet response` folder: matched lesions numbered alike."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest


@pytest.fixture
def response_dir(analysed_study, tmp_path):
    """A response-shaped folder: the same analysis at both time points, lesions matched by a
    hand-written lesion_matches.csv (baseline i <-> follow-up i, the largest one 'disappeared')."""
    d = tmp_path / "response"
    for t in ("baseline", "followup"):
        shutil.copytree(analysed_study.analysis, d / t)
    les = pd.read_csv(d / "baseline" / "lesions.csv")
    ids = list(les["lesion_id"])
    rows = [{"baseline_id": i, "followup_id": i, "status": "matched"} for i in ids[1:]]
    rows.append({"baseline_id": ids[0], "followup_id": None, "status": "disappeared"})
    pd.DataFrame(rows).to_csv(d / "lesion_matches.csv", index=False)
    return d, ids


def test_compare_api_numbers_matches_alike(response_dir, analysed_study, client_for):
    from carpet.review.compare import ResponseReview, is_response_folder
    from carpet.review.server import ReviewServer

    d, ids = response_dir
    assert is_response_folder(d)
    backend = ResponseReview(d, {"baseline": analysed_study.pet, "followup": analysed_study.pet})
    with ReviewServer(backend) as server:
        c = client_for(server)
        data = c.get_json("/api/compare")
        base, follow = data["timepoints"]
        assert (base["name"], follow["name"]) == ("baseline", "followup")
        nb = {r["lesion_id"]: r["match_number"] for r in base["lesions"]}
        nf = {r["lesion_id"]: r["match_number"] for r in follow["lesions"]}
        assert nb[ids[0]] is None  # disappeared: no number
        for k, i in enumerate(ids[1:], start=1):
            assert nb[i] == nf[i] == k
        status, headers, png = c.request("GET", "/api/compare/followup/mip.png")
        assert status == 200 and png[:4] == b"\x89PNG"
        assert c.request("GET", "/api/compare/nope/mip.png")[0] == 400
        assert c.request("GET", "/api/summary")[0] == 404  # read-only view
        assert c.post_json("/api/edits", [{"action": "remove", "lesion_id": ids[1]}])[0] == 404
        status, _, page = c.request("GET", "/")
        assert b"baseline | follow-up" in page


def test_compare_needs_both_pets(response_dir, cli):
    d, _ = response_dir
    (d / "followup" / "source.json").unlink()
    res = cli("review", str(d), "--no-browser")
    assert res.exit_code == 2 and "[PET_NOT_GIVEN]" in res.stderr and "--pet-followup" in res.stderr
    assert "followup" in res.stderr and "source.json" in res.stderr


def test_compare_takes_the_pets_from_source_json(response_dir, analysed_study, tmp_path):
    """Without --pet/--pet-followup each time point's source.json names its PET."""
    from carpet.errors import InputError
    from carpet.review.compare import ResponseReview

    d, ids = response_dir
    backend = ResponseReview(d, {"baseline": None, "followup": None})
    assert [r["lesion_id"] for r in backend.compare()["timepoints"][1]["lesions"]] == ids
    record = json.loads((d / "baseline" / "source.json").read_text())
    assert record["pet_path"] == str(analysed_study.pet)
    record["pet_path"] = str(tmp_path / "gone")
    (d / "baseline" / "source.json").write_text(json.dumps(record))
    with pytest.raises(InputError) as exc:
        ResponseReview(d, {"baseline": None, "followup": None})
    assert exc.value.code == "PET_NOT_FOUND" and "baseline" in str(exc.value)
    assert "--pet PATH" in str(exc.value)
    # an explicit --pet still overrides the record
    ResponseReview(d, {"baseline": analysed_study.pet, "followup": None})


@pytest.mark.browser
@pytest.mark.slow
def test_compare_page_in_chromium(response_dir, analysed_study, tmp_path):
    from test_review_browser import ARGS, CHROMIUM

    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM or not __import__("pathlib").Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    from carpet.review.compare import ResponseReview
    from carpet.review.server import ReviewServer

    d, ids = response_dir
    backend = ResponseReview(d, {"baseline": analysed_study.pet, "followup": analysed_study.pet})
    with ReviewServer(backend) as server, sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = b.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(server.url)
        page.wait_for_selector("body[data-mip_baseline='1'][data-mip_followup='1']", timeout=30_000)
        labels = page.locator(".side[data-timepoint='followup'] .match-label")
        assert labels.count() == len(ids) - 1
        page.click(f".side[data-timepoint='baseline'] tr[data-lesion-id='{ids[1]}']")
        assert page.locator(f".side[data-timepoint='followup'] tr.selected").get_attribute(
            "data-lesion-id"
        ) == str(ids[1])
        page.screenshot(path=str(tmp_path / "compare.png"))
        import os

        if os.environ.get("CARPET_REVIEW_SCREENSHOT"):
            shutil.copy(
                tmp_path / "compare.png", os.environ["CARPET_REVIEW_SCREENSHOT"] + ".compare.png"
            )
        b.close()
    assert errors == []
    json.dumps(backend.compare())  # JSON-safe
