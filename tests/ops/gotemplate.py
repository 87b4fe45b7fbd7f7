"""A small renderer for the Go text/template + Sprig subset the psd2-gateway chart uses.

No ``helm`` binary can run here, so the chart tests render the templates with this instead and
then check the manifests as YAML. It follows Helm where a chart author gets bitten:

- values numbers are float64 (printed ``1e+06`` from a million, as Helm does); ``int``/``add`` give ints;
- a field of a missing map key is an error ("nil pointer evaluating"), a missing key itself is empty;
- ``eq``/``lt``/... refuse to compare an int with a float or a string;
- an unknown function, an unclosed block or an undefined template is an error, never ignored.

It is not Helm: no ``tpl``, ``lookup``, ``.Capabilities`` or the long tail of Sprig. The chart keeps
to what is implemented here, and the tests fail loudly on anything else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml


class TemplateError(Exception):
    """A template that Helm would refuse (or a ``fail``/``required`` that fired)."""


class GoFloat(float):
    """A number from values: Helm reads values through JSON, so every number is a float64."""


def go_values(value: Any) -> Any:
    """Values as Helm sees them after its YAML -> JSON round trip."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return GoFloat(value)
    if isinstance(value, Mapping):
        return {str(k): go_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [go_values(v) for v in value]
    return value


# --- lexing and parsing -------------------------------------------------------------------

ACTION = re.compile(r"\{\{(-[ \t\r\n])?(.*?)([ \t\r\n]-)?\}\}", re.S)
TOKEN = re.compile(
    r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<op>:=|=|\(|\)|\||,)
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)


@dataclass
class Node:
    kind: str  # text, output, set, if, range, with, define, template
    text: str = ""
    pipe: list[Any] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # variables declared or assigned
    declare: bool = True
    branches: list[tuple[list[Any] | None, list[Node]]] = field(default_factory=list)


def _tokens(source: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    trim_next = False
    for m in ACTION.finditer(source):
        text = source[pos : m.start()]
        if trim_next:
            text = text.lstrip()
        if m.group(1):
            text = text.rstrip()
        out.append(("text", text))
        out.append(("action", m.group(2).strip()))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = source[pos:]
    out.append(("text", tail.lstrip() if trim_next else tail))
    return out


def _lex_pipe(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot parse action near {text[pos:]!r}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return tokens


def _parse_pipeline(tokens: list[tuple[str, str]]) -> list[Any]:
    """A pipeline is a list of commands; a command is a list of operands."""
    commands: list[Any] = [[]]
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if value == "|" and kind == "op":
            commands.append([])
        elif value == "(" and kind == "op":
            depth, j = 1, i + 1
            while depth:
                if j >= len(tokens):
                    raise TemplateError("unclosed parenthesis")
                depth += {"(": 1, ")": -1}.get(tokens[j][1], 0) if tokens[j][0] == "op" else 0
                j += 1
            commands[-1].append(("pipe", _parse_pipeline(tokens[i + 1 : j - 1])))
            i = j
            continue
        else:
            commands[-1].append((kind, value))
        i += 1
    return commands


def _parse_action_pipe(text: str) -> tuple[list[str], bool, list[Any]]:
    tokens = _lex_pipe(text)
    names: list[str] = []
    for n, (kind, value) in enumerate(tokens):
        if kind == "op" and value in (":=", "="):
            names = [v for k, v in tokens[:n] if k == "var"]
            return names, value == ":=", _parse_pipeline(tokens[n + 1 :])
    return names, True, _parse_pipeline(tokens)


def parse(source: str, defines: dict[str, list[Node]]) -> list[Node]:
    """Parse ``source`` into nodes; ``define`` blocks go into ``defines``."""
    stack: list[tuple[Node, list[Node]]] = []
    body: list[Node] = []
    for kind, text in _tokens(source):
        if kind == "text":
            if text:
                body.append(Node("text", text=text))
            continue
        if text.startswith("/*"):
            continue
        word, _, rest = text.partition(" ")
        if word in ("if", "range", "with"):
            names, declare, pipe = _parse_action_pipe(rest)
            node = Node(word, names=names, declare=declare)
            node.branches.append((pipe, []))
            body.append(node)
            stack.append((node, body))
            body = node.branches[-1][1]
        elif word == "define":
            node = Node("define", text=json.loads(rest.strip()))
            node.branches.append((None, []))
            stack.append((node, body))
            body = node.branches[-1][1]
        elif word == "else":
            if not stack:
                raise TemplateError("else without if/range/with")
            node = stack[-1][0]
            cond = rest.strip()
            if cond.startswith("if "):
                node.branches.append((_parse_action_pipe(cond[3:])[2], []))
            else:
                node.branches.append((None, []))
            body = node.branches[-1][1]
        elif word == "end":
            if not stack:
                raise TemplateError("end without a block")
            node, body = stack.pop()
            if node.kind == "define":
                defines[node.text] = node.branches[0][1]
        elif word == "template":
            name_token, _, arg = rest.strip().partition(" ")
            body.append(Node("template", text=json.loads(name_token), pipe=_parse_pipeline(_lex_pipe(arg))))
        else:
            names, declare, pipe = _parse_action_pipe(text)
            body.append(Node("set" if names else "output", pipe=pipe, names=names, declare=declare))
    if stack:
        raise TemplateError(f"unclosed {stack[-1][0].kind}")
    return body


# --- values, truth and printing -----------------------------------------------------------


def truthy(value: Any) -> bool:
    return not (value is None or value is False or value == 0 or value in ("", [], {}))


def go_str(value: Any) -> str:
    if value is None:
        return ""  # Helm replaces "<no value>" with nothing
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, GoFloat):
        return _go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def _go_float(value: float) -> str:
    """Go's %v for a float64: shortest digits, exponent form from 1e+06 up (the Helm gotcha)."""
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    exp = len(digits) + exponent - 1
    if -4 <= exp < 6:
        return repr(float(value)).removesuffix(".0")
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, GoFloat):
        return "float"
    if isinstance(value, int):
        return "int"
    return type(value).__name__


def _comparable(a: Any, b: Any) -> None:
    if a is not None and b is not None and _kind(a) != _kind(b):
        raise TemplateError(f"incompatible types for comparison: {_kind(a)} and {_kind(b)}")


def to_yaml(value: Any) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, GoFloat):
            return int(v) if v.is_integer() else float(v)
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    return yaml.safe_dump(plain(value), default_flow_style=False, sort_keys=True, width=1 << 20).rstrip("\n")


def _printf(fmt: str, *args: Any) -> str:
    values = iter(args)

    def verb(m: re.Match[str]) -> str:
        if m.group(0) == "%%":
            return "%"
        value = next(values)
        if m.group(1) == "q":
            return json.dumps(go_str(value))
        if m.group(1) == "d" and not (isinstance(value, int) and not isinstance(value, GoFloat | bool)):
            return f"%!d({_kind(value)}={go_str(value)})"
        return go_str(value)

    return re.sub(r"%%|%([svdq])", verb, fmt)


def _int(value: Any) -> int:
    try:
        return int(float(value)) if value not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def _indent(n: Any, text: Any) -> str:
    pad = " " * int(n)
    return pad + go_str(text).replace("\n", "\n" + pad)


def _fail(message: str) -> str:
    raise TemplateError(message)


def _required(message: str, value: Any) -> Any:
    if value is None or value == "":
        raise TemplateError(message)
    return value


def _and(*args: Any) -> Any:
    for a in args:
        if not truthy(a):
            return a
    return args[-1]


def _or(*args: Any) -> Any:
    for a in args:
        if truthy(a):
            return a
    return args[-1]


def _eq(a: Any, *others: Any) -> bool:
    for b in others:
        _comparable(a, b)
    return any(a == b for b in others)


def _cmp(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        _comparable(a, b)
        return op(a, b)

    return compare


def _print(*args: Any) -> str:
    out = ""
    for n, a in enumerate(args):
        if n and not isinstance(a, str) and not isinstance(args[n - 1], str):
            out += " "
        out += go_str(a)
    return out


FUNCS: dict[str, Callable[..., Any]] = {
    "toYaml": to_yaml,
    "toJson": lambda v: json.dumps(v, separators=(",", ":"), sort_keys=True),
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "indent": _indent,
    "quote": lambda *a: " ".join(json.dumps(go_str(v)) for v in a if v is not None),
    "squote": lambda *a: " ".join(f"'{go_str(v)}'" for v in a if v is not None),
    "default": lambda d, *v: v[0] if v and truthy(v[0]) else d,
    "required": _required,
    "fail": _fail,
    "printf": _printf,
    "print": _print,
    "trunc": lambda n, s: go_str(s)[: int(n)],
    "trimSuffix": lambda suffix, s: go_str(s).removesuffix(suffix),
    "contains": lambda sub, s: go_str(sub) in go_str(s),
    "replace": lambda old, new, s: go_str(s).replace(old, new),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "toString": go_str,
    "int": _int,
    "add": lambda *a: sum(_int(v) for v in a),
    "sub": lambda a, b: _int(a) - _int(b),
    "empty": lambda v: not truthy(v),
    "not": lambda v: not truthy(v),
    "and": _and,
    "or": _or,
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _cmp(lambda a, b: a < b),
    "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b),
    "ge": _cmp(lambda a, b: a >= b),
    "sha256sum": lambda s: hashlib.sha256(go_str(s).encode()).hexdigest(),
    "b64enc": lambda s: base64.b64encode(go_str(s).encode()).decode(),
    "list": lambda *a: list(a),
    "hasKey": lambda d, k: k in d,
}


# --- evaluation ---------------------------------------------------------------------------


class Files:
    def __init__(self, chart: Path) -> None:
        self.chart = chart

    def Get(self, name: str) -> str:
        path = self.chart / name
        return path.read_text() if path.is_file() else ""


class Renderer:
    """Renders a chart directory with given values, like ``helm template``."""

    def __init__(self, chart: Path, values: Mapping[str, Any], release: str = "gw", namespace: str = "psd2"):
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        self.chart = chart
        self.defines: dict[str, list[Node]] = {}
        self.files: dict[str, list[Node]] = {}
        base = f"{meta['name']}/templates"
        for path in sorted((chart / "templates").iterdir()):
            self.files[f"{base}/{path.name}"] = parse(path.read_text(), self.defines)
        self.root = {
            "Values": go_values(dict(values)),
            "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"]},
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
            "Template": {"BasePath": base},
            "Files": Files(chart),
        }
        self.funcs = {**FUNCS, "include": self._include}

    def render_all(self) -> dict[str, str]:
        """File name -> rendered text, for every template not starting with ``_``."""
        return {
            name.rsplit("/", 1)[1]: self._run(nodes, self.root, [{"$": self.root}])
            for name, nodes in self.files.items()
            if not name.rsplit("/", 1)[1].startswith("_")
        }

    def _include(self, name: str, dot: Any) -> str:
        nodes = self.defines.get(name, self.files.get(name))
        if nodes is None:
            raise TemplateError(f"no template {name!r}")
        return self._run(nodes, dot, [{"$": dot}])

    def _run(self, nodes: list[Node], dot: Any, scopes: list[dict[str, Any]]) -> str:
        out: list[str] = []
        for node in nodes:
            if node.kind == "text":
                out.append(node.text)
            elif node.kind == "output":
                out.append(go_str(self._pipe(node.pipe, dot, scopes)))
            elif node.kind == "set":
                self._assign(node, self._pipe(node.pipe, dot, scopes), scopes)
            elif node.kind == "template":
                out.append(self._include(node.text, self._pipe(node.pipe, dot, scopes)))
            elif node.kind == "if":
                out.append(self._if(node, dot, scopes))
            elif node.kind == "with":
                out.append(self._with(node, dot, scopes))
            elif node.kind == "range":
                out.append(self._range(node, dot, scopes))
        return "".join(out)

    def _assign(self, node: Node, value: Any, scopes: list[dict[str, Any]]) -> None:
        name = node.names[-1]
        if node.declare:
            scopes[-1][name] = value
            return
        for scope in reversed(scopes):
            if name in scope:
                scope[name] = value
                return
        raise TemplateError(f"undefined variable {name}")

    def _if(self, node: Node, dot: Any, scopes: list[dict[str, Any]]) -> str:
        for pipe, body in node.branches:
            if pipe is None or truthy(self._pipe(pipe, dot, scopes)):
                return self._run(body, dot, [*scopes, {}])
        return ""

    def _with(self, node: Node, dot: Any, scopes: list[dict[str, Any]]) -> str:
        (pipe, body), *rest = node.branches
        value = self._pipe(pipe or [], dot, scopes)
        if truthy(value):
            return self._run(body, value, [*scopes, {}])
        return self._run(rest[0][1], dot, [*scopes, {}]) if rest else ""

    def _range(self, node: Node, dot: Any, scopes: list[dict[str, Any]]) -> str:
        (pipe, body), *rest = node.branches
        value = self._pipe(pipe or [], dot, scopes)
        if not truthy(value):
            return self._run(rest[0][1], dot, [*scopes, {}]) if rest else ""
        items = sorted(value.items()) if isinstance(value, dict) else list(enumerate(value))
        out = []
        for key, item in items:
            scope: dict[str, Any] = {}
            if len(node.names) == 2:
                scope[node.names[0]], scope[node.names[1]] = key, item
            elif node.names:
                scope[node.names[0]] = item
            out.append(self._run(body, item, [*scopes, scope]))
        return "".join(out)

    def _pipe(self, commands: list[Any], dot: Any, scopes: list[dict[str, Any]]) -> Any:
        result: Any = _NOTHING
        for command in commands:
            result = self._command(command, dot, scopes, result)
        return None if result is _NOTHING else result

    def _command(self, command: list[Any], dot: Any, scopes: list[dict[str, Any]], piped: Any) -> Any:
        (kind, value), *rest = command
        args = [self._operand(op, dot, scopes) for op in rest]
        if piped is not _NOTHING:
            args.append(piped)
        if kind == "ident" and value not in ("true", "false", "nil"):
            if value not in self.funcs:
                raise TemplateError(f"function {value!r} not defined")
            return self.funcs[value](*args)
        head = self._operand((kind, value), dot, scopes)
        if callable(head):
            return head(*args)
        if args:
            raise TemplateError(f"{value} is not a function but gets arguments")
        return head

    def _operand(self, op: tuple[str, Any], dot: Any, scopes: list[dict[str, Any]]) -> Any:
        kind, value = op
        if kind == "pipe":
            return self._pipe(value, dot, scopes)
        if kind == "str":
            return value[1:-1] if value.startswith("`") else json.loads(value)
        if kind == "num":
            return float(value) if "." in value else int(value)
        if kind == "ident":
            return {"true": True, "false": False, "nil": None}[value]
        if kind == "field":
            return dot if value == "." else _fields(dot, value[1:].split("."), value)
        if kind == "var":
            name, *path = value.split(".")
            for scope in reversed(scopes):
                if name in scope:
                    return _fields(scope[name], path, value)
            raise TemplateError(f"undefined variable {name}")
        raise TemplateError(f"unexpected {value!r}")


_NOTHING = object()


def _fields(value: Any, path: list[str], text: str) -> Any:
    for n, name in enumerate(path):
        if value is None:
            raise TemplateError(f"nil pointer evaluating {'.'.join(path[:n]) or '.'}.{name} in {text}")
        if isinstance(value, Mapping):
            value = value.get(name)
        elif hasattr(value, name):
            value = getattr(value, name)
        else:
            raise TemplateError(f"can't evaluate field {name} in {text}")
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's values coalescing: maps merge recursively, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
