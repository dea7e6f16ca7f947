"""The reference of every spec key, generated from the pydantic models of whyflow/spec.py.

docs/spec.md is this module's output (`python -m whyflow.spec_reference docs/spec.md`); a test
regenerates it and fails when the committed file differs, so the reference cannot drift from the
model. `whyflow spec [KEY]` prints the same entries.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from whyflow.errors import SpecError
from whyflow.spec import AnalysisSpec
from whyflow.suggest import closest_names

__all__ = ["KeyDoc", "spec_keys", "render_markdown", "render_text", "select_keys", "REGENERATE"]

REGENERATE = "python -m whyflow.spec_reference docs/spec.md"
_SET_BY_WHYFLOW = ("name", "base_dir")
_WORDS = {str: "string", int: "integer", float: "number", bool: "true or false", Path: "path"}


@dataclass(frozen=True)
class KeyDoc:
    """One key of the spec: its dotted path and what the model says about it."""

    path: str
    type: str
    default: str
    example: str
    description: str
    group: bool  # a nested mapping whose keys follow


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _type_words(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args) + " (any case)"
    if origin in (Union, UnionType):
        return " or ".join(_type_words(a) for a in args if a is not type(None))
    if origin is list:
        return f"list of {_type_words(args[0])}s" if args else "list"
    if origin is dict:
        return "mapping" if not args or args[1] is Any else f"mapping of {_type_words(args[1])}s"
    if _nested_model(annotation) is not None:
        return "mapping"
    if annotation is Any:
        return "see description"
    return _WORDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(field: FieldInfo) -> str:
    words = []
    for rule in field.metadata:
        for kind, attribute, sign in ((Ge, "ge", ">="), (Gt, "gt", ">"), (Le, "le", "<="), (Lt, "lt", "<"),
                                      (MinLen, "min_length", "at least"), (MaxLen, "max_length", "at most")):
            if isinstance(rule, kind):
                value = getattr(rule, attribute)
                words.append(f"{sign} {value} item{'s' * (value != 1)}" if kind in (MinLen, MaxLen) else f"{sign} {value}")
    return f" ({', '.join(words)})" if words else ""


def _value(value: Any) -> str:
    """A value as it is written in params.yaml."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        made = field.default_factory()
        return "(the keys below)" if isinstance(made, BaseModel) else _value(made)
    if field.default is PydanticUndefined:
        return "required"
    return _value(field.default)


def _example(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    return _value(extra["example"]) if "example" in extra else ""


def _walk(model: type[BaseModel], prefix: str) -> list[KeyDoc]:
    docs = []
    for key, field in model.model_fields.items():
        if not prefix and key in _SET_BY_WHYFLOW:
            continue
        if not field.description:
            raise ValueError(f"spec key {prefix + key!r} must have a Field(description=...); got none")
        nested = _nested_model(field.annotation)
        optional = type(None) in get_args(field.annotation)
        docs.append(KeyDoc(prefix + key, _type_words(field.annotation) + _bounds(field) + (", optional" if optional
                                                                                           else ""), _default(field),
                           _example(field), field.description, nested is not None))
        if nested is not None:
            docs.extend(_walk(nested, f"{prefix}{key}."))
    return docs


def spec_keys() -> list[KeyDoc]:
    """Every key of one analysis, nested keys after their parent, in the models' order."""
    return _walk(AnalysisSpec, "")


def select_keys(key: str | None) -> list[KeyDoc]:
    """The entry of `key` and, for a nested group, every key under it; every key for None."""
    docs = spec_keys()
    if not key:
        return docs
    chosen = [d for d in docs if d.path == key or d.path.startswith(key + ".")]
    if not chosen:
        near = closest_names(key, [d.path for d in docs], n=3) or closest_names(
            key.rpartition(".")[2], [d.path for d in docs], n=3)
        names = [repr(n) for n in near]
        hint = f"; did you mean {' or '.join([', '.join(names[:-1]), names[-1]] if len(names) > 1 else names)}?" \
            if names else ""
        raise SpecError(f"spec key {key!r} is not a key of the analysis spec{hint} (`whyflow spec` lists every key)")
    return chosen


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def render_markdown() -> str:
    """docs/spec.md: the top-level keys, then one table per nested group."""
    docs = spec_keys()
    lines = ["# The analysis spec", "",
             f"<!-- Generated from whyflow/spec.py by `{REGENERATE}`; do not edit by hand. -->", "",
             "Each analysis under `analyses:` in `params.yaml` is a mapping of the keys below; paths are relative to",
             "`params.yaml`. An unknown key, a missing column or a bad value stops the run before any work (exit 2)",
             "with one line naming the analysis, the key and what was expected; words from a fixed set of choices",
             "(`estimand: ATT`) are accepted in any case. `whyflow spec KEY` prints one key or one group, and",
             "`--set KEY=VALUE` overrides any key for one run (dotted for nested keys: `--set gates.min_rows=500`).",
             ""]
    groups = [""] + [d.path for d in docs if d.group]
    for group in groups:
        prefix = f"{group}." if group else ""
        rows = [d for d in docs if d.path.startswith(prefix) and "." not in d.path[len(prefix):]]
        title = f"`{group}`" if group else "Keys of an analysis"
        parent = next((d for d in docs if d.path == group), None)
        lines += [f"## {title}", ""]
        if parent is not None:
            lines += [parent.description[0].upper() + parent.description[1:] + ".", ""]
        lines += ["| key | type | default | example | description |", "|---|---|---|---|---|"]
        for d in rows:
            lines.append(f"| `{d.path}` | {_cell(d.type)} | {_cell(d.default)} | "
                         f"{_cell(f'`{d.example}`' if d.example else '')} | {_cell(d.description)} |")
        lines.append("")
    return "\n".join(lines)


def render_text(docs: list[KeyDoc]) -> str:
    """The entries for a terminal: the key, then type, default, example and description indented."""
    blocks = []
    for d in docs:
        facts = [d.type, f"default {d.default}"] + ([f"e.g. {d.example}"] if d.example else [])
        blocks.append(f"{d.path}\n    {'; '.join(facts)}\n    {d.description}")
    return "\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    """Write the Markdown reference to the given file, or print it."""
    args = sys.argv[1:] if argv is None else argv
    text = render_markdown()
    if args:
        Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(args[0]).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
