"""The nameko services this build runs, by name. Imported lazily: importing a service imports
nameko, which must come after eventlet's monkey patch in service processes."""
from __future__ import annotations

import importlib

SERVICES = {
    "intake": "services.intake.service:IntakeService",
    "routing": "services.routing.service:RoutingService",
    "mediation": "services.mediation.service:MediationService",
    "followup": "services.followup.service:FollowupService",
    "search": "services.search.service:SearchService",
    "webhooks": "services.webhooks.service:WebhooksService",
}


def service_class(name: str):
    module, _, attr = SERVICES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def all_service_classes() -> list:
    return [service_class(name) for name in SERVICES]
