"""A real Orthanc (with its DICOMweb plugin) on 127.0.0.1 for the interop tests.

Started once per test session at free ports, with a temporary storage folder,
DICOM server disabled, remote access refused and HTTP basic authentication on
(user ``carpet``); stopped at the end. If the ``Orthanc`` binary or the plugin
is missing the tests FAIL with the install command (``.ci/run`` installs the
Debian packages ``orthanc`` and ``orthanc-dicomweb``): they never skip silently.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path

import pytest

PLUGIN_CANDIDATES = [
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),
    Path("/usr/lib/orthanc/libOrthancDicomWeb.so"),
]
USER, PASSWORD = "carpet", "interop-test-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Orthanc:
    http_port: int
    process: subprocess.Popen
    log: Path
    log_handle: object = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.root}/dicom-web"

    def get_json(self, path: str):
        req = urllib.request.Request(self.root + path)
        req.add_header(
            "Authorization", "Basic " + b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())


def start_orthanc(workdir: Path) -> Orthanc:
    binary = shutil.which("Orthanc")
    plugin = next((p for p in PLUGIN_CANDIDATES if p.exists()), None)
    if binary is None or plugin is None:
        pytest.fail(
            "Orthanc with its DICOMweb plugin is required for the interop end-to-end tests but "
            f"was not found (Orthanc binary: {binary}, plugin: {plugin}). Install it with "
            "`apt-get install -y orthanc orthanc-dicomweb` (.ci/run does this).",
            pytrace=False,
        )
    http_port, dicom_port = free_port(), free_port()
    cfg = {
        "Name": "carpet-interop-test",
        "StorageDirectory": str(workdir / "storage"),
        "IndexDirectory": str(workdir / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "HttpTimeout": 30,
        "HttpThreadsCount": 4,
        "ConcurrentJobs": 1,
        "SaveJobs": False,
        "Plugins": [str(plugin)],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": False,
            "StudiesMetadata": "Full",
        },
    }
    (workdir / "storage").mkdir(parents=True, exist_ok=True)
    conf = workdir / "orthanc.json"
    conf.write_text(json.dumps(cfg, indent=2))
    log = workdir / "orthanc.log"
    logf = open(log, "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([binary, str(conf)], stdout=logf, stderr=subprocess.STDOUT, cwd=workdir)
    server = Orthanc(http_port, proc, log, logf)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"Orthanc exited with status {proc.returncode}; log:\n{log.read_text()[-3000:]}",
                pytrace=False,
            )
        try:
            server.get_json("/system")
            server.get_json("/dicom-web/studies")
            return server
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    stop_orthanc(server)
    pytest.fail(
        f"Orthanc did not become ready within 60 s; log:\n{log.read_text()[-3000:]}", pytrace=False
    )


def stop_orthanc(server: Orthanc) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=10)
    if server.log_handle is not None:
        server.log_handle.close()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """A running Orthanc (session-wide); yields :class:`Orthanc`."""
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield server
    finally:
        stop_orthanc(server)


@pytest.fixture
def orthanc_auth(monkeypatch, tmp_path):
    """Credentials of the test Orthanc in the environment (never on a command line)."""
    monkeypatch.setenv("CARPET_DICOMWEB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("CARPET_DICOMWEB_TOKEN", raising=False)
    monkeypatch.setenv("CARPET_DICOMWEB_USER", USER)
    monkeypatch.setenv("CARPET_DICOMWEB_PASSWORD", PASSWORD)
