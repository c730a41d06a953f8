"""The table registry: every ``Trace`` table declared once.

Why a registry (the LISA manner: a table is declared where it is defined, and the trace object,
its documentation and the tools are generated from the declarations): adding a table used to
touch six places (schema, a maker, a property, the attribute list, the ``__getattr__`` hints, a
CLI command) and the ledger tables missed one. A ``Table`` says everything at once:

* ``name``, ``schema`` (its columns, ``dissector.analysis.schema``) and a one-line ``help``;
* how it is built: ``build(base)`` over the whole input, then sliced by ``window`` (``Rows``: a
  row belongs to the window its time column falls in; ``Span``: rows whose span overlaps it;
  ``Whole``: never sliced), or ``derive(trace)`` from the windowed trace's other tables;
* how ``Trace.for_vms`` selects its rows (``Exchange``, ``VmColumns``; a derived table is
  derived again from its selected source) and which column ``--client`` selects on;
* its CLI command: a ``TableCommand`` (name, extra options, handler, examples), or ``via`` a
  command that shows it with an option (``lifecycle --summary``).

``Trace`` gets a property per table, ``Trace.schema``, the ``__getattr__`` hints, ``window``
and ``for_vms`` from here; ``ghrm`` gets the table commands. The module imports no pandas: the
builders import what they need when they run, so ``ghrm --help`` reads the declarations for
free. Builders call the analysis functions by their public signatures.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dissector import cli_options
from dissector.analysis import schema as s
from dissector.analysis.ledgers import schema as ledger_schema

if TYPE_CHECKING:
    import pandas as pd

    from dissector.analysis.columns import MessageColumns
    from dissector.analysis.messages import MessageCore
    from dissector.trace import Trace, _Base


# --- how a table is windowed ------------------------------------------------------------------
@dataclass(frozen=True)
class Rows:
    """A row is in the window its ``column`` (an instant) falls in: ``start <= t < end``."""

    column: str = "time"


@dataclass(frozen=True)
class Span:
    """A row is in every window its ``[first, last]`` overlaps (a NaN end is still open)."""

    first: str
    last: str


@dataclass(frozen=True)
class Whole:
    """Never sliced: the same rows in every window (what the readers could not read)."""


@dataclass(frozen=True)
class Derived:
    """Derived from the window's own tables (``Table.derive``), so it is never sliced."""


Window = Rows | Span | Whole | Derived


# --- how for_vms selects rows -----------------------------------------------------------------
@dataclass(frozen=True)
class Exchange:
    """Rows whose ``vm``/``vmid`` is one of the VMs, or whose frames belong to a call or
    notification about a parcel or IRQ lent to, shared with or accepted by one of them."""


@dataclass(frozen=True)
class VmColumns:
    """Rows where one of ``columns`` (a VMID, or a tuple of VMIDs) names one of the VMs."""

    columns: tuple[str, ...]


@dataclass(frozen=True)
class FromSource:
    """A derived table: derived again from its ``source`` table's rows about the VMs."""

    source: str


@dataclass(frozen=True)
class NoVms:
    """No row concerns a VM (``for_vms`` says so)."""


VmRule = Exchange | VmColumns | FromSource | NoVms


# --- the CLI ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableCommand:
    """The ``ghrm`` command that prints a table.

    Every table command takes ``cli_options.table_options`` (files, ``--format``, ``--vmid``,
    ``--client``, ``--start``, ``--end``, ``--dialect``); ``options`` adds its own. ``run`` is
    the handler (``"module:function"``, imported when the command runs); ``examples`` close its
    ``--help`` and are run by the tests; ``fleet``: it also answers with ``--fleet``."""

    name: str
    run: str
    examples: tuple[str, ...]
    options: Callable[[argparse.ArgumentParser], None] | None = None
    fleet: bool = False


@dataclass(frozen=True)
class Via:
    """The table is shown by another table's command with ``option`` (``lifecycle --summary``)."""

    command: str
    option: str = ""


# --- the declaration --------------------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    """One ``Trace`` table (see the module docstring)."""

    name: str
    schema: s.Schema
    help: str
    window: Window
    vms: VmRule
    cli: TableCommand | Via
    build: Callable[[_Base], pd.DataFrame] | None = None
    derive: Callable[[Trace], pd.DataFrame] | None = None
    client: str | None = None  # the column --client selects on (None: --client selects nothing)

    def __post_init__(self) -> None:
        if (self.build is None) == (self.derive is None):
            raise ValueError(f"table {self.name}: give build (sliced by window) or derive, not both")
        if (self.derive is not None) != isinstance(self.window, Derived):
            raise ValueError(f"table {self.name}: a derived table has window=Derived(), and only it")

    @property
    def command(self) -> str:
        """The ``ghrm`` command that shows this table, with its option if one is needed."""
        if isinstance(self.cli, TableCommand):
            return self.cli.name
        return f"{self.cli.command} {self.cli.option}".strip()


# --- builders: each imports its analysis module when it runs ----------------------------------
# ``build(base)`` makes the table of the whole input; ``base.get(name)`` gives (and caches) any
# other table or intermediate result (``trace._Base``). ``derive(trace)`` works on a window.
def _messages(base: _Base) -> pd.DataFrame:
    from dissector.analysis.messages import complete

    return complete(base.get("message_core"))


def message_core(columns: list[MessageColumns], dialect: str) -> MessageCore:
    """The ``messages.CORE`` columns of the messages table of decoded captures (rule 1 of ``vm``
    applied) and its pairing: what transactions, the time base and the lifecycles read."""
    from dissector.analysis.context import payload_reader, resource_vms, with_resources
    from dissector.analysis.messages import message_core as core_of

    core = core_of(columns, dialect)
    vms = resource_vms(core.table, payload_reader(columns, dialect))
    return replace(core, table=with_resources(core.table, vms))  # rule 1 changes ``vm``


def messages_table(columns: list[MessageColumns], dialect: str) -> tuple[pd.DataFrame, Any]:
    """The messages table of decoded captures (internal: epoch seconds, generated fields) and
    its request/reply pairing; ``ghrm decode`` calls it without a ``Trace``."""
    from dissector.analysis.messages import complete

    core = message_core(columns, dialect)
    return complete(core), core.pairing


def _transactions(base: _Base) -> pd.DataFrame:
    from dissector.analysis.transactions import call_types, transactions_from

    messages = base.get("message_core").table
    return transactions_from(messages, base.get("pairing"), call_types(messages))


def _srt(trace: Trace) -> pd.DataFrame:
    from dissector.analysis.srt import df_srt

    return df_srt(trace._view("transactions"))


def _errors(trace: Trace) -> pd.DataFrame:
    from dissector.analysis.errors import df_errors

    return df_errors(trace._view("messages"))


def _lifecycles(base: _Base) -> pd.DataFrame:
    return base.get("lifecycle_model").intervals


def _lifecycle_summary(base: _Base) -> pd.DataFrame:
    return base.get("lifecycle_model").summary


def _findings(trace: Trace) -> pd.DataFrame:
    from dissector.analysis.findings import from_errors, from_problems, to_frame
    from dissector.analysis.ledgers.checks import merge_findings

    base = trace._base
    found = [f for f in base.get("other_findings") if trace._inside(f.time)]
    found += from_errors(trace._view("errors"), trace._view("transactions"))
    if not trace._windowed:
        found += from_problems(base.problems)
    ledger = base.get("ledger_findings")
    ledger = ledger[[trace._inside(t) for t in ledger["time"]]] if not ledger.empty else ledger
    return merge_findings([to_frame(found, trace.captures), ledger], trace.captures)


def _memparcels(base: _Base) -> pd.DataFrame:
    from dissector.analysis.ledgers.memparcels import df_memparcels

    return df_memparcels(base.get("ledger_messages"))


def _irqs(base: _Base) -> pd.DataFrame:
    from dissector.analysis.ledgers.irqs import df_irqs

    return df_irqs(base.get("ledger_messages"))


def _slow_windows(base: _Base) -> pd.DataFrame:
    return base.get("timing_model").windows  # timing.slow_windows, detected once with the findings


def _problems(base: _Base) -> pd.DataFrame:
    return base.problems


# --- the CLI options of single tables ---------------------------------------------------------
def _transactions_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--status",
        action="extend",
        type=cli_options.word_list,
        help="only these statuses: " + ", ".join(s.STATUSES),
    )
    p.add_argument("--name", action="extend", type=cli_options.word_list, help="only these calls")


def _lifecycle_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--summary", action="store_true", help="csv/json: the per-VM summary instead of the intervals"
    )


def _findings_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--severity", choices=s.SEVERITIES, default="chat", help="show this severity and worse (default: all)"
    )


_CLI = "dissector.analysis.cli"
_LEDGER_CLI = "dissector.analysis.ledgers.cli"

TABLES: tuple[Table, ...] = (
    Table(
        "messages",
        s.MESSAGES,
        "one row per RM message, reassembled, with the generated fields of its exchange",
        Rows("time"),
        Exchange(),
        Via("decode"),
        build=_messages,
        client="client_vmid",
    ),
    Table(
        "transactions",
        s.TRANSACTIONS,
        "requests paired with replies, latency and status",
        Rows("time"),
        Exchange(),
        TableCommand(
            "transactions",
            f"{_CLI}:cmd_transactions",
            (
                "ghrm transactions --status error,unanswered,malformed traces/faults_mix.pcapng",
                "ghrm transactions --vmid 0x84 traces/faults_mix.pcapng",
                "ghrm transactions --name VM_START --format json traces/fleet_20vms.pcapng",
            ),
            _transactions_options,
        ),
        build=_transactions,
        client="client_vmid",
    ),
    Table(
        "srt",
        s.SRT,
        "service response time per call (like tshark -z srt)",
        Derived(),
        FromSource("transactions"),
        TableCommand(
            "stats",
            f"{_CLI}:cmd_stats",
            (
                "ghrm stats traces/fleet_20vms.pcapng",
                "ghrm stats --vmid 0x80 traces/start_noresource.pcapng   # its MEM_LEND/RECLAIM included",
                "ghrm stats --format csv --start 0 --end 0.05 traces/slow_rm.pcapng",
            ),
            fleet=True,
        ),
        derive=_srt,
        client="client_vmid",
    ),
    Table(
        "errors",
        s.ERRORS,
        "error replies per call and error code, with the Linux errno",
        Derived(),
        FromSource("messages"),
        TableCommand(
            "errors",
            f"{_CLI}:cmd_errors",
            (
                "ghrm errors traces/reclaim_storm.pcapng",
                "ghrm errors --vmid 0x84 --format json traces/faults_mix.pcapng",
            ),
            fleet=True,
        ),
        derive=_errors,
        client="client_vmid",
    ),
    Table(
        "lifecycles",
        s.LIFECYCLES,
        "VM state timelines and boot/run/teardown times per VM",
        Span("start", "end"),
        VmColumns(("vmid",)),
        TableCommand(
            "lifecycle",
            f"{_CLI}:cmd_lifecycle",
            (
                "ghrm lifecycle traces/start_noresource.pcapng",
                "ghrm lifecycle --vmid 0x81 traces/hang.pcap",
                "ghrm lifecycle --summary --format csv traces/fleet_20vms.pcapng",
            ),
            _lifecycle_options,
            fleet=True,
        ),
        build=_lifecycles,
    ),
    Table(
        "lifecycle_summary",
        s.LIFECYCLE_SUMMARY,
        "one row per VM instance: boot, run and teardown times, exit and final state",
        Span("first_seen", "deallocated_at"),
        VmColumns(("vmid",)),
        Via("lifecycle", "--summary"),
        build=_lifecycle_summary,
    ),
    Table(
        "memparcels",
        ledger_schema.MEMPARCELS,
        "memory parcels: lend/share/donate to reclaim, per handle",
        Span("created_time", "reclaimed_time"),
        VmColumns(("owner_vmid", "borrowers", "accepted_by")),
        TableCommand(
            "memparcels",
            f"{_LEDGER_CLI}:cmd_memparcels",
            (
                "ghrm memparcels traces/single_vm_clean.pcapng",
                "ghrm memparcels --vmid 0x84 traces/faults_mix.pcapng",
                "ghrm memparcels --start 1.9 --format csv traces/reclaim_storm.pcapng",
            ),
        ),
        build=_memparcels,
        client="owner_vmid",
    ),
    Table(
        "irqs",
        ledger_schema.IRQS,
        "lent IRQs: lend, notify, accept, release, reclaim, per handle",
        Span("lent_time", "reclaimed_time"),
        VmColumns(("owner_vmid", "vmid", "accepted_by")),
        TableCommand(
            "irqs",
            f"{_LEDGER_CLI}:cmd_irqs",
            (
                "ghrm irqs traces/multi_queue.pcapng",
                "ghrm irqs --vmid 0x81 --format json traces/multi_queue.pcapng",
            ),
        ),
        build=_irqs,
        client="owner_vmid",
    ),
    Table(
        "findings",
        s.FINDINGS,
        "expert info: errors, unanswered calls, lifecycle problems ...",
        Derived(),
        Exchange(),
        TableCommand(
            "findings",
            f"{_CLI}:cmd_findings",
            (
                "ghrm findings traces/faults_mix.pcapng",
                "ghrm findings --severity warning --vmid 0x80 traces/faults_mix.pcapng",
                "ghrm findings --format json traces/hang.pcap",
            ),
            _findings_options,
            fleet=True,
        ),
        derive=_findings,
    ),
    Table(
        "slow_windows",
        s.SLOW_WINDOWS,
        "spans in which the RM served calls far slower than usual",
        Span("start", "end"),
        VmColumns(("vmids",)),
        Via("export", "--to csv --table slow_windows"),  # and one slow_window finding each
        build=_slow_windows,
    ),
    Table(
        "problems",
        s.PROBLEMS,
        "input the capture readers could not read",
        Whole(),
        NoVms(),
        Via("export", "--to csv --table problems"),  # every command warns of them on stderr
        build=_problems,
    ),
)

BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
NAMES: tuple[str, ...] = tuple(BY_NAME)


def table(name: str) -> Table:
    """The declaration of table ``name`` (a ``KeyError`` naming the tables otherwise)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no table {name!r}; tables: {', '.join(NAMES)}") from None


def commands() -> list[Any]:
    """The ``ghrm`` table commands (``dissector.command_spec.Command``), in registry order."""
    from dissector.command_spec import Command

    out = []
    for t in TABLES:
        if isinstance(t.cli, TableCommand):
            out.append(Command(t.cli.name, t.help, _options(t.cli), t.cli.run, fleet=t.cli.fleet))
    return out


def _options(command: TableCommand) -> Callable[[argparse.ArgumentParser], None]:
    def add(p: argparse.ArgumentParser) -> None:
        cli_options.table_options(p)
        if command.options is not None:
            command.options(p)

    return add


def examples() -> dict[str, tuple[str, ...]]:
    """The examples closing each table command's ``--help``."""
    return {t.cli.name: t.cli.examples for t in TABLES if isinstance(t.cli, TableCommand)}
