"""Static files (the style sheet, the scripts, vendored htmx), answered from memory.

They are few and small, and change only with a deploy: each is read once, with a gzip copy of
the text ones, and answered without touching the disk, a thread, the session or the database.
Pages name them by fingerprinted URLs (`asset("css/portal.css")` is
`/static/css/portal.<hash>.css`), which browsers and proxies may keep for a year: a deploy that
changes a file changes its name. A stale name (a page from before the deploy) still gets the
current file, only not for keeps.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from functools import cache

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from portal.core.config import STATIC_DIR

FINGERPRINTED = re.compile(r"^(?P<stem>.+)\.(?P<digest>[0-9a-f]{12})(?P<suffix>\.[A-Za-z0-9]+)$")
KEEP_FINGERPRINTED = "public, max-age=31536000, immutable"
KEEP_OTHERS = "public, max-age=0, must-revalidate"
COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
MIN_COMPRESSED_BYTES = 1024


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    gzipped: bytes | None  # None: not worth compressing
    media_type: str
    digest: str  # the fingerprint in its URL, and its ETag


def _read(path) -> StaticFile:
    body = path.read_bytes()
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    gzipped = None
    if media_type.startswith(COMPRESSIBLE) and len(body) >= MIN_COMPRESSED_BYTES:
        gzipped = gzip.compress(body, compresslevel=9, mtime=0)
    return StaticFile(
        body=body,
        gzipped=gzipped,
        media_type=media_type,
        digest=hashlib.sha256(body).hexdigest()[:12],
    )


@cache
def static_files() -> dict[str, StaticFile]:
    """Every file under static/, by its path there ("css/portal.css")."""
    return {
        path.relative_to(STATIC_DIR).as_posix(): _read(path)
        for path in sorted(STATIC_DIR.rglob("*"))
        if path.is_file()
    }


def asset_url(path: str) -> str:
    """The fingerprinted URL of static/`path`."""
    stem, dot, suffix = path.rpartition(".")
    return f"/static/{stem}.{static_files()[path].digest}{dot}{suffix}"


@get("/static/{path:path}", name="static", include_in_schema=False, sync_to_thread=False)
def static_file(request: Request, path: FromPath[str]) -> Response[bytes]:
    path = path.lstrip("/")
    files = static_files()
    file, keep = files.get(path), KEEP_OTHERS
    if file is None and (fingerprinted := FINGERPRINTED.match(path)):
        file = files.get(fingerprinted["stem"] + fingerprinted["suffix"])
        if file is not None and file.digest == fingerprinted["digest"]:
            keep = KEEP_FINGERPRINTED
    if file is None:
        raise NotFoundException()
    compressed = file.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "")
    # Each encoding is a representation of its own, with an ETag of its own.
    etag = f'"{file.digest}-gzip"' if compressed else f'"{file.digest}"'
    headers = {"cache-control": keep, "etag": etag, "vary": "accept-encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    if compressed:
        headers["content-encoding"] = "gzip"
    return Response(
        file.gzipped if compressed else file.body, media_type=file.media_type, headers=headers
    )
