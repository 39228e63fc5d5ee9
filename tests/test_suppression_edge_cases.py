"""Suppression comments, spelling by spelling, through `parse_suppressions` and `check_source`:
which findings each comment silences (README "Suppressions", vglint/suppressions.py's docstring)."""

from __future__ import annotations

import pytest
from conftest import VG105_SOURCE

from vglint.config import Settings
from vglint.engine import check_source, make_rules
from vglint.findings import Finding, Severity, Span
from vglint.suppressions import parse_suppressions


def finding(code: str, line: int) -> Finding:
    return Finding(code, "name", Severity.WARNING, "message", "m.py", Span.at(line, 5))


def silenced(source: str, code: str = "VG105", line: int = 1) -> bool:
    return parse_suppressions(source).suppresses(finding(code, line))


@pytest.mark.parametrize(
    ("comment", "codes_silenced", "codes_kept"),
    [
        ("# noqa", ["VG105", "VG001", "VG402"], []),
        ("#noqa", ["VG105"], []),
        ("#   NoQA", ["VG105"], []),
        ("# noqa: VG105", ["VG105"], ["VG101", "VG104"]),
        ("# noqa:VG105", ["VG105"], ["VG101"]),
        ("# noqa :VG105", ["VG105", "VG101"], []),  # not the code syntax: a blanket noqa
        ("# noqa: vg105", ["VG105"], ["VG101"]),
        ("# noqa: VG101,VG105", ["VG101", "VG105"], ["VG104"]),
        ("# noqa: VG101 , VG105", ["VG101", "VG105"], ["VG104"]),
        ("# noqa: VG101 VG105", ["VG101", "VG105"], ["VG104"]),
        ("# noqa: VG1", ["VG101", "VG105"], ["VG201", "VG001"]),
        ("# noqa: VG10", ["VG101", "VG105"], ["VG201"]),
        ("# noqa: VG1051", [], ["VG105"]),
        ("# noqa: because the model is small", ["VG105", "VG201"], []),  # unreadable codes: blanket, as flake8
        ("# noqa: VG105 because it is small", ["VG105"], ["VG101"]),
        ("# vglint: ignore[VG105]", ["VG105"], ["VG101"]),
        ("#vglint:ignore[VG105]", ["VG105"], ["VG101"]),
        ("# VGLINT: IGNORE[vg105]", ["VG105"], ["VG101"]),
        ("# vglint: ignore[VG101, VG105]", ["VG101", "VG105"], ["VG104"]),
        ("# vglint: ignore[VG101 VG105]", ["VG101", "VG105"], ["VG104"]),
        ("# vglint: ignore[VG101,,VG105]", ["VG101", "VG105"], ["VG104"]),
        ("# vglint: ignore[VG2]", ["VG201", "VG202"], ["VG105"]),
        ("# vglint: ignore[ALL]", ["VG105", "VG001"], []),
        ("# vglint: ignore[all, VG101]", ["VG105", "VG001"], []),
        ("# vglint: ignore[]", ["VG105", "VG001"], []),  # nothing named: the whole line
        ("# vglint: ignore", ["VG105", "VG001"], []),
        ("# vglint: ignore[ ]", ["VG105"], []),
        ("# vglint ignore[VG105]", [], ["VG105"]),
        ("# ignore[VG105]", [], ["VG105"]),
        ("# noqa: VG101  # vglint: ignore[VG105]", ["VG101", "VG105"], ["VG104"]),
        ("# vglint: ignore[VG101] # noqa: VG105", ["VG101", "VG105"], ["VG104"]),
        ("# no qa", [], ["VG105"]),
    ],
)
def test_inline_comment(comment, codes_silenced, codes_kept):
    source = f"x = 1  {comment}\n"
    for code in codes_silenced:
        assert silenced(source, code), code
        assert not silenced(source, code, line=2), code  # only on its own line
    for code in codes_kept:
        assert not silenced(source, code), code


@pytest.mark.parametrize(
    ("comment", "codes_silenced", "codes_kept"),
    [
        ("# vglint: file-ignore[VG105]", ["VG105"], ["VG101", "VG001"]),
        ("# vglint: file-ignore[vg1]", ["VG101", "VG105"], ["VG201"]),
        ("#vglint:file-ignore[VG101,VG105]", ["VG101", "VG105"], ["VG104"]),
        ("# VGLINT: FILE-IGNORE[VG101 VG105]", ["VG101", "VG105"], ["VG104"]),
        ("# vglint: file-ignore[ALL]", ["VG105", "VG001"], []),
        ("# vglint: file-ignore[]", [], ["VG105", "VG001"]),  # names nothing, so ignores nothing
        ("# vglint: file-ignore[  ]", [], ["VG105"]),
        ("# vglint: file-ignore", [], ["VG105"]),  # brackets are required
        ("# vglint: file-ignore[VG101] # vglint: file-ignore[VG105]", ["VG101", "VG105"], ["VG104"]),
        ("# vglint: file-ignore[VG101] file-ignore[VG105]", ["VG101"], ["VG105"]),  # each needs its "vglint:"
        ("# vglint: skip-file", ["VG105", "VG001", "VG402"], []),
        ("#vglint:skip-file", ["VG105"], []),
        ("# VGLINT: SKIP-FILE because generated", ["VG105"], []),
        ("# vglint: skip-files", [], ["VG105"]),
        ("# vglint: skip_file", [], ["VG105"]),
    ],
)
def test_file_level_comment_anywhere(comment, codes_silenced, codes_kept):
    source = f"x = 1\ny = 2  {comment}\nz = 3\n"
    for code in codes_silenced:
        for line in (1, 2, 3, 40):
            assert silenced(source, code, line), (code, line)
    for code in codes_kept:
        assert not silenced(source, code, 1), code


def test_file_ignores_add_up():
    source = "# vglint: file-ignore[VG101]\nx = 1\n# vglint: file-ignore[VG2]\n"
    for code in ("VG101", "VG201", "VG202"):
        assert silenced(source, code, 2)
    assert not silenced(source, "VG105", 2)


def test_comments_on_several_lines_stay_on_their_lines():
    source = "a = 1  # noqa: VG101\nb = 2  # noqa: VG105\nc = 3\nd = 4  # vglint: ignore[VG101]\n"
    assert silenced(source, "VG101", 1) and not silenced(source, "VG105", 1)
    assert silenced(source, "VG105", 2) and not silenced(source, "VG101", 2)
    assert not silenced(source, "VG101", 3) and not silenced(source, "VG105", 3)
    assert silenced(source, "VG101", 4) and not silenced(source, "VG105", 4)


def test_no_comment_suppresses_nothing():
    assert not silenced("x = 1\n", "VG105", 1)
    assert not silenced("", "VG105", 1)
    assert not silenced('x = "# noqa"\ny = "# vglint: skip-file"\n', "VG105", 1)


def test_a_string_is_not_a_comment_but_a_comment_after_it_is():
    source = 'x = "# noqa: VG101"  # noqa: VG105\n'
    assert silenced(source, "VG105", 1)
    assert not silenced(source, "VG101", 1)


def test_a_file_tokenize_rejects_is_scanned_line_by_line():
    source = "x = (  # noqa: VG001\ny = 1  # vglint: ignore[VG105]\n"  # the bracket is never closed
    assert silenced(source, "VG001", 1)
    assert not silenced(source, "VG105", 1)
    assert silenced(source, "VG105", 2)
    assert not silenced(source, "VG001", 2)
    assert silenced("x = (\n# vglint: skip-file\n", "VG105", 1)
    # the comment runs from the line's first "#"
    two = "x = (  # noqa: VG001  # vglint: ignore[VG105]\n"
    assert silenced(two, "VG001", 1) and silenced(two, "VG105", 1)
    # line by line, a comment-like line inside an unclosed string counts too
    assert silenced('s = """\n# vglint: file-ignore[VG1]\n', "VG105", 9)


def test_a_comment_on_a_continuation_line_belongs_to_that_line():
    source = "x = foo(\n    1,  # noqa: VG105\n)\n"
    assert not silenced(source, "VG105", 1)
    assert silenced(source, "VG105", 2)


# -- through the engine: what a user sees --------------------------------------------------------


def check(source: str) -> list[str]:
    settings = Settings()
    found, errors = check_source(source.encode("utf-8"), "m.py", make_rules(settings), settings)
    assert errors == []
    return [f"{f.span.line}:{f.code}" for f in found]


def test_engine_applies_inline_comments_to_the_reported_line():
    lines = VG105_SOURCE.splitlines()
    assert check(VG105_SOURCE) == ["3:VG105"]
    for comment in ("# noqa", "# noqa: VG105", "# vglint: ignore[VG1]", "# noqa: reason"):
        assert check("\n".join([*lines[:2], f"{lines[2]}  {comment}"]) + "\n") == [], comment
    assert check("\n".join([*lines[:2], f"{lines[2]}  # noqa: VG101"]) + "\n") == ["3:VG105"]
    assert check("\n".join([lines[0], f"{lines[1]}  # noqa", lines[2]]) + "\n") == ["3:VG105"]


def test_engine_applies_file_comments():
    assert check(VG105_SOURCE + "# vglint: file-ignore[VG10]\n") == []
    assert check(VG105_SOURCE + "# vglint: file-ignore[VG101]\n") == ["3:VG105"]
    assert check("# vglint: skip-file\n" + VG105_SOURCE) == []
    assert check("# vglint: file-ignore[]\n" + VG105_SOURCE) == ["4:VG105"]
