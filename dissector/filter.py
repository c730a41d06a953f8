"""Display filters over decoded messages: ``msg_name == "VM_START" and err_code != 0``.

A small, safe expression language (a subset of Python parsed with ``ast``): names are the
JSON keys of design.md 1.3 and the payload's field names; ``and``/``or``/``not``, comparisons,
``in``, integer/hex/string literals. Message and error names compare through the protocol
tables, so Linux aliases (``VM_ALLOC_VMID``, ``GH_RM_ERROR_NORESOURCE``) match too.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

from dissector.errors import GhrmError
from dissector.protocol import registry

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class FilterError(GhrmError, ValueError):
    """A filter expression that cannot be parsed or uses something not allowed."""


def _canonical(name: str, value: Any, dialect: str) -> Any:
    """Map a user's string literal compared with msg_name/err_name to the printed name."""
    if not isinstance(value, str):
        return value
    try:
        if name == "msg_name":
            return registry.resolve_message(value, dialect).name
        if name == "err_name":
            return registry.error_name(registry.resolve_error(value, dialect), dialect)
    except (KeyError, ValueError):
        return value
    return value


class Filter:
    """A compiled filter; call it with a message's JSON mapping."""

    def __init__(self, expression: str, dialect: str = "rm") -> None:
        self.expression = expression
        self.dialect = dialect
        try:
            self._tree = ast.parse(expression, mode="eval").body
        except SyntaxError as exc:
            raise FilterError(
                f"cannot parse filter {expression!r}: {exc.msg} at column {exc.offset}"
            ) from None
        self._check(self._tree)

    def _check(self, node: ast.AST) -> None:
        allowed = (
            ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.Compare, ast.Name,
            ast.Load, ast.Constant, ast.Tuple, ast.List, ast.Attribute,
            *_COMPARE,
        )  # fmt: skip
        for sub in ast.walk(node):
            if not isinstance(sub, allowed):
                raise FilterError(f"filter {self.expression!r}: {type(sub).__name__} is not allowed")

    def __call__(self, message: Mapping[str, Any]) -> bool:
        return bool(self._eval(self._tree, message))

    def _lookup(self, name: str, message: Mapping[str, Any]) -> Any:
        if name in message:
            return message[name]
        fields = message.get("fields") or {}
        return fields.get(name)

    def _eval(self, node: ast.AST, message: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.BoolOp):
            values = (self._eval(v, message) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, message)
            return (not value) if isinstance(node.op, ast.Not) else -value
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, message)
            name = node.left.id if isinstance(node.left, ast.Name) else ""
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self._eval(right_node, message)
                if isinstance(right, tuple | list):
                    right = [_canonical(name, r, self.dialect) for r in right]
                else:
                    right = _canonical(name, right, self.dialect)
                try:
                    if not _COMPARE[type(op)](left, right):
                        return False
                except TypeError:
                    return False  # e.g. None < 5: the message does not have that field
                left = right
            return True
        if isinstance(node, ast.Name):
            return self._lookup(node.id, message)
        if isinstance(node, ast.Attribute):  # fields.vmid
            base = self._eval(node.value, message)
            return base.get(node.attr) if isinstance(base, Mapping) else None
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple | ast.List):
            return [self._eval(e, message) for e in node.elts]
        raise FilterError(f"filter {self.expression!r}: {type(node).__name__} is not allowed")
