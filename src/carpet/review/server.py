"""The local review web server (standard library ``ThreadingHTTPServer``).

Security model (the page shows patient data; see ``docs`` of ``carpet review``):

* binds ``127.0.0.1`` on a free port unless another host is asked for;
* a random token (32 bytes, URL-safe base64) is required on every request: in the
  start URL ``/?token=T`` once (answered by a redirect to ``/`` that sets an
  ``HttpOnly; SameSite=Strict`` cookie, so the token leaves the address bar), in
  that cookie afterwards, or as ``Authorization: Bearer T`` for scripts.
  No token: 401; a wrong one: 403;
* every POST also needs ``X-CSRF-Token`` equal to the ``csrf_token`` of
  ``GET /api/summary`` (403 otherwise), a same-origin ``Origin`` when one is sent,
  and a JSON body of at most :data:`MAX_BODY_BYTES`;
* the ``Host`` header must be ``127.0.0.1:PORT`` or ``localhost:PORT`` (or the
  ``--host`` given), which defeats DNS rebinding;
* every answer carries a Content-Security-Policy that allows only the page's own
  origin, ``no-store`` caching and ``Referrer-Policy: no-referrer``;
* no patient name or id appears in URLs or titles (the page title is fixed).

The server knows nothing about lesions: it forwards to a *backend* (normally a
:class:`carpet.review.session.ReviewSession`) with the methods ``summary()``,
``lesions()``, ``apply(actions)``, ``undo()``, ``redo()``, ``save()``,
``mip_png()``, ``mip_info()``, ``pick(column, row)``, ``probe(point_mm)``,
``volume_nifti(name)`` and the attribute ``dirty``.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import secrets
import threading
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from carpet.errors import CarpetError

__all__ = [
    "COOKIE_NAME",
    "CSP",
    "LOOPBACK_HOSTS",
    "MAX_BODY_BYTES",
    "STATIC_DIR",
    "ReviewServer",
]

logger = logging.getLogger(__name__)

#: Folder of the page's files (index.html, app.js, app.css, vendor/niivue.umd.js).
STATIC_DIR = Path(__file__).with_name("static")
#: Name of the session cookie.
COOKIE_NAME = "carpet_review"
#: Largest accepted request body, bytes.
MAX_BODY_BYTES = 1 << 20
#: Hosts that count as "this machine only".
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
#: Content-Security-Policy of every answer: own origin only (NiiVue draws with
#: WebGL into a canvas and builds its fonts from data: URLs).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self' blob:; font-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class _HttpError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ReviewServer:
    """A running (or ready) review server around a backend.

    Parameters
    ----------
    backend : object
        The review state (see module docstring).
    host : str
        Address to bind; ``"127.0.0.1"`` by default. Anything else exposes patient
        data to the network and is the caller's responsibility to warn about.
    port : int
        TCP port; 0 picks a free one.
    token : str or None
        Access token; a fresh ``secrets.token_urlsafe(32)`` when None.

    Examples
    --------
    >>> class Empty:
    ...     dirty = False
    >>> srv = ReviewServer(Empty())
    >>> srv.url.startswith(f"http://127.0.0.1:{srv.port}/?token=")
    True
    >>> len(srv.token) >= 43  # 32 random bytes
    True
    >>> srv.close()
    """

    def __init__(
        self, backend: Any, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        self.backend = backend
        self.host = host
        self.token = token or secrets.token_urlsafe(32)
        self.csrf_token = secrets.token_urlsafe(32)
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.daemon_threads = False  # server_close() waits for requests in flight (a save)
        self.httpd.block_on_close = True
        self.httpd.review = self  # type: ignore[attr-defined]
        self.port = int(self.httpd.server_address[1])
        names = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        if host not in LOOPBACK_HOSTS and host not in ("", "0.0.0.0", "::"):
            names.add(f"{host}:{self.port}")
        self.allowed_hosts = frozenset(names)
        self._static = {
            "/static/" + p.relative_to(STATIC_DIR).as_posix(): p
            for p in STATIC_DIR.rglob("*")
            if p.is_file()
        }
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The start URL with the token (the one line ``carpet review`` prints)."""
        shown = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{shown}:{self.port}/?token={self.token}"

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` is called (from another thread)."""
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> ReviewServer:
        """Serve in a background thread; returns self (for tests and scripts)."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="carpet-review", daemon=True
        )
        self._thread.start()
        return self

    def shutdown(self) -> None:
        """Stop serving, wait for requests in flight (e.g. a save) and close the socket."""
        self.httpd.shutdown()
        self.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def close(self) -> None:
        """Close the listening socket."""
        self.httpd.server_close()

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ checks
    def check_token(self, candidate: str | None) -> bool:
        """Constant-time comparison with the access token."""
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def check_csrf(self, candidate: str | None) -> bool:
        """Constant-time comparison with the CSRF token."""
        return candidate is not None and hmac.compare_digest(
            candidate.encode(), self.csrf_token.encode()
        )


class _Handler(BaseHTTPRequestHandler):
    server_version = "carpet-review"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    # never print request lines: the first one carries the token
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), self.command)

    @property
    def review(self) -> ReviewServer:
        return self.server.review  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ plumbing
    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        body = json.dumps(obj, allow_nan=False).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _error(self, err: _HttpError) -> None:
        self._json(err.status, {"error": {"code": err.code, "message": err.message}})

    def _check_host(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.review.allowed_hosts:
            raise _HttpError(
                HTTPStatus.FORBIDDEN,
                "BAD_HOST",
                f"Host header {host!r} is not allowed; use {sorted(self.review.allowed_hosts)} "
                "(requests through other host names are refused to prevent DNS rebinding)",
            )

    def _presented_token(self) -> str | None:
        auth = self.headers.get("Authorization")
        if auth:
            scheme, _, value = auth.partition(" ")
            if scheme.lower() == "bearer":
                return value.strip()
        raw = self.headers.get("Cookie")
        if raw:
            try:
                jar = SimpleCookie(raw)
            except CookieError:
                return None
            if COOKIE_NAME in jar:
                return jar[COOKIE_NAME].value
        return None

    def _check_auth(self) -> None:
        token = self._presented_token()
        if token is None:
            raise _HttpError(
                HTTPStatus.UNAUTHORIZED,
                "NO_TOKEN",
                "access token required: open the URL that `carpet review` printed, or send "
                "'Authorization: Bearer TOKEN'",
            )
        if not self.review.check_token(token):
            raise _HttpError(HTTPStatus.FORBIDDEN, "BAD_TOKEN", "access token is wrong")

    def _check_post(self) -> None:
        origin = self.headers.get("Origin")
        if (
            origin is not None
            and origin.lower() != f"http://{self.headers.get('Host', '').lower()}"
        ):
            raise _HttpError(
                HTTPStatus.FORBIDDEN, "BAD_ORIGIN", f"cross-origin request from {origin!r} refused"
            )
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            raise _HttpError(
                HTTPStatus.FORBIDDEN, "BAD_ORIGIN", f"cross-site request ({site}) refused"
            )
        if not self.review.check_csrf(self.headers.get("X-CSRF-Token")):
            raise _HttpError(
                HTTPStatus.FORBIDDEN,
                "BAD_CSRF",
                "header X-CSRF-Token missing or wrong: send the csrf_token of GET /api/summary",
            )

    def _read_json(self) -> Any:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _HttpError(
                HTTPStatus.BAD_REQUEST, "BAD_REQUEST", "Content-Length is not a number"
            ) from None
        if length > MAX_BODY_BYTES:
            raise _HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "BODY_TOO_LARGE",
                f"request body of {length} bytes exceeds {MAX_BODY_BYTES}",
            )
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _HttpError(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "BAD_CONTENT_TYPE",
                f"Content-Type must be application/json; got {ctype or 'none'!r}",
            )
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise _HttpError(
                HTTPStatus.BAD_REQUEST, "BAD_JSON", f"request body is not valid JSON: {exc}"
            ) from None

    # ------------------------------------------------------------------ verbs
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._refuse_method()

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT  # noqa: N815

    def _refuse_method(self) -> None:
        self.close_connection = True
        self._error(
            _HttpError(
                HTTPStatus.METHOD_NOT_ALLOWED, "BAD_METHOD", f"{self.command} is not supported"
            )
        )

    def _dispatch(self, verb: str) -> None:
        try:
            self._check_host()
            parts = urlsplit(self.path)
            if verb == "GET" and parts.path == "/" and "token" in parse_qs(parts.query):
                return self._exchange_url_token(parse_qs(parts.query)["token"][0])
            self._check_auth()
            if verb == "POST":
                self._check_post()
                return self._post(parts.path, self._read_json())
            return self._get(parts.path, parse_qs(parts.query))
        except _HttpError as err:
            if verb == "POST":
                # drain an unread body so the connection stays in sync
                self.close_connection = True
            self._error(err)
        except CarpetError as exc:
            self._error(_HttpError(HTTPStatus.BAD_REQUEST, exc.code, str(exc)))
        except ConnectionError:  # the browser went away (page closed, reload)
            self.close_connection = True
        except Exception as exc:
            logger.exception("review server: internal error on %s", urlsplit(self.path).path)
            self.close_connection = True
            self._error(
                _HttpError(HTTPStatus.INTERNAL_SERVER_ERROR, "INTERNAL", f"internal error: {exc}")
            )

    def _exchange_url_token(self, token: str) -> None:
        if not self.review.check_token(token):
            raise _HttpError(HTTPStatus.FORBIDDEN, "BAD_TOKEN", "access token is wrong")
        cookie = f"{COOKIE_NAME}={self.review.token}; HttpOnly; SameSite=Strict; Path=/"
        self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})

    def _get(self, path: str, query: dict[str, list[str]]) -> None:
        backend = self.review.backend
        compare = getattr(backend, "mode", "") == "compare"
        if path in ("/", "/index.html"):
            return self._static_file(STATIC_DIR / ("compare.html" if compare else "index.html"))
        if compare and path == "/api/compare":
            return self._json(HTTPStatus.OK, backend.compare())
        if compare and path.startswith("/api/compare/") and path.endswith("/mip.png"):
            name = path[len("/api/compare/") : -len("/mip.png")]
            return self._send(HTTPStatus.OK, backend.compare_mip_png(name), "image/png")
        if compare and path.startswith("/api/"):
            raise _HttpError(
                HTTPStatus.NOT_FOUND,
                "NOT_FOUND",
                f"{path} is not available in the side-by-side view",
            )
        if path in self.review._static:
            return self._static_file(self.review._static[path])
        if path == "/api/summary":
            return self._json(
                HTTPStatus.OK, {"csrf_token": self.review.csrf_token, **backend.summary()}
            )
        if path == "/api/lesions":
            return self._json(HTTPStatus.OK, backend.lesions())
        if path == "/api/mip.png":
            return self._send(HTTPStatus.OK, backend.mip_png(), "image/png")
        if path == "/api/mip":
            return self._json(HTTPStatus.OK, backend.mip_info())
        if path == "/api/pick":
            col, row = _int_param(query, "column"), _int_param(query, "row")
            return self._json(HTTPStatus.OK, backend.pick(col, row))
        if path == "/api/probe":
            return self._json(HTTPStatus.OK, backend.probe(_point_param(query, "point_mm")))
        if path.startswith("/api/volume/"):
            name = path.rsplit("/", 1)[1]
            return self._send(HTTPStatus.OK, backend.volume_nifti(name), "application/octet-stream")
        raise _HttpError(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no such resource: {path}")

    def _post(self, path: str, body: Any) -> None:
        backend = self.review.backend
        if getattr(backend, "mode", "") == "compare":
            raise _HttpError(
                HTTPStatus.NOT_FOUND, "NOT_FOUND", "the side-by-side view is read-only"
            )
        if path == "/api/edits":
            if isinstance(body, dict) and "actions" in body:
                body = body["actions"]
            if isinstance(body, dict):
                body = [body]
            if not isinstance(body, list) or not body:
                raise _HttpError(
                    HTTPStatus.BAD_REQUEST,
                    "BAD_ACTIONS",
                    'POST /api/edits needs a non-empty JSON list of actions, e.g. [{"action": "remove", "lesion_id": 3}]',
                )
            return self._json(HTTPStatus.OK, backend.apply(body))
        if path == "/api/undo":
            return self._json(HTTPStatus.OK, backend.undo())
        if path == "/api/redo":
            return self._json(HTTPStatus.OK, backend.redo())
        if path == "/api/save":
            return self._json(HTTPStatus.OK, backend.save())
        raise _HttpError(HTTPStatus.NOT_FOUND, "NOT_FOUND", f"no such resource: POST {path}")

    def _static_file(self, path: Path) -> None:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            ctype = "text/javascript"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        self._send(HTTPStatus.OK, path.read_bytes(), ctype)


def _int_param(query: dict[str, list[str]], name: str) -> int:
    try:
        return int(query[name][0])
    except (KeyError, IndexError, ValueError):
        raise _HttpError(
            HTTPStatus.BAD_REQUEST, "BAD_PARAMETER", f"query parameter {name!r} must be an integer"
        ) from None


def _point_param(query: dict[str, list[str]], name: str) -> list[float]:
    try:
        values = [float(v) for v in query[name][0].split(",")]
    except (KeyError, IndexError, ValueError):
        values = []
    if len(values) != 3:
        raise _HttpError(
            HTTPStatus.BAD_REQUEST,
            "BAD_PARAMETER",
            f"query parameter {name!r} must be 'x,y,z' in LPS mm",
        )
    return values
