"""The demo simulator's traffic covers what a center sees: every channel and risk, merges,
returns, mediations, resolutions with visits."""
from __future__ import annotations

import itertools
import random
from collections import Counter

from fengqiao.demo import CHANNELS, MATTERS, World, actions


def test_a_few_hundred_actions_cover_every_channel_risk_and_kind():
    world, rng = World(), random.Random(7)
    stream = actions(rng, world)
    done = []
    for action in itertools.islice(stream, 400):
        done.append(action)
        if action.kind == "submit":  # as the simulator notes each accepted case
            world.submitted.append({"id": f"case-{len(world.submitted)}", "body": action.body})
    kinds = Counter(a.kind for a in done)
    assert set(kinds) == {"submit", "duplicate", "return", "mediate", "resolve"} and kinds["submit"] > 150
    submitted = [a.body for a in done if a.kind == "submit"]
    assert {b["channel"] for b in submitted} == set(CHANNELS)
    assert all(("source_id" in b) == (b["channel"] != "walk_in") for b in submitted)
    risks = {grade for b in submitted for grade, texts in MATTERS.items() if b["text"].split("反映：", 1)[1] in texts}
    assert risks == {1, 2, 3}
    duplicates = [a.body for a in done if a.kind == "duplicate"]
    originals = {b["text"] for b in submitted}
    assert duplicates and all(d["text"] in originals for d in duplicates)
    known = {c["id"] for c in world.submitted}
    assert all(a.case in known for a in done if a.kind in ("return", "mediate", "resolve"))
