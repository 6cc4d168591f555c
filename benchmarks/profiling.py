"""Optional py-spy profiles of the server during each benchmark phase, and a text summary of them.

`py-spy record --format raw` writes collapsed stacks (`frame;frame;... count`); `summarize` turns one into
the functions with the most samples on top of the stack (self) and anywhere on it (inclusive).

    .venv/bin/python benchmarks/profiling.py benchmarks/out/profile-sqlite-register.txt
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


class Profiler:
    """`with profiler.phase(name):` records the server with py-spy while the block runs (if enabled)."""

    def __init__(self, pid: int, prefix: Path, enabled: bool) -> None:
        self.pid = pid
        self.prefix = prefix
        self.enabled = enabled and (PY_SPY.exists() or shutil.which("py-spy") is not None)
        if enabled and not self.enabled:
            print("py-spy not found: `.venv/bin/pip install py-spy`; profiling skipped", file=sys.stderr)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        if not self.enabled:
            yield
            return
        output = self.prefix.parent / f"{self.prefix.name}-{name}.txt"
        command = [str(PY_SPY) if PY_SPY.exists() else "py-spy", "record", "--pid", str(self.pid), "--rate", "200",
                   "--format", "raw", "--nonblocking", "--output", str(output)]  # fmt: skip
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()


def _short(frame: str) -> str:
    """`func (path/to/lake/x.py:12)` -> `lake/x.py:func`; site-packages paths are cut to the package."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{match['func']}"


def _lake_line(frames: list[str]) -> str:
    """The deepest frame in Lake's own code, with its line: where the time is spent from Lake's view."""
    for frame in reversed(frames):
        match = _FRAME.match(frame.strip())
        if match and match["file"].split("/src/", 1)[-1].startswith("lake/"):
            return f"{match['file'].split('/src/', 1)[-1]}:{match['line']} {match['func']}"
    return "(outside Lake)"


def summarize(path: Path, top: int = 25) -> str:
    """The `top` functions by self and by inclusive samples, and the Lake lines responsible (percentages)."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    lake_lines: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        raw_frames = stack.split(";")
        frames = [_short(f) for f in raw_frames]
        lake_lines[_lake_line(raw_frames)] += count
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{path.name}: {total} samples", "self%  function"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in self_counts.most_common(top)]
    lines += ["incl%  function"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in inclusive.most_common(top)]
    lines += ["lake%  deepest Lake frame (file:line function)"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in lake_lines.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(summarize(Path(name)))
        print()
