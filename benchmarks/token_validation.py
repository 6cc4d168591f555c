"""Token validation on the API's hot path, next to the `GET /v1/dids/{scope}/{name}` it protects (issue 5).

    .venv/bin/python benchmarks/token_validation.py                # 2,000 GETs, 20,000 cached validations
    .venv/bin/python benchmarks/token_validation.py --quick

In one run:
1. a real `lake up` (SQLite) answers `GET /v1/dids/user.alice/<dataset>` sequentially over one keep-alive
   connection (end to end, client included), after a warm-up;
2. in this process, a `TokenValidator` built like the API's (Lake's published JWKS, Lake's audience) validates
   the same user token: the claims-cache hit (the hot path: a client reuses its token) and a cold validation
   (signature verification, cache off);
3. the same for a token of an external issuer (`lake.testing.issuer`, https on loopback) whose keys the
   validator fetched once over verified https and keeps cached.

Validation cost is reported as a share of the mean GET time; the target is under 10% on the hot path. Measures
and reports, never asserts: Markdown goes to stdout and to benchmarks/out/token-validation.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from lakeproc import SCOPE, lake_up

from lake.core.tokens import KeySet, TokenValidator
from lake.logic.auth.external import DiscoveryKeys
from lake.testing.issuer import running_issuer

OUT = Path(__file__).resolve().parent / "out"
DATASET = "token-bench"
WARMUP = 100


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def per_call_us(call: Callable[[], object], count: int) -> tuple[float, float]:
    """(median of 5 rounds of the mean per call, best round) in microseconds, after a warm-up."""
    for _ in range(min(count, WARMUP)):
        call()
    rounds = []
    for _ in range(5):
        began = time.perf_counter_ns()
        for _ in range(count // 5):
            call()
        rounds.append((time.perf_counter_ns() - began) / 1e3 / (count // 5))
    return statistics.median(rounds), min(rounds)


def get_times_us(url: str, token: str, requests: int) -> tuple[float, float]:
    """(mean, median) microseconds of sequential GETs of one dataset DID over one keep-alive connection."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        api.post("/v1/dids", json={"scope": SCOPE, "name": DATASET, "type": "DATASET"}).raise_for_status()
        path = f"/v1/dids/{SCOPE}/{DATASET}"
        for _ in range(WARMUP):
            api.get(path).raise_for_status()
        samples = []
        for _ in range(requests):
            began = time.perf_counter_ns()
            response = api.get(path)
            samples.append((time.perf_counter_ns() - began) / 1e3)
            response.raise_for_status()
    return statistics.fmean(samples), statistics.median(samples)


def lake_validators(url: str) -> tuple[TokenValidator, TokenValidator]:
    """(cached, uncached) validators for Lake's own tokens, keys from its published JWKS, as the API has them."""
    keys = KeySet.from_jwks(httpx.get(f"{url}/.well-known/jwks.json", timeout=10).json())
    return TokenValidator({url: keys}, [url]), TokenValidator({url: keys}, [url], cache_size=0)


def run(args: argparse.Namespace, workdir: Path) -> list[tuple[str, float, float]]:
    """(what, microseconds per call, share of the mean GET) rows."""
    rows: list[tuple[str, float, float]] = []
    load = os.getloadavg()[0]
    with lake_up(workdir) as lake:
        say(f"`lake up` pid {lake.pid} at {lake.url}: {args.get_requests} GETs")
        get_mean, get_median = get_times_us(lake.url, lake.token, args.get_requests)
        rows += [("GET /v1/dids/{scope}/{name}, end to end (mean)", get_mean, 1.0)]
        rows += [("GET /v1/dids/{scope}/{name}, end to end (median)", get_median, get_median / get_mean)]
        cached, uncached = lake_validators(lake.url)
    say(f"validations: {args.validations} cached, {args.validations // 10} cold")
    hot, _best = per_call_us(lambda: cached.validate(lake.token), args.validations)
    cold, _best = per_call_us(lambda: uncached.validate(lake.token), args.validations // 10)
    rows += [("Lake token, claims-cache hit (**hot path**)", hot, hot / get_mean)]
    rows += [("Lake token, cold (signature check, cache off)", cold, cold / get_mean)]
    with running_issuer(workdir / "issuer") as issuer:
        keys = DiscoveryKeys(issuer.url, str(issuer.ca_cert))
        token = issuer.mint("bench-subject", "https://lake.bench")
        external = TokenValidator({issuer.url: keys}, ["https://lake.bench"])
        external_cold = TokenValidator({issuer.url: keys}, ["https://lake.bench"], cache_size=0)
        ext_hot, _best = per_call_us(lambda: external.validate(token), args.validations)
        ext_cold, _best = per_call_us(lambda: external_cold.validate(token), args.validations // 10)
        say(f"external issuer key fetches: {issuer.key_fetches}")
    rows += [("external token, claims-cache hit (keys cached)", ext_hot, ext_hot / get_mean)]
    rows += [("external token, cold (keys cached, signature check)", ext_cold, ext_cold / get_mean)]
    say(f"load average (1 min) at start {load:.1f}, at end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return rows


def render(rows: list[tuple[str, float, float]]) -> str:
    lines = ["| measured | µs per call | share of a GET (mean) |", "|---|---|---|"]
    lines += [f"| {what} | {us:,.1f} | {share:.2%} |" for what, us, share in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--get-requests", type=int, default=2_000, help="sequential GETs timed")
    parser.add_argument("--validations", type=int, default=20_000, help="cached validations timed (cold: a tenth)")
    parser.add_argument("--quick", action="store_true", help="500 GETs and 5,000 validations")
    args = parser.parse_args(argv)
    if args.quick:
        args.get_requests, args.validations = min(args.get_requests, 500), min(args.validations, 5_000)
    with tempfile.TemporaryDirectory(prefix="lake-bench-tokens-") as workdir:
        table = render(run(args, Path(workdir)))
    OUT.mkdir(exist_ok=True)
    (OUT / "token-validation.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
