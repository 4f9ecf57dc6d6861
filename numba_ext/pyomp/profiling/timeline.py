"""`prof.plot()`: the timeline, one row per thread, time across; what each thread ran in a
colour per construct, the time it waited hatched grey on top."""

import numpy as np

from .recorder import KIND, WAITS

# drawing order and bar height by kind: a region's body underneath, the work inside it,
# then the waits, then tasks (which a thread may run while it waits)
_LAYERS = (("body", 0.8, 0.35), ("chunk", 0.8, 1.0), ("single", 0.8, 1.0), ("master", 0.8, 1.0),
           ("critical", 0.8, 1.0), ("ordered", 0.8, 1.0), ("wait", 0.5, 1.0), ("task", 0.6, 1.0))


def _scale(duration_ns):
    if duration_ns >= 2e6:
        return 1e6, "ms"
    if duration_ns >= 2e3:
        return 1e3, "us"
    return 1.0, "ns"


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("pyomp.profile's timeline draws with matplotlib: pip install "
                          "matplotlib (or pip install 'pyomp-rs[plot]')") from e
    return plt


def plot_timelines(profiles, path=None, *, titles=None):
    """Several profiles one above the other on one time axis (to compare two schedules,
    say); saved to `path` when given. Returns the figure."""
    plt = _pyplot()
    profiles = list(profiles)
    titles = list(titles) if titles is not None else [None] * len(profiles)
    rows = [max(len(p.threads), 1) for p in profiles]
    fig, axes = plt.subplots(len(profiles), 1, squeeze=False, sharex=True,
                             figsize=(10, 0.9 * len(profiles) + 0.55 * sum(rows)),
                             gridspec_kw={"height_ratios": rows})
    longest = max(p.duration_ns for p in profiles)
    for prof, ax, title in zip(profiles, axes[:, 0], titles):
        plot_timeline(prof, None, title=title, ax=ax, until_ns=longest)
    for ax in axes[:-1, 0]:
        ax.set_xlabel("")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_timeline(prof, path=None, *, title=None, ax=None, until_ns=None):
    plt = _pyplot()
    from matplotlib.patches import Patch
    iv = prof._recorded()
    threads = prof.threads
    row_of = {t.index: i for i, t in enumerate(threads)}
    own_figure = ax is None
    if own_figure:
        fig, ax = plt.subplots(figsize=(10, 1.2 + 0.55 * max(len(threads), 1)))
    else:
        fig = ax.figure
    until_ns = max(until_ns or 0, prof.duration_ns)
    unit, unit_name = _scale(until_ns)
    colours = _site_colours(prof, iv)
    wait_codes = [KIND[k] for k in WAITS]
    for layer, height, alpha in _LAYERS:
        codes = wait_codes if layer == "wait" else [KIND[layer]]
        sel = iv[np.isin(iv["kind"], codes)]
        for (thread, site), group in _groups(sel):
            y = row_of[thread]
            spans = [(s / unit, (e - s) / unit) for s, e in zip(group["start"], group["end"])]
            if layer == "wait":
                ax.broken_barh(spans, (y - height / 2, height), facecolors="0.55",
                               edgecolor="0.25", hatch="////", linewidth=0.3, zorder=3)
            else:
                ax.broken_barh(spans, (y - height / 2, height), facecolors=colours[site],
                               alpha=alpha, edgecolor="white" if layer == "chunk" else "none",
                               linewidth=0.4, zorder=2 if layer != "task" else 4)
    ax.set_yticks(range(len(threads)), [t.name for t in threads])
    ax.set_ylim(len(threads) - 0.4, -0.6)
    ax.set_xlim(0, until_ns / unit)
    ax.set_xlabel(f"time since the profile started ({unit_name})")
    ax.grid(axis="x", alpha=0.3)
    # a construct drawn only as region bodies is pale in the picture: pale in the legend
    solid_kinds = [KIND[k] for k in ("chunk", "single", "master", "critical", "ordered", "task")]
    solid = {int(s) for s, k in zip(iv["site"], iv["kind"]) if k in solid_kinds}
    labels = {}
    for s, c in colours.items():
        label = prof.sites[s].label
        pale = labels.get(label, (c, True))[1] and s not in solid
        labels[label] = (c, pale)
    handles = [Patch(facecolor=c, alpha=0.35 if pale else 1.0, label=label)
               for label, (c, pale) in labels.items()]
    handles.append(Patch(facecolor="0.55", edgecolor="0.25", hatch="////",
                         label="waiting (barrier, join, critical, taskwait, ...)"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False)
    if title:
        ax.set_title(title)
    if own_figure:
        fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def _groups(sel):
    keys = sorted({(int(t), int(s)) for t, s in zip(sel["thread"], sel["site"])})
    for t, s in keys:
        yield (t, s), sel[(sel["thread"] == t) & (sel["site"] == s)]


def _site_colours(prof, iv):
    """A colour per construct that has work drawn (in source order)."""
    import matplotlib
    # tab20's strong colours, then its light ones; not its greys (the waits are grey)
    tab20 = matplotlib.colormaps["tab20"].colors
    palette = [c for i, c in enumerate(tab20[::2] + tab20[1::2]) if i not in (7, 17)]
    drawn = {KIND[k] for k in ("body", "chunk", "single", "master", "critical", "ordered", "task")}
    sites = sorted({int(s) for s, k in zip(iv["site"], iv["kind"]) if k in drawn},
                   key=lambda s: (prof.sites[s].file, prof.sites[s].line, s))
    # one colour per source construct: a `parallel for`'s region and loop share theirs
    by_label = {}
    for s in sites:
        by_label.setdefault(prof.sites[s].label, palette[len(by_label) % len(palette)])
    return {s: by_label[prof.sites[s].label] for s in sites}
