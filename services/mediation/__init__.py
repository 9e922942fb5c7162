"""Mediation service: mediation cases, sessions, agreements, performance, judicial confirmation.

Not built yet: it arrives with its own issue (mediation and follow-up). The package exists so
the layout of ARCHITECTURE.md is in place.
"""
