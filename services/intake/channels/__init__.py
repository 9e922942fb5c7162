"""Channel adapters, one module per channel (see docs/channels/ for their JSON Schemas)."""
from __future__ import annotations

from services.intake.channels.base import ChannelPayload, Party, Person, Report
from services.intake.channels.court import CourtReferral
from services.intake.channels.grid import GridReport
from services.intake.channels.hotline_12345 import HotlineOrder
from services.intake.channels.petition import PetitionItem
from services.intake.channels.police_110 import PoliceIncident
from services.intake.channels.walk_in import WalkInVisit

ADAPTERS: dict[str, type[ChannelPayload]] = {
    adapter.channel: adapter
    for adapter in (HotlineOrder, PoliceIncident, PetitionItem, CourtReferral, GridReport, WalkInVisit)
}

__all__ = ["ADAPTERS", "ChannelPayload", "Party", "Person", "Report"]
