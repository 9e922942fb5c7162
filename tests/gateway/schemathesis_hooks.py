"""Loaded by the schemathesis run of test_outside_tools (SCHEMATHESIS_HOOKS): half the generated
path parameters name a resource that exists (a case, its mediation, an import, an Open311 request,
a subscription), so the fuzzing reaches past the 404 into the routes' own work on real state."""
from __future__ import annotations

import json
import os

import schemathesis
from hypothesis import strategies as st

# {"case_id": "…", "mediation_id": "…", …}, written by the test that starts schemathesis.
SEEDED: dict[str, str] = json.loads(os.environ.get("FQ_SCHEMATHESIS_IDS", "{}"))


@schemathesis.hook
def flatmap_path_parameters(ctx, path_parameters):
    real = {name: SEEDED[name] for name in path_parameters or {} if name in SEEDED}
    if not real:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **real}])
