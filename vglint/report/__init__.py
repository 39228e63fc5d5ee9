"""Reporters: they format findings and nothing else."""

from vglint.report.json import render_json, statistics_json
from vglint.report.text import render_concise, render_full, render_statistics, summary_line

FORMATS = ("full", "concise", "json")

__all__ = ["FORMATS", "render_concise", "render_full", "render_json", "render_statistics", "statistics_json", "summary_line"]
