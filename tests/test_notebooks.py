"""The notebooks in ``notebooks/`` are committed without outputs and run top to bottom here, in a
real IPython kernel (nbclient + ipykernel), so they can never rot.

Each executed notebook must have no error, nothing on stderr and no warning in its outputs, and
what it shows must read as ghrm promises: no epoch float (``1767225600.0...``), and VMIDs and
message ids in hex in every HTML table."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
EPOCH = re.compile(r"\b1[67]\d{8}(\.\d+)?\b|\b1\.7\d*e\+0?9\b")  # 2020s epoch seconds, as text or float
HEX_HEADERS = {"vmid", "client_vmid", "owner_vmid", "msg_id", "vmids", "borrowers", "handle"}
HEX_CELL = re.compile(r"^(0x[0-9a-f]+(, 0x[0-9a-f]+)*|\u2013|)$")


def test_there_are_notebooks():
    assert {p.name for p in PATHS} >= {
        "01-quickstart.ipynb",
        "02-field-issue.ipynb",
        "03-timing-report.ipynb",
    }


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"
    imports = [
        line.split()[1]
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if line.startswith(("import ", "from "))
    ]
    outside = {m for m in imports if m.split(".")[0] not in ("dissector", "pathlib", "tempfile")}
    assert not outside, f"{path.name} imports {outside}: notebooks use only dissector (and the stdlib paths)"


class _Tables(HTMLParser):
    """Cells of every HTML table, by header name."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _check_html_tables(markup: str, where: str) -> None:
    parser = _Tables()
    parser.feed(markup)
    for table in parser.tables:
        rows = [r for r in table if r]
        if not rows:
            continue
        header = rows[0]
        for name in HEX_HEADERS.intersection(header):
            i = header.index(name)
            for row in rows[1:]:
                if len(row) == len(header):
                    assert HEX_CELL.match(row[i]), f"{where}: {name} shown as {row[i]!r}"


def _texts(output: dict) -> list[tuple[str, str]]:
    if output["output_type"] == "stream":
        return [(output["name"], output["text"])]
    data = output.get("data", {})
    return [(kind, data[kind]) for kind in ("text/plain", "text/html", "text/markdown") if kind in data]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_notebook_runs_clean(path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any exception
    for n, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        where = f"{path.name} cell {n}"
        for output in cell.outputs:
            assert output["output_type"] != "error", where
            for kind, text in _texts(output):
                assert kind != "stderr", f"{where} wrote to stderr: {text[:300]}"
                assert "Warning" not in text, f"{where}: {text[:300]}"
                assert not EPOCH.search(text), f"{where} shows an epoch time: {EPOCH.search(text)[0]}"
                if kind == "text/html":
                    _check_html_tables(text, where)
