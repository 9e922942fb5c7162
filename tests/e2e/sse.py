"""A server-sent events client for tests: the stream is read on a thread, and the test waits
for the frames it expects with a deadline."""
from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass
class Received:
    kind: str  # the event's type, or "comment" for a keep-alive
    id: str | None
    data: dict | None
    at: float  # time.monotonic() when it arrived


class EventStream:
    def __init__(self, base_url: str, path: str, headers: dict, params: dict | None = None):
        self.client = httpx.Client(base_url=base_url, headers=headers, timeout=httpx.Timeout(10, read=None))
        self.response = self.client.send(self.client.build_request("GET", path, params=params), stream=True)
        self.frames: queue.Queue[Received] = queue.Queue()
        self._latest: dict | None = None
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        kind, event_id, data = None, None, []
        try:
            for line in self.response.iter_lines():
                if line.startswith(":"):
                    self.frames.put(Received("comment", None, None, time.monotonic()))
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and kind:
                    self.frames.put(Received(kind, event_id, json.loads("\n".join(data)), time.monotonic()))
                    kind, event_id, data = None, None, []
        except httpx.HTTPError:  # closed by the test
            pass

    def next(self, timeout: float = 10) -> Received:
        try:
            return self._seen(self.frames.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"no frame within {timeout} s") from None

    def _seen(self, frame: Received) -> Received:
        if frame.data is not None:
            self._latest = frame.data
        return frame

    def until(self, check, timeout: float, what: str) -> Received:
        """The first frame (skipping keep-alives) for which ``check(data)`` holds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = self._seen(self.frames.get(timeout=left))
            except queue.Empty:
                break
            if frame.data is not None and check(frame.data):
                return frame
        raise AssertionError(f"{what}: no such frame within {timeout} s")

    def latest(self) -> dict | None:
        """The data of the newest frame received so far (earlier ones are dropped)."""
        while True:
            try:
                self._seen(self.frames.get_nowait())
            except queue.Empty:
                return self._latest

    def close(self):
        self.response.close()
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
