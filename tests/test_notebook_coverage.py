"""The book-card coverage table of notebooks/README.md points at cells that exist, and is current.

``.ci/notebook_coverage.py`` maps every concept card of the book notes to the notebook cells that
teach it, by anchors (a short piece of each cell's text). These tests fail when a notebook edit
removes or duplicates an anchor, or when the README's generated sections were not regenerated.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / ".ci" / "notebook_coverage.py"


@pytest.fixture(scope="module")
def cov():
    spec = importlib.util.spec_from_file_location("notebook_coverage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture
def notebooks_copy(tmp_path):
    """A folder with links to the course notebooks and a copy of their README."""
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        (tmp_path / path.name).symlink_to(path)
    readme = tmp_path / "README.md"
    readme.write_text((REPO / "notebooks" / "README.md").read_text(encoding="utf-8"),
                      encoding="utf-8")
    return readme


def test_the_readme_is_up_to_date(cov, capsys):
    status = cov.main(["--check"])
    err = capsys.readouterr().err
    assert status == 0, f"notebooks/README.md coverage check failed:\n{err}"


def test_every_card_has_a_home_and_a_unique_title(cov):
    titles = [c.title for c in cov.CARDS]
    assert len(titles) == 71 and len(set(titles)) == 71
    assert all(c.homes for c in cov.CARDS)
    resolved = cov.resolve()
    assert [c.title for c, _ in resolved] == titles
    for card, homes in resolved:
        for path, cell, _section in homes:
            assert path.is_file() and cell >= 1, card.title


def test_a_missing_anchor_raises_and_names_the_card(cov):
    fake = (cov.card("A card that nothing teaches", ("05", "this text is in no cell: 7f3c9a")),)
    with pytest.raises(cov.CoverageError, match="A card that nothing teaches.*in no cell"):
        cov.resolve(fake)


def test_an_ambiguous_anchor_raises(cov):
    # every notebook has several cells that import something
    fake = (cov.card("Too vague", ("05", "import")),)
    with pytest.raises(cov.CoverageError, match="Too vague.*ambiguous"):
        cov.resolve(fake)


def test_an_unknown_assignment_or_notebook_raises(cov):
    with pytest.raises(cov.CoverageError, match="a99_nothing"):
        cov.resolve((cov.card("X", ("05", "def weights_init_book(m):"), practise=("a99_nothing",)),))
    with pytest.raises(cov.CoverageError, match="99_"):
        cov.resolve((cov.card("Y", ("99", "anything")),))


def test_check_fails_on_a_stale_readme_and_passes_once_regenerated(cov, notebooks_copy, capsys):
    text = notebooks_copy.read_text(encoding="utf-8")
    start, end = cov.MARKERS["coverage"]
    stale = text[: text.index(start) + len(start)] + "\n| old table |\n" + text[text.index(end):]
    notebooks_copy.write_text(stale, encoding="utf-8")
    assert cov.main(["--check"], readme=notebooks_copy) == 1
    assert "out of date" in capsys.readouterr().err
    assert notebooks_copy.read_text(encoding="utf-8") == stale  # --check never writes
    assert cov.main([], readme=notebooks_copy) == 0
    assert notebooks_copy.read_text(encoding="utf-8") == text
    assert cov.main(["--check"], readme=notebooks_copy) == 0


def test_check_reports_a_broken_anchor_with_the_card(cov, notebooks_copy, monkeypatch, capsys):
    broken = (*cov.CARDS[:-1], cov.card(cov.CARDS[-1].title, ("07", "a cell that was deleted")))
    monkeypatch.setattr(cov, "CARDS", broken)
    assert cov.main(["--check"], readme=notebooks_copy) == 2
    assert cov.CARDS[-1].title in capsys.readouterr().err


def test_markers_must_be_present_once(cov):
    with pytest.raises(cov.CoverageError, match="coverage:start"):
        cov.replace_between("no markers here", "coverage", "body")
    start, end = cov.MARKERS["checked"]
    assert cov.replace_between(f"a\n{start}\nold\n{end}\nb", "checked", "new") == (
        f"a\n{start}\nnew\n{end}\nb")


def test_checked_cells_follow_nbval_markers(cov, tmp_path):
    def code(src, tags=()):
        return {"cell_type": "code", "source": src, "metadata": {"tags": list(tags)},
                "outputs": [], "execution_count": None}

    cells = [
        {"cell_type": "markdown", "source": "# title", "metadata": {}},
        code("print(1)"),
        code("# NBVAL_IGNORE_OUTPUT\nprint(2)"),
        code("x = 1\n# NBVAL_SKIP\nprint(x)"),
        code("print(3)", tags=["nbval-ignore-output"]),
        code("# a comment, not a marker\nprint(4)"),
    ]
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "03_demo.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    assert cov.checked_counts(tmp_path) == [("03", 2, 5)]
    assert cov.checked_line(tmp_path) == "Checked code cells per notebook: 03: 2 of 5."


def test_section_of_reads_the_heading_above_the_anchor(cov):
    cells = [{"cell_type": "markdown", "source": "## 1 · First\n\ntext"},
             {"cell_type": "code", "source": "## not a heading in code\nx = 1"},
             {"cell_type": "markdown", "source": "intro\n\n## 2 · Second\n\n### 2.1 Sub\n\nmore"}]
    assert cov.section_of(cells, 1, "x = 1") == "1 · First"
    assert cov.section_of(cells, 2, "intro") == "1 · First"
    assert cov.section_of(cells, 2, "## 2 · Second") == "2 · Second"
    assert cov.section_of(cells, 2, "more") == "2 · Second › 2.1 Sub"


def test_card_titles_are_checked_against_the_notes(cov, tmp_path):
    titles = [c.title for c in cov.CARDS]
    notes = "\n\n".join(f"#### {t}\nBackground context: ..." for t in titles)
    (tmp_path / "000_notes.txt").write_text(notes + "\n#### " + titles[0] + "\n", encoding="utf-8")
    cov.check_seed_titles(tmp_path)  # duplicates in the notes count once
    (tmp_path / "001_more.txt").write_text("#### A card the table lacks\n", encoding="utf-8")
    with pytest.raises(cov.CoverageError, match="A card the table lacks"):
        cov.check_seed_titles(tmp_path)
