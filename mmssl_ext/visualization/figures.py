"""Figures of runs and probes as PNG files (matplotlib, no display needed)."""
import glob
import json
import os
import os.path as osp
from typing import List, Mapping, Tuple

import numpy as np


def logged_scalars(work_dir: str, key: str = 'loss') -> Tuple[np.ndarray, np.ndarray]:
    """``(iterations, values)`` of ``key`` in the newest run of a work dir
    (mmengine's ``{timestamp}/vis_data/scalars.json``, one JSON record per
    logged step); empty arrays when there is none."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not logs:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    records = []
    with open(logs[-1]) as f:
        for line in f:
            line = line.strip()
            if line:
                record = json.loads(line)
                if key in record and 'iter' in record:
                    records.append((record['iter'], record[key]))
    if not records:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    iters, values = zip(*records)
    return np.asarray(iters), np.asarray(values, dtype=np.float64)


def _figure():
    import matplotlib
    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt
    return plt


def plot_curves(curves: Mapping[str, Tuple[np.ndarray, np.ndarray]], path: str,
                title: str = 'training loss', ylabel: str = 'loss') -> str:
    """One line per run (``{name: (iterations, values)}``) on shared axes;
    writes ``path`` (PNG) and returns it."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for name, (iters, values) in curves.items():
        if len(iters):
            ax.plot(iters, values, label=name, linewidth=1.2)
    ax.set_xlabel('iteration')
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_grouped_bars(values: Mapping[str, Mapping[str, float]], path: str, title: str,
                      ylabel: str) -> str:
    """Bars grouped by the inner keys (``{backbone: {column: value}}``: one
    group per column, one bar per backbone, its value written above it);
    writes ``path`` (PNG) and returns it."""
    plt = _figure()
    names: List[str] = list(values)
    columns: List[str] = list(dict.fromkeys(c for v in values.values() for c in v))
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(6.4, 1.2 * len(columns) * max(len(names), 1) / 2), 4.0),
                           dpi=100)
    positions = np.arange(len(columns))
    for i, name in enumerate(names):
        heights = [values[name].get(c, np.nan) for c in columns]
        bars = ax.bar(positions + (i - (len(names) - 1) / 2) * width, heights, width,
                      label=name)
        ax.bar_label(bars, fmt='%.1f', fontsize=6, padding=1)
    ax.set_xticks(positions, columns, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis='y', alpha=0.3)
    # below the axes: inside, it would cover the bars
    ax.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.1), ncol=2)
    return _save(fig, path)


def _save(fig, path: str) -> str:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path
