"""Terminal tables are measured in screen cells and cut between grapheme clusters.

A Khmer name has vowel signs that take no cell and consonants stacked under others by the
coeng (U+17D2): counted in code points, it pushed every later column 5 to 15 places to the
left. Here every column starts at the same screen cell (``rich.cells.cell_len``) on every
line, and a cell cut to fit ends where a cluster ends, never between a consonant and its
marks or a coeng and the consonant it stacks. The checks of a cut below are written
without the code under test: the next character of the text is no mark, and the cut does
not end on a coeng, a virama or a ZWJ.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from tracker import services
from tracker.render import terminal

from conftest import add_evidence, invoke, write

MOLVT = "ក្រសួងការងារ និងបណ្តុះបណ្តាលវិជ្ជាជីវៈ"  # Ministry of Labour and Vocational Training
LATIN = "Ministry of Interior, General Department of Identification and the National Committee"
CHINESE = "柬埔寨王国劳工和职业培训部国家委员会秘书处"
JOINERS = "\u17d2\u1039\u094d\u200d"


def column_starts(line: str) -> list[int]:
    """The screen cell at which each column after the first starts: after each run of 2+ spaces
    (a cell never holds two spaces in a row: whitespace is collapsed, and an empty cell is '-')."""
    return [cell_len(line[: m.end()]) for m in re.finditer(r"(?<=\S)  +(?=\S)", line)]


def ends_on_a_cluster(original: str, shown: str) -> bool:
    """``shown`` is ``original``, or a prefix of it ending between two clusters and an ellipsis."""
    if shown == original:
        return True
    assert shown.endswith("…"), shown
    kept = shown[:-1]
    assert original.startswith(kept), (original, shown)
    if not kept:  # nothing fits before the ellipsis: the start of a text is a boundary
        return True
    following = original[len(kept)]
    return (
        unicodedata.category(following)[0] != "M"
        and following not in ("\u200d", "\u200c")
        # a ZWJ joins a letter or a symbol (an emoji) after it, and ends its cluster before anything else
        and not (kept and kept[-1] == "\u200d" and unicodedata.category(following)[0] in ("L", "S"))
        # a stacker joins the letter after it (never a digit or a punctuation mark, such as Khmer's khan)
        and not (kept and kept[-1] in JOINERS and unicodedata.category(following)[0] == "L")
    )


def test_every_column_starts_at_the_same_cell_whatever_the_script():
    rows = [
        ["mlvt", MOLVT, 3, "lead"],
        ["moi", LATIN, 12, "support"],
        ["cn", CHINESE, 1, "lead"],
        ["mix", f"{MOLVT} {LATIN}", None, "-"],
    ]
    for width in (12, 20, 37, 60):
        text = terminal.table(["code", "name", "recommendations", "role"], rows, max_width=width)
        lines = text.splitlines()
        starts = {tuple(column_starts(line)) for line in lines}
        assert len(starts) == 1 and len(next(iter(starts))) == 3, (width, text)
        shown_names = [re.split(r"(?<=\S)  +(?=\S)", line)[1] for line in lines[1:]]
        for (_, name, _, _), shown in zip(rows, shown_names):
            assert cell_len(shown) <= width
            assert ends_on_a_cluster(name, shown), (width, shown)


def test_the_khmer_name_is_cut_at_every_width_between_two_clusters():
    for width in range(2, cell_len(MOLVT) + 2):
        shown = terminal.cut(MOLVT, width)
        assert cell_len(shown) <= width
        assert ends_on_a_cluster(MOLVT, shown), (width, shown)
        if width > 2:
            assert cell_len(shown) >= width - 3  # no cluster of Khmer takes more than 2 cells: little is lost
    assert terminal.cut(MOLVT, cell_len(MOLVT)) == MOLVT


def test_khmer_clusters_keep_a_consonant_with_its_signs_and_the_consonant_it_stacks():
    clusters = terminal.graphemes(MOLVT)
    assert "".join(clusters) == MOLVT
    assert clusters[:3] == ["ក្រ", "សួ", "ង"]  # KA + COENG + RO; SA + vowel sign UA
    assert "ណ្តុះ" in clusters  # NNO + COENG + TA + vowel sign U + REAHMUK
    assert "ជ្ជា" in clusters and "វៈ" in clusters
    for cluster in clusters:
        assert unicodedata.category(cluster[0])[0] != "M"
        assert cluster[-1] != "\u17d2"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("e\u0301a", ["e\u0301", "a"]),  # a combining acute
        ("👨\u200d👩\u200d👧x", ["👨\u200d👩\u200d👧", "x"]),  # a ZWJ sequence
        ("👍🏽", ["👍🏽"]),  # a skin tone
        ("🇰🇭🇹🇭🇺", ["🇰🇭", "🇹🇭", "🇺"]),  # flags: regional indicators in pairs
        ("क्षि", ["क्षि"]),  # Devanagari KSSA + I: a conjunct
        ("a\r\nb", ["a", "\r\n", "b"]),
        ("", []),
    ],
)
def test_clusters_of_other_scripts(text, expected):
    assert terminal.graphemes(text) == expected


KHMER = st.characters(min_codepoint=0x1780, max_codepoint=0x17FF)
PIECES = st.one_of(
    KHMER,
    st.sampled_from(list("abc Z-1") + ["\u17d2", "\u0301", "\u200d", "柬", "👍", "\U0001f3fd", "🇰", "क", "\u094d"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PIECES, max_size=40).map("".join), st.integers(min_value=2, max_value=30))
@example("\u17d2柬ក", 2)  # a text that starts with a coeng, whose first cluster does not fit: only "…"
@example("កកក\u200d\u17deកក", 4)  # a ZWJ before an unassigned code point: a boundary after the ZWJ
def test_a_cut_fits_and_ends_between_clusters(text, width):
    shown = terminal.cut(text, width)
    assert cell_len(shown) <= width
    assert ends_on_a_cluster(text, shown)
    assert "".join(terminal.graphemes(text)) == text


def test_the_commands_line_up_khmer_agencies_and_titles(backend, url):
    """``agency list`` and ``evidence list`` (a Khmer title, a long Latin one), on both backends."""
    from tracker.store.database import Database

    database = Database(url)
    write(database, services.add_agency, "molvt-kh", MOLVT, actor="tester")
    write(database, services.add_agency, "moi-long", LATIN, actor="tester")
    add_evidence(database, ["labor-inspections"], f"{MOLVT}: ការត្រួតពិនិត្យឡឥដ្ឋ", "2019-08-14", "inspection")
    add_evidence(database, ["labor-inspections"], LATIN * 2, "2019-08-15", "media_report")
    database.dispose()
    for args in (["agency", "list"], ["evidence", "list"]):
        result = invoke(["--db", url, *args])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert len(lines) >= 3
        starts = {tuple(column_starts(line)) for line in lines}
        assert len(starts) == 1, result.stdout
    assert MOLVT in invoke(["--db", url, "agency", "list"]).stdout


# Streamed output: the same text as the whole, a piece at a time ------------------------------


@pytest.mark.parametrize(
    "items",
    [[], [1], [{"title": "ការត្រួតពិនិត្យ\nline\u2028two", "ids": [1, 2]}, {}], [{"nested": {"a": []}}, [], "x"]],
)
def test_json_pieces_join_into_the_json_of_the_whole_list(items):
    assert "".join(terminal.json_pieces(iter(items))) == terminal.to_json(items)


def test_a_streamed_table_is_the_table_when_its_rows_are_all_measured():
    rows = [[i, "ក្រសួង" * (i % 4), None] for i in range(50)]
    assert "\n".join(terminal.table_lines(["id", "agency", "note"], iter(rows), measured=50)) == terminal.table(
        ["id", "agency", "note"], rows
    )
    # measured on the first 5 rows: a later, wider cell is shown whole, never cut
    lines = list(terminal.table_lines(["id", "agency", "note"], iter(rows), measured=5))
    assert len(lines) == 51 and all("ក្រសួង" * (i % 4) in lines[i + 1] for i in range(50))
