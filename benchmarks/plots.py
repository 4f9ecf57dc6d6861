"""The pictures of a benchmark run (run.py --plot DIR, or --load a saved run):

- speedup.png: speed-up against threads for each kernel, for pyomp, C (clang and gcc)
  and Numba prange, over the faster C at one thread (so a line's height is its speed too);
- ratio_to_c.png: each kernel's time over the faster C's at each thread count (pyomp and
  Numba prange), the C = 1 line marked;
- overheads.png: the per-construct costs (EPCC fork/join, schedbench, syncbench, task
  overheads) of pyomp, clang and gcc in microseconds, one panel per thread count.
"""

import math
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402

C_LABELS = ("C clang/libomp", "C gcc/libgomp")
STYLES = {  # one colour per implementation, the same in every picture
    "pyomp": dict(color="#d62728", marker="o"),
    "C clang/libomp": dict(color="#1f77b4", marker="s"),
    "C gcc/libgomp": dict(color="#2ca02c", marker="^"),
    "numba prange": dict(color="#9467bd", marker="D"),
}


def by_kernel(rows, unit):
    """{kernel: {threads: {implementation: median}}} of the rows in `unit`, in run order."""
    table = defaultdict(lambda: defaultdict(dict))
    for row in rows:
        if row["unit"] == unit:
            table[row["kernel"]][row["threads"]][row["impl"]] = row["median"]
    return table


def _best_c(times):
    return min(times[label] for label in C_LABELS if label in times)


def _grid(count, width=2):
    cols = min(width, count)
    rows = math.ceil(count / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), dpi=110,
                             squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def speedup(rows, path, machine):
    kernels = {k: t for k, t in by_kernel(rows, "s").items() if 1 in t and len(t) > 1}
    if not kernels:
        return None
    fig, axes = _grid(len(kernels))
    for ax, (name, by_threads) in zip(axes, kernels.items()):
        counts = sorted(by_threads)
        base = _best_c(by_threads[1])
        ax.plot(counts, counts, ":", color="grey", label="ideal")
        for label, style in STYLES.items():
            if all(label in by_threads[k] for k in counts):
                ax.plot(counts, [base / by_threads[k][label] for k in counts], label=label,
                        **style)
        ax.set_title(name, fontsize=10)
        ax.set_xticks(counts)
        ax.set_xlabel("threads")
        ax.set_ylabel("speed-up over C, 1 thread")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _save(fig, path, f"Speed-up (higher is better); {machine}")


def ratio_to_c(rows, path, machine):
    kernels = by_kernel(rows, "s")
    entries = [(f"{name}, {k} thr", times) for name, by_threads in kernels.items()
               for k, times in sorted(by_threads.items()) if any(c in times for c in C_LABELS)]
    if not entries:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(entries) + 1.4), dpi=110)
    impls = [label for label in ("pyomp", "numba prange")
             if any(label in times for _, times in entries)]
    height = 0.8 / len(impls)
    for i, label in enumerate(impls):
        ys = [y + i * height for y, (_, times) in enumerate(entries) if label in times]
        ratios = [times[label] / _best_c(times) for _, times in entries if label in times]
        ax.barh(ys, ratios, height=height, color=STYLES[label]["color"], label=label)
    ax.axvline(1.0, color="black", linewidth=1, label="the faster C (= 1)")
    ax.set_yticks([y + 0.4 - height / 2 for y in range(len(entries))])
    ax.set_yticklabels([name for name, _ in entries], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time / time of the faster C (gcc or clang): lower is better")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path, f"Kernels against C; {machine}")


def overheads(rows, path, machine):
    kernels = by_kernel(rows, "us")
    counts = sorted({k for by_threads in kernels.values() for k in by_threads})
    if not counts:
        return None
    tallest = max(len(kernels), 1)
    fig, axes = plt.subplots(1, len(counts), figsize=(5.2 * len(counts), 0.3 * tallest + 1.6),
                             dpi=110, squeeze=False)
    axes = list(axes.flat)
    labels = ("pyomp", *C_LABELS)
    for ax, k in zip(axes, counts):
        names = [name for name, t in kernels.items() if k in t and "pyomp" in t[k]]
        height = 0.8 / len(labels)
        for i, label in enumerate(labels):
            ys = [y + i * height for y, name in enumerate(names) if label in kernels[name][k]]
            values = [max(kernels[name][k][label], 1e-3) for name in names
                      if label in kernels[name][k]]
            ax.barh(ys, values, height=height, color=STYLES[label]["color"], label=label)
        ax.set_yticks([y + 0.4 - height / 2 for y in range(len(names))])
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("microseconds per construct (log scale; 0.001 or less: at 0.001)")
        ax.set_title(f"{k} thread{'s' if k > 1 else ''}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(labels), fontsize=8)
    title = f"Construct overheads, EPCC (lower is better); {machine}"
    return _save(fig, path, title, bottom=0.45 / (0.3 * tallest + 1.6))


def _save(fig, path, title, bottom=0.0):
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def all_plots(results, folder):
    """Writes the pictures of a run's results into `folder`; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    machine = results.get("machine", "")
    made = [speedup(results["rows"], folder / "speedup.png", machine),
            ratio_to_c(results["rows"], folder / "ratio_to_c.png", machine),
            overheads(results["rows"], folder / "overheads.png", machine)]
    return [path for path in made if path is not None]
