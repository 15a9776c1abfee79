"""``ganforge report``: one self-contained HTML page of a run or a repeat directory (issue 19,
item 5), parsed back and checked part by part."""

from __future__ import annotations

import base64
import json
import math
import shlex
import shutil
import subprocess
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganforge import api
from ganforge.cli.app import app
from ganforge.evaluation.cache import CACHE_ENV
from ganforge.evaluation.report import format_number
from ganforge.report.svg_chart import Marker, line_chart, nice_ticks
from ganforge.training.setup.assemble import resolve_config
from ganforge.training.setup.command_line import train_command

TINY = ["gan", "--steps", "12", "--batch-size", "16", "--log-every", "1", "--checkpoint-every", "6", "--device", "cpu"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WARNING = {"step": 4, "health": "discriminator_wins", "message": 'D <wins> & "G" loses'}
ROLLBACK = {"step": 8, "health": "non_finite", "action": "rollback", "restored_step": 6,
            "remedy": "lower <lr> & retry", "problem": "d_loss became nan",
            "message": "rolled back to step 6: d_loss became nan"}
NOT_REPRODUCED = ("runs_dir", "run_name")


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


class Page(HTMLParser):
    """The parts of a page the tests look at: start tags with their attributes, the text inside
    each tag, and the table rows (CSS class, cell texts)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, dict]] = []
        self.texts: dict[str, list[str]] = defaultdict(list)
        self.rows: list[tuple[str, list[str]]] = []
        self._open: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.starts.append((tag, attrs))
        if tag == "tr":
            self.rows.append((attrs.get("class") or "", []))
        elif tag in ("td", "th"):
            self.rows[-1][1].append("")
        self._open.append(tag)

    def handle_endtag(self, tag):
        while self._open and self._open.pop() != tag:
            pass

    def handle_data(self, data):
        if self._open:
            self.texts[self._open[-1]].append(data)
            if self._open[-1] in ("td", "th"):
                self.rows[-1][1][-1] += data

    def tags(self, name: str) -> list[dict]:
        return [attrs for tag, attrs in self.starts if tag == name]

    def row(self, first_cell: str) -> tuple[str, list[str]]:
        return next(r for r in self.rows if r[1] and r[1][0] == first_cell)


def read_page(path: Path) -> tuple[str, Page]:
    html = path.read_text(encoding="utf-8")
    return html, Page(html)


def embedded_pngs(page: Page) -> list[bytes]:
    prefix = "data:image/png;base64,"
    sources = [attrs["src"] for attrs in page.tags("img")]
    assert all(s.startswith(prefix) for s in sources), sources
    return [base64.b64decode(s[len(prefix):], validate=True) for s in sources]


def assert_self_contained(html: str, page: Page) -> None:
    assert "http://" not in html and "https://" not in html
    assert not page.tags("script") and not page.tags("link")
    references = [a.get(k) for _, a in page.starts for k in ("src", "href") if a.get(k)]
    assert all(r.startswith("data:") for r in references), references


def parsed_train_command(line: str, monkeypatch) -> dict:
    """The options ``ganforge train`` parses from ``line`` (the run API call caught, not run)."""
    caught = {}

    def train(arch, config_file=None, **given):
        caught.update(given, arch=arch)
        return Path("caught")

    monkeypatch.setattr(api, "train", train)
    words = shlex.split(line)
    assert words[:2] == ["ganforge", "train"]
    result = invoke(*words[1:])
    assert result.exit_code == 0, result.output
    return caught


def same_config(config: dict, options: dict) -> None:
    resolved = resolve_config(options)[0].to_dict()
    resolved["d_optim"]["betas"] = list(resolved["d_optim"]["betas"])
    resolved["g_optim"]["betas"] = list(resolved["g_optim"]["betas"])
    for key in NOT_REPRODUCED:
        config.pop(key), resolved.pop(key)
    assert resolved == config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, classifier_cache):
    """A tiny run (12 sample grids) with a health warning and a rollback action in its metrics,
    evaluated over two seeds."""
    root = tmp_path_factory.mktemp("runs")
    result = invoke("train", *TINY, "--sample-every", "1", "--seed", "2", "--runs-dir", root, "--name", "run")
    assert result.exit_code == 0, result.output
    run = root / "run"
    with (run / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(WARNING) + "\n" + json.dumps(ROLLBACK) + "\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(classifier_cache))
        evaluated = invoke("eval", run, "--n", "60", "--metrics", "fid,coverage", "--seeds", "0,1")
    assert evaluated.exit_code == 0, evaluated.output
    return run


@pytest.fixture(scope="module")
def repeat_dir(tmp_path_factory, classifier_cache):
    root = tmp_path_factory.mktemp("repeats")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(classifier_cache))
        result = invoke("train", *TINY, "--sample-every", "6", "--eval-n", "60", "--eval-metrics", "fid,coverage",
                        "--repeats", "2", "--seed", "3", "--runs-dir", root, "--name", "rep")
    assert result.exit_code == 0, result.output
    return root / "rep"


def test_run_report_shows_every_part(run_dir, monkeypatch):
    result = invoke("report", run_dir)
    assert result.exit_code == 0, result.output
    out = run_dir / "report.html"
    assert result.stdout.strip().splitlines() == [str(out)]
    html, page = read_page(out)
    assert page.texts["title"][0] == "run" and page.texts["h1"] == ["run"]
    assert_self_contained(html, page)

    # The command line trains the same run again.
    line = next(t for t in page.texts["code"] if t.startswith("ganforge train"))
    assert line.startswith("ganforge train gan ") and "--seed 2" in line and "--steps 12" in line
    same_config(json.loads((run_dir / "config.json").read_text()), parsed_train_command(line, monkeypatch))
    assert any(t.startswith("versions: ganforge ") and "torch " in t for t in page.texts["p"])

    # Sample grids: 8 of the 12, evenly spaced, the first and the last among them.
    pngs = embedded_pngs(page)
    assert len(pngs) == 8 and all(p.startswith(PNG_SIGNATURE) for p in pngs)
    assert pngs[-1] == (run_dir / "samples" / "step-000012.png").read_bytes()
    captions = page.texts["figcaption"]
    assert captions[0] == "step 1" and captions[-1] == "step 12" and len(set(captions)) == 8

    # Curves: the losses and what the loss reports, health records marked on them.
    charts = page.tags("svg")
    assert [c["aria-label"] for c in charts] == ["losses", "reported by the loss"]
    assert len(page.tags("polyline")) >= 3
    marker_classes = [attrs["class"] for attrs in page.tags("line") if "marker" in attrs.get("class", "")]
    assert marker_classes.count("marker warning") == 2 and marker_classes.count("marker action") == 2

    # Health: the warning and the rollback action, escaped in the file, whole once parsed.
    step, kind, action, message, details = page.row("4")[1]
    assert page.row("4")[0] == "warning" and (kind, message) == ("discriminator_wins", WARNING["message"])
    css, (step, kind, action, message, details) = page.row("8")
    assert css == "action" and (kind, action, message) == ("non_finite", "rollback", ROLLBACK["message"])
    assert details == "restored_step: 6, remedy: lower <lr> & retry"  # the problem is in the message already
    assert "D &lt;wins&gt; &amp; &quot;G&quot; loses" in html and "lower &lt;lr&gt; &amp; retry" in html

    # Evaluation: eval.json's rows with their intervals over the two seeds, and its protocol card.
    report = json.loads((run_dir / "eval.json").read_text())
    label, generator, floor, ceiling, _ = page.row("FID-digits")[1]
    interval = report["intervals"]["fid_digits"]
    assert generator.startswith(f"{format_number(interval['mean'])} ± ")
    assert generator.endswith(f"[{format_number(interval['low'])}, {format_number(interval['high'])}]")
    assert page.row("n_fake")[1] == ["n_fake", "60"] and page.row("seeds")[1] == ["seeds", "0, 1"]
    assert "class coverage" in [r[1][0] for r in page.rows if r[1]]


def test_a_run_without_evaluation_or_health_records_says_so(run_dir, tmp_path):
    plain = tmp_path / "plain<run>"
    shutil.copytree(run_dir, plain)
    (plain / "eval.json").unlink()
    (plain / "report.html").unlink(missing_ok=True)
    lines = (plain / "metrics.jsonl").read_text().splitlines()
    (plain / "metrics.jsonl").write_text("".join(line + "\n" for line in lines if '"health"' not in line))
    out = tmp_path / "elsewhere.html"
    result = invoke("report", plain, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out) and not (plain / "report.html").exists()
    html, page = read_page(out)
    assert page.texts["h1"] == ["plain<run>"] and "<h1>plain&lt;run&gt;</h1>" in html
    assert "no health problems recorded" in page.texts["p"]
    assert f"ganforge eval {shlex.quote(str(plain))} --seeds 0,1,2" in page.texts["code"]
    assert not [attrs for attrs in page.tags("line") if "marker" in attrs.get("class", "")]


def test_repeat_report_shows_the_summary_and_each_run(repeat_dir):
    result = invoke("report", repeat_dir / "summary.json")
    assert result.exit_code == 0, result.output
    out = repeat_dir / "report.html"
    assert result.stdout.strip() == str(out)
    html, page = read_page(out)
    assert page.texts["title"][0] == "rep"
    assert_self_contained(html, page)

    line = next(t for t in page.texts["code"] if t.startswith("ganforge train"))
    assert line.endswith(" --repeats 2") and "--seed 3" in line  # trained again below
    summary = json.loads((repeat_dir / "summary.json").read_text())
    fid = summary["metrics"]["fid_digits"]
    css, cells = page.row("fid_digits")
    assert cells[1] == f"{fid['mean']:.4g}" and cells[3] == f"[{fid['low']:.4g}, {fid['high']:.4g}]"
    assert page.row("seed-3")[1][1] == "3" and page.row("seed-4")[1][1] == "4"
    assert page.row("n_fake")[1] == ["n_fake", "60"]
    pngs = embedded_pngs(page)
    assert pngs == [(repeat_dir / f"seed-{s}" / "samples" / "step-000012.png").read_bytes() for s in (3, 4)]
    assert [c["aria-label"] for c in page.tags("svg")] == ["losses", "losses"]


def test_the_repeat_command_trains_the_same_recipe(repeat_dir, monkeypatch):
    caught = {}

    def train_repeats(arch, repeats, repeat_jobs=1, config_file=None, **given):
        caught.update(given, arch=arch, repeats=repeats)
        return Path("caught")

    monkeypatch.setattr("ganforge.repeat.train_repeats", train_repeats)
    _, page = read_page(Path(invoke("report", repeat_dir).stdout.strip()))
    line = next(t for t in page.texts["code"] if t.startswith("ganforge train"))
    result = invoke(*shlex.split(line)[1:])
    assert result.exit_code == 0, result.output
    assert caught.pop("repeats") == 2
    same_config(json.loads((repeat_dir / "seed-3" / "config.json").read_text()), caught)


def test_the_command_line_gives_every_option_that_differs(monkeypatch):
    values = dict(arch="dcgan", loss="lsgan", steps=77, seed=5, g_lr=1e-3, d_betas=(0.0, 0.99), d_optimizer="sgd",
                  d_momentum=0.9, d_nesterov=True, reuse_fake=False, arch_options={"ngf": 16}, ema=0.99,
                  compile="networks", data_root='a b<&"', device="cpu", runs_dir="elsewhere", run_name="x")
    config = resolve_config(values)[0]
    line = train_command(config)
    assert "--runs-dir" not in line and "--name" not in line and "--d-nesterov" in line and "--no-reuse-fake" in line
    same_config(json.loads(config.to_json()), parsed_train_command(line, monkeypatch))
    assert train_command(resolve_config({"arch": "gan"})[0]) == "ganforge train gan"


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, run_dir, repeat_dir):
    stray = tmp_path / "stray"
    stray.mkdir()
    broken = tmp_path / "broken"
    shutil.copytree(repeat_dir, broken)
    (broken / "report.html").unlink(missing_ok=True)
    shutil.rmtree(broken / "seed-3")
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    before = sorted(p.name for p in run_dir.iterdir())
    cases = [((stray,), "neither a run directory"), ((tmp_path / "missing",), "neither a run directory"),
             ((broken,), "lists the run directories seed-3, which are gone"),
             ((broken / "summary.json",), "which are gone"),
             ((run_dir, "--out", in_the_way / "report.html"), "cannot write"),
             ((run_dir, "--out", tmp_path), "cannot write")]
    for args, message in cases:
        result = invoke("report", *args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
    assert not (broken / "report.html").exists() and not (stray / "report.html").exists()
    assert sorted(p.name for p in run_dir.iterdir()) == before and sorted(p.name for p in tmp_path.iterdir()) == \
        ["a-file", "broken", "stray"]


def test_a_headless_browser_renders_the_page(run_dir, tmp_path):
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome", "firefox") if shutil.which(b)), None)
    if browser is None:
        pytest.skip("no headless browser (chromium, google-chrome or firefox) on PATH")
    out = tmp_path / "report.html"
    assert invoke("report", run_dir, "--out", out).exit_code == 0
    shot = tmp_path / "shot.png"
    if browser == "firefox":
        command = [browser, "--headless", "--screenshot", str(shot), out.as_uri()]
    else:
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
                   f"--screenshot={shot}", "--window-size=1200,3000", out.as_uri()]
    done = subprocess.run(command, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert shot.read_bytes().startswith(PNG_SIGNATURE)


def test_a_chart_breaks_its_line_at_non_finite_values_and_escapes_its_text():
    chart = line_chart({"d<loss": [(10, 1.0), (11, math.nan), (12, 2.0), (13, 2.5)]}, 'a "b" & <c>',
                       [Marker(12, "action", "rolled <back>"), Marker(0, "warning", "before the first log")])
    assert chart.count("<polyline") == 2 and chart.count("<circle") == 3
    assert 'aria-label="a &quot;b&quot; &amp; &lt;c&gt;"' in chart and "d&lt;loss" in chart
    assert chart.count('class="marker') == 2 and "rolled &lt;back&gt;" in chart
    assert 'text-anchor="middle">0</text>' in chart  # the x axis reaches back to the marker at step 0
    assert nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-3.0, 1200.0)[:2] == [0.0, 500.0]
