"""A real `lake up` in a subprocess on free loopback ports, its database, and its memory (VmRSS) over time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lake.testing.server import free_ports

REPO = Path(__file__).resolve().parent.parent
LAKE = Path(sys.executable).parent / "lake"
ROOT_PASSWORD = "bench-root-password"
USER = "alice"
USER_PASSWORD = "bench-alice-password"
SCOPE = "user.alice"
ENDPOINTS = 2


def rss_kib(pid: int) -> int:
    """Resident set size of a process in KiB, from /proc/<pid>/status (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class MemoryPhase:
    """Server RSS during one phase: before it started, its peak and at its end (KiB)."""

    baseline: int
    peak: int = 0
    end: int = 0

    @property
    def growth(self) -> int:
        return max(0, self.peak - self.baseline)


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread while a `with` block runs."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.phase = MemoryPhase(baseline=rss_kib(pid))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.phase.peak = max(self.phase.peak, rss_kib(self.pid))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemoryPhase:
        self.phase.peak = self.phase.baseline
        self._thread.start()
        return self.phase

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.phase.end = rss_kib(self.pid)
        self.phase.peak = max(self.phase.peak, self.phase.end)


@dataclass
class LakeProcess:
    """A running `lake up`: its PID, URLs, the RSE names of its endpoints and a logged-in API client."""

    process: subprocess.Popen[bytes]
    url: str
    endpoint_urls: list[str]
    data_dir: Path
    token: str = ""
    rses: list[str] = field(default_factory=lambda: ["CERN-DISK", "DESY-DISK"])

    @property
    def pid(self) -> int:
        return self.process.pid

    def api(self, timeout: float = 600.0) -> httpx.Client:
        """A keep-alive client for the API with the user's bearer token."""
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def _environment(data_dir: Path, database_url: str | None, ports: list[int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKE_")}
    env.update(
        LAKE_DATA_DIR=str(data_dir), LAKE_HOST="127.0.0.1", LAKE_PORT=str(ports[0]),
        LAKE_ENDPOINT_BASE_PORT=str(ports[1]), LAKE_ENDPOINT_COUNT=str(ENDPOINTS),
        LAKE_ROOT_PASSWORD=ROOT_PASSWORD, LAKE_USER_PASSWORD=USER_PASSWORD,
        LAKE_ENDPOINT_TLS="false",  # the https twins (+100) would use ports free_ports did not check
    )  # fmt: skip
    if database_url:
        env["LAKE_DATABASE_URL"] = database_url
    return env


def _wait_ready(proc: subprocess.Popen[bytes], urls: list[str], log: Path, timeout: float = 60.0) -> None:
    """Until the API answers /v1/ping and every endpoint accepts connections."""
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"`lake up` did not start; its log:\n{log.read_text()[-4000:]}")
        try:
            httpx.get(pending[0] + ("/v1/ping" if pending[0] == urls[0] else "/"), timeout=1.0)
            pending.pop(0)
        except httpx.TransportError:
            time.sleep(0.1)


def login(url: str, username: str, password: str) -> str:
    response = httpx.post(f"{url}/v1/auth/token", json={"username": username, "password": password}, timeout=30)
    response.raise_for_status()
    return str(response.json()["access_token"])


@contextlib.contextmanager
def lake_up(workdir: Path, database_url: str | None = None) -> Iterator[LakeProcess]:
    """Start `lake up` with a fresh data dir under `workdir`; SIGTERM (then SIGKILL) it at the end."""
    data_dir = workdir / "lake-data"
    ports = free_ports(ENDPOINTS + 2)  # API, endpoints, the cache (endpoint base + count)
    log = workdir / "lake-up.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(LAKE), "up"], cwd=workdir, env=_environment(data_dir, database_url, ports),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{ports[0]}"
        endpoints = [f"http://127.0.0.1:{port}" for port in ports[1 : 1 + ENDPOINTS]]
        _wait_ready(proc, [url, *endpoints], log)
        lake = LakeProcess(proc, url, endpoints, data_dir)
        lake.token = login(url, USER, USER_PASSWORD)
        yield lake
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def fresh_postgres(database: str) -> str:
    """Start PostgreSQL 15 (scripts/start-postgres.sh), drop and recreate `database`; returns its URL."""
    script = REPO / "scripts" / "start-postgres.sh"
    url = subprocess.run(["bash", str(script), database], check=True, capture_output=True, text=True).stdout
    url = url.strip().splitlines()[-1]
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}" OWNER lake')
    return url
