"""The walls' live figures: counter notices from the bus, fanned out to every open stream.

The search service publishes the new state of the counter documents each event moved on the
``fengqiao.screen`` exchange. ``ScreenFeed`` consumes them on a queue of this gateway's own (a
thread, as kombu blocks) and hands them to ``ScreenHub`` on the event loop. The hub keeps the
documents its walls need and one ``Wall`` per scope: the figures and the list of open grade-3
cases, recomputed once per change for every viewer of that scope. So 200 open streams cost the
bus and the search service what one costs; only the last step, handing the frame over, is per
viewer.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kombu import Exchange, Queue

from fengqiao import screen
from fengqiao.clock import CHINA_TZ, Clock, isoformat
from fengqiao.directory import Directory
from fengqiao.ids import new_id
from fengqiao.search import Scope
from gateway.consumers import BackgroundConsumer

log = logging.getLogger("fengqiao.gateway.screen")
Call = Callable[..., Awaitable]  # (method, *args) → the search service's answer
DUE_SOON_HOURS = 24
HOT_MATTERS = 10


@dataclass(frozen=True)
class Frame:
    id: str  # a digest of the figures: the same figures have the same id, on any gateway
    data: dict


class Viewer:
    """One open stream: it only ever needs the latest frame, so nothing queues up behind a slow one."""

    def __init__(self):
        self.latest: Frame | None = None
        self._ready = asyncio.Event()

    def offer(self, frame: Frame) -> None:
        self.latest = frame
        self._ready.set()

    async def next(self, timeout: float) -> Frame | None:
        """The newest frame since the last call, or None when ``timeout`` passes without one."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return None
        self._ready.clear()
        return self.latest


@dataclass
class Wall:
    """The figures of one scope, shared by everyone watching it."""

    codes: tuple[str, ...]
    region: str | None
    children: tuple[str, ...] = ()  # the regions one level down, ranked on the wall

    @property
    def wanted(self) -> tuple[str, ...]:
        return self.codes + self.children
    viewers: set[Viewer] = field(default_factory=set)
    frame: Frame | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stale: bool = False
    matters: dict | None = None  # the hot matters, fetched on the first draw and on every refresh
    due_soon: int = 0  # cases due within 24 hours, fetched with the hot matters


def digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:20]


class ScreenHub:
    def __init__(self, call: Call, clock: Clock, directory: Directory, days: int = 30, cases: int = 50):
        self._call, self._clock, self._directory = call, clock, directory
        self.days, self.cases = days, cases
        self._docs: dict[str, dict] = {}  # region code → {"version", "counts"}
        self.walls: dict[tuple, Wall] = {}
        self._tasks: set[asyncio.Task] = set()
        self.unsynced = False  # the last resync failed: notices may have been missed

    @property
    def viewers(self) -> int:
        return sum(len(wall.viewers) for wall in self.walls.values())

    async def join(self, scope: Scope, region: str | None) -> tuple[Wall, Viewer]:
        """A new viewer of the scope's wall, whose frame is ready. Raises ``screen.OutOfScope``."""
        codes, directory = tuple(screen.regions_in(scope, region)), self._directory
        wall = self.walls.get((codes, region))
        if wall is None:
            wall = self.walls[(codes, region)] = Wall(codes, region, tuple(directory.children_of(codes)))
        viewer = Viewer()
        wall.viewers.add(viewer)
        try:
            if wall.frame is None:
                await self._refresh(wall)
        except BaseException:
            self.leave(wall, viewer)
            raise
        return wall, viewer

    def leave(self, wall: Wall, viewer: Viewer) -> None:
        wall.viewers.discard(viewer)
        if not wall.viewers and self.walls.get((wall.codes, wall.region)) is wall:
            del self.walls[(wall.codes, wall.region)]
            wanted = {code for other in self.walls.values() for code in other.wanted}
            for code in set(wall.wanted) - wanted:
                self._docs.pop(code, None)

    def receive(self, body: dict) -> None:
        """A counter notice from the bus: keep the newer documents, redraw the walls they touch."""
        wanted = {code for wall in self.walls.values() for code in wall.wanted}
        changed = {code for code, doc in (body.get("counters") or {}).items()
                   if code in wanted and self._keep(code, doc)}
        for wall in list(self.walls.values()):
            if changed & set(wall.wanted):
                self._redraw(wall)

    async def resync(self) -> None:
        """After the feed (re)connects: notices may have been missed, so fetch every document.
        Should the search service not answer, the next ``refresh`` tries again."""
        codes = sorted({code for wall in self.walls.values() for code in wall.wanted})
        self.unsynced = True
        if codes:
            for code, doc in (await self._call("screen_counters", codes)).items():
                self._keep(code, doc)
        self.unsynced = False
        for wall in list(self.walls.values()):
            self._redraw(wall)

    def refresh(self) -> None:
        """Time has passed: the next 24 hours, the day and the hot matters move without events."""
        for wall in list(self.walls.values()):
            wall.matters = None
        if self.unsynced:
            self._background(self.resync())
            return
        for wall in list(self.walls.values()):
            self._redraw(wall)

    def _keep(self, code: str, doc: dict) -> bool:
        held = self._docs.get(code)
        if held is not None and held["version"] >= doc["version"]:
            return False
        self._docs[code] = doc
        return True

    def _redraw(self, wall: Wall) -> None:
        """Refresh the wall in the background; changes arriving meanwhile make one more round."""
        if wall.lock.locked():
            wall.stale = True
            return
        self._background(self._refresh(wall))

    def _background(self, work) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception():
            log.warning("redrawing the walls failed", exc_info=task.exception())

    async def _refresh(self, wall: Wall) -> None:
        async with wall.lock:
            while True:
                wall.stale = False
                await self._draw(wall)
                if not wall.stale:
                    return

    async def _draw(self, wall: Wall) -> None:
        missing = [code for code in wall.wanted if code not in self._docs]
        if missing:
            for code, doc in (await self._call("screen_counters", missing)).items():
                self._keep(code, doc)
        # The counts as they are before the lists are fetched: a notice arriving meanwhile makes
        # another round, so a frame never shows a count newer than its list of grade-3 cases.
        counts = screen.total(self._docs[code]["counts"] for code in wall.codes if code in self._docs)
        codes = list(wall.codes)
        cases = [{**case, "region_name": self._region_name(case["region_code"])}
                 for case in await self._call("screen_cases", codes, self.cases)]
        if wall.matters is None:  # on the refresh beat: these are store queries, not counters
            wall.due_soon = await self._call("screen_due_soon", codes, DUE_SOON_HOURS)
            wall.matters = await self._call("screen_matters", codes, HOT_MATTERS)
        now = self._clock.now()
        data = {"figures": screen.figures(counts, wall.region, now.astimezone(CHINA_TZ).date().isoformat(),
                                          self.days),
                "grade3": cases, "due_soon": wall.due_soon, "hot": wall.matters, "regions": self._ranked(wall)}
        frame_id = digest(data)
        if wall.frame is not None and wall.frame.id == frame_id:
            return
        wall.frame = Frame(frame_id, {**data, "updated_at": isoformat(now)})
        for viewer in list(wall.viewers):
            viewer.offer(wall.frame)

    def _region_name(self, code: str | None) -> str | None:
        """The place as the directory names it from the county down (新城区海拉尔东路街道…)."""
        lineage = self._directory.lineage(code) if code and self._directory.region(code) else []
        return "".join(r.name for r in reversed(lineage) if r.level != "city") or None

    def _ranked(self, wall: Wall) -> list[dict]:
        """The child regions by open, then overdue cases: where the wall should look first."""
        names = self._directory.children_of(wall.codes)
        rows = [{"code": code, "name": names[code], "open": counts.get("open", 0), "overdue": counts.get("overdue", 0)}
                for code in wall.children for counts in [self._docs.get(code, {}).get("counts", {})]]
        return sorted(rows, key=lambda row: (-row["open"], -row["overdue"], row["code"]))

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()


async def refresh_every(hub: ScreenHub, seconds: float) -> None:
    """Redraw every wall each ``seconds`` (``ScreenHub.refresh``), for as long as the gateway runs."""
    while True:
        await asyncio.sleep(seconds)
        hub.refresh()


def _resynced(future) -> None:
    if not future.cancelled() and future.exception():  # the next notice redraws the walls anyway
        log.warning("fetching the walls' counters after connecting failed", exc_info=future.exception())


class ScreenFeed(BackgroundConsumer):
    """Counter notices on a queue of this gateway's own, which goes away with it."""

    def __init__(self, amqp_uri: str, loop: asyncio.AbstractEventLoop, hub: ScreenHub):
        super().__init__(amqp_uri, "fq-screen-feed")
        self._loop, self._hub = loop, hub

    def get_consumers(self, consumer, channel):
        # The exchange is `fengqiao bus setup`'s to declare; the gateway's bus user only binds to it.
        exchange = Exchange(screen.EXCHANGE, type="topic", durable=True, no_declare=True)
        queue = Queue(f"gateway-screen-{new_id()}", exchange=exchange, routing_key="#",
                      exclusive=True, auto_delete=True, durable=False)
        return [consumer(queues=[queue], callbacks=[self._on_message], accept=["json"], no_ack=True)]

    def on_consume_ready(self, connection, channel, consumers, **kwargs):
        asyncio.run_coroutine_threadsafe(self._hub.resync(), self._loop).add_done_callback(_resynced)

    def _on_message(self, body, message):
        self._loop.call_soon_threadsafe(self._hub.receive, body)
