"""Fengqiao shared kernel: settings, ids, clock, events, store and bus helpers, the CLI."""
