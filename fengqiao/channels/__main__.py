"""Write docs/channels/<channel>.schema.json from the adapters: ``python -m fengqiao.channels``.

A test fails when the committed schemas and the code disagree."""
from __future__ import annotations

import json
from pathlib import Path

from fengqiao.channels import ADAPTERS

DOCS = Path(__file__).parents[2] / "docs" / "channels"


def schema_text(channel: str) -> str:
    adapter = ADAPTERS[channel]
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": adapter.title,
              **adapter.model_json_schema()}
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    for channel in ADAPTERS:
        (DOCS / f"{channel}.schema.json").write_text(schema_text(channel), encoding="utf-8")
        print(DOCS / f"{channel}.schema.json")
