"""The peak resident memory of a process tree (the supervisor of `fengqiao up` and its children),
sampled from /proc while a benchmark runs. The kernel keeps each process's own peak (VmHWM), so
a sample every half second misses nothing of a process that is still alive when it is read."""
from __future__ import annotations

import threading
from pathlib import Path

PROC = Path("/proc")
SAMPLE_SECONDS = 0.5


def _status(pid: int) -> dict[str, str]:
    try:
        lines = (PROC / str(pid) / "status").read_text().splitlines()
    except OSError:  # the process has exited meanwhile
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _children(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if entry.name.isdigit() and _status(int(entry.name)).get("PPid", "").strip() == str(pid):
            found.append(int(entry.name))
    return found


def _name(pid: int) -> str:
    """What the process runs: `fengqiao.cli run intake` → intake, uvicorn → gateway."""
    try:
        argv = (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return str(pid)
    if "run" in argv and "fengqiao.cli" in argv:
        return argv[argv.index("run") + 1]
    if any("uvicorn" in a for a in argv):
        return "gateway"
    if "up" in argv:
        return "supervisor"
    return Path(argv[0]).name or str(pid)


class PeakMemory:
    """Peak RSS per process name (several processes of one service: the largest of them)."""

    def __init__(self, root_pid: int):
        self.root_pid = root_pid
        self.peaks: dict[str, int] = {}  # name → bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="peak-memory")

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(SAMPLE_SECONDS):
                return

    def sample(self) -> None:
        for pid in [self.root_pid, *_children(self.root_pid)]:
            peak = _status(pid).get("VmHWM", "").split()
            if peak:
                name = _name(pid)
                self.peaks[name] = max(self.peaks.get(name, 0), int(peak[0]) * 1024)

    def report(self) -> str:
        largest = max(self.peaks.values(), default=0)
        rows = ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in sorted(self.peaks.items()))
        return f"peak RSS per process: {rows}; largest {largest / 2**20:.0f} MiB (limit 1024 MiB)"
