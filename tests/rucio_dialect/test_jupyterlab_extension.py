"""The Rucio JupyterLab extension's server side (`rucio-jupyterlab` in .venv-rucio) against a running lake.

The scripts build the extension's own configuration object (`RucioConfig` -> `Config`, as
`jupyter_server_config.json` would), store userpass credentials in its database as its auth handler does,
get a `RucioAPI` from its `RucioAPIFactory` and drive its handler implementations: scopes, RSEs, wildcard
DID search, a dataset's files, replicas with PFNs, and "make available" in replica mode (a rule on the
destination RSE, followed until the files are AVAILABLE there and map to paths under `rse_mount_path`, here
the destination endpoint's storage directory) and
in download mode (the rucio-clients download into `~/rucio/<instance>/downloads`).
Install with `bash scripts/install-rucio-client.sh`; without the extension these tests skip.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from rucio_venv import RUCIO_VENV, python, rucio, rucio_env

from lake.testing.server import RunningLake, running_lake

pytestmark = pytest.mark.integration

if not list(RUCIO_VENV.parent.glob("lib/python*/site-packages/rucio_jupyterlab")):
    pytest.skip("rucio-jupyterlab not installed: run scripts/install-rucio-client.sh", allow_module_level=True)

CONTENTS = {"nb1.txt": b"notebook input one", "nb2.txt": b"notebook input two!"}

SETUP = textwrap.dedent("""
    import json, time
    from rucio_jupyterlab.config.config import Config, RucioConfig
    from rucio_jupyterlab.db import get_db
    from rucio_jupyterlab.rucio import RucioAPIFactory
    settings = json.loads(SETTINGS)
    config = Config(RucioConfig(instances=[settings["instance"]], default_instance="lake",
                                default_auth_type="userpass"))
    get_db().set_active_auth_method("userpass")
    get_db().set_rucio_auth_credentials("lake", "userpass", settings["credentials"])
    rucio = RucioAPIFactory(config).for_instance("lake")
    out = {}
""")

REPLICA_MODE = textwrap.dedent("""
    from rucio_jupyterlab.handlers.did_browser import DIDBrowserHandlerImpl
    from rucio_jupyterlab.handlers.did_search import DIDSearchHandlerImpl
    from rucio_jupyterlab.mode_handlers.replica import ReplicaModeHandler
    out["scopes"] = rucio.get_scopes()
    out["rses"] = [r["rse"] for r in rucio.get_rses("site=CERN")]
    out["search"] = DIDSearchHandlerImpl("lake", rucio).search_did("user.alice", "nb*", "all", None, 1000)
    out["files"] = sorted(f["name"] for f in rucio.get_files("user.alice", "nbdata"))
    out["pfns"] = sorted(p for r in rucio.get_replicas("user.alice", "nbdata") for p in r["pfns"])
    out["browser"] = DIDBrowserHandlerImpl("lake", rucio).get_files("user.alice", "nbdata", force_fetch=True)
    handler = ReplicaModeHandler("lake", rucio)
    out["rule_ids"] = handler.make_available("user.alice", "nbdata")
    deadline = time.monotonic() + 90
    while handler.get_did_status("user.alice", "nbdata") != "OK" and time.monotonic() < deadline:
        time.sleep(0.5)
    out["status"] = handler.get_did_status("user.alice", "nbdata")
    out["details"] = handler.get_did_details("user.alice", "nbdata", force_fetch=True)
    print(json.dumps(out))
""")

DOWNLOAD_MODE = textwrap.dedent("""
    import os
    from rucio_jupyterlab.rucio.download import RucioFileDownloader
    RucioFileDownloader.start_download_target("lake", "user.alice:nbdata", rucio)
    folder = RucioFileDownloader.get_dest_folder("lake", "user.alice:nbdata")
    out["files"] = sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)
    error = os.path.join(folder, "error.json")
    out["error"] = json.load(open(error)) if os.path.exists(error) else None
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLake]:
    with running_lake(tmp_path_factory.mktemp("jupyterlab-lake"), endpoints=2) as running:
        home = tmp_path_factory.mktemp("rucio-alice")
        env = rucio_env(running, home, running.user, running.user_password, "alice")
        for name, data in CONTENTS.items():
            (home / name).write_bytes(data)
        files = [str(home / name) for name in CONTENTS]
        rucio(env, "upload", "--rse", "CERN-DISK", "--scope", "user.alice", *files, "user.alice:nbdata")
        rucio(env, "did", "add", "--type", "dataset", "user.alice:other")
        yield running


def _run(lake: RunningLake, home: Path, mode: str, body: str) -> dict:
    """Run `body` after SETUP in .venv-rucio, with the extension's state under `home`; its JSON output."""
    instance = {
        "name": "lake", "display_name": "Lake", "mode": mode, "rucio_base_url": f"{lake.url}/rucio/",
        "rucio_auth_url": f"{lake.url}/rucio", "rucio_ca_cert": str(lake.ca_cert), "destination_rse": "DESY-DISK",
        "rse_mount_path": str(lake.settings.data_dir / "storage" / "DESY-DISK"), "path_begins_at": 0,
        "wildcard_enabled": True, "site_name": "CERN",
    }  # fmt: skip
    credentials = {"username": lake.user, "password": lake.user_password, "account": lake.user}
    settings = json.dumps({"instance": instance, "credentials": credentials})
    # TMPDIR: rucio-clients caches its token under the temp directory; a stale one (another lake's) would reach
    # the storage, as DownloadClient copies the token before any API call can refresh it
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUCIO_")}
    env |= {"HOME": str(home), "TMPDIR": str(home)}
    script = SETUP.replace("SETTINGS", repr(settings)) + body
    return json.loads(python(env, script).strip().splitlines()[-1])


def test_replica_mode_search_browse_and_make_available(lake: RunningLake, tmp_path: Path) -> None:
    out = _run(lake, tmp_path, "replica", REPLICA_MODE)
    assert "user.alice" in out["scopes"] and out["rses"] == ["CERN-DISK"]
    size = sum(len(data) for data in CONTENTS.values())
    assert {"did": "user.alice:nbdata", "size": size, "type": "dataset"} in out["search"]
    assert {d["did"] for d in out["search"]} == {"user.alice:nbdata", "user.alice:nb1.txt", "user.alice:nb2.txt"}
    assert out["files"] == ["nb1.txt", "nb2.txt"]
    assert len(out["pfns"]) == 2 and all(p.startswith("https://127.0.0.1:") for p in out["pfns"])
    assert sorted(f["did"] for f in out["browser"]) == [f"user.alice:{name}" for name in CONTENTS]
    (rule_id,) = out["rule_ids"]
    with lake.lake.services.db.transaction() as conn:
        from lake.logic.rules import rules

        rule = rules.get_rule(conn, rule_id)
    assert (rule.scope, rule.name, rule.account) == ("user.alice", "nbdata", "alice")
    assert rule.rse_expression == "DESY-DISK" and rule.copies == 1
    assert out["status"] == "OK" == rule.state.value
    assert [d["status"] for d in out["details"]] == ["OK", "OK"]
    # the built-in endpoint's storage directory is the RSE "mounted" locally: the paths hold the replicated files
    assert {d["did"]: Path(d["path"]).read_bytes() for d in out["details"]} == {
        f"user.alice:{name}": data for name, data in CONTENTS.items()
    }


def test_download_mode_fetches_the_dataset_with_rucio_clients(lake: RunningLake, tmp_path: Path) -> None:
    out = _run(lake, tmp_path, "download", DOWNLOAD_MODE)
    assert out["error"] is None
    assert {"nbdata/nb1.txt", "nbdata/nb2.txt"} <= set(out["files"])
