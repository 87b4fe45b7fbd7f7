"""RFC 8941 structured fields: the dictionary parser and the serialisers RFC 9421 needs.

Hand-written because the signature base embeds the *serialised* ``@signature-params`` inner
list (RFC 9421 section 2.3), so parsing and serialising must round-trip exactly. Every parse
failure is a ``StructuredFieldError`` (a ``ValueError``); callers turn it into their own error.
"""

from __future__ import annotations

import base64
import binascii
import string
from dataclasses import dataclass, field
from decimal import Decimal

# A bounded input keeps the parser's worst case small; real Signature-Input values are < 1 KiB.
MAX_FIELD_LENGTH = 8192

_LCALPHA = frozenset(string.ascii_lowercase)
_KEY_START = _LCALPHA | {"*"}
_KEY_CHARS = _LCALPHA | frozenset(string.digits) | frozenset("_-.*")
_TOKEN_START = frozenset(string.ascii_letters) | {"*"}
_TCHARS = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~:/")
_BASE64_CHARS = frozenset(string.ascii_letters + string.digits + "+/=")


class StructuredFieldError(ValueError):
    pass


class Token(str):
    """An sf-token (RFC 8941 section 3.3.4), distinct from an sf-string when serialised."""

    __slots__ = ()


BareItem = int | Decimal | str | Token | bytes | bool
Params = dict[str, BareItem]


@dataclass(frozen=True)
class Item:
    value: BareItem
    params: Params = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    items: tuple[Item, ...]
    params: Params = field(default_factory=dict)


Member = Item | InnerList


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse an sf-dictionary (RFC 8941 section 4.2.2); a repeated key keeps its last value."""
    if len(text) > MAX_FIELD_LENGTH or not text.isascii():
        raise StructuredFieldError("field too long or not ASCII")
    parser = _Parser(text)
    result: dict[str, Member] = {}
    parser.skip(" ")
    while not parser.done():
        key = parser.key()
        if parser.peek() == "=":
            parser.pos += 1
            result[key] = parser.member()
        else:
            result[key] = Item(True, parser.params())
        parser.skip(" \t")
        if parser.done():
            return result
        parser.expect(",")
        parser.skip(" \t")
        if parser.done():
            raise StructuredFieldError("trailing comma")
    return result


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text.rstrip(" ")
        self.pos = 0

    def done(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise StructuredFieldError(f"expected {char!r}")
        self.pos += 1

    def take_while(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.peek() and self.peek() in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def key(self) -> str:
        if self.peek() not in _KEY_START or not self.peek():
            raise StructuredFieldError("bad key")
        return self.take_while(_KEY_CHARS)

    def member(self) -> Member:
        if self.peek() != "(":
            return self.item()
        self.pos += 1
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise StructuredFieldError("bad inner list")

    def item(self) -> Item:
        return Item(self.bare_item(), self.params())

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == "-" or char.isdigit():
            return self.number()
        if char == '"':
            return self.string()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char and char in _TOKEN_START:
            return Token(self.take_while(_TCHARS))
        raise StructuredFieldError("bad item")

    def number(self) -> int | Decimal:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        digits = self.take_while(frozenset(string.digits))
        if not digits or len(digits) > 15:
            raise StructuredFieldError("bad integer")
        if self.peek() != ".":
            return int(self.text[start : self.pos])
        self.pos += 1
        fraction = self.take_while(frozenset(string.digits))
        if len(digits) > 12 or not 1 <= len(fraction) <= 3:
            raise StructuredFieldError("bad decimal")
        return Decimal(self.text[start : self.pos])

    def string(self) -> str:
        self.pos += 1
        out: list[str] = []
        while (char := self.peek()) != '"':
            if not char or not " " <= char <= "~":
                raise StructuredFieldError("bad string")
            if char == "\\":
                self.pos += 1
                char = self.peek()
                if char not in ('"', "\\") or not char:
                    raise StructuredFieldError("bad escape")
            out.append(char)
            self.pos += 1
        self.pos += 1
        return "".join(out)

    def byte_sequence(self) -> bytes:
        self.pos += 1
        encoded = self.take_while(_BASE64_CHARS)
        self.expect(":")
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error as e:
            raise StructuredFieldError("bad byte sequence") from e

    def boolean(self) -> bool:
        self.pos += 1
        char = self.peek()
        if char not in ("0", "1") or not char:
            raise StructuredFieldError("bad boolean")
        self.pos += 1
        return char == "1"


def serialize_bare_item(value: BareItem) -> str:
    """RFC 8941 section 4.1.3.1; bool is tested first because it is an int in Python."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return _serialize_decimal(value)
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    if isinstance(value, Token):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_decimal(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.001')).normalize():f}"
    return text if "." in text else text + ".0"


def serialize_params(params: Params) -> str:
    return "".join(f";{k}" if v is True else f";{k}={serialize_bare_item(v)}" for k, v in params.items())


def serialize_item(item: Item) -> str:
    return serialize_bare_item(item.value) + serialize_params(item.params)


def serialize_inner_list(inner: InnerList) -> str:
    return "(" + " ".join(serialize_item(i) for i in inner.items) + ")" + serialize_params(inner.params)


def serialize_dictionary(members: dict[str, Member]) -> str:
    parts = []
    for key, member in members.items():
        if isinstance(member, InnerList):
            parts.append(f"{key}={serialize_inner_list(member)}")
        elif member.value is True:
            parts.append(key + serialize_params(member.params))
        else:
            parts.append(f"{key}={serialize_item(member)}")
    return ", ".join(parts)
