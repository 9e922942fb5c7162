"""Read-modify-write on the store port with optimistic concurrency, for domain code.

``change(doc)`` returns the changes to write, or None when nothing needs changing; it may raise
to refuse. A write that loses a race is retried on a fresh read, so concurrent workers never
overwrite each other's changes.
"""
from __future__ import annotations

from collections.abc import Callable

from fengqiao.store import Collection, Document, DuplicateKeyError

MAX_CONFLICT_RETRIES = 20
Change = Callable[[Document], Document | None]


def _apply(collection: Collection, doc_id: str, change: Change,
           when_missing: Callable[[], Document | None]) -> tuple[Document, bool]:
    for _ in range(MAX_CONFLICT_RETRIES):
        doc = collection.get(doc_id)
        if doc is None:
            created = when_missing()
            if created is not None:
                return created, True
            continue  # someone created it meanwhile: change theirs
        changes = change(doc)
        if changes is None:
            return doc, False
        updated = collection.update(doc_id, changes, expected_version=doc["version"])
        if updated:
            return updated, True
    raise RuntimeError(f"{doc_id}: gave up after {MAX_CONFLICT_RETRIES} write conflicts")


def update(collection: Collection, doc_id: str, change: Change,
           missing: Callable[[], Exception] | None = None) -> tuple[Document, bool]:
    """Apply ``change`` to an existing document: (the document now, whether it changed).
    A missing document raises ``missing()`` (LookupError by default)."""
    def when_missing():
        raise (missing or (lambda: LookupError(f"{collection.name} {doc_id} not found")))()

    return _apply(collection, doc_id, change, when_missing)


def upsert(collection: Collection, doc_id: str, change: Change, initial: Document) -> tuple[Document, bool]:
    """Like ``update``, but a missing document starts as ``initial`` (plus the changes)."""
    def when_missing():
        try:
            return collection.insert({"id": doc_id, **initial, **(change(dict(initial)) or {})})
        except DuplicateKeyError:
            return None

    return _apply(collection, doc_id, change, when_missing)
