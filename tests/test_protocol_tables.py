"""The protocol tables against protocol.md, so a table can never drift from the wire reference.

protocol.md is parsed (its §-sections and Markdown tables), not copied: when the reference
gains an id, an error code or an enum value, these tests name what the tables are missing.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from dissector.protocol import registry
from dissector.protocol.dialects import DEFAULT_DIALECT, DIALECTS, get_dialect
from dissector.protocol.enums import (
    ACL_RIGHTS,
    ADDRESS_RANGE_ID,
    ALL_ENUMS,
    AUTH_MECH,
    BOOT_CONTEXT_REG_SET,
    EXIT_CODE,
    EXIT_TYPE,
    IPA_GENERIC_CONSTRAINTS,
    IPA_PLATFORM_CONSTRAINTS,
    MEM_ACCEPT_FLAGS,
    MEM_ACCEPT_REPLY_FLAGS,
    MEM_APPEND_FLAGS,
    MEM_ATTR,
    MEM_CREATE_FLAGS,
    MEM_NOTIFY_FLAGS,
    MEM_RELEASE_FLAGS,
    MEM_TYPE,
    OS_STATUS,
    QC_EXIT_CODE,
    RESOURCE_TYPE,
    TRANS_TYPE,
    VM_ID_TYPE,
    VM_STATUS,
)
from dissector.protocol.errors import HYP_ERRORS, LINUX_ERRNO, RM_ERRORS, linux_errno
from dissector.protocol.messages import DYNAMIC_VMID_RANGE, MESSAGES, MSG_TYPES, WELL_KNOWN_VMIDS
from dissector.protocol.types import EnumDef, Family, MsgKind
from dissector.protocol.wire import (
    LINUX_MAX_REQUEST_PAYLOAD,
    MAX_FRAGMENTS,
    MAX_PAYLOAD_PER_MSG,
    MSGQ_MAX_MSG_SIZE,
    NOTIFICATION_ID_BIT,
    RM_MAX_MSG_PAYLOAD,
    RPC_API_BYTE,
    RPC_HEADER_SIZE,
)

PROTOCOL_MD = Path(__file__).resolve().parents[1].parent / "shared" / "protocol.md"

# Names protocol.md prints first that ghrm deliberately does not use as the default name
# (two Linux series put VM_SET_BOOT_CONTEXT on different ids; see dialects linux-v16/-v17).
NAME_EXCEPTIONS = {0x5600000C: "VM_SET_BOOT_CONTEXT_V16"}


# --- protocol.md parsing -------------------------------------------------------------------------
# non-breaking hyphen, en dash and minus sign read as "-", the multiplication sign as "x"
_ASCII = str.maketrans({"\u2011": "-", "\u2013": "-", "\u2212": "-", "\u00d7": "x"})


def _norm(text: str) -> str:
    """ASCII punctuation, no Markdown emphasis or code marks, single spaces."""
    text = text.translate(_ASCII).replace("**", "").replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def _cells(line: str) -> list[str]:
    """Cells of one Markdown table row; a ``|`` inside backticks stays in its cell."""
    cells, cur, in_code = [], "", False
    for ch in line.strip().strip("|"):
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(cur.strip())
            cur = ""
        else:
            cur += ch
    cells.append(cur.strip())
    return cells


class Doc:
    def __init__(self, text: str) -> None:
        self.text = text

    def section(self, heading: str) -> str:
        """Text under the heading starting with ``heading`` up to the next heading of any level."""
        lines = self.text.splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.startswith(heading))
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")), len(lines))
        return "\n".join(lines[start + 1 : end])

    def rows(self, heading: str, first: str = r"0x[0-9A-Fa-f]+|\d+") -> list[list[str]]:
        """Table rows of a section whose first cell matches ``first``."""
        out = []
        for line in self.section(heading).splitlines():
            if line.startswith("|"):
                cells = _cells(line)
                if re.fullmatch(first, cells[0]):
                    out.append(cells)
        return out


@pytest.fixture(scope="module")
def doc() -> Doc:
    if not PROTOCOL_MD.is_file():
        pytest.skip(f"wire reference not found at {PROTOCOL_MD}; the drift tests need it")
    return Doc(PROTOCOL_MD.read_text(encoding="utf-8"))


def _code_names(cell: str) -> list[str]:
    return re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)


def _section_ref(cell: str) -> str:
    m = re.match(r"§(\d+(?:\.\d+)?)", cell)
    return m.group(1) if m else ""


def _pairs(text: str) -> list[tuple[int, str]]:
    """``0x1 NAME`` / ``3 NAME`` pairs of a prose enumeration (names may be ``A/B``)."""
    return [(int(v, 0), n) for v, n in re.findall(r"\b(0x[0-9A-Fa-f]+|\d+) ([A-Z][A-Z0-9_/]*)", text)]


def _assert_named(enum: EnumDef, value: int, *names: str) -> None:
    for name in names:
        assert enum.value_of(name) == value, f"{enum.name}: {name} should be {value:#x}"


# --- §3 message ids -------------------------------------------------------------------------------
@pytest.mark.parametrize(("heading", "kind"), [("### 3.1", MsgKind.CALL), ("### 3.2", MsgKind.NOTIFICATION)])
def test_every_table_id_is_defined(doc: Doc, heading: str, kind: MsgKind) -> None:
    rows = doc.rows(heading)
    assert len(rows) > 10
    for cells in rows:
        msg_id = int(cells[0], 16)
        m = registry.message(msg_id)
        assert m is not None, f"{cells[0]} {cells[1]} missing from MESSAGES"
        assert m.kind is kind
        assert m.seen_in == _norm(cells[2]), hex(msg_id)
        assert m.section == _section_ref(cells[3]), hex(msg_id)
        names = _code_names(cells[1])
        assert m.name == NAME_EXCEPTIONS.get(msg_id, names[0])
        for name in names:  # every name the table gives resolves to this id in some dialect
            assert any(registry.resolve_message(name, d).msg_id == msg_id for d in DIALECTS), name


def test_no_message_beyond_the_tables(doc: Doc) -> None:
    table_ids = {int(c[0], 16) for h in ("### 3.1", "### 3.2") for c in doc.rows(h)}
    assert {m.msg_id for m in MESSAGES} == table_ids


def test_ids_and_names_unique() -> None:
    ids = [m.msg_id for m in MESSAGES]
    assert len(ids) == len(set(ids))
    seen: dict[str, int] = {}
    for m in MESSAGES:
        for key in (m.name, *m.aliases):
            assert seen.setdefault(key.upper(), m.msg_id) == m.msg_id, f"{key} names two ids"


def test_every_alias_resolves_back() -> None:
    for m in MESSAGES:
        for key in (m.name, *m.aliases, m.name.lower()):
            assert registry.resolve_message(key) is m


def test_messages_without_layout_say_so() -> None:
    for m in MESSAGES:
        if not m.section:
            assert "no payload layout known" in m.note, m.name


def test_notification_bit_and_families() -> None:
    for m in MESSAGES:
        assert m.is_notification == bool(m.msg_id & NOTIFICATION_ID_BIT), m.name
        top, low = m.msg_id >> 24, m.msg_id & 0xFF
        if top == 0x51:
            assert m.family is (Family.FIRMWARE if 0x20 <= low < 0x30 else Family.MEMORY), m.name
        if top == 0x56 and not m.is_notification:
            by_range = {0x4: Family.MINIDUMP, 0x5: Family.IRQ, 0xB: Family.IPA}.get(low >> 4)
            if by_range is not None and m.msg_id < 0x56000100:
                assert m.family is by_range, m.name
    assert registry.message(0x56100011).family is Family.IRQ
    assert registry.message(0x56100080).family is Family.SERVICES


# --- §1 header constants ---------------------------------------------------------------------------
def test_header_constants(doc: Doc) -> None:
    text = _norm(doc.text)
    assert f"Valid value is therefore 0x{RPC_API_BYTE:X}" in text
    assert f"RM_RPC_MESSAGE_SIZE {MSGQ_MAX_MSG_SIZE}U" in text
    assert f"RM_RPC_MAX_CONTENT = {MSGQ_MAX_MSG_SIZE} - {RPC_HEADER_SIZE}" in text
    assert re.search(rf"max payload 63 x {MAX_PAYLOAD_PER_MSG} = {RM_MAX_MSG_PAYLOAD}\b", text)
    assert re.search(rf"{MAX_FRAGMENTS} x {MAX_PAYLOAD_PER_MSG} = {LINUX_MAX_REQUEST_PAYLOAD} B", text)


def test_message_types(doc: Doc) -> None:
    rows = [c for c in doc.rows("### 1.2", first=r"\d") if "RM_RPC_MSG_TYPE_" in c[1]]
    assert [int(c[0]) for c in rows] == [0, 1, 2, 3]
    for cells in rows:
        _assert_named(MSG_TYPES, int(cells[0]), *_code_names(cells[1]), *_code_names(cells[2]))


def test_well_known_vmids(doc: Doc) -> None:
    line = next(ln for ln in _norm(doc.section("### 1.7")).split("* ") if ln.startswith("Well-known VMIDs"))
    pairs = re.findall(r"([A-Z_]+) (0x[0-9A-F]+)", line)
    assert len(pairs) == 5
    for name, value in pairs:
        _assert_named(WELL_KNOWN_VMIDS, int(value, 16), name)
    lo, hi = re.search(r"dynamic range (0x[0-9A-F]+)-(0x[0-9A-F]+)", line).groups()
    assert range(int(lo, 16), int(hi, 16) + 1) == DYNAMIC_VMID_RANGE


# --- §2 errors -------------------------------------------------------------------------------------
def test_error_codes(doc: Doc) -> None:
    rows = doc.rows("## 2.")
    assert len(rows) == len(RM_ERRORS.values)
    for cells in rows:
        code = int(cells[0], 16)
        rm_names = _code_names(cells[1])
        assert RM_ERRORS.values[code] == re.sub(r"^RM_(ERROR_)?", "", rm_names[0])
        _assert_named(RM_ERRORS, code, *rm_names)
        linux = cells[2]
        if linux.startswith("`..._"):
            short = linux.strip("`")[4:]
            _assert_named(RM_ERRORS, code, f"GH_RM_ERROR_{short}", f"GUNYAH_RM_ERROR_{short}")
        elif linux == "—":
            assert not any(a.startswith("GH_") for a in RM_ERRORS.aliases[code])
            assert linux_errno(code) == "-EBADMSG"
        else:
            _assert_named(RM_ERRORS, code, *_code_names(linux))
        errno = re.match(r"(?:Linux )?→ `(-E[A-Z]+)`", cells[3])
        if errno:
            assert LINUX_ERRNO[code] == errno.group(1)
    assert set(LINUX_ERRNO) == set(RM_ERRORS.values)


def test_hyp_errors(doc: Doc) -> None:
    para = next(p for p in doc.section("## 2.").split("\n\n") if p.startswith("Hypervisor `error_t`"))
    pairs = re.findall(r"(ERROR_\w+|OK) (-?\d+)", _norm(para))
    assert len(pairs) == len(HYP_ERRORS.values)
    for name, value in pairs:
        _assert_named(HYP_ERRORS, int(value) & 0xFFFFFFFF, name)


def test_log_examples(doc: Doc) -> None:
    found = re.findall(r"`RM rejected message ([0-9a-f]{8})\. Error: (\d+)` → (\w+), (\w+)", doc.text)
    assert len(found) == 2
    for msg_id, code, msg_name, err_name in found:
        assert registry.resolve_message(msg_id).name == msg_name
        assert registry.error_name(int(code)) == err_name


# --- §6 enums ----------------------------------------------------------------------------------------
def _first_word(cell: str) -> str:
    return _norm(cell).split(" ")[0]


def test_vm_status_columns(doc: Doc) -> None:
    rows = doc.rows("### 6.1")
    # the first column is RM HEAD / Linux / QC-new: 12 RESET_FAILED is QC-new's (dialect qcom)
    assert len(rows) == len(VM_STATUS.values) + 1
    columns = {1: registry.enum("vm_status", "qcom"), 2: registry.enum("vm_status", "rm-2021")}
    columns[3] = registry.enum("vm_status", "haven-early")
    for col, enum in columns.items():
        expected = {int(c[0]): c[col] for c in rows if c[col] != "—"}
        assert set(enum.values) == set(expected), (enum.source, col)
        for value, cell in expected.items():
            names = re.sub(r"\(.*?\)", "", cell).split("/")
            if names[0].strip() == "reserved":
                assert enum.values[value].startswith("RESERVED")
                continue
            assert enum.values[value] == names[0].strip()
            _assert_named(enum, value, *(n.strip() for n in names))


def test_os_status(doc: Doc) -> None:
    pairs = _pairs(doc.section("### 6.2").split("(RM `os_state_t`")[0])
    assert dict(pairs) == dict(OS_STATUS.values)


def test_auth_mech(doc: Doc) -> None:
    rows = doc.rows("### 6.4")
    assert len(rows) == len(AUTH_MECH.values)
    for cells in rows:
        value = int(cells[0])
        assert AUTH_MECH.values[value] == cells[1].removeprefix("VM_AUTH_TYPE_")
        _assert_named(AUTH_MECH, value, *cells[1:4])


def test_resource_types(doc: Doc) -> None:
    rows = doc.rows("### 6.5")
    assert {int(c[0]) for c in rows} == set(RESOURCE_TYPE.values)
    for value, rm, linux, qc in ((int(c[0]), *c[1:4]) for c in rows):
        expected = rm.removeprefix("RSC_") if rm != "—" else _first_word(linux)
        assert RESOURCE_TYPE.values[value] == expected
        _assert_named(RESOURCE_TYPE, value, *(_first_word(c) for c in (rm, linux, qc) if c != "—"))


def test_exit_types(doc: Doc) -> None:
    rows = doc.rows("### 6.6")
    assert len(rows) == len(EXIT_TYPE.values)
    for value, rm, linux, qc in ((int(c[0]), *c[1:4]) for c in rows):
        assert EXIT_TYPE.values[value] == rm
        _assert_named(EXIT_TYPE, value, linux, _first_word(qc), *re.findall(r"RESET-H: (\w+)", _norm(qc)))


def test_exit_codes(doc: Doc) -> None:
    line = next(ln for ln in doc.section("### 6.7").splitlines() if "Exit codes conflict" in ln)
    rm_part, qc_part = line.split("QC:")
    assert dict(_pairs(rm_part.split("(RM rejects")[0])) == dict(EXIT_CODE.values)
    assert dict(_pairs(qc_part)) == dict(QC_EXIT_CODE.values)


MEMORY_LINES = {
    "mem_type:": MEM_TYPE,
    "trans_type:": TRANS_TYPE,
    "mem attr": MEM_ATTR,
    "create flags": MEM_CREATE_FLAGS,
    "append flags:": MEM_APPEND_FLAGS,
    "accept flags:": MEM_ACCEPT_FLAGS,
    "release/reclaim flags:": MEM_RELEASE_FLAGS,
    "notify flags:": MEM_NOTIFY_FLAGS,
}


def test_memory_enums(doc: Doc) -> None:
    bullets = [_norm(b) for b in doc.section("### 6.8").split("\n* ")]
    for prefix, enum in MEMORY_LINES.items():
        bullet = next(b for b in bullets if b.lstrip("* ").startswith(prefix))
        sentences = re.sub(r"\([^()]*\)", "", bullet).split(". ")
        pairs = _pairs(sentences[0].split(":", 1)[1])
        assert pairs, prefix
        assert {v for v, _ in pairs} == {v for v in enum.values if v or not enum.flags}, prefix
        for value, names in pairs:
            _assert_named(enum, value, *names.split("/"))
        if prefix == "accept flags:":
            reply = next(s for s in sentences if s.startswith("Accept reply flags"))
            for value, name in _pairs(reply):
                _assert_named(MEM_ACCEPT_REPLY_FLAGS, value, name)
    acl = next(b for b in bullets if b.startswith("ACL rights"))
    for name, value in re.findall(r"\b([XWR]) (0x\d)", acl):
        _assert_named(ACL_RIGHTS, int(value, 16), name)


def test_ipa_constraints(doc: Doc) -> None:
    text = _norm(doc.section("### 6.9"))
    generic, platform = text.split("Platform:")
    rm_generic, qc_generic = generic.split("QC:")
    assert dict(_pairs(rm_generic)) == dict(IPA_GENERIC_CONSTRAINTS.values)
    for bit, name in re.findall(r"BIT(\d) ([A-Z_]+)", qc_generic):
        _assert_named(IPA_GENERIC_CONSTRAINTS, 1 << int(bit), name)
    for bit, name in re.findall(r"BIT(\d) ([A-Z_]+)", platform):
        _assert_named(IPA_PLATFORM_CONSTRAINTS, 1 << int(bit), name)
    assert IPA_PLATFORM_CONSTRAINTS.values[0] == "NONE"


def test_other_enums(doc: Doc) -> None:
    text = _norm(doc.section("### 6.10"))
    id_types = re.search(r"VM ID types[^:]*:([^(]*)", text).group(1)
    assert dict(_pairs(id_types)) == dict(VM_ID_TYPE.values)
    reg_set, range_id = re.search(r"reg_set:([^;]*);[^:]*range_id:([^(]*)", text).groups()
    assert dict(_pairs(reg_set)) == dict(BOOT_CONTEXT_REG_SET.values)
    assert dict(_pairs(range_id)) == dict(ADDRESS_RANGE_ID.values)


def test_all_enums_are_consistent() -> None:
    every = [*ALL_ENUMS.values(), *(e for d in DIALECTS.values() for e in d.enum_overrides.values())]
    for enum in every:
        assert enum.source, enum.name
        names = [n.upper() for n in enum.values.values()]
        assert len(names) == len(set(names)), enum.name
        for value, name in enum.values.items():
            assert enum.value_of(name) == value
            assert set(enum.aliases) <= set(enum.values), enum.name
            for alias in enum.aliases.get(value, ()):
                assert enum.value_of(alias) == value, f"{enum.name}: alias {alias} is ambiguous"
        if enum.flags:
            assert all(v & (v - 1) == 0 for v in enum.values), f"{enum.name}: a flag is not one bit"
    assert all(key == enum.name for key, enum in ALL_ENUMS.items())


# --- dialects ------------------------------------------------------------------------------------------
def test_dialects_change_only_what_they_declare() -> None:
    base = {m.msg_id: m for m in registry.messages(DEFAULT_DIALECT)}
    for dialect in DIALECTS.values():
        msgs = {m.msg_id: m for m in registry.messages(dialect.name)}
        assert msgs.keys() == base.keys()
        changed = {i for i in base if msgs[i] != base[i]}
        assert changed == set(dialect.renames), dialect.name
        for msg_id, (name, aliases) in dialect.renames.items():
            m = msgs[msg_id]
            assert (m.name, m.aliases) == (name, aliases)
            assert registry.resolve_message(name, dialect.name) is m
            for f in fields(m):
                if f.name not in ("name", "aliases"):
                    assert getattr(m, f.name) == getattr(base[msg_id], f.name)
        for enum_name, enum in ALL_ENUMS.items():
            expected = dialect.enum_overrides.get(enum_name, enum)
            assert registry.enum(enum_name, dialect.name) is expected
        assert set(dialect.enum_overrides) <= set(ALL_ENUMS)


def test_dialect_names_unique_except_documented_shadowing() -> None:
    shadowed = {"rm-2021": {"VM_SHUTDOWN"}}  # the RM-2021 call shadows the later notification
    for dialect in DIALECTS:
        owners: dict[str, set[int]] = {}
        for m in registry.messages(dialect):
            for key in (m.name, *m.aliases):
                owners.setdefault(key.upper(), set()).add(m.msg_id)
        clashes = {k for k, ids in owners.items() if len(ids) > 1}
        assert clashes == shadowed.get(dialect, set()), dialect


def test_dialect_specifics() -> None:
    assert registry.message_name(0x56000006, "rm-2021") == "VM_SHUTDOWN"
    assert registry.resolve_message("VM_RESET", "rm-2021").msg_id == 0x56000006
    assert registry.resolve_message("VM_SHUTDOWN", "rm-2021").msg_id == 0x56000006
    assert registry.resolve_message("VM_SHUTDOWN").msg_id == 0x56100002
    assert registry.message_name(0x56000006) == "VM_RESET"
    assert registry.message_name(0x5600000C, "linux-v16") == "VM_SET_BOOT_CONTEXT"
    assert registry.message_name(0x56000031, "linux-v16") == "VM_SET_CONTEXT"
    assert registry.message_name(0x56000031, "linux-v17") == "VM_SET_BOOT_CONTEXT"
    assert registry.resolve_message("GUNYAH_RM_RPC_VM_SET_BOOT_CONTEXT", "linux-v16").msg_id == 0x5600000C
    assert registry.resolve_message("GUNYAH_RM_RPC_VM_SET_BOOT_CONTEXT", "linux-v17").msg_id == 0x56000031
    assert registry.error_name(4) == "MSG_INVALID"
    assert registry.error_name(4, "rm-2021") == "INVALID"
    assert registry.resolve_error("MSG_INVALID", "rm-2021") == 4
    old = registry.enum("rm_error", "rm-2021")
    assert {v for v in RM_ERRORS.values if old.values.get(v) != RM_ERRORS.values[v]} == {4, 0x14}
    assert registry.enum("vm_status", "rm-2021").name_of(5) == "SHUTDOWN"
    assert registry.enum("vm_status").name_of(5) == "LOAD"
    assert registry.enum("vm_status", "haven-early").name_of(1) == "RUNNING"
    assert get_dialect("rm-2021").hyp_resource_entry_size == 28
    assert get_dialect("linux-v17").hyp_resource_entry_size == 44
    assert not get_dialect("rm-2021").mem_accept_reply_flags
    assert get_dialect("rm").mem_accept_reply_flags


def test_entry_sizes_match_reference(doc: Doc) -> None:
    text = _norm(doc.section("### 4.3"))
    assert "Resource entry, 44 bytes" in text
    assert "RM-2021 and HAVEN use a 28-byte entry" in text
    assert get_dialect("haven-early").hyp_resource_entry_size == 28


def test_get_dialect_errors() -> None:
    assert get_dialect("RM") is DIALECTS["rm"]
    assert get_dialect(DIALECTS["linux-v16"]) is DIALECTS["linux-v16"]
    with pytest.raises(ValueError, match="known: rm, linux-v16"):
        get_dialect("linux-v99")
    with pytest.raises(ValueError):
        registry.message_name(0x56000004, "nope")


# --- EnumDef and registry unit tests ----------------------------------------------------------------
def test_enumdef_basics() -> None:
    assert VM_STATUS.name_of(3) == "RUNNING"
    assert VM_STATUS.name_of(0x63) == "UNKNOWN_0x63"
    assert ACL_RIGHTS.name_of(0x6) == "W|R"
    assert ACL_RIGHTS.flag_names(0x7) == "X|W|R"
    assert ACL_RIGHTS.flag_names(0x41) == "X|0x40"
    assert ACL_RIGHTS.flag_names(0) == "0"
    assert MEM_ACCEPT_FLAGS.flag_names(0x85) == "VALIDATE_SANITIZED|VALIDATE_LABEL|DONE"
    assert ACL_RIGHTS.value_of("gh_rm_acl_r") == 4
    assert AUTH_MECH.value_of(" qcom_android_pvm ") == 2
    assert RESOURCE_TYPE.value_of("MSGQ_TX") == RESOURCE_TYPE.value_of("RSC_MSG_QUEUE_SEND") == 2
    with pytest.raises(KeyError, match="DOORBELL_SRC"):
        RESOURCE_TYPE.value_of("NOT_A_RESOURCE")


def test_registry_lookups() -> None:
    start = registry.resolve_message("VM_START")
    for key in (0x56000004, "0x56000004", "0X56000004", "56000004", "vm_start", " GH_RM_RPC_VM_START "):
        assert registry.resolve_message(key) is start
    assert registry.resolve_message("UNKNOWN_0x56000004") is start
    assert registry.resolve_message("VM_ALLOC_VMID").name == "VM_ALLOCATE"
    assert registry.resolve_message("GUNYAH_RM_RPC_VM_ALLOC_VMID").msg_id == 0x56000001
    assert registry.resolve_message("VM_LOOKUP_HYP_CAPIDS").name == "VM_GET_HYP_CAPIDS"
    assert registry.message(0x56000099) is None
    assert registry.message_name(0x56000099) == "UNKNOWN_0x56000099"
    assert registry.message_name(0x5) == "GET_LOG"
    with pytest.raises(KeyError, match="closest: VM_START"):
        registry.resolve_message("VM_STRAT")
    with pytest.raises(KeyError, match="0x56000099"):
        registry.resolve_message("0x56000099")
    with pytest.raises(KeyError):
        registry.resolve_message(0x99)


def test_error_lookups() -> None:
    assert registry.error_name(2) == "NORESOURCE"
    assert registry.error_name(0xFFFFFFFF) == "UNIMPLEMENTED"
    assert registry.error_name(0x99) == "UNKNOWN_0x99"
    assert registry.resolve_error("RM_ERROR_NORESOURCE") == 2
    assert registry.resolve_error("gunyah_rm_error_busy") == 5
    assert registry.resolve_error("INVALID") == 4
    assert registry.resolve_error("0x7") == registry.resolve_error("7") == 7
    assert linux_errno(2) == "-ENODEV"
    assert linux_errno(0x11) == "-EINVAL"
    assert linux_errno(0x13) == linux_errno(0x1234) == "-EBADMSG"
    assert HYP_ERRORS.name_of(0xFFFFFFFF) == "UNIMPLEMENTED"


def test_enum_lookup() -> None:
    assert registry.enum("VM_STATUS") is VM_STATUS
    assert registry.enum("rm_error") is RM_ERRORS
    assert registry.enum("msg_type").name_of(3) == "NOTIFICATION"
    with pytest.raises(KeyError, match="VM_STATUS"):
        registry.enum("vm_stat")
