"""Source ids reused by different conversations: counted, and told apart by their content.

A row's id hashes its source and source id (ARCHITECTURE.md, "Records and identity"), so two *different* records that a
gateway logged under one id would share it. The first keeps the id; each later one with other
content gets the id of its content instead. Memory: 16 bytes per row with a source id (two
sorted uint64 arrays), whatever the input size in chunks.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def _key(hex_id: str) -> int:
    return int(hex_id[:16], 16)


class IdCollisions:
    def __init__(self) -> None:
        self.keys = np.empty(0, np.uint64)  # sorted ids seen (first 64 bits)
        self.content = np.empty(0, np.uint64)  # content id of the first row that had each
        self.count = 0

    def resolve(self, table: pa.Table, content_ids: list[str | None]) -> pa.Table:
        """The table with the ids of colliding rows replaced by their content ids."""
        rows = [i for i, c in enumerate(content_ids) if c is not None]
        if not rows:
            return table
        ids = table.column("id").to_pylist()
        keys = np.array([_key(ids[i]) for i in rows], np.uint64)
        contents = [_key(content_ids[i]) for i in rows]
        pos = np.searchsorted(self.keys, keys)
        hit = pos < len(self.keys)
        hit[hit] = self.keys[pos[hit]] == keys[hit]
        local: dict[int, int] = {}
        changed = False
        for n, i in enumerate(rows):
            key, content = int(keys[n]), contents[n]
            first = int(self.content[pos[n]]) if hit[n] else local.get(key)
            if first is None:
                local[key] = content
            elif first != content:
                ids[i] = content_ids[i]
                self.count += 1
                changed = True
        if local:
            new_keys = np.array(sorted(local), np.uint64)
            at = np.searchsorted(self.keys, new_keys)
            self.keys = np.insert(self.keys, at, new_keys)
            self.content = np.insert(self.content, at, np.array([local[int(k)] for k in new_keys], np.uint64))
        if not changed:
            return table
        return table.set_column(table.schema.get_field_index("id"), table.schema.field("id"), pa.array(ids, pa.string()))
