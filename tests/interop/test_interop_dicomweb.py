"""DICOMweb against a real Orthanc: push, pull, analyse from a study address, push SEG+SR back, re-open.

Also: credentials from the environment / config file only, and clear RemoteErrors with no
partial output for a stopped server, a server that never answers, HTTP 500 and 401.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(
    0, str(Path(__file__).parent)
)  # helper modules beside the tests (any --import-mode)

import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from orthanc_harness import PASSWORD, USER, free_port, orthanc, orthanc_auth  # noqa: F401 - fixtures

from carpet.dicomweb import (
    connect,
    parse_study_address,
    pull_study,
    push_files,
    resolve_settings,
    search_studies,
)
from carpet.errors import CarpetWarning, ConfigError, InputError, RemoteError


@pytest.fixture(scope="module")
def synthetic_pet(tmp_path_factory):
    from carpet.synthetic import make_whole_body_study, write_pet_dicom

    s = make_whole_body_study(
        fov="thorax", spacing_mm=(6, 6, 6), n_lesions=3, with_ct=False, seed=3
    )
    folder = tmp_path_factory.mktemp("pet")
    files = write_pet_dicom(s, folder)
    import pydicom

    return folder, str(pydicom.dcmread(files[0], stop_before_pixels=True).StudyInstanceUID)


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
@pytest.mark.orthanc
def test_orthanc_end_to_end_push_pull_analyze_push_back(
    orthanc, orthanc_auth, synthetic_pet, tmp_path, cli  # noqa: F811 - fixtures
):
    from carpet.ingest import read_nifti, read_pet
    from carpet.ingest.seg import MaskReference, read_seg
    from carpet.ingest.sr import read_sr_measurements

    folder, study_uid = synthetic_pet
    res = cli("push", "--url", orthanc.dicomweb, str(folder))
    assert res.exit_code == 0, res.stderr
    assert "stored 70 instance(s) in 1 study" in res.stdout

    st = resolve_settings(orthanc.dicomweb)
    assert study_uid in [s["StudyInstanceUID"] for s in search_studies(st)]

    # analyse straight from the DICOMweb study address, exporting SEG, RTSTRUCT and SR
    address = f"dicomweb+{orthanc.dicomweb}/studies/{study_uid}"
    out = tmp_path / "analysis"
    res = cli("analyze", address, "--out", str(out), "--export", "seg,rtstruct,sr", "--no-mip")
    assert res.exit_code == 0, res.stderr
    lesions = pd.read_csv(out / "lesions.csv")
    assert len(lesions) >= 2
    dicom = out / "dicom"
    assert sorted(p.name for p in dicom.iterdir()) == ["rtstruct.dcm", "seg.dcm", "sr.dcm"]

    # push SEG + SR back and find them on the server
    res = cli("push", "--url", orthanc.dicomweb, str(dicom / "seg.dcm"), str(dicom / "sr.dcm"))
    assert res.exit_code == 0, res.stderr
    client = connect(st)
    modalities = sorted(
        str(s["00080060"]["Value"][0])
        for s in client.search_for_series(study_instance_uid=study_uid)
    )
    assert modalities == ["PT", "SEG", "SR"]

    # pull them (CLI), re-open: identical voxels and identical measurements
    pulled = tmp_path / "pulled"
    res = cli(
        "pull",
        "--url",
        orthanc.dicomweb,
        "--study",
        study_uid,
        "--out",
        str(pulled),
        "--modality",
        "SEG",
        "--modality",
        "SR",
    )
    assert res.exit_code == 0, res.stderr
    seg_file = next(
        p
        for p in pulled.rglob("*.dcm")
        if p.read_bytes()[128:132] == b"DICM" and _modality(p) == "SEG"
    )
    sr_file = next(p for p in pulled.rglob("*.dcm") if _modality(p) == "SR")
    assert seg_file.read_bytes() == (dicom / "seg.dcm").read_bytes()
    pet = read_pet(folder)
    mask = read_seg(seg_file, pet.suv, reference_uids=MaskReference.from_volume(pet.suv))
    assert mask.pairing == "sop_instance_uid"
    np.testing.assert_array_equal(
        mask.labels.array, read_nifti(out / "mask.nii.gz").array.astype(np.int32)
    )
    back, _, _ = read_sr_measurements(sr_file)
    assert back["lesion_id"].tolist() == lesions["lesion_id"].tolist()
    np.testing.assert_allclose(back["suv_max"], lesions["suv_max"], rtol=1e-5)
    np.testing.assert_allclose(back["volume_ml"], lesions["volume_ml"], rtol=1e-5)

    # `carpet measure` with the pulled SEG gives the same lesion table as analyze
    res = cli("measure", address, "--mask", str(seg_file), "--out", str(tmp_path / "m"), "--json")
    assert res.exit_code == 0, res.stderr
    remeasured = pd.read_csv(tmp_path / "m" / "lesions.csv")
    for col in ("lesion_id", "volume_ml", "suv_max", "suv_peak", "suv_mean", "tlg"):
        np.testing.assert_array_equal(remeasured[col], lesions[col])


def _modality(p: Path) -> str:
    import pydicom

    return str(pydicom.dcmread(p, stop_before_pixels=True).Modality)


@pytest.mark.orthanc
def test_pull_is_atomic_when_a_series_fails_midway(
    orthanc, orthanc_auth, synthetic_pet, tmp_path, monkeypatch  # noqa: F811 - fixtures
):
    import requests
    from dicomweb_client.api import DICOMwebClient

    folder, study_uid = synthetic_pet
    st = resolve_settings(orthanc.dicomweb)
    push_files(st, [folder])
    # a second series in the study so that the failure happens after one series arrived
    from carpet.export.seg import write_seg
    from carpet.ingest import read_pet
    from carpet.interop import source_headers

    pet = read_pet(folder)
    lab = pet.suv.with_array((pet.suv.array > 4).astype(np.int32))
    push_files(st, [write_seg(lab, source_headers(pet.suv), tmp_path / "seg.dcm", mode="tumour")])
    calls = {"n": 0}
    real = DICOMwebClient.iter_series

    def flaky(self, *a, **k):
        # the second series breaks after its first instance was received (and written)
        calls["n"] += 1
        for n, ds in enumerate(real(self, *a, **k)):
            if calls["n"] == 2 and n == 1:
                raise requests.exceptions.ConnectionError("connection reset by peer")
            calls["written"] = calls.get("written", 0) + 1
            yield ds
        if calls["n"] == 2:
            raise requests.exceptions.ConnectionError("connection reset by peer")

    monkeypatch.setattr(DICOMwebClient, "iter_series", flaky)
    out = tmp_path / "partial"
    with pytest.raises(RemoteError, match="cannot connect") as ei:
        pull_study(st, study_uid, out)
    assert ei.value.code == "REMOTE_UNREACHABLE"
    assert calls["n"] == 2 and calls["written"] >= 2  # the first series and part of the second arrived
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial")]


@pytest.mark.orthanc
def test_unknown_study_and_missing_credentials(orthanc, tmp_path, monkeypatch, cli):  # noqa: F811 - fixture
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(tmp_path / "none.toml"))
    for var in ("CARPET_DICOMWEB_TOKEN", "CARPET_DICOMWEB_USER", "CARPET_DICOMWEB_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    res = cli("pull", "--url", orthanc.dicomweb, "--study", "1.2.3", "--out", str(tmp_path / "x"))
    assert res.exit_code == 2
    assert "carpet: error [REMOTE_HTTP_401]" in res.stderr and "CARPET_DICOMWEB_TOKEN" in res.stderr
    monkeypatch.setenv("CARPET_DICOMWEB_USER", USER)
    monkeypatch.setenv("CARPET_DICOMWEB_PASSWORD", "wrong")
    with pytest.raises(RemoteError) as ei:
        pull_study(resolve_settings(orthanc.dicomweb), "1.2.3", tmp_path / "x")
    assert ei.value.code == "REMOTE_HTTP_401"
    monkeypatch.setenv("CARPET_DICOMWEB_PASSWORD", PASSWORD)
    with pytest.raises(RemoteError, match="not found") as ei:
        pull_study(resolve_settings(orthanc.dicomweb), "1.2.3.4.5.6", tmp_path / "x")
    assert ei.value.code == "STUDY_NOT_FOUND"
    assert not (tmp_path / "x").exists()


# ----------------------------------------------------------------------------- failures without Orthanc
def test_stopped_server_gives_remote_error_and_no_output(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(tmp_path / "none.toml"))
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    res = cli("pull", "--url", url, "--study", "1.2.3", "--out", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert (
        "carpet: error [REMOTE_UNREACHABLE]" in res.stderr
        and "server stopped or unreachable" in res.stderr
    )
    assert not (tmp_path / "out").exists()
    f = tmp_path / "a.dcm"
    from interop_builders import make_pet_datasets

    make_pet_datasets(np.ones((2, 4, 4)))[0].save_as(f, enforce_file_format=True)
    res = cli("push", "--url", url, str(f))
    assert res.exit_code == 2 and "REMOTE_UNREACHABLE" in res.stderr


def test_silent_server_times_out(tmp_path, monkeypatch):
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(tmp_path / "none.toml"))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])  # accept and never answer
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        st = resolve_settings(f"http://127.0.0.1:{srv.getsockname()[1]}/dicom-web", timeout_s=0.5)
        with pytest.raises(RemoteError, match="did not answer within 0.5 s") as ei:
            pull_study(st, "1.2.3", tmp_path / "out")
        assert ei.value.code == "REMOTE_TIMEOUT"
        assert not (tmp_path / "out").exists()
    finally:
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802 - http.server API
        _Handler.seen.append(dict(self.headers))
        self.send_response(500)
        self.end_headers()
        self.wfile.write(b"internal error")

    def log_message(self, *a):
        pass


def test_server_error_and_token_header(tmp_path, monkeypatch):
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("CARPET_DICOMWEB_TOKEN", "tok-123")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        st = resolve_settings(f"http://127.0.0.1:{srv.server_address[1]}/dicom-web")
        with pytest.raises(RemoteError, match="HTTP 500") as ei:
            pull_study(st, "1.2.3", tmp_path / "out")
        assert ei.value.code == "REMOTE_HTTP_500"
        assert not (tmp_path / "out").exists()
        assert _Handler.seen[-1].get("Authorization") == "Bearer tok-123"
    finally:
        srv.shutdown()
        srv.server_close()


# ----------------------------------------------------------------------------- settings
def test_settings_from_env_and_config_file(tmp_path, monkeypatch):
    cfg = tmp_path / "dicomweb.toml"
    cfg.write_text(
        '[[server]]\nurl = "https://pacs.example.org/dicom-web"\nuser = "alice"\npassword = "pw"\n'
        'ca_bundle = "/etc/ca.pem"\ntimeout_s = 7\n\n'
        '[[server]]\nurl = "https://other.example.org"\ntoken = "T"\nverify = false\n'
    )
    cfg.chmod(0o600)
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(cfg))
    for var in ("CARPET_DICOMWEB_TOKEN", "CARPET_DICOMWEB_USER", "CARPET_DICOMWEB_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    s = resolve_settings("https://pacs.example.org/dicom-web/")
    assert (s.user, s.password, s.verify, s.timeout_s, s.source) == (
        "alice",
        "pw",
        "/etc/ca.pem",
        7.0,
        str(cfg),
    )
    assert "pw" not in repr(s)
    with pytest.warns(CarpetWarning, match="TLS verification is OFF"):
        s2 = resolve_settings("https://other.example.org/dicom-web")
    assert s2.token == "T" and s2.verify is False
    s3 = resolve_settings("https://unknown.example.org/dicom-web")
    assert s3.verify is True and s3.token is None and s3.user is None
    assert connect(s)._session.auth == ("alice", "pw")
    # the environment wins over the file
    monkeypatch.setenv("CARPET_DICOMWEB_TOKEN", "ENV")
    s4 = resolve_settings("https://pacs.example.org/dicom-web")
    assert s4.token == "ENV" and s4.user is None and s4.source == "env"
    assert connect(s4)._session.headers["Authorization"] == "Bearer ENV"
    monkeypatch.delenv("CARPET_DICOMWEB_TOKEN")
    monkeypatch.setenv("CARPET_DICOMWEB_USER", "bob")
    with pytest.raises(ConfigError, match="no password") as ei:
        resolve_settings("https://pacs.example.org/dicom-web")
    assert ei.value.code == "INCOMPLETE_CREDENTIALS"
    with pytest.raises(ConfigError, match="http:// or https://"):
        resolve_settings("pacs.example.org/dicom-web")
    cfg.write_text('[[server]]\nurl = "https://x"\npasswd = "oops"\n')
    with pytest.raises(ConfigError, match="unknown key"):
        resolve_settings("https://x")


def test_world_readable_config_with_secret_warns(tmp_path, monkeypatch):
    cfg = tmp_path / "dicomweb.toml"
    cfg.write_text('[[server]]\nurl = "https://x"\ntoken = "T"\n')
    cfg.chmod(0o644)
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(cfg))
    monkeypatch.delenv("CARPET_DICOMWEB_TOKEN", raising=False)
    monkeypatch.delenv("CARPET_DICOMWEB_USER", raising=False)
    with pytest.warns(CarpetWarning, match="chmod 600"):
        resolve_settings("https://x/dicom-web")


def test_study_address_parsing_and_cli_has_no_secret_options(cli):
    assert parse_study_address("dicomweb+https://pacs:443/root/dicom-web/studies/1.2.840.1/") == (
        "https://pacs:443/root/dicom-web",
        "1.2.840.1",
    )
    # what pathlib makes of the address (analyze's PATH argument) still parses
    assert parse_study_address(str(Path("dicomweb+http://h:8042/dicom-web/studies/1.2"))) == (
        "http://h:8042/dicom-web",
        "1.2",
    )
    assert parse_study_address("dicomweb+ftp://h/studies/1.2") is None
    for cmd in ("pull", "push"):
        res = cli(cmd, "--help")
        assert res.exit_code == 0
        assert "--password" not in res.stdout and "--token" not in res.stdout


def test_push_refuses_non_dicom_before_sending(tmp_path, monkeypatch):
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(tmp_path / "none.toml"))
    (tmp_path / "notes.txt").write_text("not dicom")
    st = resolve_settings(f"http://127.0.0.1:{free_port()}/dicom-web")
    with pytest.raises(InputError, match="not a DICOM file"):
        push_files(st, [tmp_path / "notes.txt"])
    with pytest.raises(InputError, match="does not exist"):
        push_files(st, [tmp_path / "missing.dcm"])


@pytest.mark.slow
@pytest.mark.orthanc
def test_orthanc_acrin_study_measured_from_dicomweb(
    orthanc, orthanc_auth, shared_data, tmp_path, cli  # noqa: F811 - fixtures
):
    """The ACRIN PT AC series (JPEG-LS) and its PT-Segmentation SEG through Orthanc: SUVmax ≈ 42.2, ≈ 183 mL."""
    import pydicom

    base = shared_data / "acrin-nsclc-fdg-pet-042" / "study_jpegls"
    pet_dir, seg_dir = base / "PT_1_PET_AC_081015", base / "SEG_100_PT_Segmentation_504365"
    res = cli("push", "--url", orthanc.dicomweb, str(pet_dir), str(seg_dir))
    assert res.exit_code == 0, res.stderr
    study_uid = str(
        pydicom.dcmread(next(seg_dir.iterdir()), stop_before_pixels=True).StudyInstanceUID
    )
    pulled = tmp_path / "pulled"
    res = cli("pull", "--url", orthanc.dicomweb, "--study", study_uid, "--out", str(pulled))
    assert res.exit_code == 0, res.stderr
    # stored transfer syntax and pixels kept (JPEG-LS lossless)
    one = next(pet_dir.iterdir())
    orig = pydicom.dcmread(one)
    copy = pydicom.dcmread(pulled / str(orig.SeriesInstanceUID) / f"{orig.SOPInstanceUID}.dcm")
    assert copy.file_meta.TransferSyntaxUID == orig.file_meta.TransferSyntaxUID
    assert copy.PixelData == orig.PixelData
    seg_file = next(
        (
            pulled
            / str(
                pydicom.dcmread(next(seg_dir.iterdir()), stop_before_pixels=True).SeriesInstanceUID
            )
        ).iterdir()
    )
    out = tmp_path / "m"
    address = f"dicomweb+{orthanc.dicomweb}/studies/{study_uid}"
    res = cli("measure", address, "--mask", str(seg_file), "--segment", "1", "--out", str(out))
    assert res.exit_code == 0, res.stderr
    row = pd.read_csv(out / "lesions.csv").iloc[0]
    assert abs(row["suv_max"] - 42.2) < 0.1 and abs(row["volume_ml"] - 183.0) < 1.0
