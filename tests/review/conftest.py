"""Fixtures of the review tests: one generated, analysed whole-body study (built once)."""

from __future__ import annotations

import http.client
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Distinct PatientID written into the generated DICOM (must never reach the page).
PHI_PATIENT_ID = "PHI-ID-7731"


@dataclass
class AnalysedStudy:
    """A generated PET/CT study on disk and its `carpet analyze` output folder."""

    dicom: Path
    pet: Path
    analysis: Path
    truth: object


@pytest.fixture(scope="session")
def analysed_study(tmp_path_factory) -> AnalysedStudy:
    """A 5 mm whole-body PET/CT (6 lesions) written as DICOM and analysed by `carpet analyze`'s API."""
    from carpet import pipeline
    from carpet.synthetic import PetHeaderSpec, make_whole_body_study, write_study_dicom

    root = tmp_path_factory.mktemp("review_study")
    study = make_whole_body_study(spacing_mm=(5.0, 5.0, 5.0), n_lesions=6, with_ct=True, seed=3)
    write_study_dicom(study, root / "dicom", header=PetHeaderSpec(patient_id=PHI_PATIENT_ID))
    result = pipeline.analyze(root / "dicom")
    pipeline.write_analysis(result, root / "analysis")
    return AnalysedStudy(root / "dicom", root / "dicom", root / "analysis", study)


@pytest.fixture(scope="session")
def opened_review(analysed_study, tmp_path_factory):
    """One ReviewSession.open (PET read + automatic analysis), shared by the tests."""
    from carpet.review.session import ReviewSession

    dst = tmp_path_factory.mktemp("review_open") / "analysis"
    shutil.copytree(analysed_study.analysis, dst)
    return ReviewSession.open(dst, pet=analysed_study.pet, reader="tester")


@pytest.fixture
def review_dir(analysed_study, tmp_path) -> Path:
    """A fresh copy of the analysis folder (each test may edit and save it)."""
    dst = tmp_path / "analysis"
    shutil.copytree(analysed_study.analysis, dst)
    return dst


@pytest.fixture
def review_session(opened_review, review_dir):
    """A fresh session on a fresh folder copy, reusing the shared automatic result."""
    from carpet.review.session import ReviewSession

    s = ReviewSession(
        review_dir,
        opened_review.auto,
        study=opened_review.study,
        ct=opened_review.ct,
        reader="tester",
    )
    s.source = opened_review.source
    return s


@pytest.fixture
def review_server(review_session):
    """A running review server (background thread) over a fresh session."""
    from carpet.review.server import ReviewServer

    server = ReviewServer(review_session).start()
    try:
        yield server
    finally:
        server.shutdown()


class Client:
    """Minimal HTTP client for one review server (explicit headers, no cookie jar)."""

    def __init__(self, server) -> None:
        self.server = server
        self.port = server.port

    def request(
        self,
        method: str,
        path: str,
        *,
        body=None,
        headers=None,
        auth=True,
        csrf=True,
        host=None,
        raw=None,
    ):
        h = {"Host": host or f"127.0.0.1:{self.port}"}
        if auth:
            h["Authorization"] = f"Bearer {self.server.token}"
        if method == "POST" and csrf:
            h["X-CSRF-Token"] = self.server.csrf_token
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=data, headers=h)
            res = conn.getresponse()
            payload = res.read()
            return res.status, dict(res.getheaders()), payload
        finally:
            conn.close()

    def get_json(self, path: str, **kw):
        status, headers, payload = self.request("GET", path, **kw)
        assert status == 200, payload
        return json.loads(payload)

    def post_json(self, path: str, body=None, **kw):
        status, headers, payload = self.request(
            "POST", path, body=body if body is not None else {}, **kw
        )
        return status, json.loads(payload) if payload else None


@pytest.fixture
def client(review_server) -> Client:
    return Client(review_server)


@pytest.fixture
def client_for():
    """Factory: ``client_for(server)`` -> :class:`Client`."""
    return Client
