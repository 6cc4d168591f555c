"""WebDAV verbs: PROPFIND (depth 0/1 multistatus), MKCOL, DELETE."""

from __future__ import annotations

import os
from urllib.parse import quote
from xml.sax.saxutils import escape

from lake.core.errors import Conflict, FileNotFoundOnStorage, LakeError
from lake.core.scopes import StorageOp
from lake.endpoint.asgi import Request, http_date
from lake.endpoint.auth import STAT_OPS
from lake.endpoint.context import Context
from lake.endpoint.store import is_dir, require_existing
from lake.storage import localfs


class MethodNotAllowed(LakeError):
    """MKCOL on something that exists (RFC 4918 says 405)."""

    code, status = "AlreadyExists", 405


def _response_xml(href: str, info: os.stat_result) -> str:
    """One `<D:response>` with the properties grid clients read."""
    directory = is_dir(info)
    kind = "<D:collection/>" if directory else ""
    length = "" if directory else f"<D:getcontentlength>{info.st_size}</D:getcontentlength>"
    return (
        f"<D:response><D:href>{escape(href)}</D:href><D:propstat><D:prop>"
        f"<D:resourcetype>{kind}</D:resourcetype>{length}"
        f"<D:getlastmodified>{http_date(info.st_mtime).decode()}</D:getlastmodified>"
        "</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>"
    )


def _children(directory: str, url_path: str) -> list[str]:
    """`<D:response>`s for a directory's entries, internal files hidden."""
    base = url_path.rstrip("/")
    parts = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if localfs.is_internal(entry.name):
                continue
            try:
                info = entry.stat()
            except FileNotFoundError:
                continue
            href = f"{base}/{quote(entry.name, safe='')}" + ("/" if is_dir(info) else "")
            parts.append(_response_xml(href, info))
    return parts


async def propfind(ctx: Context, request: Request) -> None:
    """Depth 0 needs any storage scope (stat); a listing (depth 1, the default) needs storage.read."""
    listing = request.header("depth", "1") != "0"
    _claims, target = ctx.authorize(request, *((StorageOp.READ,) if listing else STAT_OPS))
    info = require_existing(target.fs_path)
    directory = is_dir(info)
    href = target.url_path + ("/" if directory and target.url_path != "/" else "")
    parts = [_response_xml(href, info)]
    if listing and directory:
        try:
            parts.extend(_children(str(target.fs_path), target.url_path))
        except OSError as exc:
            raise localfs.os_error(exc, target.url_path) from exc
    body = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">' + "".join(parts)
    body += "</D:multistatus>\n"
    headers = [(b"content-type", b'application/xml; charset="utf-8"')]
    await request.respond(207, body.encode(), headers)


async def mkcol(ctx: Context, request: Request) -> None:
    """Create one directory (RFC 4918: 409 if the parent is missing, 405 if something exists)."""
    _claims, target = ctx.authorize(request, StorageOp.CREATE, directory=True)
    try:
        os.mkdir(target.fs_path)
    except FileExistsError as exc:
        raise MethodNotAllowed("something already exists here") from exc
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise Conflict("the parent directory does not exist") from exc
    except OSError as exc:
        raise localfs.os_error(exc, target.url_path) from exc
    await request.respond(201)


async def delete(ctx: Context, request: Request) -> None:
    """Remove a file or an empty directory (storage.modify)."""
    _claims, target = ctx.authorize(request, StorageOp.MODIFY)
    if target.url_path == "/":
        raise Conflict("the root cannot be deleted")
    info = require_existing(target.fs_path)
    try:
        if is_dir(info):
            os.rmdir(target.fs_path)
        else:
            os.unlink(target.fs_path)
    except FileNotFoundError as exc:
        raise FileNotFoundOnStorage("no such file") from exc
    except OSError as exc:
        raise localfs.os_error(exc, target.url_path) from exc
    await request.respond(204)
