"""`--report FILE`: the self-contained HTML gradient-flow report, read as a user's browser reads it.

The probed fixtures (fixtures/report/) give a confirmed sigmoid MLP, a refuted BatchNorm CNN, a
confirmed detach and a plain RNN with a short horizon. The page is parsed with html.parser; the
browser test opens it in Debian's headless Chromium through Playwright.
"""

from __future__ import annotations

import importlib.util
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import run_vglint
from test_probe import PLAIN_BN_STACK, SIGMOID_CLASS

ROOT = Path(__file__).resolve().parent.parent
PROBED = "fixtures/report"


class Page(HTMLParser):
    """What a test reads of a report: each probed model's plots, the findings table's rows, every
    id, and anything that would make the page load something."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.models: dict[str, list[str]] = {}  # the model's heading -> the ids of its plots
        self.rows: list[list[str]] = []
        self.ids: list[str] = []
        self.loads: list[str] = []  # src= and <link href=>, <script>
        self.rule_pages: list[str] = []
        self._model: str | None = None
        self._heading = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._in_table_body = False
        self._section: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"] or "")
        if tag == "script" or (tag == "link" and attributes.get("href")) or attributes.get("src"):
            self.loads.append(f"<{tag}> {attributes}")
        if tag == "article" and "model" in (attributes.get("class") or "").split():
            self._model = ""
            self._heading = False
        elif tag == "article" and "rule" in (attributes.get("class") or "").split():
            self.rule_pages.append(attributes["id"] or "")
        elif tag == "h3" and self._model == "":
            self._heading = True
        elif tag == "svg" and self._model:
            self.models[self._model].append(attributes.get("id") or "")
        elif tag == "section":
            self._section = attributes.get("id")
        elif tag == "tbody" and self._section == "findings":
            self._in_table_body = True
        elif tag == "tr" and self._in_table_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h3" and self._heading:
            self._heading = False
            self.models[self._model] = []
        elif tag == "article":
            self._model = None
        elif tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_table_body = False

    def handle_data(self, data: str) -> None:
        if self._heading:
            self._model += data
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def probed_report(tmp_path_factory) -> tuple[Path, list[dict], int]:
    """`vglint check --probe --report` on the probed fixtures: the page, the JSON findings, the exit code."""
    page = tmp_path_factory.mktemp("report") / "vglint-report.html"
    run = run_vglint("check", "--probe", "--output-format", "json", "--report", page, PROBED, cwd=ROOT, timeout=300)
    assert run.code == 1, run.stderr
    return page, json.loads(run.stdout), run.code


def test_the_report_has_one_plot_per_probed_model_and_every_finding(probed_report):
    page_file, findings, _ = probed_report
    page = Page(page_file.read_text(encoding="utf-8"))
    models = {f"{f['filename']}:{f['model']}" for f in findings}
    assert set(page.models) == models == {
        f"{PROBED}/deep_sigmoid_mlp.py:DeepMLP",
        f"{PROBED}/frozen_encoder_detach.py:EncoderHead",
        f"{PROBED}/plain_bn_cnn.py:PlainCNN",
        f"{PROBED}/plain_rnn_tagger.py:Tagger",
    }
    for model, plots in page.models.items():
        flow = [plot for plot in plots if plot.endswith("-flow")]
        assert len(flow) == 1, model
    # the recurrent model has the gradient per time step as well
    assert [len(plots) for model, plots in sorted(page.models.items())] == [1, 1, 1, 2]
    rows = {(row[0], row[3]): row for row in page.rows}
    assert len(page.rows) == len(findings) == 6
    for finding in findings:
        row = rows[finding["code"], f"{finding['filename']}:{finding['location']['row']}"]
        code, name, model, _, severity, status, _, measured = row
        assert (name, model, severity, status) == (finding["name"], finding["model"], finding["severity"],
                                                   finding["status"])  # fmt: skip
        assert measured, f"{code} has no measured number"
    statuses = {row[0]: row[5] for row in page.rows}
    assert statuses == {"VG101": "confirmed", "VG102": "confirmed", "VG103": "confirmed", "VG401": "confirmed",
                        "VG104": "refuted", "VG201": "confirmed"}  # fmt: skip
    assert rows["VG102", f"{PROBED}/deep_sigmoid_mlp.py:7"][6] == "8e-10"  # the static estimate, beside the measured
    assert rows["VG201", f"{PROBED}/plain_rnn_tagger.py:12"][7].startswith("horizon ")
    assert rows["VG401", f"{PROBED}/frozen_encoder_detach.py:14"][7] == "4 parameters without gradient"
    assert sorted(page.rule_pages) == [f"rule-{code}" for code in sorted(statuses)]


def test_the_plots_draw_the_measurement_the_estimate_the_bands_and_what_was_flagged(probed_report):
    text = probed_report[0].read_text(encoding="utf-8")
    page = Page(text)
    by_file = {model.split(":")[0].rsplit("/", 1)[1]: plots for model, plots in page.models.items()}
    mlp, rnn = by_file["deep_sigmoid_mlp.py"][0], by_file["plain_rnn_tagger.py"]
    for part in ("relative", "out-grad", "estimate", "confirm-band", "refute-band", "flagged-0"):
        assert f"{mlp}-{part}" in page.ids, part  # flagged-0: net.1, the first weight layer
    assert f"{mlp}-flagged-1" not in page.ids
    steps = rnn[1]
    assert {f"{steps}-measured", f"{steps}-horizon", f"{steps}-confirm-band"} <= set(page.ids)
    detach = by_file["frozen_encoder_detach.py"][0]
    assert f"{detach}-no-gradient" in page.ids and f"{detach}-flagged-0" in page.ids  # encoder.0 got none
    assert len(page.ids) == len(set(page.ids)), "two elements of the page share an id"


def test_the_page_is_self_contained_and_shows_the_flagged_lines(probed_report):
    text = probed_report[0].read_text(encoding="utf-8")
    page = Page(text)
    assert page.loads == []  # no script, stylesheet, image or font to fetch
    assert "@import" not in text and "url(http" not in text
    # the flagged line, highlighted, beside its message
    assert '<span class="hll">' in text
    assert "confirmed: encoder.0, encoder.2 got no gradient" in text
    assert "plain nn.RNN over sequences of 400 steps" in text


def test_probe_command_writes_a_report_of_the_model(project):
    page = project.root / "tagger.html"
    run = run_vglint("probe", ROOT / PROBED / "plain_rnn_tagger.py", "--report", page, cwd=project.root, timeout=180)
    assert run.code == 1, run.stderr  # a short horizon
    assert "short horizon" in run.stdout
    report = Page(page.read_text(encoding="utf-8"))
    [(model, plots)] = report.models.items()
    assert model.endswith("plain_rnn_tagger.py:Tagger") and len(plots) == 2


def test_a_report_without_probe_lists_the_static_findings(project):
    page = project.root / "static.html"
    run = run_vglint("check", "--report", page, ROOT / PROBED / "plain_bn_cnn.py", cwd=project.root)
    assert run.code == 0, run.stderr  # its one finding is info: BatchNorm follows every convolution
    report = Page(page.read_text(encoding="utf-8"))
    assert report.models == {}
    [row] = report.rows
    assert row[0] == "VG104" and row[5] == "static" and row[7] == ""
    assert "no model probed" in page.read_text(encoding="utf-8")


def test_without_the_report_extra_report_exits_2_with_how_to_install_it(main, monkeypatch, project):
    import vglint.report.html as report_html

    monkeypatch.setattr(report_html, "report_available", lambda: False)
    project.write("net.py", "import torch.nn as nn\n")
    run = main("check", "--report", "r.html", "net.py")
    assert run.code == 2 and not (project.root / "r.html").exists()
    [line] = run.stderr.splitlines()
    assert line == "vglint: error: --report needs matplotlib, pygments and markdown: pip install 'vglint[report]'"
    run = main("probe", "net.py", "--report", "r.html")
    assert run.code == 2 and run.stderr.splitlines() == [line]


def test_an_unwritable_report_is_an_error_without_a_traceback(main, project):
    project.write("net.py", "import torch.nn as nn\n")
    run = main("check", "--report", "missing-folder/r.html", "net.py")
    assert run.code == 2
    assert run.stderr.startswith("vglint: error: cannot write the report to missing-folder/r.html")
    assert "Traceback" not in run.stderr


def _screenshot_module():
    spec = importlib.util.spec_from_file_location("screenshot", ROOT / "docs" / "screenshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _browser():
    """docs/screenshot.py's `open_report`, or a skip that says what is missing."""
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright is not installed (pip install -e '.[test]')")
    screenshot = _screenshot_module()
    if not Path(screenshot.CHROMIUM).exists():
        pytest.skip(f"no Chromium at {screenshot.CHROMIUM}: install Debian's chromium package (apt-get install chromium)")
    return screenshot.open_report


@pytest.mark.parametrize("width", [1100, 390])
def test_the_report_renders_in_headless_chromium_without_errors(probed_report, tmp_path, width):
    open_report = _browser()
    png = tmp_path / f"report-{width}.png"
    seen = open_report(probed_report[0], png, width)
    assert seen["console"] == [] and seen["requests"] == []
    assert seen["scroll_width"] <= width  # at phone width, wide tables, code and plots scroll in their own box
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


NEEDS_ARGUMENTS = """\
import torch.nn as nn


class RecurrentLanguageModelWithAVeryLongName(nn.Module):
    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers):
        super().__init__()
        self.rnn = nn.RNN(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, x):
        return self.decoder(self.rnn(x)[0])
"""


def test_a_model_that_could_not_be_built_keeps_the_page_inside_a_phone_screen(project, tmp_path):
    """Its VG002 names a config key, one long word: it wraps instead of widening the page."""
    open_report = _browser()
    project.write("a_folder_with_a_long_name/word_language_model_with_a_long_name.py", NEEDS_ARGUMENTS)
    page = project.root / "r.html"
    run = run_vglint("check", "--probe", "--report", page, ".", cwd=project.root, timeout=180)
    assert run.code == 0, run.stderr  # two infos: the VG002, and VG201 on a sequence of unknown length
    assert "not measured: TypeError" in page.read_text(encoding="utf-8")
    seen = open_report(page, tmp_path / "phone.png", 390)
    assert seen["console"] == [] and seen["scroll_width"] <= 390


def test_the_readme_shows_the_screenshot_and_how_to_regenerate_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "![" in readme and "docs/report.png" in readme
    assert "python docs/screenshot.py" in readme
    assert (ROOT / "docs" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_model_defined_twice_in_one_file_gets_a_plot_for_each_definition(project):
    """Notebook-shaped: `Net` is a deep sigmoid MLP, then a BatchNorm CNN, each built as `model = Net()`."""
    first = SIGMOID_CLASS.replace("class MLP", "class Net") + "\n\nmodel = Net(32, depth=20)\n"
    second = PLAIN_BN_STACK.replace("class PlainNet", "class Net") + "\n\nmodel = Net()\n"
    project.write("notebook.py", first + "\n\n" + second.replace("import torch.nn as nn\n", ""))
    page = project.root / "r.html"
    run = run_vglint("check", "--probe", "--report", page, "notebook.py", cwd=project.root, timeout=180)
    assert run.code == 1, run.stderr
    report = Page(page.read_text(encoding="utf-8"))
    assert len(report.ids) == len(set(report.ids)), "two elements of the page share an id"
    assert sum(1 for i in report.ids if i.endswith("-flow")) == 2


@pytest.mark.parametrize(
    "measurement",
    [
        {"layers": []},  # no block with parameters ran
        {"layers": [{"name": "fc", "kind": "Linear", "weight_layer": True, "relative": None, "out_grad_rms": None}]},
        {"layers": [], "step_gradients": [0.0, 0.0], "horizon": 0, "sequence_length": 2},  # nothing reached the input
    ],
)
def test_a_measurement_with_nothing_to_draw_still_gives_a_plot(measurement):
    from vglint.probing.verdicts import Thresholds
    from vglint.report.plots import gradient_flow_svg, time_steps_svg

    svg = gradient_flow_svg(measurement, [], {"fc"}, Thresholds(), salt="m")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>") and 'id="m"' in svg
    assert time_steps_svg(measurement, Thresholds(), salt="s") is None
