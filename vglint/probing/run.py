"""`vglint check --probe`: build the flagged models in an isolated worker, measure one backward
pass, and mark each finding confirmed or refuted (torch-free: torch is imported in the worker only).

A model that cannot be built, fed or run becomes VG002 with the reason, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vglint.config import Settings
from vglint.engine import Result, make_rules, unsuppressed
from vglint.estimate import estimated_profile
from vglint.findings import Finding, Severity, Span
from vglint.probing.targets import PROFILE_CODES, VERDICT_CODES, Probed, Target, models_to_probe, target_for
from vglint.probing.verdicts import exploding, judge
from vglint.source.frontend import SourceFrontend

INSTALL_HINT = (
    "--probe needs PyTorch, which is not installed: pip install 'vglint[torch]' "
    "(on Linux, the CPU-only build: pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu)"
)

#: Failures that only need the user to say what the code cannot show (constructor arguments, the
#: input, which a forward that raises on the synthesised one needs): info, not warning.
_NEEDS_CONFIG = frozenset({"needs-arguments", "input", "forward"})


@dataclass
class ProbeOptions:
    everything: bool = False  # --probe-all
    device: str = "auto"
    timeout_s: float = 60.0
    memory_bytes: int = 4 << 30
    steps: int = 0


def probe_findings(result: Result, settings: Settings, options: ProbeOptions,
                   progress: Callable[[int, int], None] | None = None) -> list[Probed]:  # fmt: skip
    """Probe the models of `result`'s findings (or every model, with `everything`): their findings
    get a status, a verdict and the measured numbers; VG106 and VG002 findings are added. Returns
    what each probed model gave, in the order probed, for the HTML report."""
    from vglint.build.pool import run_jobs

    rules = {rule.code: rule for rule in make_rules(settings)}
    targets = _targets(result, settings, options)
    if not targets:
        return []
    outcomes = run_jobs([t.job for t in targets], timeout_s=options.timeout_s, memory_bytes=options.memory_bytes,
                        on_progress=progress)  # fmt: skip
    outcomes = _recheck_explosions(targets, outcomes, rules.get("VG106"), options)
    added: list[Finding] = []
    for target, outcome in zip(targets, outcomes):
        span = Span.at(target.site_line)
        if not outcome.get("ok"):
            if "VG002" in rules:
                added.append(_build_failed(rules["VG002"].finding, target, span, outcome))
            continue
        measurement = outcome["measurement"]
        for finding in _findings_of(result.findings, target, targets, measurement):
            rule = rules.get(finding.code)
            judge(finding, measurement, rule.settings if rule is not None else {})
        if "VG106" in rules:
            found = exploding(rules["VG106"], target.filename, span, target.model, measurement)
            if found is not None:
                added.append(found)
    for filename in dict.fromkeys(f.filename for f in added):
        mine = [f for f in added if f.filename == filename]
        try:
            text = Path(filename).read_bytes().decode("utf-8", errors="replace")
        except OSError:
            text = ""
        result.findings.extend(unsuppressed(mine, text, filename, settings))
    result.findings.sort(key=Finding.sort_key)
    return [Probed.of(f"{t.filename}:{t.model}", t.filename, t.model, t.site_line, outcome, t.predicted)
            for t, outcome in zip(targets, outcomes)]  # fmt: skip


#: The image size an explosion measured on a synthesised image is measured again at.
RECHECK_SPATIAL_SIZE = 128


def _recheck_explosions(targets: list[Target], outcomes: list[dict], rule, options: ProbeOptions) -> list[dict]:
    """An ImageNet-shaped network fed a 32x32 image ends in 1x1 feature maps, whose BatchNorm
    normalises over a handful of values and inflates the gradient towards the input (ResNet-152
    reads 2e4 at 32x32, 4e3 at 112x112). An explosion seen on a synthesised image counts only if
    a larger image shows it too: the smaller of the two ratios decides."""
    if rule is None:
        return outcomes
    from vglint.build.pool import run_jobs

    suspects = [
        index for index, (target, outcome) in enumerate(zip(targets, outcomes))
        if outcome.get("ok") and (outcome["measurement"].get("ratio") or 0) > rule.settings["ratio-above"]
        and not target.job.get("input") and (target.job.get("spatial") or 32) < RECHECK_SPATIAL_SIZE
        and (target.job.get("input_hint") or {}).get("first", "Conv").startswith("Conv")
    ]  # fmt: skip
    if not suspects:
        return outcomes
    again = run_jobs([{**targets[i].job, "spatial": RECHECK_SPATIAL_SIZE} for i in suspects],
                     timeout_s=options.timeout_s, memory_bytes=options.memory_bytes)  # fmt: skip
    outcomes = list(outcomes)
    for index, outcome in zip(suspects, again):
        if outcome.get("ok") and (outcome["measurement"].get("ratio") or 0) < outcomes[index]["measurement"]["ratio"]:
            outcomes[index] = outcome
    return outcomes


def _targets(result: Result, settings: Settings, options: ProbeOptions) -> list[Target]:
    by_file: dict[str, dict[str | None, set[str]]] = {}
    for finding in result.findings:
        if finding.code in VERDICT_CODES | PROFILE_CODES:
            by_file.setdefault(finding.filename, {}).setdefault(finding.model, set()).add(finding.code)
    if options.everything:
        for coverage in result.coverage:
            by_file.setdefault(coverage.filename, {})
    targets: list[Target] = []
    for filename, codes_by_model in by_file.items():
        path = Path(filename)
        try:
            analysis = SourceFrontend().analyse(filename, path.read_bytes())
        except OSError as error:  # standard input, or a file gone since: nothing to import
            reason = (
                "standard input cannot be imported"
                if result.stdin_source is not None and not path.exists()
                else (error.strerror or str(error))
            )
            result.warnings.append(f"{filename}: not probed: {reason}; its findings stay static")
            continue
        lengths = [f.evidence.get("sequence_length") for f in result.findings
                   if f.filename == filename and f.code == "VG201" and f.evidence.get("sequence_length")]  # fmt: skip
        length = lengths[0] if lengths else settings.sequence_length
        for graph in models_to_probe(analysis, codes_by_model, options.everything):
            target = target_for(path, filename, graph, settings, length, options.device, options.steps)
            target.predicted = estimated_profile(graph.path)
            targets.append(target)
    return targets


def _findings_of(findings: list[Finding], target: Target, targets: list[Target], measurement: dict) -> list[Finding]:
    """The findings a probe of `target` judges: its own (of a model defined twice under one name,
    those at or after its definition and before the next), and the file's findings without a
    model (a training loop's VG202, a loss finding) not judged yet; a VG202 only by a recurrent model."""
    namesakes = sorted(t.site_line for t in targets if t.filename == target.filename and t.model == target.model)

    def defined_at(finding: Finding) -> int:
        return max((line for line in namesakes if line <= finding.span.line), default=namesakes[0])

    own = [
        f
        for f in findings
        if f.filename == target.filename and f.model == target.model and defined_at(f) == target.site_line
    ]
    loose = [f for f in findings if f.filename == target.filename and f.model is None and f.verdict is None
             and f.code in VERDICT_CODES | PROFILE_CODES and (f.code != "VG202" or measurement.get("horizon") is not None)]  # fmt: skip
    return own + loose


def _build_failed(make: Callable[..., Finding], target: Target, span: Span, outcome: dict) -> Finding:
    kind, reason = outcome.get("kind", "crash"), outcome.get("reason", "unknown reason")
    severity = Severity.INFO if kind in _NEEDS_CONFIG else Severity.WARNING
    return make(
        target.filename, span, model=target.model, severity=severity, detail=f"{target.model}: {reason}", kind=kind
    )
