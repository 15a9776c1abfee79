"""The report of one run directory, from its files: config.json (the command that trains it
again), metrics.jsonl (loss, evaluation and health records), samples/step-*.png, eval.json /
eval-best.json (``ganforge eval RUN``) and generator.safetensors (the version that wrote it)."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path
from typing import Sequence

from ..errors import GanforgeError
from ..files import read_json_object
from ..generator_file import GENERATOR_FILE
from ..result_files import BEST_EVAL_FILE, EVAL_FILE
from ..training.hooks.eval_plot import PAIRED, PANELS, is_evaluation
from ..training.hooks.metrics import NOT_PLOTTED, read_metrics
from ..training.loop.rundir import CONFIG_FILE, METRICS_FILE, SAMPLES_DIR
from .evaluation_tables import eval_report_table, protocol_table
from .html_parts import (chart_grid, command, details, figure, gallery, page, paragraph, png_image, section,
                         subheading, table)
from .svg_chart import Marker, line_chart

#: At most this many sample grids are shown, evenly spaced through training, the last always.
MAX_SAMPLE_GRIDS = 8
#: A curve is drawn through at most this many evenly spaced records (the last always).
MAX_CURVE_POINTS = 1000
SAMPLE_NAME = re.compile(r"step-(\d+)\.png")
#: The run's evaluation reports: file name and which generator it measured.
EVAL_REPORTS = ((EVAL_FILE, "the final generator (eval.json)"),
                (BEST_EVAL_FILE, "the best checkpoint's generator (eval-best.json)"))
#: Health record keys shown in their own columns; any other key is listed under "details".
HEALTH_COLUMNS = ("step", "health", "action", "message")


def is_run_dir(path: Path) -> bool:
    return (path / CONFIG_FILE).is_file()


def run_page(run_dir: Path) -> str:
    config = read_config(run_dir)
    records = read_metrics(run_dir / METRICS_FILE)
    return page(run_dir.name, run_subtitle(config, records), [
        section("Reproduce", *reproduce(config), paragraph(recorded_versions(run_dir), note=True)),
        section("Training curves", *training_curves(records)),
        section("Samples", sample_gallery(run_dir)),
        section("Health", health_table(records)),
        section("Evaluation", *evaluation(run_dir)),
        section("Configuration", details("config.json", config_table(config))),
    ])


def read_config(run_dir: Path) -> dict:
    path = run_dir / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GanforgeError(f"{path}: cannot read it ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("arch"), str):
        raise GanforgeError(f"{path}: not a ganforge run configuration")
    return config


def run_subtitle(config: dict, records: list[dict]) -> str:
    last = max((r["step"] for r in records if isinstance(r.get("step"), int)), default=0)
    planned = f"{config['epochs']:g} epochs" if config.get("epochs") else f"{config.get('steps')} steps"
    return (f"{config['arch']} with the {config.get('loss')} loss on {config.get('dataset')}, "
            f"seed {config.get('seed')}: trained to step {last} ({planned} planned)")


# -- reproducing ----------------------------------------------------------------------------

def reproduce(config: dict, extra: Sequence[str] = (), what: str = "run") -> list[str]:
    """The command that trains the run (or the ``what``) again, ``extra`` appended; or why it cannot
    be written here."""
    from ..training.setup.command_line import train_command
    from ..training.setup.config import TrainConfig

    try:
        line = train_command(TrainConfig.from_dict(config), extra)
    except GanforgeError as exc:
        return [paragraph(f"no command line: {exc}")]
    return [paragraph(f"Trains this {what} again into a new {what} directory "
                      "(add --runs-dir and --name to choose it):"), command(line)]


def recorded_versions(run_dir: Path) -> str:
    """The ganforge and torch versions the run's files record, and which file says so."""
    found: dict[str, dict[str, list[str]]] = {}
    sources = [(GENERATOR_FILE, generator_metadata(run_dir / GENERATOR_FILE))]
    sources += [(name, (read_json_object(run_dir / name) or {}).get("protocol") or {}) for name, _ in EVAL_REPORTS]
    for source, fields in sources:
        for package in ("ganforge", "torch"):
            version = fields.get(f"{package}_version")
            if version:
                found.setdefault(package, {}).setdefault(str(version), []).append(source)
    if not found:
        return "versions: none recorded (no generator.safetensors or eval.json yet)"
    return "versions: " + "; ".join(f"{package} {version} ({', '.join(files)})"
                                    for package, versions in found.items() for version, files in versions.items())


def generator_metadata(path: Path) -> dict:
    """The exported generator's metadata (empty when there is none or it cannot be read)."""
    from safetensors import safe_open

    if not path.is_file():
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except Exception:  # noqa: BLE001 - a damaged file: the report goes on without its versions
        return {}


# -- curves ---------------------------------------------------------------------------------

def evenly_spaced(items: Sequence, count: int) -> list:
    """At most ``count`` (2 or more) of ``items``, evenly spaced, the first and the last included."""
    if len(items) <= count:
        return list(items)
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


def health_markers(records: list[dict]) -> list[Marker]:
    """A vertical line per health record: an action, a problem cleared, or a warning."""
    return [Marker(r["step"], health_kind(r), f"step {r['step']}: {r['health']}"
                   + (f" ({r['action']})" if "action" in r else "") + f": {r.get('message', '')}")
            for r in records if "health" in r and isinstance(r.get("step"), (int, float))]


def health_kind(record: dict) -> str:
    if "action" in record:
        return "action"
    return "cleared" if record.get("cleared") else "warning"


def training_curves(records: list[dict]) -> list[str]:
    """The losses, what else the loss logs, and the evaluation metrics (the training plot's panels;
    any other evaluation value folded away), against the step, health records as vertical lines."""
    losses = [r for r in records if "d_loss" in r and "health" not in r]
    evaluations = [r for r in records if is_evaluation(r)]
    markers = health_markers(records)
    panels, others = evaluation_panels(evaluations)
    charts = charts_of([("losses", ["d_loss", "g_loss"], losses),
                        ("reported by the loss", numeric_keys(losses, NOT_PLOTTED), losses),
                        *panels], markers)
    more = charts_of(others, markers)
    if not charts:
        return [paragraph("no metrics logged yet (metrics.jsonl is empty)")]
    parts = [chart_grid(charts)]
    if more:
        parts.append(details(f"{len(more)} more evaluation values", chart_grid(more)))
    if markers:
        parts.append(paragraph("vertical lines: health records (red: a warning, dotted grey: cleared, "
                               "dashed purple: an action); hover one for its message", note=True))
    return parts


def charts_of(panels: Sequence[tuple[str, list[str], list[dict]]], markers: list[Marker]) -> list[str]:
    """A chart per (title, keys, records) with at least one finite value."""
    charts = []
    for title, keys, chosen in panels:
        series = curve_series(chosen, keys)
        if series:
            charts.append(line_chart(series, title, markers))
    return charts


def numeric_keys(records: list[dict], leave_out: set) -> list[str]:
    return sorted({k for r in records for k, v in r.items()
                   if k not in leave_out and isinstance(v, (int, float)) and not isinstance(v, bool)})


def evaluation_panels(evaluations: list[dict]) -> tuple[list, list]:
    """(title, keys, records) per evaluation chart: the training plot's panels (precision with
    recall); and one per other evaluation value (KID's spread, the memorization check's parts...)."""
    present = {k for k in numeric_keys(evaluations, set()) if k.startswith("eval_")}
    panels = [(f"{title} ({note})", [k for k in (key, PAIRED.get(key)) if k in present], evaluations)
              for key, title, note in PANELS if key in present]
    drawn = {k for _, keys, _ in panels for k in keys}
    return panels, [(key, [key], evaluations) for key in sorted(present - drawn)]


def curve_series(records: list[dict], keys: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
    """Per key logged in ``records`` with at least one finite value: its (step, value) points,
    named without the evaluation records' ``eval_`` prefix."""
    series = {}
    for key in keys:
        points = [(r["step"], float(r[key])) for r in records
                  if isinstance(r.get(key), (int, float)) and isinstance(r.get("step"), (int, float))]
        if any(math.isfinite(y) for _, y in points):
            series[key.removeprefix("eval_")] = evenly_spaced(points, MAX_CURVE_POINTS)
    return series


# -- samples --------------------------------------------------------------------------------

def sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's sample grids, (step, path), by step."""
    folder = run_dir / SAMPLES_DIR
    if not folder.is_dir():
        return []
    found = ((SAMPLE_NAME.fullmatch(p.name), p) for p in folder.iterdir())
    return sorted((int(m.group(1)), p) for m, p in found if m)


def sample_gallery(run_dir: Path) -> str:
    grids = sample_grids(run_dir)
    if not grids:
        return paragraph("no sample grids (samples/ is empty)")
    shown = evenly_spaced(grids, MAX_SAMPLE_GRIDS)
    note = paragraph(f"{len(shown)} of {len(grids)} grids, evenly spaced through training; the same noise in each "
                     f"(an image-to-image run: the same condition images, rows condition / output / target)", note=True)
    return "\n".join([gallery([figure(f"step {step}", png_image(path, f"samples at step {step}"))
                               for step, path in shown]), note])


# -- health ---------------------------------------------------------------------------------

def health_table(records: list[dict]) -> str:
    """Every health record: warnings, problems cleared, and actions taken (rollbacks...)."""
    found = [r for r in records if "health" in r]
    if not found:
        return paragraph("no health problems recorded")
    kinds = [health_kind(r) for r in found]
    counts = ", ".join(f"{kind}: {kinds.count(kind)}" for kind in ("warning", "cleared", "action") if kind in kinds)
    rows = [[r.get("step", ""), r["health"], r.get("action", ""), r.get("message", ""), health_details(r)]
            for r in found]
    summary = paragraph(f"{len(found)} health records ({counts})")
    return "\n".join([summary, table(("step", "kind", "action", "message", "details"), rows, kinds)])


def health_details(record: dict) -> str:
    """The record's other keys (restored_step, remedy, cleared, stopped...) as ``key: value``; a
    sentence the message already holds whole (a rollback's problem) is not repeated."""
    message = str(record.get("message", ""))
    return ", ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in record.items()
                     if k not in HEALTH_COLUMNS and not (isinstance(v, str) and " " in v and v in message))


# -- evaluation -----------------------------------------------------------------------------

def evaluation(run_dir: Path) -> list[str]:
    """Each evaluation report of the run, with its protocol card; else how to make one."""
    parts = []
    for name, measured in EVAL_REPORTS:
        report = read_json_object(run_dir / name)
        if report is not None:
            parts += [subheading(f"Measured: {measured}"), eval_report_table(report),
                      protocol_table(report.get("protocol") or {})]
    if parts:
        return parts
    return [paragraph("no evaluation report yet; make one (writes eval.json into the run directory), "
                      "then run ganforge report again:"),
            command(f"ganforge eval {shlex.quote(str(run_dir))} --seeds 0,1,2")]


def config_table(config: dict) -> str:
    return table(("option", "value"), [(key, value if isinstance(value, str) else json.dumps(value))
                                       for key, value in sorted(config.items())])
