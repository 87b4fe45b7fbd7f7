"""The qcStatements extension: encode it for test certificates, parse it from real ones.

    QCStatements ::= SEQUENCE OF QCStatement                     -- RFC 3739 clause 3.2.6
    QCStatement  ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL }
    QcType       ::= SEQUENCE OF OID                              -- EN 319 412-5 clause 4.2.3
    PSD2QcType   ::= SEQUENCE { rolesOfPSP RolesOfPSP, nCAName UTF8String, nCAId UTF8String }
    RolesOfPSP   ::= SEQUENCE OF SEQUENCE { roleOfPspOid OID, roleOfPspName UTF8String }
                                                                  -- TS 119 495 clauses 5.1, 5.2

Certificates in the wild bend this. With ``strict=False`` the parser accepts three known
deviations and names each in ``QcStatements.leniencies``; with ``strict=True`` each one is a
``CertificateParseError``. Anything else malformed is a ``CertificateParseError`` in both modes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from gateway.eidas import der
from gateway.eidas.oids import PSD2_STATEMENT, QC_COMPLIANCE, QC_TYPE, QC_TYPE_NAMES, QC_TYPE_OIDS, Role

# The extension value is one QCStatement, or several back to back, without the SEQUENCE OF.
LENIENCY_UNWRAPPED = "qcstatements-unwrapped"
# rolesOfPSP lists OID, name, OID, name ... instead of one SEQUENCE per role.
LENIENCY_ROLES_FLATTENED = "roles-flattened"
# roleOfPspName is a PrintableString, not the UTF8String TS 119 495 clause 5.2.2 requires.
LENIENCY_ROLE_NAME_NOT_UTF8 = "role-name-not-utf8"

Psd2Encoding = Literal["standard", "unwrapped", "flat-roles", "printable-names"]


class CertificateParseError(ValueError):
    """The certificate cannot be read as a PSD2 certificate; ``reason`` says precisely why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Psd2Statement:
    """The PSD2 QCStatement (TS 119 495 clause 5.1); roles are read from OIDs, names kept as sent."""

    roles: frozenset[Role]
    role_names: tuple[str, ...]
    nca_name: str
    nca_id: str


@dataclass(frozen=True, slots=True)
class QcStatements:
    compliance: bool
    qc_types: frozenset[str]
    psd2: Psd2Statement | None
    leniencies: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class _Notes:
    """Collects leniencies and warnings; in strict mode a leniency is an error instead."""

    strict: bool
    leniencies: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lenient(self, name: str, what: str) -> None:
        if self.strict:
            raise CertificateParseError(f"{what} ({name}; accepted only in lenient mode)")
        if name not in self.leniencies:
            self.leniencies.append(name)

    def warn(self, text: str) -> None:
        self.warnings.append(text)


def parse_qc_statements(value: bytes, *, strict: bool) -> QcStatements:
    """Parse the DER value of the qcStatements extension; unknown statements are ignored."""
    notes = _Notes(strict)
    try:
        return _parse(value, notes)
    except der.DerError as e:
        raise CertificateParseError(f"malformed qcStatements extension: {e}") from e


def _parse(value: bytes, notes: _Notes) -> QcStatements:
    compliance, qc_types, psd2 = False, frozenset[str](), None
    for statement_id, info in _statements(value, notes):
        if statement_id == QC_COMPLIANCE.dotted_string:
            compliance = True
        elif statement_id == QC_TYPE.dotted_string:
            qc_types = _qc_types(info, notes)
        elif statement_id == PSD2_STATEMENT.dotted_string:
            if psd2 is not None:
                raise CertificateParseError("more than one PSD2 QCStatement")
            psd2 = _psd2(info, notes)
    return QcStatements(compliance, qc_types, psd2, tuple(notes.leniencies), tuple(notes.warnings))


def _statements(value: bytes, notes: _Notes) -> Iterator[tuple[str, der.Tlv | None]]:
    top = der.read_all(value)
    if not top:
        raise der.DerError("the extension value is empty")
    if len(top) == 1 and _is_sequence_of_statements(top[0]):
        statements = der.children(top[0])
    elif all(_is_statement(tlv) for tlv in top):
        notes.lenient(LENIENCY_UNWRAPPED, "qcStatements is not wrapped in a SEQUENCE OF")
        statements = top
    else:
        raise der.DerError("the extension value is not a SEQUENCE OF QCStatement")
    for statement in statements:
        parts = der.children(statement)
        if not parts or len(parts) > 2:
            raise der.DerError(f"QCStatement has {len(parts)} elements, expected 1 or 2")
        yield der.decode_oid(parts[0]), (parts[1] if len(parts) == 2 else None)


def _is_sequence_of_statements(tlv: der.Tlv) -> bool:
    # The SEQUENCE OF holds SEQUENCEs (or nothing); a lone QCStatement starts with its OID instead.
    if tlv.tag != der.SEQUENCE:
        return False
    items = der.children(tlv)
    return not items or items[0].tag == der.SEQUENCE


def _is_statement(tlv: der.Tlv) -> bool:
    if tlv.tag != der.SEQUENCE:
        return False
    items = der.children(tlv)
    return bool(items) and items[0].tag == der.OBJECT_IDENTIFIER


def _qc_types(info: der.Tlv | None, notes: _Notes) -> frozenset[str]:
    if info is None:
        raise der.DerError("QcType statement without its SEQUENCE OF OID")
    names: set[str] = set()
    for item in der.children(info):
        oid = der.decode_oid(item)
        if oid in QC_TYPE_NAMES:
            names.add(QC_TYPE_NAMES[oid])
        else:
            notes.warn(f"unknown QcType {oid} ignored")
    return frozenset(names)


def _psd2(info: der.Tlv | None, notes: _Notes) -> Psd2Statement:
    if info is None:
        raise der.DerError("PSD2 QCStatement without its PSD2QcType")
    parts = der.children(info)
    if len(parts) != 3:
        raise der.DerError(f"PSD2QcType has {len(parts)} elements, expected 3")
    pairs = _role_pairs(der.children(parts[0]), notes)
    roles, names = _roles(pairs, notes)
    nca_name = der.decode_string(der.expect(parts[1], der.UTF8_STRING))
    nca_id = der.decode_string(der.expect(parts[2], der.UTF8_STRING))
    return Psd2Statement(roles, names, nca_name, nca_id)


def _role_pairs(items: Sequence[der.Tlv], notes: _Notes) -> list[tuple[der.Tlv, der.Tlv]]:
    if all(item.tag == der.SEQUENCE for item in items):
        pairs = [der.children(item) for item in items]
        if any(len(pair) != 2 for pair in pairs):
            raise der.DerError("RoleOfPSP must hold exactly an OID and a name")
        return [(pair[0], pair[1]) for pair in pairs]
    oids_ok = all(item.tag == der.OBJECT_IDENTIFIER for item in items[::2])
    names_ok = all(item.tag in (der.UTF8_STRING, der.PRINTABLE_STRING) for item in items[1::2])
    if len(items) % 2 or not (oids_ok and names_ok):
        raise der.DerError("RolesOfPSP is neither role SEQUENCEs nor OID/name pairs")
    notes.lenient(LENIENCY_ROLES_FLATTENED, "RolesOfPSP is flattened into OID, name, OID, name")
    return list(zip(items[::2], items[1::2], strict=True))


def _roles(
    pairs: Iterable[tuple[der.Tlv, der.Tlv]], notes: _Notes
) -> tuple[frozenset[Role], tuple[str, ...]]:
    roles: set[Role] = set()
    names: list[str] = []
    for oid_tlv, name_tlv in pairs:
        oid, name = der.decode_oid(oid_tlv), der.decode_string(name_tlv)
        if name_tlv.tag != der.UTF8_STRING:
            notes.lenient(LENIENCY_ROLE_NAME_NOT_UTF8, f"role name {name!r} is not a UTF8String")
        names.append(name)
        role = Role.from_oid(oid)
        if role is None:
            notes.warn(f"unknown PSD2 role OID {oid} ({name!r}) ignored")
        elif role.value != name:
            notes.warn(f"role name {name!r} disagrees with role OID {oid} ({role.value}); the OID wins")
        if role is not None:
            roles.add(role)
    # TS 119 495 clause 5.2.2 (GEN-5.2.2-1): RolesOfPSP holds one or more roles.
    if not names:
        raise CertificateParseError("PSD2 QCStatement lists no roles")
    return frozenset(roles), tuple(names)


def encode_qc_statements(
    *,
    compliance: bool = True,
    qc_types: Iterable[str] = ("web",),
    psd2: Psd2Statement | None = None,
    psd2_encoding: Psd2Encoding = "standard",
) -> bytes:
    """The qcStatements extension value; ``psd2_encoding`` other than "standard" bends it like the wild."""
    statements: list[bytes] = []
    if compliance:
        statements.append(der.encode_sequence([der.encode_oid(QC_COMPLIANCE.dotted_string)]))
    types = [der.encode_oid(QC_TYPE_OIDS[name].dotted_string) for name in sorted(qc_types)]
    if types:
        statements.append(_statement(QC_TYPE.dotted_string, der.encode_sequence(types)))
    if psd2 is not None:
        statements.append(_statement(PSD2_STATEMENT.dotted_string, _encode_psd2(psd2, psd2_encoding)))
    if psd2_encoding == "unwrapped":
        return b"".join(statements)
    return der.encode_sequence(statements)


def _statement(oid: str, info: bytes) -> bytes:
    return der.encode_sequence([der.encode_oid(oid), info])


def _encode_psd2(psd2: Psd2Statement, encoding: Psd2Encoding) -> bytes:
    ordered = sorted(psd2.roles, key=lambda r: r.oid.dotted_string)
    names = psd2.role_names or tuple(role.value for role in ordered)
    if len(names) != len(ordered):
        raise ValueError(f"{len(names)} role names given for {len(ordered)} roles")
    write_name = der.encode_printable if encoding == "printable-names" else der.encode_utf8
    pairs = [
        (der.encode_oid(role.oid.dotted_string), write_name(name))
        for role, name in zip(ordered, names, strict=True)
    ]
    if encoding == "flat-roles":
        roles = der.encode_sequence(part for pair in pairs for part in pair)
    else:
        roles = der.encode_sequence(der.encode_sequence(pair) for pair in pairs)
    return der.encode_sequence([roles, der.encode_utf8(psd2.nca_name), der.encode_utf8(psd2.nca_id)])
