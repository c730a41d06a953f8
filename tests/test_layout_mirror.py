"""``tests/`` mirrors ``dissector/``: the tests of ``dissector/x/y.py`` live in ``tests/x/test_y*.py``.

Computed from the two trees on disk, so a package or module added later is checked without
editing this file. What does not mirror a module is declared here and in ``tests/README.md``:
the cross-cutting suites (whole folders) and a few topic tests (single files).
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
PACKAGE = ROOT / "dissector"
README = TESTS / "README.md"

# Folders of tests/ that span several packages; anything goes inside them.
CROSS_CUTTING = frozenset({"e2e", "fuzz", "reliability", "robustness", "traces"})

# Test files that name no module, by the folder they sit in ("." is tests/ itself).
TOPICS: dict[str, frozenset[str]] = {
    ".": frozenset(
        {"test_imports.py", "test_layout_mirror.py", "test_lint.py", "test_notebooks.py", "test_readme.py"}
    ),
    "protocol": frozenset({"test_protocol_md.py"}),
    "wireshark": frozenset({"test_gui_smoke.py"}),
}


def _folders(root: Path) -> list[Path]:
    skip = ("__pycache__", ".")
    return sorted(p for p in root.rglob("*") if p.is_dir() and not p.name.startswith(skip))


def _package_folders(package: Path) -> set[str]:
    """Folders of the package that are Python packages, relative to it ("." for the package itself)."""
    found = {"."} if (package / "__init__.py").exists() else set()
    found |= {d.relative_to(package).as_posix() for d in _folders(package) if (d / "__init__.py").exists()}
    return found


def _module_names(folder: Path) -> set[str]:
    """What a test file in the mirror of ``folder`` may be named after: its modules and
    subpackages, and the package itself (for tests of what its ``__init__`` exports)."""
    names = {p.stem for p in folder.glob("*.py") if p.name != "__init__.py"}
    names |= {d.name for d in folder.iterdir() if (d / "__init__.py").exists()}
    return names | {folder.name}


def _names_a_module(file_name: str, modules: set[str]) -> bool:
    stem = file_name.removeprefix("test_").removesuffix(".py")
    return any(stem == m or stem.startswith(m + "_") for m in modules)


def misplaced(tests: Path, package: Path) -> list[str]:
    """Every test folder and test file of ``tests`` that breaks the mirror of ``package``."""
    packages = _package_folders(package)
    problems: list[str] = []
    for folder in [tests, *_folders(tests)]:
        rel = folder.relative_to(tests).as_posix()
        if rel.split("/")[0] in CROSS_CUTTING:
            continue
        if rel not in packages:
            problems.append(
                f"tests/{rel}/ mirrors no package of {package.name}/ and is no declared cross-cutting suite"
            )
            continue
        modules = _module_names(package / rel)
        for test in sorted(folder.glob("test_*.py")):
            if test.name not in TOPICS.get(rel, ()) and not _names_a_module(test.name, modules):
                shown = test.relative_to(tests.parent).as_posix()
                where = package.name if rel == "." else f"{package.name}/{rel}"
                problems.append(f"{shown} names no module of {where}/ (test_<module>[_topic].py)")
    return problems


def test_every_test_folder_and_file_mirrors_the_package() -> None:
    problems = misplaced(TESTS, PACKAGE)
    assert not problems, (
        "tests/ must mirror dissector/: move the file next to the tests of the module it tests, "
        "or declare a cross-cutting suite / topic test in tests/test_layout_mirror.py and tests/README.md\n"
        + "\n".join(problems)
    )


def test_every_test_folder_is_a_package() -> None:
    """With ``__init__.py`` everywhere, two folders may both hold a ``test_cli.py``."""
    missing = [
        d.relative_to(ROOT).as_posix()
        for d in [TESTS, *_folders(TESTS)]
        if any(d.glob("*.py")) and not (d / "__init__.py").exists()
    ]
    assert not missing, f"add an empty __init__.py to: {', '.join(missing)}"


def test_readme_declares_every_suite_and_topic() -> None:
    text = README.read_text(encoding="utf-8")
    for suite in sorted(CROSS_CUTTING):
        assert (TESTS / suite).is_dir(), f"declared suite tests/{suite}/ does not exist"
        assert f"`tests/{suite}/`" in text, f"tests/README.md does not explain tests/{suite}/"
    for folder, names in TOPICS.items():
        for name in sorted(names):
            path = f"tests/{name}" if folder == "." else f"tests/{folder}/{name}"
            assert f"`{path}`" in text, f"tests/README.md does not explain {path}"


@pytest.mark.parametrize(
    ("test_file", "problem"),
    [
        ("tests/capture/test_pcap.py", None),
        ("tests/capture/test_pcap_damage.py", None),
        ("tests/capture/test_capture.py", None),  # the package's own exports
        ("tests/capture/test_damage.py", "names no module of pkg/capture/"),
        ("tests/test_capture.py", None),
        ("tests/test_pcap.py", "names no module of pkg/"),
        ("tests/capturing/test_pcap.py", "tests/capturing/ mirrors no package"),
        ("tests/robustness/anything/test_x.py", None),
    ],
)
def test_the_check_sees_a_misplaced_test(tmp_path: Path, test_file: str, problem: str | None) -> None:
    package = tmp_path / "pkg"
    (package / "capture").mkdir(parents=True)
    for module in ("__init__.py", "capture/__init__.py", "capture/pcap.py"):
        (package / module).write_text("")
    (tmp_path / test_file).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / test_file).write_text("")
    found = misplaced(tmp_path / "tests", package)
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and problem in found[0], found
