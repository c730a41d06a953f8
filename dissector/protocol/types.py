"""Plain data types the protocol tables are written in.

Everything that knows a name, an id or a value of the RM protocol reads it from tables built
out of these types, so the Scapy layers, the JSON export, the analysis and the Lua generator
can never disagree about what a number means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Family(StrEnum):
    """Message families, the grouping used for layer modules and reports."""

    MEMORY = "memory"
    VM_LIFECYCLE = "vm_lifecycle"
    VM_QUERY = "vm_query"
    CONFIG = "config"
    IRQ = "irq"
    SERVICES = "services"  # VM status, console, exit, crash messages, host type
    FIRMWARE = "firmware"
    MINIDUMP = "minidump"
    IPA = "ipa"
    MISC = "misc"


class MsgKind(StrEnum):
    """Whether an id names a call (request + reply) or a notification."""

    CALL = "call"
    NOTIFICATION = "notification"


@dataclass(frozen=True)
class EnumDef:
    """Named values of one protocol field.

    ``values`` maps a number to its RM (or, where RM has none, the source's) name;
    ``aliases`` maps a number to other names the same value carries in other sources
    (Linux, Qualcomm downstream). ``flags`` marks a bit mask: each key is one bit.
    """

    name: str
    values: Mapping[int, str]
    aliases: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    flags: bool = False
    source: str = ""
    note: str = ""

    def name_of(self, value: int) -> str:
        """Name of ``value``; unknown values read as ``UNKNOWN_<hex>`` so they still print."""
        if self.flags:
            return self.flag_names(value)
        name = self.values.get(value)
        return name if name is not None else f"UNKNOWN_{value:#x}"

    def flag_names(self, value: int) -> str:
        """``A|B|0x40`` for a bit mask; ``0`` when no bit is set."""
        parts: list[str] = []
        rest = value
        for bit, name in sorted(self.values.items()):
            if bit and value & bit == bit:
                parts.append(name)
                rest &= ~bit
        if rest:
            parts.append(f"{rest:#x}")
        return "|".join(parts) if parts else "0"

    def value_of(self, name: str) -> int:
        """Number for a name or alias (case-insensitive); ``KeyError`` names the closest ones."""
        wanted = name.strip().upper()
        for value, known in self.values.items():
            if known.upper() == wanted:
                return value
        for value, names in self.aliases.items():
            if any(alias.upper() == wanted for alias in names):
                return value
        raise KeyError(f"{self.name}: no value named {name!r}; known: {', '.join(self.values.values())}")


@dataclass(frozen=True)
class MessageDef:
    """One message id: a call (request/reply pair) or a notification."""

    msg_id: int
    name: str  # the Resource Manager's name, the one ghrm prints
    kind: MsgKind
    family: Family
    aliases: tuple[str, ...] = ()  # Linux / Qualcomm / older RM names; lookups accept them
    seen_in: str = ""  # protocol.md "Seen in" column
    section: str = ""  # protocol.md section with the payload layout ("" = no layout known)
    note: str = ""

    @property
    def is_notification(self) -> bool:
        return self.kind is MsgKind.NOTIFICATION
