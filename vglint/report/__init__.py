"""Reporters: they format findings and nothing else."""

from vglint.report.github import render_github
from vglint.report.json import render_json, statistics_json
from vglint.report.junit import render_junit
from vglint.report.locations import repository_root
from vglint.report.sarif import render_sarif
from vglint.report.text import render_concise, render_full, render_statistics, summary_line

FORMATS = ("full", "concise", "json", "sarif", "github", "junit")
#: The formats that `--statistics` can replace the findings of; CI formats always carry the findings.
STATISTICS_FORMATS = ("full", "concise", "json")

__all__ = ["FORMATS", "STATISTICS_FORMATS", "render_concise", "render_full", "render_github", "render_json",
           "render_junit", "render_sarif", "render_statistics", "repository_root", "statistics_json", "summary_line"]  # fmt: skip
