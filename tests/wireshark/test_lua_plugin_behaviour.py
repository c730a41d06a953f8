"""What a Wireshark user sees of the plugin beyond the decoded fields (issue 16).

Loading twice, the Source/Destination/Protocol columns, labels, severities, colouring rules,
one pass against two, and the conversation table; each through tshark with the generated file.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from dissector.cli import main
from dissector.wireshark.install import COLOR_RULES, install_colors
from dissector.wireshark.lua import LUA_FILE_NAME
from tests.wireshark.agree import ghrm_messages, section

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted(p for p in (ROOT / "traces").glob("*.pcap*") if p.suffix in (".pcap", ".pcapng"))
CLEAN = ROOT / "traces" / "faults_mix.pcapng"


def _tshark(
    tshark: str, lua: Path | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    cmd = [tshark, "-n", *(["-X", f"lua_script:{lua}"] if lua else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)


def test_second_copy_steps_aside_in_one_line(tmp_path, monkeypatch, tshark, lua_file):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    assert main(["wireshark", "install"], io.StringIO(), io.StringIO()) == 0
    run = _tshark(tshark, lua_file, "-r", str(CLEAN), "-2", "-T", "fields", "-e", "gunyah_rm.msg_name")
    assert run.returncode == 0
    lines = [line for line in run.stderr.splitlines() if "gunyah_rm" in line]
    assert len(lines) == 1 and "already loaded" in lines[0] and str(lua_file) in lines[0], run.stderr
    assert "Lua: Error" not in run.stderr and "two protocols" not in run.stderr
    assert "VM_START" in run.stdout  # the installed copy decodes
    err = io.StringIO()
    assert main(["wireshark", "lua", "-o", str(tmp_path / LUA_FILE_NAME)], io.StringIO(), err) == 0
    assert "an installed copy exists" in err.getvalue()
    assert (tmp_path / ".config" / "wireshark" / "colorfilters").is_file()


def test_columns_say_which_vm_talks_to_rm(tshark, lua_file):
    run = _tshark(
        tshark, lua_file, "-r", str(CLEAN), "-2", "-T", "fields", "-E", "separator=|",
        "-e", "frame.number", "-e", "_ws.col.Source", "-e", "_ws.col.Destination", "-e", "_ws.col.Protocol",
    )  # fmt: skip
    rows = {
        int(n): (src, dst, proto) for n, src, dst, proto in (x.split("|") for x in run.stdout.splitlines())
    }
    checked = 0
    for msg in ghrm_messages(CLEAN):
        vm = f"VM {msg.raw.client_vmid:#x}"
        want = (vm, "RM") if msg.raw.direction.name == "TO_RM" else ("RM", vm)
        for frame in msg.raw.frames:
            assert rows[frame][:2] == want, (frame, rows[frame], want)
            assert rows[frame][2] == "GH-RM"
            checked += 1
    assert checked == len(rows)


def test_labels_are_words_and_payload_names_the_message(tshark, lua_file):
    done = subprocess.run(
        [tshark, "-G", "fields", "-X", f"lua_script:{lua_file}"], capture_output=True, text=True, check=False
    )
    fields = done.stdout.splitlines()
    ours = [line.split("\t") for line in fields if "\tgunyah_rm" in line]
    labels = {row[1] for row in ours if row[0] == "F"}
    assert not [label for label in labels if label.startswith("_") or "_" in label.split(" ")[0]]
    assert "Reserved" in labels and "Number of SGL entries" in labels
    tree = _tshark(tshark, lua_file, "-r", str(CLEAN), "-2", "-V", "-Y", 'gunyah_rm.msg_name == "MEM_LEND"')
    assert "Payload: MEM_LEND request" in tree.stdout
    assert "MemLend" not in tree.stdout and "MemShareReq" not in tree.stdout


def test_error_replies_are_warnings_as_in_ghrm_findings(tshark, lua_file):
    run = _tshark(tshark, lua_file, "-r", str(CLEAN), "-2", "-q", "-z", "expert")
    sections = {part.split("(")[0].strip(): part for part in run.stdout.split("\n\n") if "=====" in part}
    assert "MEM_SHARE replied NOMEM" in sections["Warns"]
    assert "replied" not in sections.get("Notes", "")
    assert "Response" in sections["Warns"] and "Malformed" in sections["Errors"]


def test_colouring_rules_go_first_and_install_again_replaces_them(tmp_path):
    glob = tmp_path / "global"
    glob.mkdir()
    (glob / "colorfilters").write_text("# DO NOT EDIT\n@TCP@tcp@[1,2,3][4,5,6]\n", encoding="utf-8")
    config = tmp_path / "config"
    path = install_colors(config, glob)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# DO NOT EDIT" and lines[-1] == "@TCP@tcp@[1,2,3][4,5,6]"
    assert [line.split("@")[1] for line in lines[1:-1]] == [name for name, *_ in COLOR_RULES]
    with path.open("a", encoding="utf-8") as f:
        f.write("@mine@udp@[0,0,0][1,1,1]\n")
    again = install_colors(config, glob).read_text(encoding="utf-8").splitlines()
    assert again == [*lines, "@mine@udp@[0,0,0][1,1,1]"]  # ours once, the user's rule kept
    assert "gunyah_rm.malformed" in lines[1] and "gunyah_rm.err_code != 0" in lines[2]


def test_colouring_filters_compile(tshark, lua_file):
    for _, flt, *_ in COLOR_RULES:
        run = _tshark(tshark, lua_file, "-r", str(CLEAN), "-2", "-Y", flt)
        assert run.returncode == 0 and run.stdout.strip(), (flt, run.stderr)


# fields a frame shows that need no later record: must be equal with one pass and with two
ONE_PASS_FIELDS = ("gunyah_rm.frame", "gunyah_rm.frames", "gunyah_rm.request_in", "gunyah_rm.time",
                   "gunyah_rm.err_code", "gunyah_rm.malformed.kind", "gunyah_rm.msg_name")  # fmt: skip


@pytest.mark.parametrize("trace", BUNDLED, ids=lambda p: p.name)
def test_one_pass_shows_what_two_passes_show(trace, tshark, lua_file):
    """Every field known when its frame is read is the same without -2; what differs is a message
    given up later (a continuation lost: only a later record tells) and a request's reply."""
    args = ["-r", str(trace), "-T", "fields", "-E", "separator=|", "-e", "frame.number"]
    args += [a for f in ONE_PASS_FIELDS for a in ("-e", f)]
    one = _tshark(tshark, lua_file, *args).stdout.splitlines()
    two = _tshark(tshark, lua_file, "-2", *args).stdout.splitlines()
    assert len(one) == len(two) > 0
    later = {
        f
        for m in ghrm_messages(trace)
        for f in m.raw.frames
        if any(p.kind == "fragment" and "incomplete" in p.text for p in m.problems)
    }
    differ = [(a, b) for a, b in zip(one, two, strict=True) if a != b and int(a.split("|")[0]) not in later]
    assert not differ, differ[:5]
    # a reply's generated fields need nothing later: the same in one pass
    reply = ["-Y", "gunyah_rm.type == 2", *args]
    reply += [
        a
        for f in ("vm", "request_frame", "reply_frame", "latency", "errno")
        for a in ("-e", f"gunyah_rm.{f}")
    ]
    one = _tshark(tshark, lua_file, *reply).stdout.splitlines()
    two = _tshark(tshark, lua_file, "-2", *reply).stdout.splitlines()
    one = [x for x in one if int(x.split("|")[0]) not in later]
    two = [x for x in two if int(x.split("|")[0]) not in later]
    assert one == two


def test_conversation_per_client_vm(tshark, lua_file):
    run = _tshark(tshark, lua_file, "-r", str(CLEAN), "-2", "-q", "-z", "gunyah_rm,conv")
    rows = {}
    for line in section(run.stdout, "Gunyah RM Conversations"):
        vm, hexid, rm, messages, *_ = line.split()
        assert (vm, rm) == ("VM", "RM")
        rows[int(hexid, 16)] = int(messages)
    counts: dict[int, int] = {}
    for msg in ghrm_messages(CLEAN):
        counts[msg.raw.client_vmid] = counts.get(msg.raw.client_vmid, 0) + 1
    assert rows == counts
