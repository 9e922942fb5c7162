"""Channel adapters, one module per channel (see docs/channels/ for their JSON Schemas)."""
from __future__ import annotations

from fengqiao.channels.base import ChannelPayload, Party, Person, Report
from fengqiao.channels.court import CourtReferral
from fengqiao.channels.grid import GridReport
from fengqiao.channels.hotline_12345 import HotlineOrder
from fengqiao.channels.petition import PetitionItem
from fengqiao.channels.police_110 import PoliceIncident
from fengqiao.channels.walk_in import WalkInVisit

ADAPTERS: dict[str, type[ChannelPayload]] = {
    adapter.channel: adapter
    for adapter in (HotlineOrder, PoliceIncident, PetitionItem, CourtReferral, GridReport, WalkInVisit)
}

__all__ = ["ADAPTERS", "ChannelPayload", "Party", "Person", "Report"]
