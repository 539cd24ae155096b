"""The JSON API of `carpet review`: the issue §4 contract and every security rule of §3."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from carpet.review.auditlog import LOG_NAME, verify_log

PHI_PATIENT_ID = "PHI-ID-7731"  # written into the generated DICOM by conftest.analysed_study

# --------------------------------------------------------------------------- security (§3)


def test_binds_loopback_on_a_free_port(review_server):
    host, port = review_server.httpd.server_address[:2]
    assert host == "127.0.0.1" and port > 0
    assert re.fullmatch(
        rf"http://127\.0\.0\.1:{port}/\?token=[A-Za-z0-9_-]{{43,}}", review_server.url
    )


def test_token_is_at_least_32_random_bytes(review_dir):
    from carpet.review.server import ReviewServer

    class Backend:
        dirty = False

    a, b = ReviewServer(Backend()), ReviewServer(Backend())
    try:
        import base64

        raw = base64.urlsafe_b64decode(a.token + "=" * (-len(a.token) % 4))
        assert len(raw) >= 32
        assert a.token != b.token and a.csrf_token != b.csrf_token
    finally:
        a.close()
        b.close()


def test_no_token_is_401_and_wrong_token_is_403(client):
    for path in ("/", "/api/summary", "/api/lesions", "/static/app.js", "/api/mip.png"):
        status, _, body = client.request("GET", path, auth=False)
        assert status == 401, path
        assert json.loads(body)["error"]["code"] == "NO_TOKEN"
    status, _, _ = client.request(
        "GET", "/api/summary", auth=False, headers={"Authorization": "Bearer nope"}
    )
    assert status == 403
    status, _, _ = client.request(
        "GET", "/api/summary", auth=False, headers={"Cookie": "carpet_review=nope"}
    )
    assert status == 403
    status, _, _ = client.request("GET", "/?token=nope", auth=False)
    assert status == 403


def test_bearer_and_cookie_both_work(client, review_server):
    assert client.get_json("/api/summary")["csrf_token"] == review_server.csrf_token
    cookie = {"Cookie": f"carpet_review={review_server.token}"}
    assert client.get_json("/api/lesions", auth=False, headers=cookie) is not None


def test_url_token_becomes_httponly_strict_cookie_and_leaves_the_url(client, review_server):
    status, headers, _ = client.request("GET", f"/?token={review_server.token}", auth=False)
    assert status == 303
    assert headers["Location"] == "/"
    cookie = headers["Set-Cookie"]
    assert f"carpet_review={review_server.token}" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    status, headers, body = client.request(
        "GET", "/", auth=False, headers={"Cookie": cookie.split(";")[0]}
    )
    assert status == 200 and b"<title>carpet review</title>" in body


def test_post_needs_the_csrf_token(client):
    before = client.get_json("/api/summary")
    lid = client.get_json("/api/lesions")[0]["lesion_id"]
    status, body = client.post_json(
        "/api/edits", [{"action": "remove", "lesion_id": lid}], csrf=False
    )
    assert status == 403 and body["error"]["code"] == "BAD_CSRF"
    status, body = client.post_json(
        "/api/edits",
        [{"action": "remove", "lesion_id": lid}],
        csrf=False,
        headers={"X-CSRF-Token": "x" * 43},
    )
    assert status == 403
    status, _ = client.post_json("/api/save", csrf=False)
    assert status == 403
    after = client.get_json("/api/summary")
    assert after["patient"] == before["patient"] and after["n_actions"] == 0


@pytest.mark.parametrize(
    "host", ["evil.example:{port}", "127.0.0.1:1", "localhost", "attacker.test"]
)
def test_foreign_host_header_is_refused(client, host):
    status, _, body = client.request("GET", "/api/summary", host=host.format(port=client.port))
    assert status == 403
    assert json.loads(body)["error"]["code"] == "BAD_HOST"


def test_localhost_host_header_is_allowed(client):
    assert client.get_json("/api/summary", host=f"localhost:{client.port}")["patient"]


def test_another_origin_is_refused(client):
    lid = client.get_json("/api/lesions")[0]["lesion_id"]
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ):
        status, body = client.post_json(
            "/api/edits", [{"action": "remove", "lesion_id": lid}], headers=headers
        )
        assert status == 403 and body["error"]["code"] == "BAD_ORIGIN", headers
    same = {"Origin": f"http://127.0.0.1:{client.port}", "Sec-Fetch-Site": "same-origin"}
    status, _ = client.post_json(
        "/api/edits", [{"action": "remove", "lesion_id": lid}], headers=same
    )
    assert status == 200


def test_every_answer_has_csp_and_no_store(client):
    for path in ("/", "/api/summary", "/static/app.js", "/nope"):
        _, headers, _ = client.request("GET", path)
        csp = headers["Content-Security-Policy"]
        assert (
            "default-src 'self'" in csp
            and "script-src 'self'" in csp
            and "frame-ancestors 'none'" in csp
        )
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
    _, headers, _ = client.request("GET", "/", auth=False)
    assert "Content-Security-Policy" in headers


def test_no_patient_identifiers_in_page_or_api(client, analysed_study):
    texts = [
        client.request("GET", p)[2].decode()
        for p in ("/", "/api/summary", "/api/lesions", "/api/mip")
    ]
    for t in texts:
        assert PHI_PATIENT_ID not in t and "ANONYMOUS" not in t
    assert "<title>carpet review</title>" in texts[0]


def test_unknown_routes_and_methods(client):
    assert client.request("GET", "/api/nothing")[0] == 404
    assert client.request("GET", "/static/../session.py")[0] == 404
    assert client.request("PUT", "/api/edits", body=[])[0] == 405
    assert client.request("DELETE", "/api/summary")[0] == 405


# --------------------------------------------------------------------------- contract (§4)


def test_summary_matches_patient_json(client, review_dir):
    s = client.get_json("/api/summary")
    patient = json.loads((review_dir / "patient.json").read_text())
    assert set(s) >= {"csrf_token", "patient"}
    for key in ("tmtv_ml", "tlg", "suv_max", "lesion_count"):
        assert s["patient"][key] == pytest.approx(patient[key], rel=1e-9, abs=1e-12), key
    assert s["dirty"] is False and s["can_undo"] is False


def test_lesions_match_lesions_csv(client, review_dir):
    rows = client.get_json("/api/lesions")
    csv = pd.read_csv(review_dir / "lesions.csv")
    assert len(rows) == len(csv) > 0
    for r, (_, c) in zip(rows, csv.sort_values("lesion_id").iterrows(), strict=True):
        assert set(r) >= {"lesion_id", "volume_ml", "suv_max", "status", "centroid_mm"}
        assert r["lesion_id"] == c["lesion_id"] and r["status"] == "auto"
        # lesions.csv holds 6 significant digits
        assert r["volume_ml"] == pytest.approx(c["volume_ml"], rel=1e-5)
        assert r["suv_max"] == pytest.approx(c["suv_max"], rel=1e-5)
        want = [c["centroid_x_mm"], c["centroid_y_mm"], c["centroid_z_mm"]]
        assert r["centroid_mm"] == pytest.approx(want, rel=1e-5, abs=1e-3)


def test_remove_restore_undo_redo(client, review_dir):
    s0 = client.get_json("/api/summary")["patient"]
    les = client.get_json("/api/lesions")
    target = max(les, key=lambda r: r["volume_ml"])
    status, s1 = client.post_json(
        "/api/edits", [{"action": "remove", "lesion_id": target["lesion_id"]}]
    )
    assert status == 200, s1
    assert s1["patient"]["tmtv_ml"] == pytest.approx(s0["tmtv_ml"] - target["volume_ml"], rel=1e-12)
    assert s1["patient"]["lesion_count"] == s0["lesion_count"] - 1
    assert s1["dirty"] is True
    row = next(r for r in client.get_json("/api/lesions") if r["lesion_id"] == target["lesion_id"])
    assert row["status"] == "removed"
    status, s2 = client.post_json("/api/undo")
    assert status == 200 and s2["patient"]["tmtv_ml"] == pytest.approx(s0["tmtv_ml"])
    status, s3 = client.post_json("/api/redo")
    assert s3["patient"]["tmtv_ml"] == pytest.approx(s1["patient"]["tmtv_ml"])
    status, s4 = client.post_json(
        "/api/edits", [{"action": "restore", "lesion_id": target["lesion_id"]}]
    )
    assert s4["patient"]["tmtv_ml"] == pytest.approx(s0["tmtv_ml"])
    assert client.post_json("/api/redo")[0] == 400  # a new action clears the redo stack
    assert verify_log(review_dir).ok


def test_physiological_and_add_by_seed(client, analysed_study):
    les = client.get_json("/api/lesions")
    lid = les[0]["lesion_id"]
    status, s = client.post_json("/api/edits", [{"action": "physiological", "lesion_id": lid}])
    assert status == 200
    assert (
        next(r for r in client.get_json("/api/lesions") if r["lesion_id"] == lid)["status"]
        == "physiological"
    )
    # add back the same lesion by a seed at its centroid: new stable id = max + 1
    status, s2 = client.post_json(
        "/api/edits", [{"action": "add", "point_mm": les[0]["centroid_mm"], "method": "suv4"}]
    )
    assert status == 200, s2
    rows = client.get_json("/api/lesions")
    added = [r for r in rows if r["status"] == "added"]
    assert [r["lesion_id"] for r in added] == [max(r["lesion_id"] for r in les) + 1]
    assert s2["patient"]["lesion_count"] == s["patient"]["lesion_count"] + 1


def test_set_method_resegments_every_lesion_and_undo_restores(client):
    s0 = client.get_json("/api/summary")
    status, s1 = client.post_json("/api/edits", [{"action": "set_method", "method": "pct41"}])
    assert status == 200, s1
    assert s1["method"] == "pct41" and s1["labels_version"] > s0["labels_version"]
    assert s1["patient"]["lesion_count"] == s0["patient"]["lesion_count"]
    # uniform-SUV phantom spheres: 41 % of SUVmax keeps exactly the same voxels as SUV >= 4
    assert s1["patient"]["tmtv_ml"] == pytest.approx(s0["patient"]["tmtv_ml"], rel=1e-12)
    status, s2 = client.post_json("/api/undo")
    assert s2["method"] == s0["method"] and s2["patient"] == s0["patient"]


@pytest.mark.parametrize(
    ("body", "code_part"),
    [
        ([{"action": "remove", "lesion_id": 9999}], "9999"),
        ([{"action": "add", "point_mm": [1e5, 0, 0], "method": "suv4"}], "outside"),
        ([{"action": "explode", "lesion_id": 1}], "explode"),
        ([{"action": "add", "point_mm": [0, 0, 0], "method": "magic"}], "magic"),
        ([], "non-empty"),
        ("remove 3", "list"),
    ],
)
def test_bad_actions_are_4xx_and_change_nothing(client, review_dir, body, code_part):
    before = client.get_json("/api/summary")
    log_before = (review_dir / LOG_NAME).read_bytes() if (review_dir / LOG_NAME).exists() else b""
    status, res = client.post_json("/api/edits", body)
    assert 400 <= status < 500
    assert code_part.lower() in res["error"]["message"].lower()
    after = client.get_json("/api/summary")
    assert after["patient"] == before["patient"] and after["n_actions"] == before["n_actions"]
    log_after = (review_dir / LOG_NAME).read_bytes() if (review_dir / LOG_NAME).exists() else b""
    assert log_after == log_before


def test_malformed_json_wrong_type_and_huge_body(client):
    status, _, body = client.request("POST", "/api/edits", raw=b"[{not json")
    assert status == 400 and json.loads(body)["error"]["code"] == "BAD_JSON"
    status, _, body = client.request(
        "POST", "/api/edits", raw=b"[]", headers={"Content-Type": "text/plain"}
    )
    assert status == 415
    # a huge announced body is refused before it is read
    import socket

    with socket.create_connection(("127.0.0.1", client.port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST /api/edits HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n"
                f"Authorization: Bearer {client.server.token}\r\nX-CSRF-Token: {client.server.csrf_token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")


def test_pick_and_probe(client):
    les = client.get_json("/api/lesions")
    target = max(les, key=lambda r: r["suv_max"])
    col, row = target["mip_px"]
    hit = client.get_json(f"/api/pick?column={col}&row={row}")
    assert hit["lesion_id"] == target["lesion_id"]
    p = client.get_json("/api/probe?point_mm=" + ",".join(str(v) for v in hit["point_mm"]))
    assert p["suv"] == pytest.approx(hit["suv"]) and p["lesion_id"] == target["lesion_id"]
    assert client.request("GET", "/api/pick?column=-1&row=0")[0] == 400
    assert client.request("GET", "/api/pick?column=a&row=0")[0] == 400
    assert client.request("GET", "/api/probe?point_mm=1e6,0,0")[0] == 400
    assert client.request("GET", "/api/probe?point_mm=1,2")[0] == 400


def test_volumes_for_the_slice_views(client, analysed_study):
    import gzip  # noqa: F401 - the volumes are served uncompressed

    import nibabel as nib

    for name in ("pet.nii", "labels.nii", "ct.nii"):
        status, headers, payload = client.request("GET", f"/api/volume/{name}")
        assert status == 200, name
        img = nib.Nifti1Image.from_bytes(payload)
        assert img.shape == analysed_study.truth.suv.shape[::-1] or name == "ct.nii"
    assert client.request("GET", "/api/volume/secret.nii")[0] == 400


def test_mip_png(client):
    status, headers, payload = client.request("GET", "/api/mip.png")
    assert (
        status == 200
        and headers["Content-Type"] == "image/png"
        and payload[:8] == b"\x89PNG\r\n\x1a\n"
    )
    info = client.get_json("/api/mip")
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(payload)).size == (info["width"], info["height"])


# --------------------------------------------------------------------------- saving (§2)


@pytest.mark.slow
def test_save_writes_files_atomically_keeps_auto_and_logs(client, review_dir, analysed_study):
    original = {p.name: p.read_bytes() for p in review_dir.iterdir() if p.is_file()}
    les = client.get_json("/api/lesions")
    lid = les[-1]["lesion_id"]
    client.post_json("/api/edits", [{"action": "remove", "lesion_id": lid}])
    status, res = client.post_json("/api/save")
    assert status == 200, res
    assert set(res["paths"]) >= {"edits.json", "patient.json", "lesions.csv", "mask.nii.gz"}
    edits = json.loads((review_dir / "edits.json").read_text())
    assert edits == {"version": 1, "actions": [{"action": "remove", "lesion_id": lid}]}
    csv = pd.read_csv(review_dir / "lesions.csv")
    assert lid not in set(csv["lesion_id"]) and len(csv) == len(les) - 1
    # the automatic result is kept untouched in auto/
    for name in ("patient.json", "lesions.csv"):
        assert (review_dir / "auto" / name).read_bytes() == original[name], name
    assert res["summary"]["dirty"] is False
    check = verify_log(review_dir)
    assert check.ok and check.n_entries == 2
    entries = [json.loads(x) for x in (review_dir / LOG_NAME).read_text().splitlines()]
    assert (
        entries[0]["action"] == {"action": "remove", "lesion_id": lid}
        and entries[0]["user"] == "tester"
    )
    assert entries[0]["tmtv_ml_before"] - entries[0]["tmtv_ml_after"] == pytest.approx(
        les[-1]["volume_ml"]
    )
    assert entries[1]["action"]["action"] == "save"
    assert not [p for p in review_dir.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.slow
def test_saved_review_round_trips_through_carpet_analyze(
    client, review_dir, analysed_study, tmp_path, cli
):
    """Edits saved through the API, re-applied by `carpet analyze --edits`, give the same files."""
    import nibabel as nib

    les = client.get_json("/api/lesions")
    client.post_json("/api/edits", [{"action": "remove", "lesion_id": les[0]["lesion_id"]}])
    client.post_json(
        "/api/edits", [{"action": "add", "point_mm": les[0]["centroid_mm"], "method": "pct41"}]
    )
    client.post_json("/api/edits", [{"action": "remove", "lesion_id": les[1]["lesion_id"]}])
    client.post_json("/api/edits", [{"action": "restore", "lesion_id": les[1]["lesion_id"]}])
    client.post_json("/api/edits", [{"action": "flag", "flag": "spleen_involved", "value": True}])
    live = client.get_json("/api/summary")["patient"]
    assert client.post_json("/api/save")[0] == 200
    out = tmp_path / "rerun"
    res = cli(
        "analyze",
        str(analysed_study.pet),
        "--out",
        str(out),
        "--edits",
        str(review_dir / "edits.json"),
    )
    assert res.exit_code == 0, res.stderr
    for name in ("lesions.csv", "edits.json"):
        assert (out / name).read_bytes() == (review_dir / name).read_bytes(), name
    a, b = nib.load(out / "mask.nii.gz"), nib.load(review_dir / "mask.nii.gz")
    assert np.array_equal(np.asarray(a.dataobj), np.asarray(b.dataobj)) and np.array_equal(
        a.affine, b.affine
    )
    pa, pb = (json.loads((d / "patient.json").read_text()) for d in (out, review_dir))
    for p in (pa, pb):  # run times are the only thing allowed to differ
        del p["provenance"]["timings_s"]
    assert pa == pb
    assert pb["flags"]["spleen_involved"] is True
    # the page's live totals were the CLI's
    for key in ("tmtv_ml", "tlg", "suv_max", "lesion_count", "dmax_mm"):
        assert live[key] == pytest.approx(pb[key], rel=1e-12), key


def test_reopening_a_saved_folder_resumes_the_saved_state(review_session, opened_review):
    from carpet.review.session import ReviewSession

    s = review_session
    lid = s.lesions()[0]["lesion_id"]
    s.apply([{"action": "remove", "lesion_id": lid}])
    tmtv = s.summary()["patient"]["tmtv_ml"]
    s.save()
    s2 = ReviewSession(s.folder, opened_review.auto, study=opened_review.study, reader="tester")
    s2.resume_saved()
    assert s2.summary()["patient"]["tmtv_ml"] == pytest.approx(tmtv)
    assert s2.summary()["dirty"] is False and s2.summary()["can_undo"] is True
    assert next(r for r in s2.lesions() if r["lesion_id"] == lid)["status"] == "removed"


def test_remove_at_a_point(client):
    les = client.get_json("/api/lesions")
    target = les[-1]
    status, s = client.post_json(
        "/api/edits", [{"action": "remove_at", "point_mm": target["max_mm"]}]
    )
    assert status == 200, s
    row = next(r for r in client.get_json("/api/lesions") if r["lesion_id"] == target["lesion_id"])
    assert row["status"] == "removed"
    status, body = client.post_json(
        "/api/edits", [{"action": "remove_at", "point_mm": target["max_mm"]}]
    )
    assert status == 400 and body["error"]["code"] == "NO_LESION_AT_POINT"


def test_zero_lesion_study_is_reviewable(tmp_path):
    from carpet import pipeline
    from carpet.review.session import ReviewSession
    from carpet.synthetic import make_whole_body_study

    study = make_whole_body_study(fov="thorax", spacing_mm=(4, 4, 4), n_lesions=0, with_ct=False)
    auto = pipeline.analyze(study)
    s = ReviewSession(tmp_path, auto, study=study, reader="tester")
    assert s.summary()["patient"]["lesion_count"] == 0 and s.lesions() == []
    assert s.mip_png()[:4] == b"\x89PNG"
    # no CT: the page shows PET alone (has_ct false, no CT volume)
    from carpet.errors import InputError

    assert s.summary()["has_ct"] is False
    with pytest.raises(InputError):
        s.volume_nifti("ct.nii")
    from carpet.errors import SegmentationError

    # a seed deep in a lung (SUV 0.4, nothing >= 4 nearby) adds nothing: refused, state unchanged
    from scipy import ndimage

    from carpet.synthetic import ORGAN_LABELS

    lung = study.organs.array == ORGAN_LABELS["lungs"]
    depth = ndimage.distance_transform_edt(lung)
    deep = np.unravel_index(int(np.argmax(depth)), lung.shape)
    centre = s.suv.index_to_world([deep])[0].tolist()
    with pytest.raises(SegmentationError) as exc:
        s.apply([{"action": "add", "point_mm": centre, "method": "suv4"}])
    assert exc.value.code == "EMPTY_ADDED_LESION" and s.summary()["n_actions"] == 0


def test_undo_stack_memory_is_bounded_and_dropped_states_rebuild_exactly(
    review_session, monkeypatch
):
    from carpet.review import session as session_mod

    monkeypatch.setattr(session_mod, "UNDO_MEMORY_BYTES", 1)  # keep only the last two states
    s = review_session
    ids = [r["lesion_id"] for r in s.lesions()]
    seen = [s.summary()["patient"]]
    for lid in ids[:3]:
        s.apply([{"action": "remove", "lesion_id": lid}])
        seen.append(s.summary()["patient"])
    assert s._states[1] is None and sum(st is None for st in s._states) == 1  # after action 1
    # restoring the second removed lesion replays from the (dropped) state before its removal
    s.apply([{"action": "restore", "lesion_id": ids[1]}])
    vol = next(r["volume_ml"] for r in s.lesions() if r["lesion_id"] == ids[1])
    assert s.summary()["patient"]["tmtv_ml"] == pytest.approx(seen[3]["tmtv_ml"] + vol, rel=1e-12)
    s.undo()
    for expected in reversed(seen[:-1]):
        s.undo()
        got = s.summary()["patient"]
        for key in ("tmtv_ml", "tlg", "lesion_count", "dmax_mm", "suv_max"):
            assert got[key] == pytest.approx(expected[key], rel=1e-12), key
