"""The gateway's screen hub without a broker: the search service's answers are a fake, the
notices are handed in as the feed would."""
from __future__ import annotations

import asyncio

import pytest

from fengqiao.directory import Directory
from fengqiao.screen import OutOfScope
from fengqiao.search import Scope
from fengqiao.settings import Settings
from gateway.screen import ScreenHub


class FakeSearch:
    def __init__(self):
        self.docs = {"150102": {"version": 3, "counts": {"open": 2, "received.2026-01-05": 2}}}
        self.calls = []

    async def __call__(self, method, *args):
        self.calls.append(method)
        if method == "screen_counters":
            return {code: self.docs.get(code, {"version": 0, "counts": {}}) for code in args[0]}
        if method == "screen_due_soon":
            return 4
        if method == "screen_matters":
            return {"basis": "week", "matters": [{"word": "停水", "cases": self.calls.count(method)}]}
        return []


def hub_of(search, clock) -> ScreenHub:
    return ScreenHub(search, clock, Directory.load(Settings().directory_file))


async def settled(hub: ScreenHub) -> None:
    while hub._tasks:
        await asyncio.gather(*hub._tasks)


def test_walls_of_one_scope_share_one_frame_and_keep_the_newest_notice(clock):
    async def scenario():
        search = FakeSearch()
        hub = hub_of(search, clock)
        county = Scope(regions=("150102",))
        (wall, first), (same, second) = await hub.join(county, None), await hub.join(county, None)
        assert wall is same and hub.viewers == 2 and wall.frame.data["figures"]["open"] == 2
        assert search.calls.count("screen_counters") == 1  # the second viewer cost nothing
        hub.receive({"counters": {"150102": {"version": 5, "counts": {"open": 3}}}})
        hub.receive({"counters": {"150102": {"version": 4, "counts": {"open": 9}}}})  # older: ignored
        await settled(hub)
        assert (await first.next(1)).data["figures"]["open"] == 3
        assert (await second.next(1)).id == wall.frame.id
        assert await first.next(0.01) is None  # nothing new: the stream sends a keep-alive
        hub.receive({"counters": {"510183": {"version": 9, "counts": {"open": 1}}}})  # not this wall's
        await settled(hub)
        assert await first.next(0.01) is None
        assert [r["code"] for r in wall.frame.data["regions"]] == ["150102001", "150102002"]
        hub.leave(wall, first)
        hub.leave(wall, second)
        assert hub.viewers == 0 and not hub.walls and not hub._docs

    asyncio.run(scenario())


def test_out_of_scope_regions_and_unit_limited_callers_are_refused(clock):
    async def scenario():
        hub = hub_of(FakeSearch(), clock)
        with pytest.raises(OutOfScope):
            await hub.join(Scope(regions=("150102",)), "150525")
        with pytest.raises(OutOfScope):
            await hub.join(Scope(regions=("150102",), units=("center-150102",)), None)
        assert not hub.walls

    asyncio.run(scenario())


def test_hot_matters_are_fetched_once_and_again_when_time_has_passed(clock):
    async def scenario():
        search = FakeSearch()
        hub = hub_of(search, clock)
        wall, viewer = await hub.join(Scope(regions=("150102",)), None)
        assert wall.frame.data["due_soon"] == 4 and wall.frame.data["hot"]["matters"][0]["cases"] == 1
        hub.receive({"counters": {"150102": {"version": 5, "counts": {"open": 3}}}})
        await settled(hub)
        assert search.calls.count("screen_matters") == 1  # a notice redraws the figures, not the matters
        assert (await viewer.next(1)).data["hot"]["matters"][0]["cases"] == 1
        hub.refresh()  # the gateway does this every FQ_SCREEN_REFRESH_SECONDS
        await settled(hub)
        assert (await viewer.next(1)).data["hot"]["matters"][0]["cases"] == 2
        assert search.calls.count("screen_due_soon") == 2  # with the matters, not on every notice

    asyncio.run(scenario())


def test_a_failed_resync_is_tried_again_on_the_next_refresh(clock):
    async def scenario():
        search = FakeSearch()
        hub = hub_of(search, clock)
        wall, viewer = await hub.join(Scope(regions=("150102",)), None)
        search.docs["150102"] = {"version": 7, "counts": {"open": 5}}  # changed while the feed was away

        async def down(method, *args):
            raise ConnectionError("search is not answering")

        hub._call = down
        with pytest.raises(ConnectionError):
            await hub.resync()
        assert hub.unsynced and wall.frame.data["figures"]["open"] == 2
        hub._call = search
        hub.refresh()
        await settled(hub)
        assert not hub.unsynced and (await viewer.next(1)).data["figures"]["open"] == 5

    asyncio.run(scenario())
