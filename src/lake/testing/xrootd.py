"""Real XRootD daemons (Debian's 5.5.3) on free loopback ports, for tests against grid storage.

`running_xrootd(workdir)` starts one `xrootd` serving root:// and XrdHttp (http and https on one port) with
root and HTTP third-party copy and server-side adler32/md5; with `token_issuer` it only lets requests
through that carry a token from that issuer (the SciTokens authz plugin reads the `authz` CGI, which
root:// clients append as `?authz=Bearer%20<token>` and XrdHttp fills from the Authorization header); with
`cache_origin` it is an XCache in front of another server (grid-stack.md §3, §4, §6).

The daemon's files live in a fresh directory under the system temp dir, owned by user `xrootd` when we
are root (the daemon refuses to run as root, and pytest's own temp dirs are private to root); `workdir`
gets a symlink to it while the server runs and a copy of the config and log afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lake.server.pki import ensure_pki
from lake.testing.net import accepts, free_ports

XROOTD_USER = "xrootd"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
FAR_FUTURE = 4102444800  # 2100-01-01: the pre-seeded keys never need refreshing during a test


def xrootd_available() -> bool:
    """Whether the `xrootd` daemon and the XRootD Python bindings are installed."""
    return shutil.which("xrootd") is not None and importlib.util.find_spec("XRootD") is not None


@dataclass(frozen=True)
class TrustedIssuer:
    """A token issuer the server trusts, with its keys given up front (no discovery over https)."""

    issuer: str  # must be https:// (scitokens-cpp refuses others)
    jwks: dict[str, Any]
    base_path: str = "/"
    audiences: Sequence[str] = field(default_factory=tuple)  # empty: the server's own root://, https://, http://


@dataclass(frozen=True)
class XRootDServer:
    """A running daemon: where it listens and where its files are."""

    name: str
    root_url: str
    http_url: str
    https_url: str
    data_dir: Path
    log: Path
    pid: int
    ca_cert: Path


@dataclass(frozen=True)
class _Layout:
    """The files of one daemon under its private directory."""

    home: Path

    @property
    def cfg(self) -> Path:
        return self.home / "xrootd.cfg"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def pki(self) -> Path:
        return self.home / "pki"

    @property
    def certdir(self) -> Path:
        return self.home / "pki" / "certdir"

    @property
    def scitokens_cfg(self) -> Path:
        return self.home / "scitokens.cfg"


def _server_config(lay: _Layout, root_port: int, http_port: int) -> list[str]:
    """Directives every flavour shares: ports, TLS for XrdHttp, paths."""
    return [
        "all.export / writable",
        f"all.adminpath {lay.run}",
        f"all.pidpath {lay.run}",
        f"oss.localroot {lay.data}",
        f"xrd.port {root_port}",
        "xrd.network nodnr",
        f"xrd.tls {lay.pki / 'host.pem'} {lay.pki / 'host.key'}",
        f"xrd.tlsca certdir {lay.certdir}",
        f"xrd.protocol XrdHttp:{http_port} libXrdHttp.so",
        "http.listingdeny false",
        "http.desthttps false",
        "http.header2cgi Authorization authz",
        "xrootd.trace emsg",
    ]


def _data_server_config(lay: _Layout, issuer: TrustedIssuer | None) -> list[str]:
    lines = [
        "all.role server",
        "xrootd.chksum max 4 adler32 md5",
        "ofs.tpc ttl 60 600 xfr 8 pgm /usr/bin/xrdcp --server",
        "http.exthandler xrdtpc libXrdHttpTPC.so",
    ]
    if issuer is not None:
        lines += ["ofs.authorize 1", f"ofs.authlib libXrdAccSciTokens.so config={lay.scitokens_cfg}"]
    return lines


def _cache_config(lay: _Layout, origin: XRootDServer) -> list[str]:
    host_port = origin.root_url.removeprefix("root://")
    return [
        "ofs.osslib libXrdPss.so",
        f"pss.origin {host_port}",
        "pss.cachelib libXrdPfc.so",
        "pfc.ram 1g",  # the minimum XrdPfc accepts; a limit, not an allocation
        "pfc.blocksize 1M",
        "pfc.diskusage 0.90 0.95",
    ]


def _scitokens_config(issuer: TrustedIssuer) -> str:
    audiences = ", ".join(issuer.audiences)
    return (
        f"[Global]\naudience = {audiences}\nonmissing = deny\n\n"
        f"[Issuer lake]\nissuer = {issuer.issuer}\nbase_path = {issuer.base_path}\nmap_subject = false\n"
    )


def _seed_key_cache(cache_home: Path, issuer: TrustedIssuer) -> None:
    """Put the issuer's JWKS where scitokens-cpp 0.7.3 looks first, so it never fetches them (tokens.md §6.2)."""
    directory = cache_home / "scitokens"
    directory.mkdir(parents=True, exist_ok=True)
    keys = json.dumps({"jwks": issuer.jwks, "next_update": FAR_FUTURE, "expires": FAR_FUTURE})
    with sqlite3.connect(directory / "scitokens_cpp.sqllite") as db:
        db.execute("CREATE TABLE IF NOT EXISTS keycache (issuer text UNIQUE PRIMARY KEY NOT NULL, keys text NOT NULL)")
        db.execute("INSERT OR REPLACE INTO keycache (issuer, keys) VALUES (?, ?)", (issuer.issuer, keys))
    db.close()


def _prepare(lay: _Layout, ports: tuple[int, int], issuer: TrustedIssuer | None, origin: XRootDServer | None) -> None:
    """Directories, PKI (with a hashed CA dir), token config and the config file."""
    for directory in (lay.data, lay.run, lay.cache, lay.certdir):
        directory.mkdir(parents=True, exist_ok=True)
    tls = ensure_pki(lay.pki)
    shutil.copy(tls.ca_cert, lay.certdir / "ca.pem")
    subprocess.run(["openssl", "rehash", str(lay.certdir)], check=True, capture_output=True)
    lines = _server_config(lay, *ports)
    lines += _cache_config(lay, origin) if origin is not None else _data_server_config(lay, issuer)
    if issuer is not None:
        if not issuer.audiences:  # default: the server's own URLs, known only once the ports are
            root, http = ports
            own = (f"root://127.0.0.1:{root}", f"https://localhost:{http}", f"http://127.0.0.1:{http}")
            issuer = replace(issuer, audiences=own)
        lay.scitokens_cfg.write_text(_scitokens_config(issuer))
        _seed_key_cache(lay.cache, issuer)
    lay.cfg.write_text("\n".join(lines) + "\n")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{XROOTD_USER}:{XROOTD_USER}", str(lay.home)], check=True)


def _launch(lay: _Layout, name: str, ports: tuple[int, int]) -> subprocess.Popen[bytes] | None:
    """Start the daemon; None when it died before both ports answered (e.g. a port was taken meanwhile)."""
    command = ["xrootd", "-c", str(lay.cfg), "-n", name, "-l", str(lay.home / "xrootd.log")]
    if os.geteuid() == 0:
        command[1:1] = ["-R", XROOTD_USER]
    env = dict(os.environ, XDG_CACHE_HOME=str(lay.cache), X509_CERT_DIR=str(lay.certdir))
    process = subprocess.Popen(
        command, env=env, cwd=lay.home, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        if all(accepts(port) for port in ports):
            return process
        time.sleep(0.05)
    _stop(process)
    return None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a grace period; always reaps the process."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _log_file(lay: _Layout, name: str) -> Path:
    """xrootd puts the log given with `-l dir/x.log` under `dir/<name>/x.log` when `-n` is given."""
    return lay.home / name / "xrootd.log"


def _keep_for_inspection(lay: _Layout, name: str, workdir: Path) -> None:
    link = workdir / name
    if link.is_symlink():
        link.unlink()
    keep = workdir / f"{name}-files"
    keep.mkdir(parents=True, exist_ok=True)
    for path in (lay.cfg, _log_file(lay, name), lay.scitokens_cfg):
        if path.is_file():
            shutil.copy(path, keep / path.name)


@contextmanager
def running_xrootd(
    workdir: Path,
    name: str = "xrd",
    *,
    token_issuer: TrustedIssuer | None = None,
    cache_origin: XRootDServer | None = None,
) -> Iterator[XRootDServer]:
    """Run one xrootd until the block ends, then stop it by PID (SIGTERM, then SIGKILL) and remove its files."""
    workdir.mkdir(parents=True, exist_ok=True)
    lay = _Layout(Path(tempfile.mkdtemp(prefix=f"lake-xrootd-{name}-")))
    process = None
    try:
        for _ in range(3):
            ports = (free_ports(1)[0], free_ports(1)[0])
            if ports[0] == ports[1]:
                continue
            _prepare(lay, ports, token_issuer, cache_origin)
            process = _launch(lay, name, ports)
            if process is not None:
                break
        if process is None:
            raise RuntimeError(f"xrootd {name} did not start; see {workdir / (name + '-files')}")
        (workdir / name).unlink(missing_ok=True)
        (workdir / name).symlink_to(lay.home)
        yield XRootDServer(
            name=name,
            root_url=f"root://127.0.0.1:{ports[0]}",
            http_url=f"http://127.0.0.1:{ports[1]}",
            https_url=f"https://localhost:{ports[1]}",
            data_dir=lay.data,
            log=_log_file(lay, name),
            pid=process.pid,
            ca_cert=lay.pki / "ca.pem",
        )
    finally:
        if process is not None:
            _stop(process)
        _keep_for_inspection(lay, name, workdir)
        shutil.rmtree(lay.home, ignore_errors=True)
