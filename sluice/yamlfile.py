"""The one YAML reader for the files people write: recipes, training configs, LLM files.

``read_yaml`` parses a file and returns its data with a ``locate`` function; both kinds of error
name the file and line: a YAML syntax error as ``FILE:LINE:COLUMN: not valid YAML (…)``, and a
setting a schema refuses (``locate(("stages", 2, "max_turns"))``) as ``FILE:LINE`` of that key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sluice.errors import RecipeError


@dataclass
class YamlFile:
    path: Path
    data: Any
    locate: Callable[[tuple], str]  # a key path → "FILE:LINE" of the deepest node on it ("FILE" if none)


def read_yaml(path: str | Path, *, what: str, hint: str = "") -> YamlFile:
    """Parse ``path`` (a ``what``: "recipe file", "config file" …); a missing file (with ``hint``) or an
    unparsable one is a ``RecipeError`` naming the file, and for bad YAML the line and column."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"no {what} at {path}", hint=hint or None)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise RecipeError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or str(e).splitlines()[0]})"
                          ) from None
    return YamlFile(path, data, _locator(path, text))


def _locator(path: Path, text: str) -> Callable[[tuple], str]:
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        root = None

    def locate(loc: tuple) -> str:
        node, line = root, None
        for key in loc:
            if node is None:
                break
            line = node.start_mark.line + 1
            if isinstance(node, yaml.MappingNode):
                match = next(((k, v) for k, v in node.value if getattr(k, "value", None) == str(key)), None)
                if match is None:
                    break
                line = match[0].start_mark.line + 1  # the key's own line
                node = match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
                node = node.value[key]
                line = node.start_mark.line + 1
            else:
                break
        return f"{path}:{line}" if line else str(path)

    return locate
