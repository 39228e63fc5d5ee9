"""`--output-format junit`: JUnit XML for the test report views of GitLab, Jenkins and the like.

One test suite per checked file and one failing test case per finding; a file without findings has
one passing case, so that every checked file shows, and passes, in the report.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from vglint.findings import Finding
from vglint.report.locations import ci_message
from vglint.report.text import render_concise


def render_junit(findings: list[Finding], filenames: list[str]) -> str:
    """`filenames`: every file checked, with or without findings."""
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_file[finding.filename].append(finding)
    suites = ET.Element("testsuites", name="vglint", tests="0", failures=str(len(findings)), errors="0")
    total = 0
    for filename in sorted(set(filenames) | set(by_file)):
        found = by_file.get(filename, [])
        tests = max(1, len(found))
        total += tests
        suite = ET.SubElement(suites, "testsuite", name=filename, tests=str(tests), failures=str(len(found)),
                              errors="0", skipped="0")  # fmt: skip
        if not found:
            ET.SubElement(suite, "testcase", name="vglint", classname=filename, file=filename)
        for finding in found:
            span, cell = finding.span, f"cell {finding.cell}:" if finding.cell is not None else ""
            case = ET.SubElement(suite, "testcase", name=f"{finding.code} at {cell}{span.line}:{span.column}",
                                 classname=filename, file=filename, line=str(span.line))  # fmt: skip
            failure = ET.SubElement(case, "failure", message=ci_message(finding), type=finding.code)
            failure.text = render_concise([finding]).rstrip("\n")  # the concise line: where, code, severity
    suites.set("tests", str(total))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
