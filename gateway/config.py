"""YAML to typed models: unknown keys, wrong types and bad ranges fail loudly at load.

Every error names the file, the line and the YAML path (``policies/x.yaml:12 routes[3].policies[0]``),
because the people who read them are policy authors and SREs, not Python programmers.

Models are frozen dataclasses. A field documents itself with ``doc()`` metadata (description
and optional range); ``build(Model, data, where)`` turns located YAML into the model.
We do not take pydantic for this: one more heavy runtime dependency for ~150 lines of
checking we need to control (YAML lines in messages, our own error type).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from gateway.errors import GatewayError

T = TypeVar("T")


class ConfigError(GatewayError):
    """A configuration value is wrong; the message says where and why."""


class LocatedDict(dict[str, Any]):
    """A YAML mapping that remembers the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A YAML sequence that remembers the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


class _LocatingLoader(yaml.SafeLoader):
    """SafeLoader that records lines and rejects duplicate keys (a silent override hides a bug)."""


def _construct_mapping(loader: _LocatingLoader, node: yaml.MappingNode) -> LocatedDict:
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConfigError(f"line {key_node.start_mark.line + 1}: keys must be strings, got {key!r}")
        if key in result:
            raise ConfigError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _LocatingLoader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LocatingLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file into located dicts and lists; any YAML problem is a ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    try:
        return yaml.load(text, Loader=_LocatingLoader)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    except (ValueError, OverflowError) as e:  # a scalar PyYAML parses but cannot build, e.g. date 0000-01-01
        raise ConfigError(f"{path}: not valid YAML: {e}") from e


@dataclass(frozen=True)
class Where:
    """A place in a YAML file: file, YAML path and line, for error messages."""

    file: str
    path: str = ""
    line: int = 0

    def child(self, name: str | int, line: int = 0) -> Where:
        sub = f"[{name}]" if isinstance(name, int) else (f".{name}" if self.path else name)
        return Where(self.file, self.path + sub, line or self.line)

    def key(self, name: str, mapping: Any) -> Where:
        """The place of ``name`` inside ``mapping`` (a LocatedDict when it came from YAML)."""
        return self.child(name, getattr(mapping, "key_lines", {}).get(name, 0))

    def error(self, message: str) -> ConfigError:
        line = f":{self.line}" if self.line else ""
        path = f" {self.path}" if self.path else ""
        return ConfigError(f"{self.file}{line}{path}: {message}")


def doc(
    description: str,
    *,
    default: Any = dataclasses.MISSING,
    minimum: float | None = None,
    maximum: float | None = None,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A model field with its description and optional range (shown in errors and docs)."""
    meta = {"doc": description, "min": minimum, "max": maximum}
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def build(model: type[T], data: Any, where: Where) -> T:
    """Check ``data`` (from ``load_yaml`` or plain dicts) against a dataclass model and build it."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise where.error(f"expected a mapping, got {_kind(data)}")
    fields = {f.name.replace("_", "-"): f for f in dataclasses.fields(model)}  # type: ignore[arg-type]
    hints = get_type_hints(model)
    lines: Mapping[str, int] = getattr(data, "key_lines", {})
    unknown = [
        k for k in data if not isinstance(k, str) or (k not in fields and k.replace("-", "_") not in hints)
    ]
    if unknown:
        allowed = ", ".join(sorted(fields))
        key = unknown[0]
        raise where.child(str(key), lines.get(key, 0)).error(f"unknown key (allowed: {allowed})")
    values: dict[str, Any] = {}
    for yaml_name, f in fields.items():
        raw_key = yaml_name if yaml_name in data else f.name
        if raw_key not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise where.error(f"missing required key {yaml_name!r} ({f.metadata.get('doc', '')})")
            continue
        here = where.child(yaml_name, lines.get(raw_key, 0))
        value = convert(hints[f.name], data[raw_key], here)
        _check_range(value, f.metadata, here)
        values[f.name] = value
    try:
        return model(**values)
    except (ValueError, TypeError) as e:  # __post_init__ cross-field checks
        raise where.error(str(e)) from e


def convert(kind: Any, value: Any, where: Where) -> Any:
    """Convert one YAML value to the annotated type, or raise a ConfigError at ``where``."""
    origin = get_origin(kind)
    if dataclasses.is_dataclass(kind):
        return build(typing.cast(type, kind), value, where)
    if origin in (Union, types.UnionType):
        return _convert_union(kind, value, where)
    if origin is Literal:
        if value not in get_args(kind):
            raise where.error(f"must be one of {', '.join(map(str, get_args(kind)))}; got {value!r}")
        return value
    if origin in (list, tuple):
        return _convert_list(kind, value, where)
    if origin in (dict, Mapping):
        return _convert_dict(kind, value, where)
    return _convert_scalar(kind, value, where)


def _convert_union(kind: Any, value: Any, where: Where) -> Any:
    args = get_args(kind)
    if value is None and type(None) in args:
        return None
    last: ConfigError | None = None
    for arg in (a for a in args if a is not type(None)):
        try:
            return convert(arg, value, where)
        except ConfigError as e:
            last = e
    assert last is not None
    raise last


def _convert_list(kind: Any, value: Any, where: Where) -> Any:
    if not isinstance(value, list):
        raise where.error(f"expected a list, got {_kind(value)}")
    item_type = get_args(kind)[0] if get_args(kind) else Any
    lines = getattr(value, "item_lines", [])
    items = [
        convert(item_type, item, where.child(i, lines[i] if i < len(lines) else 0))
        for i, item in enumerate(value)
    ]
    return tuple(items) if get_origin(kind) is tuple else items


def _convert_dict(kind: Any, value: Any, where: Where) -> Any:
    if not isinstance(value, Mapping):
        raise where.error(f"expected a mapping, got {_kind(value)}")
    key_type, value_type = get_args(kind) or (str, Any)
    lines: Mapping[str, int] = getattr(value, "key_lines", {})
    return {
        convert(key_type, k, where.child(str(k), lines.get(k, 0))): convert(
            value_type, v, where.child(str(k), lines.get(k, 0))
        )
        for k, v in value.items()
    }


def _convert_scalar(kind: Any, value: Any, where: Where) -> Any:
    if kind is Any:
        return value
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise where.error(f"expected true or false, got {value!r}")
    if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise where.error(f"expected a whole number, got {value!r}")
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise where.error(f"expected a number, got {value!r}")
        return float(value)
    if kind is str and not isinstance(value, str):
        raise where.error(f"expected a string, got {_kind(value)}")
    if kind is Path:
        if not isinstance(value, str) or not value:
            raise where.error(f"expected a file path, got {value!r}")
        return Path(value)
    if isinstance(kind, type) and not isinstance(value, kind):
        raise where.error(f"expected {kind.__name__}, got {_kind(value)}")
    return value


def _check_range(value: Any, meta: Mapping[str, Any], where: Where) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    low, high = meta.get("min"), meta.get("max")
    if low is not None and value < low:
        raise where.error(f"must be at least {low}; got {value}")
    if high is not None and value > high:
        raise where.error(f"must be at most {high}; got {value}")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value).__mro__[1] if type(value) in (LocatedDict, LocatedList) else type(value),
        type(value).__name__,
    )
