"""Display filters over decoded messages: ``msg_name == "VM_START" and err_code != 0``.

A small, safe expression language, close to Wireshark's display filters, parsed by hand so
that no input can recurse, allocate or run without bound:

* names are the JSON keys of design.md 1.3 (with the generated fields ``vm``,
  ``request_frame``, ``reply_frame``, ``latency``, ``errno``, ``time_ns``) and every payload
  field name the layouts declare (``dissector.protocol.layouts``), also inside lists (``size``
  matches any SGL entry's size) and as ``fields.NAME``. An unknown name is an error naming the
  closest known names, checked once when the filter is compiled, never per message;
* ``frame`` matches every record number of a reassembled message (``frame == 13`` finds the
  message whose continuation is record 13), as Wireshark's frame filter does;
* a comparison holds when any of the field's values satisfies it (Wireshark's rule for fields
  that occur several times); ``!=`` and ``not in`` hold when none equals, so they are also
  true for a message without that field;
* ``and``/``&&``, ``or``/``||``, ``not``/``!``, parentheses; ``== != < <= > >=`` (and
  ``eq ne lt le gt ge``), ``in``/``not in`` with a set ``{12 71}``, ``{12, 71}``, a range
  ``{10..20}``, or a list ``(1, 2)``/``[1, 2]``; ``contains`` for text;
* literals: integers (decimal, ``0x`` hex), floats, quoted strings. Message and error names
  compare through the protocol tables, so Linux aliases (``VM_ALLOC_VMID``,
  ``GH_RM_ERROR_NORESOURCE``) match too; an unknown name is an error with suggestions.

Bounds: ``MAX_FILTER_CHARS`` characters, ``MAX_DEPTH`` nested operators, ``MAX_SET_ITEMS`` set
members, literals of at most ``MAX_LITERAL_CHARS`` characters. A comparison between values of
different types (``vmid == "x"`` on a message) is simply false, never an exception.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from typing import Any

from dissector.errors import UsageError
from dissector.protocol import registry

MAX_FILTER_CHARS = 1 << 20  # an 8,000-name set is 80 KB
MAX_DEPTH = 64
MAX_SET_ITEMS = 1 << 16
MAX_LITERAL_CHARS = 1024
MAX_RANGE = 1 << 16  # members a ``{a..b}`` range of integers may expand to

# design.md 1.3: the jsonl keys, in contract order, then the keys added since (generated fields).
MESSAGE_KEYS: tuple[str, ...] = (
    "frame", "frames", "time", "time_end", "direction", "client_vmid", "type", "seq", "msg_id",
    "msg_name", "fragments", "err_code", "err_name", "fields", "malformed",
    "time_ns", "vm", "request_frame", "reply_frame", "latency", "errno",
)  # fmt: skip

Message = Mapping[str, Any]
Predicate = Callable[[Message], bool]
Getter = Callable[[Message], list[Any]]


class FilterError(UsageError):
    """A filter expression that cannot be parsed, names an unknown field, or breaks a limit."""


@cache
def _payload_fields() -> tuple[Any, ...]:
    """Every leaf field the payload layouts declare, at any depth (list entries, nested structs)."""
    from dissector.protocol.layout import ROLES, Struct, nested_structs
    from dissector.protocol.layouts import LAYOUTS

    out: list[Any] = []
    seen: set[int] = set()

    def visit(struct: Struct | None) -> None:
        if struct is None or id(struct) in seen:
            return
        seen.add(id(struct))
        for f in struct.walk():
            out.append(f)
            for inner in nested_structs(f):
                visit(inner)

    for layout in LAYOUTS.values():
        for role in ROLES:
            visit(layout.role(role))
    return tuple(out)


@cache
def payload_field_names() -> frozenset[str]:
    """Every field name the payload layouts declare, at any depth (lists, nested structs)."""
    from dissector.protocol.layout import Bytes

    names: set[str] = {"data"}  # the hex of a payload without a known layout
    for f in _payload_fields():
        if getattr(f, "name", None):
            names.add(f.name)
        if isinstance(f, Bytes) and f.text:
            names.add(f"{f.name}_text")  # the printable rendering jsonl puts beside the hex
    return frozenset(names)


@cache
def payload_enums() -> dict[str, frozenset[str]]:
    """Payload field name -> the enums its layouts give it (``vm_status`` -> ``{"vm_status"}``), so
    a filter can compare an enum field with a value's name (``vm_status == "RUNNING"``)."""
    from dissector.protocol.layout import Int

    out: dict[str, set[str]] = {}
    for f in _payload_fields():
        if isinstance(f, Int) and f.enum:
            out.setdefault(f.name, set()).add(f.enum)
    return {name: frozenset(enums) for name, enums in out.items()}


def known_names() -> list[str]:
    """Every name a filter may use, sorted (jsonl keys, then payload fields)."""
    return sorted(set(MESSAGE_KEYS) | payload_field_names())


# ----------------------------------------------------------------------------- tokens
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>0[xX][0-9A-Fa-f]+|\d+\.(?!\.)\d*(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?|\.\d+)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op>\.\.|==|!=|<=|>=|&&|\|\||[<>!(){}\[\],-])
    )""",
    re.X,
)
_WORD_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "contains": "contains"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _tokens(text: str) -> Iterator[tuple[str, str, int]]:
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                return
            pos += len(text[pos:]) - len(text[pos:].lstrip())
            raise _error(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        yield kind, m.group(kind), m.start(kind)
        pos = m.end()


def _error(text: str, pos: int, why: str) -> FilterError:
    shown = text if len(text) <= 80 else text[:77] + "..."
    return FilterError(f"filter {shown!r}: {why} at column {pos + 1}")


# ----------------------------------------------------------------------------- parser
class _Parser:
    """Recursive descent with an explicit depth bound; builds closures evaluated per message."""

    def __init__(self, text: str, dialect: str) -> None:
        self.text = text
        self.dialect = dialect
        self.toks = list(_tokens(text))
        self.i = 0
        self.depth = 0
        self.names = set(MESSAGE_KEYS) | payload_field_names()
        self.used: set[str] = set()  # the names the expression reads

    # helpers
    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def at(self, *values: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] in ("op", "name") and tok[1] in values

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise _error(self.text, len(self.text), "unexpected end of the filter")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise _error(self.text, tok[2], f"expected {value!r}, found {tok[1]!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            tok = self.peek()
            raise _error(self.text, tok[2] if tok else len(self.text), f"nested more than {MAX_DEPTH} deep")

    # grammar
    def parse(self) -> Predicate:
        if not self.toks:
            raise FilterError("empty filter")
        pred = self.or_()
        tok = self.peek()
        if tok is not None:
            raise _error(self.text, tok[2], f"unexpected {tok[1]!r}")
        return pred

    def or_(self) -> Predicate:
        parts = [self.and_()]
        while self.at("or", "||"):
            self.take()
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return lambda m: any(p(m) for p in parts)

    def and_(self) -> Predicate:
        parts = [self.not_()]
        while self.at("and", "&&"):
            self.take()
            parts.append(self.not_())
        if len(parts) == 1:
            return parts[0]
        return lambda m: all(p(m) for p in parts)

    def not_(self) -> Predicate:
        if self.at("not", "!"):
            self.take()
            self.enter()
            inner = self.not_()
            self.depth -= 1
            return lambda m: not inner(m)
        return self.comparison()

    def comparison(self) -> Predicate:
        tok = self.peek()
        if tok is not None and tok[1] == "(":
            self.take()
            self.enter()
            inner = self.or_()
            self.depth -= 1
            self.expect(")")
            return inner
        if tok is None or tok[0] != "name" or tok[1] in ("and", "or", "not", "in"):
            where = tok[2] if tok else len(self.text)
            raise _error(self.text, where, "expected a field name")
        self.take()
        name = tok[1]
        getter = self.field(name, tok[2])
        op_tok = self.peek()
        if op_tok is None or op_tok[1] in (")", "and", "or", "&&", "||"):
            return lambda m: any(v is not None for v in getter(m))  # field is present
        self.take()
        op = _WORD_OPS.get(op_tok[1], op_tok[1])
        if op == "not" and self.at("in"):
            self.take()
            members = self.members(name)
            return lambda m: not any(_member(v, members) for v in getter(m))
        if op == "in":
            members = self.members(name)
            return lambda m: any(_member(v, members) for v in getter(m))
        if op == "contains":
            lit = self.literal(name)
            return lambda m: any(_contains(v, lit) for v in getter(m))
        cmp = _COMPARE.get(op)
        if cmp is None:
            raise _error(self.text, op_tok[2], f"expected a comparison after {name!r}, found {op_tok[1]!r}")
        lit = self.literal(name)
        if op == "!=":  # "no value equals": also true when the message lacks the field
            return lambda m: not any(_safe(operator.eq, v, lit) for v in getter(m))
        return lambda m: any(_safe(cmp, v, lit) for v in getter(m))

    def field(self, name: str, pos: int) -> Getter:
        parts = name.split(".")
        if parts[0] == "fields" and len(parts) == 2:
            sub = parts[1]
            self._known(sub, pos)
            return lambda m: _payload_values(m.get("fields"), sub)
        if len(parts) != 1:
            why = f"unknown field {name!r}; write a payload field as NAME or fields.NAME"
            raise _error(self.text, pos, why)
        self._known(name, pos)
        if name == "frame":
            return lambda m: list(m.get("frames") or [m.get("frame")])
        if name in MESSAGE_KEYS:
            return lambda m: [m.get(name)]
        return lambda m: _payload_values(m.get("fields"), name)

    def _known(self, name: str, pos: int) -> None:
        if name in self.names:
            self.used.add(name)
            return
        close = difflib.get_close_matches(name, sorted(self.names), n=5, cutoff=0.6)
        hint = f"; closest: {', '.join(close)}" if close else "; see the jsonl keys and `ghrm protocol`"
        raise _error(self.text, pos, f"unknown field {name!r}{hint}")

    def literal(self, name: str) -> Any:
        tok = self.take()
        kind, text, pos = tok
        negative = False
        if kind == "op" and text == "-":
            negative = True
            tok = self.take()
            kind, text, pos = tok
            if kind != "num":
                raise _error(self.text, pos, "a minus sign applies only to a number")
        if len(text) > MAX_LITERAL_CHARS:
            raise _error(self.text, pos, f"literal longer than {MAX_LITERAL_CHARS} characters")
        if kind == "num":
            value: Any = _number(text, self.text, pos)
            return -value if negative else value
        if kind == "str":
            return self.canonical(name, _unquote(text), pos)
        if kind == "name":  # a bare word: tshark allows unquoted names (msg_name == VM_START)
            if text in self.names:
                raise _error(self.text, pos, f"comparing two fields ({name}, {text}) is not supported")
            return self.canonical(name, text, pos)
        raise _error(self.text, pos, f"expected a value, found {text!r}")

    def members(self, name: str) -> frozenset[Any] | tuple[Any, ...]:
        tok = self.take()
        close = {"{": "}", "(": ")", "[": "]"}.get(tok[1])
        if tok[0] != "op" or close is None:
            raise _error(self.text, tok[2], "expected a set like {12 71} after 'in'")
        items: list[Any] = []
        while not self.at(close):
            if self.at(","):
                self.take()
                continue
            value = self.literal(name)
            if self.at(".."):
                self.take()
                upper = self.literal(name)
                if not (isinstance(value, int) and isinstance(upper, int)):
                    raise _error(self.text, tok[2], "a range {a..b} needs two integers")
                if upper - value >= MAX_RANGE:
                    raise _error(self.text, tok[2], f"range of more than {MAX_RANGE} values")
                items.extend(range(value, upper + 1))
            else:
                items.append(value)
            if len(items) > MAX_SET_ITEMS:
                raise _error(self.text, tok[2], f"set of more than {MAX_SET_ITEMS} members")
        self.take()
        try:
            return frozenset(items)
        except TypeError:  # pragma: no cover - literals are always hashable
            return tuple(items)

    def canonical(self, name: str, value: str, pos: int) -> Any:
        """Resolve a message or error name once, at compile time."""
        try:
            if name == "msg_name":
                return registry.resolve_message(value, self.dialect).name
            if name == "msg_id":
                return registry.resolve_message(value, self.dialect).msg_id
            if name == "err_name":
                return registry.error_name(registry.resolve_error(value, self.dialect), self.dialect)
            if name == "err_code":
                return registry.resolve_error(value, self.dialect)
        except (KeyError, ValueError) as exc:
            text = exc.args[0] if exc.args else str(exc)
            raise _error(self.text, pos, str(text)) from None
        if name in MESSAGE_KEYS:  # ``type``: the RPC message type, not a payload field of that name
            return value
        enums = payload_enums().get(name.removeprefix("fields."))
        return value if not enums else self.enum_value(name, enums, value, pos)

    def enum_value(self, name: str, enums: frozenset[str], value: str, pos: int) -> Any:
        """A payload enum field compared with a value's name: that value's number (the jsonl
        holds numbers), in this dialect's naming; an unknown name is an error with suggestions."""
        wanted = value.strip().upper()
        names: list[str] = []
        for enum_name in sorted(enums):
            table = registry.value_names(enum_name, self.dialect)
            if table is None or table.flags:
                continue
            for number, label in table.values.items():
                for alias in (label, *table.aliases.get(number, ())):
                    if alias.upper() == wanted:
                        return number
                    names.append(alias)
        if not names:
            return value  # opaque here, or a bit mask: compare as written
        close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else f"; values: {', '.join(names[:12])}"
        raise _error(self.text, pos, f"{value!r} is not a value of {name}{hint}")


def _number(text: str, whole: str, pos: int) -> int | float:
    try:
        if text[:2] in ("0x", "0X"):
            return int(text, 16)
        if any(c in text for c in ".eE"):
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            return value
        return int(text)
    except ValueError:
        raise _error(whole, pos, f"not a number: {text!r}") from None


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _safe(cmp: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if left is None or isinstance(left, dict | list) or isinstance(left, str) != isinstance(right, str):
        return False
    try:
        return bool(cmp(left, right))
    except TypeError:
        return False


def _member(value: Any, members: frozenset[Any] | tuple[Any, ...]) -> bool:
    if value is None or isinstance(value, dict | list):
        return False
    return value in members


def _contains(value: Any, needle: Any) -> bool:
    if isinstance(value, str) and isinstance(needle, str):
        return needle in value
    return False


def _payload_values(fields: Any, name: str) -> list[Any]:
    """A payload field's value, or every value it has inside lists and nested structs."""
    if not isinstance(fields, Mapping):
        return []
    if name in fields:
        return [fields[name]]
    out: list[Any] = []
    for value in fields.values():
        if isinstance(value, list):
            for entry in value:
                if isinstance(entry, Mapping):
                    out.extend(_payload_values(entry, name))
        elif isinstance(value, Mapping):
            out.extend(_payload_values(value, name))
    return out


class Filter:
    """A compiled filter; call it with a message's JSON mapping.

    Raises ``FilterError`` (a ``UsageError``: exit status 2 in the CLI) for an expression it
    cannot compile; evaluation itself never raises.
    """

    def __init__(self, expression: str, dialect: str = "rm") -> None:
        if not isinstance(expression, str):
            raise FilterError(f"a filter is text, not {type(expression).__name__}")
        if len(expression) > MAX_FILTER_CHARS:
            raise FilterError(
                f"filter of {len(expression)} characters is longer than the limit of {MAX_FILTER_CHARS}"
            )
        self.expression = expression
        self.dialect = dialect
        parser = _Parser(expression, dialect)
        self._predicate = parser.parse()
        self.names: frozenset[str] = frozenset(parser.used)  # what it reads (generated fields?)

    def __call__(self, message: Message) -> bool:
        return bool(self._predicate(message))

    def select(self, messages: Iterable[Message]) -> Iterator[Message]:
        """The messages the filter keeps, in order."""
        return (m for m in messages if self._predicate(m))
