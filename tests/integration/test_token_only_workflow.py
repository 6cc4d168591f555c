"""Issue 5 done-when: a whole workflow on tokens only, with no password after the first login.

A real lake with daemons runs on loopback (three built-in endpoints as RSEs). The user runs the `lake` CLI as
real processes whose environment and arguments hold no password: upload a small dataset, add a rule for two
more copies (transfers between endpoints with per-transfer, per-path tokens), download, delete, and see the
reaper remove every copy from the endpoints' directories. Workflow A logs in once by the device flow (the one
password, typed into the verification page) and later renews a broken access token from the refresh token;
workflow B uses only a token from a second, external issuer that the lake trusts. Neither leaves a password
or a token in the lake's log (the API, the daemons and the endpoints' access log, captured meanwhile).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lake.core.scopes import StorageOp, storage_scope
from lake.daemons.base import Daemon
from lake.daemons.registry import all_daemons
from lake.logic.auth.issuer import TokenIssuer
from lake.testing.issuer import LocalIssuer, running_issuer
from lake.testing.server import RunningLake, running_lake
from lake.testing.tokens import claims
from lake.testing.waiting import wait_for

pytestmark = pytest.mark.integration
LAKE = str(Path(sys.executable).with_name("lake"))
SCOPE = "user.alice"
UPLOAD_RSE, OTHER_RSES = "CERN-DISK", ("DESY-DISK", "PIC-DISK")
EXTERNAL_SUBJECT = "5f1c0e2a-external-alice"
DAEMON_INTERVAL = 0.5  # seconds: the daemons' idle sleep, short so a workflow runs in seconds
WAIT = 45.0  # seconds at most for the daemons to finish a rule or a deletion
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN")
THIRD_PARTY_COPY = {"http-pull", "http-push"}  # endpoint to endpoint, not streamed through the worker
JWT_START = "eyJ"  # base64url of '{"': how every JWT (header) begins


# --- the lake, its log and what it minted ---------------------------------------------------------


@dataclass
class MintedTokens:
    """Every storage token the lake minted (a recording wrapper around the real issuer's method)."""

    issued: list[tuple[str, StorageOp, list[str], str]] = field(default_factory=list)

    def wrap(self, issuer: TokenIssuer) -> Callable[..., str]:
        original = issuer.storage_token

        def storage_token(subject: str, audience: Any, op: StorageOp, paths: Any) -> str:
            paths = list(paths)
            token = original(subject, audience, op, paths)
            self.issued.append((subject, op, paths, token))
            return token

        return storage_token


@dataclass
class Lake:
    running: RunningLake
    issuer: LocalIssuer
    log_file: Path
    minted: MintedTokens

    @property
    def storage(self) -> Path:
        return self.running.settings.data_dir / "storage"


def _fast_daemons() -> dict[str, Daemon]:
    """The registered daemons with a short idle interval (the embedded lake has no interval setting)."""
    return {
        name: dataclasses.replace(d, interval=min(d.interval, DAEMON_INTERVAL)) for name, d in all_daemons().items()
    }


@contextmanager
def _captured_log(path: Path) -> Iterator[None]:
    """What the in-process lake logs (its own loggers at DEBUG, libraries at INFO) plus the API's and the
    endpoints' access log (uvicorn's, which does not propagate), to a file."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    levels = {"": logging.INFO, "lake": logging.DEBUG, "uvicorn.access": logging.INFO, "uvicorn.error": logging.INFO}
    loggers = {logging.getLogger(name): level for name, level in levels.items()}
    previous = {logger: logger.level for logger in loggers}
    for logger, level in loggers.items():
        logger.setLevel(level)
        if logger.name in ("root", "uvicorn.access", "uvicorn.error"):
            logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level in previous.items():
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """A lake with daemons and three endpoints trusting an external issuer; the admin made its RSEs delete
    greedily and mapped the external subject to alice."""
    base = tmp_path_factory.mktemp("token-only")
    with running_issuer(base / "issuer") as issuer, pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKE_TRUSTED_ISSUERS", json.dumps([{"issuer": issuer.url, "ca_file": str(issuer.ca_cert)}]))
        patch.setattr("lake.server.embedded.all_daemons", _fast_daemons)
        with running_lake(base, endpoints=3, daemons=True) as running:
            minted = MintedTokens()
            patch.setattr(running.lake.services.issuer, "storage_token", minted.wrap(running.lake.services.issuer))
            with _captured_log(base / "lake.log"):
                _admin_setup(running, issuer, _env(running.url, base / "admin-token"))
                yield Lake(running, issuer, base / "lake.log", minted)


def _admin_setup(running: RunningLake, issuer: LocalIssuer, env: dict[str, str]) -> None:
    """Admin setup (the admin's own password): greedy deletion on the RSEs, the external subject -> alice."""
    _cli(env, "login", "--username", "root", "--password", running.root_password)
    for rse in (UPLOAD_RSE, *OTHER_RSES):
        _cli(env, "rse", "set-attr", rse, "greedyDeletion", "true")
    _cli(env, "account", "add-identity", running.user, "--issuer", issuer.url, "--subject", EXTERNAL_SUBJECT)


# --- running the CLI as the user ------------------------------------------------------------------


def _env(url: str, token_file: Path, token: str = "") -> dict[str, str]:
    """The process environment without any LAKE_* setting or secret-looking variable, plus where the lake
    is and where the tokens live (and a bearer token, for the external issuer's)."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("LAKE_") and not any(word in k.upper() for word in SECRET_WORDS)}  # fmt: skip
    return clean | {"LAKE_URL": url, "LAKE_TOKEN_FILE": str(token_file), "LAKE_TOKEN": token}


def _cli(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = subprocess.run([LAKE, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == code, (args, result.stdout, result.stderr)
    return result.stdout


def _user_cli(lake: Lake, env: dict[str, str], *args: str) -> str:
    """A user command: no password in its arguments or environment, then run it."""
    passwords = (lake.running.user_password, lake.running.root_password)
    visible = " ".join([*args, *env.values()])
    assert not any(password in visible for password in passwords), args
    return _cli(env, *args)


def _json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def _wait(what: str, done: Callable[[], bool]) -> None:
    wait_for(done, WAIT, 0.5, what)


def _device_login(lake: Lake, env: dict[str, str]) -> None:
    """`lake login` as a real process; the user approves its code on the verification page with the password."""
    with subprocess.Popen([LAKE, "login"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stderr is not None
        match = re.search(r"open (\S+) and enter the code ([A-Z]{4}-[A-Z]{4})", proc.stderr.readline())
        assert match, "lake login printed no verification address and code"
        page = httpx.get(match.group(1), params={"user_code": match.group(2)})
        assert page.status_code == 200 and "Password" in page.text
        form = {"user_code": match.group(2), "username": lake.running.user,
                "password": lake.running.user_password, "decision": "approve"}  # fmt: skip
        approved = httpx.post(match.group(1), data=form)
        assert approved.status_code == 200 and "Approved" in approved.text, approved.text
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"Logged in as {lake.running.user}" in out


# --- the workflow, step by step -------------------------------------------------------------------


def _make_dataset(directory: Path, tag: str) -> dict[str, bytes]:
    directory.mkdir()
    contents = {f"{tag}-part{i}.dat": os.urandom(2000 + 3000 * i) for i in range(3)}
    for name, data in contents.items():
        (directory / name).write_bytes(data)
    return contents


def _on_storage(lake: Lake, names: dict[str, bytes]) -> dict[str, set[str]]:
    """Per file name, the RSEs whose endpoint directory holds it."""
    found: dict[str, set[str]] = {name: set() for name in names}
    for path in lake.storage.rglob("*"):
        if path.name in found and path.is_file():
            found[path.name].add(path.relative_to(lake.storage).parts[0])
    return found


def _replicate(lake: Lake, run: Callable[..., str], did: str, contents: dict[str, bytes]) -> str:
    """A rule for two copies on the other RSEs; waits until it is OK; the transfers all succeeded."""
    rule_id = run("rule", "add", did, "--copies", "2", "--rse", "|".join(OTHER_RSES)).strip()

    def rule_ok() -> bool:
        rule = json.loads(run("--json", "rule", "show", rule_id))
        assert rule["state"] != "STUCK", rule
        return bool(rule["state"] == "OK")

    _wait(f"rule {rule_id} to be OK", rule_ok)
    transfers = _json_lines(run("--json", "transfer", "list", "--rule", rule_id))
    assert len(transfers) == 2 * len(contents)
    assert {t["state"] for t in transfers} == {"DONE"}
    assert {t["dest_rse"] for t in transfers} == set(OTHER_RSES)
    assert all(t["source_rse"] in {UPLOAD_RSE, *OTHER_RSES} - {t["dest_rse"]} for t in transfers)
    assert {t["mode"] for t in transfers} <= THIRD_PARTY_COPY
    assert all(rses == {UPLOAD_RSE, *OTHER_RSES} for rses in _on_storage(lake, contents).values())
    return rule_id


def _download(run: Callable[..., str], did: str, contents: dict[str, bytes], back: Path) -> None:
    run("download", did, "--dir", str(back))
    for name, data in contents.items():
        assert (back / SCOPE / name).read_bytes() == data


def _delete(lake: Lake, run: Callable[..., str], did: str, contents: dict[str, bytes]) -> None:
    """Delete the user's rules on the dataset and its files (the upload rules included); the reaper then
    removes every replica from storage and from the catalog."""
    names = {did.split(":", 1)[1], *contents}
    rules = _json_lines(run("--json", "rule", "list", "--account", lake.running.user))
    mine = [rule["id"] for rule in rules if rule["scope"] == SCOPE and rule["name"] in names]
    assert len(mine) == 1 + len(contents)
    for rule_id in mine:
        run("rule", "delete", rule_id)
    _wait("the reaper to delete every replica", lambda: not any(_on_storage(lake, contents).values()))
    _wait("the catalog to drop the replicas", lambda: not _json_lines(run("--json", "replica", "list", did)))


def _storage_tokens_are_path_scoped(lake: Lake, contents: dict[str, bytes]) -> list[str]:
    """Every storage token minted for this dataset names exact paths of it: the user's and the reaper's name
    files (the reaper's one each), a transfer's one file or, for a bulk pull of small files, the directories
    of the files it pulls. Returns those tokens."""
    files = {p for x in lake.minted.issued for p in x[2] if p.rsplit("/", 1)[-1] in contents}
    directories = {p.rsplit("/", 1)[0] for p in files}
    mine = [x for x in lake.minted.issued if x[2] and (set(x[2]) <= files or set(x[2]) <= directories)]
    subjects = {subject for subject, *_ in mine}
    assert {"lake-transfer", "lake-reaper", lake.running.user} <= subjects
    for subject, op, paths, token in mine:
        scopes = claims(token)["scope"].split()
        assert scopes == [storage_scope(op, path) for path in sorted(set(paths))]
        assert all(path.startswith("/") for path in paths)
        if set(paths) <= directories:
            assert subject == "lake-transfer" and op in (StorageOp.CREATE, StorageOp.READ)
        else:
            assert subject == lake.running.user or len(paths) == 1
    assert {op for _, op, _, _ in mine} >= {StorageOp.CREATE, StorageOp.READ, StorageOp.MODIFY}
    return [token for *_, token in mine]


def _log_holds_no_secret(lake: Lake, secrets: list[str]) -> None:
    """The captured log saw the storage traffic, and no password, token or token signature."""
    text = lake.log_file.read_text()
    copies = re.search(r'"(COPY /|POST /\.well-known/lake-pull)', text)
    assert copies and "daemon transfer_worker" in text, "the lake's log was not captured"
    assert JWT_START not in text, "a token is in the lake's log"
    for secret in [lake.running.user_password, lake.running.root_password, *secrets]:
        for part in (secret, secret.rsplit(".", 1)[-1]):
            assert part not in text, "a secret is in the lake's log"


def _workflow(
    lake: Lake, run: Callable[..., str], tmp_path: Path, tag: str, before_rule: Callable[[], None]
) -> list[str]:
    """Upload, replicate, download, delete; returns the storage tokens minted for the dataset."""
    contents = _make_dataset(tmp_path / tag, tag)
    did = f"{SCOPE}:{tag}"
    run("upload", str(tmp_path / tag), "--rse", UPLOAD_RSE, "--scope", SCOPE, "--dataset", tag)
    assert all(rses == {UPLOAD_RSE} for rses in _on_storage(lake, contents).values())
    before_rule()
    _replicate(lake, run, did, contents)
    _download(run, did, contents, tmp_path / f"{tag}-back")
    _delete(lake, run, did, contents)
    return _storage_tokens_are_path_scoped(lake, contents)


# --- the two workflows ----------------------------------------------------------------------------


def test_device_login_once_then_tokens_alone_upload_replicate_download_delete_and_renew(lake, tmp_path):
    token_file = tmp_path / "token"
    env = _env(lake.running.url, token_file)
    _device_login(lake, env)
    refresh = (tmp_path / "token.refresh").read_text().strip()
    seen = [refresh, token_file.read_text().strip()]
    run = functools.partial(_user_cli, lake, env)
    assert lake.running.user in run("whoami")

    def break_the_access_token() -> None:
        """Mid-workflow the saved access token stops working: the next command renews it (refresh token)."""
        token_file.write_text("garbage-access-token")

    storage_tokens = _workflow(lake, run, tmp_path, "wf-device", break_the_access_token)
    renewed = token_file.read_text().strip()
    assert renewed not in seen and claims(renewed)["sub"] == lake.running.user
    assert (tmp_path / "token.refresh").read_text().strip() == refresh
    _log_holds_no_secret(lake, [*seen, renewed, *storage_tokens])


def test_external_issuer_token_alone_uploads_replicates_downloads_and_deletes(lake, tmp_path):
    token = lake.issuer.mint(EXTERNAL_SUBJECT, lake.running.settings.api_audience)
    assert claims(token)["iss"] == lake.issuer.url != lake.running.settings.issuer
    token_file = tmp_path / "token"
    env = _env(lake.running.url, token_file, token=token)
    run = functools.partial(_user_cli, lake, env)
    assert lake.running.user in run("whoami")
    storage_tokens = _workflow(lake, run, tmp_path, "wf-external", lambda: None)
    assert not token_file.exists() and not (tmp_path / "token.refresh").exists()
    _log_holds_no_secret(lake, [token, *storage_tokens])
