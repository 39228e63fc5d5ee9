"""`--report FILE`: one self-contained HTML page of the findings, the probed models' gradient-flow
plots and the flagged code (the `report` extra: matplotlib, pygments, markdown).

Self-contained means it opens with no network: the plots are inline SVG with their text drawn as
paths, the code's colours and the page's layout are one inline stylesheet, there is no script, and
each finding's rule page is embedded in the page. It reads on a phone: wide tables and code scroll
inside their own box, never the page.
"""

from __future__ import annotations

import html
import importlib.util
import re
from collections.abc import Callable, Sequence

from vglint import __version__
from vglint.config import Settings
from vglint.findings import Finding
from vglint.probing.targets import Probed
from vglint.probing.verdicts import Thresholds, overall, short

#: The modules the report needs (the `report` extra).
REQUIRED = ("matplotlib", "pygments", "markdown")
INSTALL_HINT = "--report needs matplotlib, pygments and markdown: pip install 'vglint[report]'"
#: The codes whose finding names the first weight layer as where the gradient is lost.
_DEPTH_CODES = ("VG101", "VG102", "VG103", "VG104", "VG106")
#: Lines shown around a flagged line.
CONTEXT_LINES = 2

SourceLines = Callable[[str, int | None], list[str] | None]


def report_available() -> bool:
    return all(importlib.util.find_spec(module) is not None for module in REQUIRED)


def render_html(findings: Sequence[Finding], probed: Sequence[Probed], source_lines: SourceLines,
                settings: Settings, files_checked: int | None = None) -> str:  # fmt: skip
    """The whole page. `probed` is what `--probe` measured (empty without it); `source_lines`
    gives a file's lines (or a notebook cell's) for the highlighted code."""
    from pygments.formatters import HtmlFormatter

    numbered = list(enumerate(findings, 1))
    anchors = {id(finding): f"finding-{number}" for number, finding in numbered}
    model_anchor: dict[tuple[str | None, str], str] = {}  # a finding links to its model's first plot
    for number, item in enumerate(probed, 1):
        model_anchor.setdefault((item.filename, item.model), f"model-{number}")
    checked = f" in {files_checked} file{'s' * (files_checked != 1)}" if files_checked is not None else ""
    measured = sum(1 for p in probed if p.measurement is not None)
    probed_text = (f", {len(probed)} model{'s' * (len(probed) != 1)} probed ({measured} measured)" if probed
                   else ", no model probed")  # fmt: skip
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>vglint gradient-flow report</title>",
        f"<style>{_STYLE}\n{HtmlFormatter().get_style_defs('.src')}</style>",
        "</head><body><main>",
        "<h1>vglint gradient-flow report</h1>",
        f'<p class="lede">{len(findings)} finding{"s" * (len(findings) != 1)}{checked}{probed_text}. '
        f"vglint {html.escape(__version__)}.</p>",
        _findings_table(numbered, anchors, model_anchor),
        _models(probed, findings, model_anchor, settings),
        _flagged_code(numbered, anchors, source_lines),
        _rule_pages(findings),
        "</main></body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"


def _findings_table(numbered: list[tuple[int, Finding]], anchors: dict[int, str],
                    model_anchor: dict[tuple[str | None, str], str]) -> str:  # fmt: skip
    if not numbered:
        return '<section id="findings"><h2>Findings</h2><p>No findings.</p></section>'
    rows = []
    for _, finding in numbered:
        model = html.escape(finding.model or "")
        if (finding.filename, finding.model) in model_anchor:
            model = f'<a href="#{model_anchor[finding.filename, finding.model]}">{model}</a>'
        estimate = finding.evidence.get("estimate")
        rows.append(
            "<tr>"
            f'<td><a href="#rule-{finding.code}">{finding.code}</a></td>'
            f"<td>{html.escape(finding.name)}</td>"
            f"<td>{model}</td>"
            f'<td class="where"><a href="#{anchors[id(finding)]}">{html.escape(_location(finding))}</a></td>'
            f'<td class="sev sev-{finding.severity!s}">{finding.severity!s}</td>'
            f'<td class="state"><span class="status {finding.status.value}">{finding.status.value}</span></td>'
            f'<td class="num">{short(estimate) if isinstance(estimate, (int, float)) else ""}</td>'
            f'<td class="num">{html.escape(_measured(finding))}</td>'
            "</tr>"
        )
    header = "".join(f"<th>{h}</th>" for h in ("code", "rule", "model", "where", "severity", "status",
                                               "static estimate", "measured"))  # fmt: skip
    return (
        '<section id="findings"><h2>Findings</h2><div class="scroll"><table>'
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _models(probed: Sequence[Probed], findings: Sequence[Finding],
            model_anchor: dict[tuple[str | None, str], str], settings: Settings) -> str:  # fmt: skip
    from vglint.report.plots import gradient_flow_svg, time_steps_svg

    if not probed:
        return ""
    articles = []
    for number, item in enumerate(probed, 1):
        anchor = f"model-{number}"  # a model defined twice in one file is probed twice
        head = f'<article class="model" id="{anchor}"><h3>{html.escape(item.title)}</h3>'
        if item.measurement is None:
            articles.append(f'{head}<p class="verdict bad">not measured: {html.escape(item.reason or "")}</p></article>')
            continue
        own = [f for f in findings if f.filename == item.filename and f.model == item.model]
        depth = next((f.code for f in own if f.code in _DEPTH_CODES[:4]), "VG103")
        thresholds = Thresholds.of(settings, depth)
        healthy, verdict = overall(item.measurement, confirm_below=thresholds.confirm_below,
                                   explode_above=thresholds.explode_above,
                                   horizon_fraction=thresholds.horizon_fraction)  # fmt: skip
        flagged = {str(layer) for f in own for layer in f.evidence.get("layers") or []}
        if any(f.code in _DEPTH_CODES for f in own) and item.measurement.get("first_layer"):
            flagged.add(item.measurement["first_layer"])
        plot = gradient_flow_svg(item.measurement, item.predicted, flagged, thresholds, salt=anchor + "-flow")
        body = [head, f'<p class="verdict {"good" if healthy else "bad"}">{html.escape(verdict)}</p>',
                f'<figure><div class="plotbox">{plot}</div><figcaption>{_caption(item)}</figcaption></figure>']  # fmt: skip
        steps = time_steps_svg(item.measurement, thresholds, salt=anchor + "-steps")
        if steps is not None:
            body.append(
                f'<figure><div class="plotbox">{steps}</div><figcaption>The gradient that the last output step '
                f"sends back to each input step. Horizon: {item.measurement['horizon']} of {item.measurement['sequence_length']} "
                "steps.</figcaption></figure>"
            )
        measurement = item.measurement
        body.append(
            f'<p class="small">device {html.escape(str(measurement.get("device")))}, '
            f"dtype {html.escape(str(measurement.get('dtype')))}, "
            f"seeds {', '.join(str(s) for s in measurement.get('seeds') or [])}</p></article>"
        )
        articles.append("".join(body))
    return f'<section id="models"><h2>Probed models</h2>{"".join(articles)}</section>'


def _caption(item: Probed) -> str:
    names = {layer["name"] for layer in item.measurement.get("layers") or []}
    matched = sum(1 for name, _ in item.predicted if name in names)
    if not item.predicted:
        estimate = "No static estimate: the source front-end did not read this model's layers."
    elif matched < len(item.predicted):
        estimate = (f"The static estimate names {len(item.predicted)} weight layers; {matched} of them are blocks of "
                    "the built model, drawn where they ran.")  # fmt: skip
    else:
        estimate = "The static estimate is drawn at each weight layer it names."
    return (
        "Each block's gradient relative to the last weight layer's, in forward order; the verdict reads the first "
        f"weight layer's relative weight gradient. {estimate}"
    )


def _flagged_code(numbered: list[tuple[int, Finding]], anchors: dict[int, str], source_lines: SourceLines) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    if not numbered:
        return ""
    articles = []
    for _, finding in numbered:
        lines = source_lines(finding.filename, finding.cell) or []
        line = finding.span.line
        start = max(1, line - CONTEXT_LINES)
        shown = lines[start - 1 : line + CONTEXT_LINES]
        code = ""
        if shown:
            formatter = HtmlFormatter(cssclass="src", linenos="inline", linenostart=start,
                                      hl_lines=[line - start + 1], wrapcode=True)  # fmt: skip
            code = highlight("\n".join(shown) + "\n", PythonLexer(stripnl=False), formatter)  # keep blank lines: numbering
        verdict = f'<p class="verdict">{html.escape(finding.verdict)}</p>' if finding.verdict else ""
        if finding.related is not None:  # the other place the finding is about (the sigmoid a loss is fed)
            cell = f"cell {finding.related_cell}:" if finding.related_cell is not None else ""
            note = f": {finding.related_note}" if finding.related_note else ""
            verdict += f'<p class="small">see also line {cell}{finding.related.line}{html.escape(note)}</p>'
        articles.append(
            f'<article class="finding" id="{anchors[id(finding)]}">'
            f'<h3><a href="#rule-{finding.code}">{finding.code}</a> {html.escape(_location(finding))}</h3>'
            f'<div class="side"><div class="code">{code}</div><div class="message">'
            f'<p><span class="status {finding.status.value}">{finding.status.value}</span> '
            f'<span class="sev-{finding.severity!s}">{finding.severity!s}</span> {html.escape(finding.message)}</p>'
            f"{verdict}</div></div></article>"
        )
    return f'<section id="code"><h2>Flagged code</h2>{"".join(articles)}</section>'


def _rule_pages(findings: Sequence[Finding]) -> str:
    """The rule page of each code found, as `vglint rule CODE` and `rules/CODE.md` give it."""
    import markdown

    from vglint.docs import rule_page
    from vglint.rules import RULES_BY_CODE

    codes = sorted({finding.code for finding in findings if finding.code in RULES_BY_CODE})
    if not codes:
        return ""
    pages = []
    for code in codes:
        body = markdown.markdown(rule_page(RULES_BY_CODE[code]), extensions=["fenced_code", "tables", "codehilite"],
                                 extension_configs={"codehilite": {"css_class": "src", "guess_lang": False}})  # fmt: skip
        body = re.sub(r"<(/?)h([1-4])>", lambda m: f"<{m.group(1)}h{int(m.group(2)) + 2}>", body)
        pages.append(f'<article class="rule" id="rule-{code}">{body.replace("<table>", "<div class=scroll><table>").replace("</table>", "</table></div>")}</article>')
    return f'<section id="rules"><h2>Rules</h2>{"".join(pages)}</section>'


def _location(finding: Finding) -> str:
    cell = f"cell {finding.cell}:" if finding.cell is not None else ""
    return f"{finding.filename}:{cell}{finding.span.line}"


def _measured(finding: Finding) -> str:
    evidence = finding.evidence
    if finding.code in ("VG201", "VG202") and evidence.get("horizon") is not None:
        return f"horizon {evidence['horizon']} steps"
    if finding.code in ("VG401", "VG402") and "dead_parameters" in evidence:
        dead = len(evidence["dead_parameters"])
        return f"{dead} parameter{'s' * (dead != 1)} without gradient" if dead else "every parameter got a gradient"
    ratio = evidence.get("measured_ratio")
    return short(ratio) if isinstance(ratio, (int, float)) else ""


_STYLE = """
:root { color-scheme: light; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       background: #fafafa; }
main { max-width: 980px; margin: 0 auto; padding: 12px; }
h1 { font-size: 1.5em; margin: 0.4em 0; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin: 0.2em 0 0.5em; word-break: break-word; }
article { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 10px 12px; margin: 12px 0; }
article p { overflow-wrap: anywhere; }  /* a config key or a path is one long word */
.lede { color: #444; } .small { color: #555; font-size: 0.85em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 4px 8px; text-align: left; vertical-align: top; }
td.where { overflow-wrap: anywhere; min-width: 10em; } td:first-child, td.sev, td.state { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { border-radius: 3px; padding: 0 5px; font-size: 0.85em; border: 1px solid #bbb; }
.status.confirmed { background: #fde2e1; border-color: #d62728; } .status.refuted { background: #e0f3e0; border-color: #2ca02c; }
.status.static { background: #eee; }
.sev-error { color: #b00020; font-weight: 600; } .sev-warning { color: #8a5300; } .sev-info { color: #2a5d9f; }
.verdict { margin: 0.3em 0; } .verdict.bad { color: #9b1c1c; } .verdict.good { color: #1d6b1d; }
figure { margin: 8px 0; }
/* on a phone a plot keeps a readable size and scrolls sideways in its own box (or zooms: it is vector) */
.plotbox { overflow-x: auto; } svg.plot { width: 100%; min-width: 560px; height: auto; display: block; }
figcaption { font-size: 0.85em; color: #444; }
.side { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
.side .code { flex: 1 1 420px; min-width: 0; } .side .message { flex: 1 1 260px; min-width: 0; }
.src { overflow-x: auto; border-radius: 4px; padding: 4px 6px; font-size: 13px; }
.src pre { margin: 0; } .src .hll { background: #fff2b3; display: block; }
.rule pre { white-space: pre; }
a { color: #0b57d0; }
"""
