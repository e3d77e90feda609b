"""The latency curve as a picture: reply latency distribution per concurrency level, one box per server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # run.py imports this module: the type alone, no circle
    from voicebot.bench.run import LevelResult

TARGETS_MS = {"one call p50": 400, "one call p95": 700, "24 calls p95": 1000}


def plot_latency(results: list[LevelResult], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("the plot needs matplotlib: pip install 'voicebot[bench]'") from None
    servers = sorted({r.server for r in results}, key=lambda s: s != "voicebot")
    levels = sorted({r.calls for r in results})
    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    width = 0.8 / len(servers)
    for k, server in enumerate(servers):
        by_level = {r.calls: r.latencies_ms for r in results if r.server == server}
        positions = [i + (k - (len(servers) - 1) / 2) * width for i, level in enumerate(levels) if by_level.get(level)]
        data = [by_level[level] for level in levels if by_level.get(level)]
        if not data:
            continue
        boxes = ax.boxplot(
            data, positions=positions, widths=width * 0.9, whis=(5, 95), patch_artist=True, showfliers=True
        )
        for box in boxes["boxes"]:
            box.set_facecolor(f"C{k}")
            box.set_alpha(0.6)
        ax.plot([], [], color=f"C{k}", linewidth=8, alpha=0.6, label=server)
    for n, (label, ms) in enumerate(TARGETS_MS.items()):
        ax.axhline(ms, linestyle="--", linewidth=0.8, color=f"C{n + 4}", label=f"target: {label} {ms} ms")
    ax.set_xticks(range(len(levels)), [str(level) for level in levels])
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("reply latency at the caller (ms, log scale), whiskers p5-p95")
    ax.set_title("End of caller speech to first bot audio")
    ax.set_yscale("log")  # the baseline runs to tens of seconds; voicebot's boxes sit under one
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
