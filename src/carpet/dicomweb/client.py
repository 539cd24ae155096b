"""DICOMweb client: QIDO-RS search, WADO-RS retrieve, STOW-RS store (over dicomweb-client).

Authentication never comes from the command line (it would land in shell
history and process lists). In order of precedence:

1. ``CARPET_DICOMWEB_TOKEN`` → ``Authorization: Bearer <token>``;
2. ``CARPET_DICOMWEB_USER`` + ``CARPET_DICOMWEB_PASSWORD`` → HTTP basic auth;
3. a TOML config file, ``$CARPET_DICOMWEB_CONFIG`` or
   ``~/.config/carpet/dicomweb.toml``, with one ``[[server]]`` table per server;
   the entry whose ``url`` is the longest prefix of the requested URL is used::

       [[server]]
       url = "https://pacs.example.org/dicom-web"
       token = "..."            # or: user = "...", password = "..."
       ca_bundle = "/etc/ssl/hospital-ca.pem"   # optional
       timeout_s = 60                          # optional
       max_attempts = 3                        # optional (default 2)

TLS certificates are verified by default (``ca_bundle`` adds a private CA;
``verify = false`` in the config file turns verification off for that server
only, with a warning). Every failure (connection refused, timeout, HTTP error,
a study that does not exist, instances the server refused) becomes a
:class:`~carpet.errors.RemoteError` with a stable code, and :func:`pull_study`
writes nothing unless the whole study arrived.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carpet._io import atomic_output_dir
from carpet.errors import CarpetWarning, ConfigError, InputError, RemoteError

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "DicomwebSettings",
    "PullResult",
    "connect",
    "fetch_study",
    "parse_study_address",
    "pull_study",
    "push_files",
    "resolve_settings",
    "search_studies",
]

logger = logging.getLogger(__name__)

#: Seconds to wait for a server's connection and for each response.
DEFAULT_TIMEOUT_S = 30.0

#: Attempts per request (dicomweb-client retries failed requests with exponential back-off,
#: 0.5 s × 2^attempt; its own default of 5 attempts makes a dead server take a minute to report).
DEFAULT_MAX_ATTEMPTS = 2

_ADDRESS = re.compile(r"^dicomweb\+(https?):/{1,2}(?P<rest>[^/].*?)/studies/(?P<uid>[0-9.]+)/?$")


@dataclass(frozen=True)
class DicomwebSettings:
    """Resolved connection settings of one server (secrets are never printed).

    Attributes
    ----------
    url : str
        DICOMweb root, e.g. ``http://127.0.0.1:8042/dicom-web``.
    token, user, password : str or None
        Credentials (bearer token, or basic auth).
    verify : bool or str
        TLS verification: True, False, or a CA-bundle path.
    timeout_s : float
        Connection and read timeout, s.
    max_attempts : int
        Attempts per request (retries with exponential back-off).
    source : str
        Where the credentials came from (``"env"``, the config path, ``"none"``).
    """

    url: str
    token: str | None = None
    user: str | None = None
    password: str | None = None
    verify: bool | str = True
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    source: str = "none"

    def __repr__(self) -> str:
        auth = "token" if self.token else "basic" if self.user else "none"
        return f"DicomwebSettings(url={self.url!r}, auth={auth}, verify={self.verify!r}, source={self.source!r})"


def parse_study_address(address: str) -> tuple[str, str] | None:
    """Split ``dicomweb+http(s)://host/root/studies/UID`` into (DICOMweb root URL, study UID).

    Returns ``None`` when ``address`` is not such an address (e.g. a folder).

    Examples
    --------
    >>> parse_study_address("dicomweb+http://127.0.0.1:8042/dicom-web/studies/1.2.3")
    ('http://127.0.0.1:8042/dicom-web', '1.2.3')
    >>> parse_study_address("/data/study") is None
    True
    """
    m = _ADDRESS.match(str(address).strip())
    if not m:
        return None
    return f"{m.group(1)}://{m.group('rest')}", m.group("uid")


def _config_path() -> Path:
    env = os.environ.get("CARPET_DICOMWEB_CONFIG")
    if env:
        return Path(env)
    return (
        Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
        / "carpet"
        / "dicomweb.toml"
    )


def resolve_settings(url: str, *, timeout_s: float | None = None) -> DicomwebSettings:
    """Settings for ``url`` from the environment and the config file (see module docstring).

    Parameters
    ----------
    url : str
        DICOMweb root URL (``http://`` or ``https://``).
    timeout_s : float, optional
        Overrides the configured timeout, s.

    Raises
    ------
    ConfigError
        Bad URL, unreadable config file, or incomplete credentials.
    """
    import tomllib

    if not re.match(r"^https?://[^/]+", url or ""):
        raise ConfigError(
            f"DICOMweb URL must start with http:// or https://; got {url!r}", code="BAD_URL"
        )
    url = url.rstrip("/")
    entry: dict[str, Any] = {}
    cfg = _config_path()
    if cfg.is_file():
        try:
            data = tomllib.loads(cfg.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"cannot read DICOMweb config {cfg}: {exc}", code="BAD_CONFIG"
            ) from exc
        servers = data.get("server", [])
        if not isinstance(servers, list):
            raise ConfigError(
                f"{cfg}: 'server' must be an array of tables ([[server]])", code="BAD_CONFIG"
            )
        allowed = {
            "url",
            "token",
            "user",
            "password",
            "verify",
            "ca_bundle",
            "timeout_s",
            "max_attempts",
        }
        best = -1
        for s in servers:
            unknown = set(s) - allowed
            if unknown:
                raise ConfigError(
                    f"{cfg}: unknown key(s) {sorted(unknown)} in a [[server]] table; allowed {sorted(allowed)}",
                    code="BAD_CONFIG",
                )
            su = str(s.get("url", "")).rstrip("/")
            if su and url.startswith(su) and len(su) > best:
                entry, best = dict(s), len(su)
        if (
            entry
            and os.name == "posix"
            and (cfg.stat().st_mode & 0o077)
            and ("token" in entry or "password" in entry)
        ):
            warnings.warn(
                f"DICOMweb config {cfg} holding credentials is readable by other users; chmod 600 it",
                CarpetWarning,
                stacklevel=2,
            )
    token = os.environ.get("CARPET_DICOMWEB_TOKEN") or None
    user = os.environ.get("CARPET_DICOMWEB_USER") or None
    password = os.environ.get("CARPET_DICOMWEB_PASSWORD")
    source = "env" if (token or user) else "none"
    if not token and not user and entry:
        token, user, password = entry.get("token"), entry.get("user"), entry.get("password")
        source = str(cfg) if (token or user) else "none"
    if user and password is None:
        raise ConfigError(
            "DICOMweb basic auth: a user is set but no password (set CARPET_DICOMWEB_PASSWORD or "
            "'password' in the config file)",
            code="INCOMPLETE_CREDENTIALS",
        )
    verify: bool | str = True
    if entry.get("ca_bundle"):
        verify = str(entry["ca_bundle"])
    if entry.get("verify") is False:
        verify = False
        warnings.warn(
            f"TLS verification is OFF for {url} (config {cfg})", CarpetWarning, stacklevel=2
        )
    t = float(timeout_s if timeout_s is not None else entry.get("timeout_s", DEFAULT_TIMEOUT_S))
    if not t > 0:
        raise ConfigError(f"DICOMweb timeout must be > 0 s; got {t}", code="BAD_TIMEOUT")
    attempts = entry.get("max_attempts", DEFAULT_MAX_ATTEMPTS)
    if not isinstance(attempts, int) or attempts < 1:
        raise ConfigError(
            f"{cfg}: max_attempts must be an integer >= 1; got {attempts!r}", code="BAD_CONFIG"
        )
    return DicomwebSettings(
        url=url,
        token=token,
        user=user,
        password=password,
        verify=verify,
        timeout_s=t,
        max_attempts=attempts,
        source=source,
    )


def connect(settings: DicomwebSettings) -> Any:
    """A ``dicomweb_client.DICOMwebClient`` for ``settings``."""
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    session.verify = settings.verify
    if settings.token:
        session.headers["Authorization"] = f"Bearer {settings.token}"
    elif settings.user:
        session.auth = (settings.user, settings.password or "")
    client = DICOMwebClient(
        settings.url, session=session, timeout=(settings.timeout_s, settings.timeout_s)
    )
    client.set_http_retry_params(
        retry=settings.max_attempts > 1,
        max_attempts=settings.max_attempts,
        wait_exponential_multiplier=500,
    )
    return client


def _remote(action: str, settings: DicomwebSettings, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and turn transport/HTTP failures into RemoteError."""
    import requests

    try:
        return fn()
    except requests.exceptions.Timeout as exc:
        raise RemoteError(
            f"{action}: {settings.url} did not answer within {settings.timeout_s:g} s "
            f"({settings.max_attempts} attempt(s)); check the server "
            "or raise the timeout (timeout_s in the config file)",
            code="REMOTE_TIMEOUT",
        ) from exc
    except requests.exceptions.SSLError as exc:
        raise RemoteError(
            f"{action}: TLS verification of {settings.url} failed ({exc.__class__.__name__}); add the "
            "hospital CA with ca_bundle in the config file",
            code="REMOTE_TLS",
        ) from exc
    except requests.exceptions.ConnectionError as exc:
        raise RemoteError(
            f"{action}: cannot connect to {settings.url} (server stopped or unreachable, "
            f"{settings.max_attempts} attempt(s)); check the URL "
            "and that the server is running",
            code="REMOTE_UNREACHABLE",
        ) from exc
    except requests.exceptions.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        hint = {
            401: "authentication required or refused: set CARPET_DICOMWEB_TOKEN or CARPET_DICOMWEB_USER/PASSWORD",
            403: "access forbidden for these credentials",
            404: "not found: check the DICOMweb root URL and the UIDs",
        }.get(
            status,
            "server error; see the server's log"
            if isinstance(status, int) and status >= 500
            else "",
        )
        raise RemoteError(
            f"{action}: {settings.url} answered HTTP {status}" + (f" ({hint})" if hint else ""),
            code=f"REMOTE_HTTP_{status}",
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise RemoteError(
            f"{action}: request to {settings.url} failed: {exc}", code="REMOTE_ERROR"
        ) from exc


def _uid(item: dict, tag: str) -> str:
    return str(item[tag]["Value"][0])


def search_studies(settings: DicomwebSettings, **filters: str) -> list[dict[str, str]]:
    """QIDO-RS study search; returns StudyInstanceUID, StudyDate and ModalitiesInStudy per study."""
    client = connect(settings)
    found = _remote(
        "QIDO-RS study search",
        settings,
        lambda: client.search_for_studies(search_filters=filters or None),
    )
    out = []
    for item in found:
        out.append(
            {
                "StudyInstanceUID": _uid(item, "0020000D"),
                "StudyDate": str(item.get("00080020", {}).get("Value", [""])[0]),
                "ModalitiesInStudy": "\\".join(item.get("00080061", {}).get("Value", [])),
            }
        )
    return out


@dataclass(frozen=True)
class PullResult:
    """What :func:`pull_study` wrote: the folder, the files, and instance counts per series UID."""

    out_dir: Path
    files: list[Path]
    series: dict[str, int]


def pull_study(
    settings: DicomwebSettings,
    study_uid: str,
    out_dir: str | os.PathLike[str],
    *,
    modalities: Sequence[str] | None = None,
) -> PullResult:
    """Download a study (QIDO-RS to list its series, WADO-RS to retrieve them).

    Files are written as ``out_dir/<SeriesInstanceUID>/<SOPInstanceUID>.dcm``
    in their stored transfer syntax. Nothing appears in ``out_dir`` unless every
    series arrived (atomic folder).

    Parameters
    ----------
    settings : DicomwebSettings
        Server and credentials (:func:`resolve_settings`).
    study_uid : str
        StudyInstanceUID.
    out_dir : path
        Destination folder.
    modalities : sequence of str, optional
        Only series of these modalities (e.g. ``["PT", "CT"]``).

    Raises
    ------
    RemoteError
        Unknown study (``STUDY_NOT_FOUND``), transport or HTTP failure.
    """
    client = connect(settings)
    series = _remote(
        f"QIDO-RS series search of study {study_uid}",
        settings,
        lambda: client.search_for_series(study_instance_uid=study_uid),
    )
    if not series:
        raise RemoteError(
            f"study {study_uid} not found on {settings.url} (QIDO-RS returned no series)",
            code="STUDY_NOT_FOUND",
        )
    wanted = {m.upper() for m in modalities} if modalities else None
    counts: dict[str, int] = {}
    files: list[Path] = []
    out = Path(out_dir)
    with atomic_output_dir(out) as tmp:
        for item in series:
            series_uid = _uid(item, "0020000E")
            modality = str(item.get("00080060", {}).get("Value", [""])[0])
            if wanted is not None and modality.upper() not in wanted:
                continue
            folder = tmp / series_uid
            folder.mkdir(parents=True, exist_ok=True)

            def _save_all(s: str = series_uid, folder: Path = folder) -> list[Path]:
                # Streamed: one instance in memory at a time (whole-body CT series are large).
                names = []
                for ds in client.iter_series(study_uid, s, media_types=(("application/dicom", "*"),)):
                    name = f"{ds.SOPInstanceUID}.dcm"
                    ds.save_as(folder / name, enforce_file_format=True)
                    names.append(out / s / name)
                return names

            saved = _remote(f"WADO-RS retrieve of series {series_uid}", settings, _save_all)
            files.extend(saved)
            counts[series_uid] = len(saved)
            logger.info("pulled series %s (%s): %d instances", series_uid, modality, len(saved))
        if not counts:
            raise RemoteError(
                f"study {study_uid} on {settings.url} has no series of modality {sorted(wanted or [])}",
                code="STUDY_NOT_FOUND",
            )
    return PullResult(out_dir=out, files=sorted(files), series=counts)


def push_files(
    settings: DicomwebSettings, files: Sequence[str | os.PathLike[str]], *, batch_size: int = 50
) -> dict[str, int]:
    """Store DICOM files on the server (STOW-RS), grouped by study.

    Parameters
    ----------
    settings : DicomwebSettings
        Server and credentials.
    files : sequence of path
        Part-10 files (folders are searched recursively).
    batch_size : int
        Instances per STOW-RS request.

    Returns
    -------
    dict
        ``{"stored": n, "studies": m}``.

    Raises
    ------
    InputError
        A file is missing or not DICOM (checked before anything is sent).
    RemoteError
        Transport/HTTP failure, or instances the server refused (listed).
    """
    import pydicom

    paths: list[Path] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            paths.extend(q for q in sorted(p.rglob("*")) if q.is_file())
        elif p.is_file():
            paths.append(p)
        else:
            raise InputError(f"push: {p} does not exist", code="FILE_NOT_FOUND")
    if not paths:
        raise InputError("push: no file to send", code="FILE_NOT_FOUND")
    by_study: dict[str, list[Path]] = {}
    for p in paths:  # check every header first: a bad file stops the push before any request
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except (OSError, pydicom.errors.InvalidDicomError) as exc:
            raise InputError(f"push: {p} is not a DICOM file ({exc})", code="NOT_DICOM") from exc
        if "StudyInstanceUID" not in ds or "SOPInstanceUID" not in ds:
            raise InputError(f"push: {p} lacks StudyInstanceUID/SOPInstanceUID", code="NOT_DICOM")
        by_study.setdefault(str(ds.StudyInstanceUID), []).append(p)
    client = connect(settings)
    stored = 0
    for study_uid, study_paths in by_study.items():
        for start in range(0, len(study_paths), batch_size):
            batch = [pydicom.dcmread(q) for q in study_paths[start : start + batch_size]]  # one batch in memory
            resp = _remote(
                f"STOW-RS store into study {study_uid}",
                settings,
                lambda b=batch, s=study_uid: client.store_instances(b, study_instance_uid=s),
            )
            failed = list(resp.get("FailedSOPSequence", [])) if resp is not None else []
            if failed:
                uids = [str(f.get("ReferencedSOPInstanceUID", "?")) for f in failed]
                raise RemoteError(
                    f"STOW-RS: {settings.url} refused {len(failed)} of {len(batch)} instances "
                    f"(first: {uids[:3]}); {stored} instances were stored before",
                    code="STOW_REFUSED",
                )
            stored += len(batch)
    return {"stored": stored, "studies": len(by_study)}


@contextlib.contextmanager
def fetch_study(
    address: str, *, modalities: Sequence[str] | None = ("PT", "CT", "SEG", "RTSTRUCT")
) -> Iterator[Path]:
    """Yield a local folder for ``address``: a DICOMweb study address is pulled into a temporary folder.

    This is the hook ``carpet analyze`` / ``carpet measure`` call so that every
    command accepting a study folder also accepts
    ``dicomweb+http(s)://host/root/studies/UID``. A plain path is yielded
    unchanged. The temporary folder is removed on exit.

    Examples
    --------
    >>> with fetch_study("/some/folder") as p:
    ...     str(p)
    '/some/folder'
    """
    parsed = parse_study_address(address)
    if parsed is None:
        yield Path(address)
        return
    url, uid = parsed
    settings = resolve_settings(url)
    with tempfile.TemporaryDirectory(prefix="carpet-dicomweb-") as tmp:
        res = pull_study(settings, uid, Path(tmp) / "study", modalities=modalities)
        yield res.out_dir
