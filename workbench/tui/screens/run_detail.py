"""One past run (manifest tree, charts re-drawn from metrics.jsonl, checks), and runs overlaid.

The overlay smooths every curve with an exponential moving average, as TensorBoard's slider
does: `[` and `]` step the weight through 0 (raw) … 0.99.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

from textual import getters
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane, Tree
from textual.widgets.tree import TreeNode

from workbench.content.schema import Chart
from workbench.tui.app import WorkbenchApp
from workbench.tui.labref import charts_for
from workbench.tui.status import break_title, styled
from workbench.tui.text import esc as escape
from workbench.tui.widgets.charts import ChartGrid, Records
from workbench.tui.widgets.checks import CheckTable

COLLAPSED = ("artifacts", "versions", "hardware", "env", "config")
OVERLAY_KEY = "__run"
SMOOTHING = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)


def ema(records: list[dict[str, Any]], keys: list[str], weight: float, group: str) -> list[dict[str, Any]]:
    """Each y key smoothed per series (`group` value) with s = w·s + (1-w)·y, bias-corrected like
    TensorBoard so the curve starts at the data, not at 0."""
    if weight <= 0:
        return records
    state: dict[tuple[Any, str], tuple[float, int]] = {}
    out = []
    for row in records:
        new = dict(row)
        for key in keys:
            y = row.get(key)
            if isinstance(y, (int, float)) and not isinstance(y, bool) and y == y:
                s, n = state.get((row.get(group), key), (0.0, 0))
                s, n = weight * s + (1 - weight) * float(y), n + 1
                state[(row.get(group), key)] = (s, n)
                new[key] = s / (1 - weight**n)
        out.append(new)
    return out


def fill_tree(node: TreeNode, value: Any, expand_top: bool = True) -> None:
    """Mappings and lists become branches; scalars become `key: value` leaves."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if isinstance(child, (dict, list)) and child:
            branch = node.add(f"[b]{escape(str(key))}[/b]", expand=expand_top and key not in COLLAPSED)
            fill_tree(branch, child, expand_top=False)
        else:
            node.add_leaf(f"{escape(str(key))}: {escape(repr(child) if isinstance(child, str) else str(child))}")


def overlay(chart: Chart, runs: list[tuple[str, list[dict[str, Any]]]]) -> tuple[Chart, list[dict[str, Any]]]:
    """One chart spec and one record list in which each run is its own series."""
    merged = []
    for tag, records in runs:
        for row in records:
            group = f"{tag} {row.get(chart.series_by, '')}".strip() if chart.series_by else tag
            merged.append({**row, OVERLAY_KEY: group})
    return dataclasses.replace(chart, series_by=OVERLAY_KEY), merged


def load_run(app: Any, run_id: str) -> tuple[dict[str, Any], Path] | None:
    from workbench.store.runs import get_manifest

    found = get_manifest(app.db(), run_id)
    return None if found is None else (found[0], Path(found[1]))


class RunScreen(Screen):
    app = getters.app(WorkbenchApp)  # typed: these screens run inside the workbench app only

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("i", "tab('manifest')", "Info (manifest)"),
        Binding("g", "tab('charts')", "Graphs"),
        Binding("t", "tab('checks')", "Checks"),
    ]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.manifest: dict[str, Any] = {}
        self.records: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        from workbench.runner.session import read_metrics

        found = load_run(self.app, self.run_id)
        yield Header(show_clock=False, icon="")
        if found is None:
            yield Static(f"[red]no run {escape(self.run_id)} in the index[/]")
            yield Footer(compact=True)
            return
        self.manifest, run_dir = found
        self.records = read_metrics(run_dir)
        m = self.manifest
        dirty = " [yellow](dirty tree: quarantined)[/]" if m.get("quarantined") else ""
        title = break_title(m)
        brk = f"\n[b]break:[/b] {escape(title)}" if title else ""
        yield Static(
            f"[b]{escape(m['target']['name'])}[/b] {styled(m['status'], m['target'].get('kind'))}{dirty} · "
            f"{m['wall_seconds']} s · seed {m['seed']} · config {m['config_hash']}{brk}\n[dim]{escape(m['id'])}[/]",
            id="run-head",
        )
        charts = charts_for(self.app.catalog, m["target"])
        with TabbedContent(initial="manifest"):
            with TabPane("Manifest", id="manifest"):
                yield Tree("manifest", id="manifest-tree")
            with TabPane(f"Charts ({len(charts)})", id="charts"):
                if charts:
                    yield ChartGrid(charts, lambda: self.records, mono=self.app.mono)
                else:
                    yield Static("this lab declares no charts")
            with TabPane("Checks", id="checks"):
                yield CheckTable()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        if not self.manifest:
            return
        tree = self.query_one("#manifest-tree", Tree)
        tree.root.expand()
        fill_tree(tree.root, self.manifest)
        tree.focus()
        self.query_one(CheckTable).call_after_refresh(self.query_one(CheckTable).show, self.manifest["checks"])

    def action_tab(self, tab: str) -> None:
        if self.manifest:
            self.query_one(TabbedContent).active = tab


class RunChartsScreen(Screen):
    """Curves of two or more runs on the same axes, one series per run (A, B, ...), smoothed on request."""

    app = getters.app(WorkbenchApp)  # typed: these screens run inside the workbench app only

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("right_square_bracket", "smooth(1)", "Smoother"),
        Binding("left_square_bracket", "smooth(-1)", "Rawer"),
    ]
    HELP = "Each run is one series (A, B, …); [ and ] set the EMA smoothing, as TensorBoard's slider."

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.charts: list[Chart] = []
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.level = 0
        self.raw: list[tuple[Chart, list[dict[str, Any]]]] = []
        self.shown: list[list[dict[str, Any]]] = []

    def compose(self) -> ComposeResult:
        from workbench.runner.session import read_metrics

        yield Header(show_clock=False, icon="")
        runs, legend = [], []
        for tag, run_id in zip("ABCDEFGH", self.run_ids, strict=False):
            found = load_run(self.app, run_id)
            if found is None:
                continue
            manifest, run_dir = found
            runs.append((tag, read_metrics(run_dir)))
            legend.append(f"[b]{tag}[/b] {escape(manifest['id'])}")
            if not self.charts:
                self.charts = charts_for(self.app.catalog, manifest["target"])
        yield Static("\n".join(legend) or "[red]runs not found[/]", id="overlay-legend")
        yield Static(self._smoothing_text(), id="smoothing")
        self.raw = [overlay(chart, runs) for chart in self.charts]
        self.shown = [rows for _, rows in self.raw]
        if self.raw:
            sources: list[Records] = [partial(self._shown, i) for i in range(len(self.raw))]
            yield ChartGrid([spec for spec, _ in self.raw], sources, mono=self.app.mono)
        else:
            yield Static("no charts for this lab")
        yield Footer(compact=True)

    def _shown(self, i: int) -> list[dict[str, Any]]:
        return self.shown[i]

    def _smoothing_text(self) -> str:
        w = SMOOTHING[self.level]
        return f"smoothing (EMA) [b]{w:g}[/b] {'(raw)' if w == 0 else ''} — \\[ rawer, ] smoother"

    def action_smooth(self, delta: int) -> None:
        self.level = max(0, min(len(SMOOTHING) - 1, self.level + delta))
        w = SMOOTHING[self.level]
        self.shown = [ema(rows, spec.y, w, OVERLAY_KEY) for spec, rows in self.raw]
        self.query_one("#smoothing", Static).update(self._smoothing_text())
        if self.raw:
            grid = self.query_one(ChartGrid)
            grid.tick(grid.seen_version + 1, force=True)
