"""The bench report as one self-contained HTML file: matplotlib plots embedded as base64 PNG
(viewable offline), per-layer latency, arena occupancy over the layer sequence, accuracy and
memory tables; for detection / segmentation builds the first test images with ground truth
next to the device's boxes or class map. Input is the document `bench.run_bench` returns;
`render_all` puts several targets' results on one page, side by side."""
from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
import numpy as np  # noqa: E402

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:0.25em 0.7em;text-align:right}th{background:#f3f3f3}td:first-child,th:first-child
{text-align:left}img{max-width:100%}.note{color:#666;font-size:0.9em}"""


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _img(fig: Figure, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'


def latency_plot(layers: list[dict[str, Any]], unit: str, kind: str = "layer") -> Figure:
    """Median ticks per layer (or per kernel: `kind`) as bars, coloured by op."""
    fig, ax = plt.subplots(figsize=(11, 3.6))
    ops = sorted({r["op"] for r in layers})
    cmap = plt.get_cmap("tab10")
    for k, op in enumerate(ops):
        rows = [r for r in layers if r["op"] == op]
        ax.bar([r["index"] for r in rows], [r["median"] for r in rows], color=cmap(k % 10),
               label=op, width=0.8)
    ax.set_xlabel(kind)
    ax.set_ylabel(unit)
    ax.set_title(f"per-{kind} latency ({unit}, median over runs)")
    ax.legend(fontsize=8, ncol=min(len(ops), 6))
    ax.margins(x=0.01)
    return fig


def arena_plot(buffers: list[dict[str, Any]], live: list[int], arena_bytes: int,
               lower_bound: int, title: str = "arena occupancy over the layer sequence",
               y_max: int = 0) -> Figure:
    """Each buffer as a rectangle (arena offset x lifetime) and the live bytes."""
    fig, ax = plt.subplots(figsize=(11, 3.8))
    cmap = plt.get_cmap("tab20")
    for k, b in enumerate(buffers):
        ax.add_patch(Rectangle(
            (b["start"] - 0.45, b["offset"] / 1024), b["end"] - b["start"] + 0.9,
            b["bytes"] / 1024, facecolor=cmap(k % 20), edgecolor="black", linewidth=0.3,
            alpha=0.8))
    ax.step(range(len(live)), [v / 1024 for v in live], where="mid", color="black",
            linewidth=1.2, label="live bytes")
    ax.axhline(arena_bytes / 1024, color="red", linestyle="--", label="arena size")
    if lower_bound and lower_bound != arena_bytes:
        ax.axhline(lower_bound / 1024, color="grey", linestyle=":", label="lower bound")
    ax.set_xlim(-1, max(len(live), 1))
    ax.set_ylim(0, max(y_max, arena_bytes, max(live, default=0), 1) / 1024 * 1.08)
    ax.set_xlabel("layer")
    ax.set_ylabel("KB")
    ax.set_title(f"{title} (buffers by offset and lifetime)")
    ax.legend(fontsize=8, loc="upper right")
    return fig


def accuracy_plot(acc: dict[str, Any]) -> Figure | None:
    bars = [(name, acc.get(key)) for name, key in
            (("float", "float_top1"), ("int8 reference", "int8_top1"),
             ("device", "device_top1"))]
    bars = [(n, v) for n, v in bars if v is not None]
    if not bars:
        return None
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar([n for n, _ in bars], [100 * v for _, v in bars], color=["#888", "#48c", "#e83"][
        :len(bars)])
    for i, (_, v) in enumerate(bars):
        ax.text(i, 100 * v, f"{100 * v:.1f}", ha="center", va="bottom", fontsize=9)
    ax.set_ylim(0, 105)
    ax.set_ylabel("top-1 %")
    ax.set_title(f"accuracy on {acc.get('images', 0)} images")
    return fig


def _table(header: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                   for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def _bytes(n: int | None, budget: int | None = None) -> list[str]:
    if n is None:
        return ["-", "-", "-"]
    use = f"{100 * n / budget:.1f}%" if budget else "-"
    return [f"{n:,}", f"{n / 1024:,.1f}", use]


# ---- detection / segmentation samples: ground truth next to the device's boxes or map

DRAW_TOP = 5    # predicted boxes drawn per image: the best ones (legible pictures)


def _boxes(ax, img: np.ndarray, boxes: np.ndarray, labels, scores, names: list[str],
           title: str, color: str) -> None:
    ax.imshow(img, cmap="gray")
    h, w = img.shape[:2]
    for k, (b, lab) in enumerate(zip(np.asarray(boxes).reshape(-1, 4), labels)):
        name = names[int(lab)] if 0 <= int(lab) < len(names) else str(lab)
        text = name if scores is None else f"{name} {float(scores[k]):.2f}"
        ax.add_patch(Rectangle((b[0] * w, b[1] * h), (b[2] - b[0]) * w, (b[3] - b[1]) * h,
                               fill=False, color=color, lw=1.5))
        ax.text(b[0] * w, b[1] * h, text, color=color, fontsize=6, va="bottom")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def samples_html(samples: dict[str, Any], caption: str) -> str:
    """`samples` (bench_dense.accuracy): "images" (H, W) floats, "classes" names and, for
    detection, "truth" (boxes, labels) and "pred" (boxes, labels, scores) with corner
    fractions and labels 1..K-1; for segmentation (H, W) class maps (255: ignored)."""
    images, names = samples["images"], samples["classes"]
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(5.5, 2.75 * n), squeeze=False)
    for i, (img, t, p) in enumerate(zip(images, samples["truth"], samples["pred"])):
        if samples["task"] == "detection":
            _boxes(axes[i, 0], img, t[0], t[1], None, names, "ground truth", "lime")
            best = np.argsort(-np.asarray(p[2]), kind="stable")[:DRAW_TOP]
            _boxes(axes[i, 1], img, np.asarray(p[0])[best], np.asarray(p[1])[best],
                   np.asarray(p[2])[best], names, f"device (best {DRAW_TOP}, with scores)",
                   "red")
            continue
        for ax, m, title in ((axes[i, 0], t, "ground truth"), (axes[i, 1], p, "device")):
            ax.imshow(img, cmap="gray")
            ax.imshow(np.ma.masked_where((m == 0) | (m == 255), m), cmap="tab20",
                      alpha=0.6, vmin=0, vmax=20, interpolation="nearest")
            for c in np.unique(m):
                if 0 < c < len(names):
                    ys, xs = np.nonzero(m == c)
                    ax.text(xs.mean(), ys.mean(), names[c], fontsize=6, color="white",
                            ha="center", va="center")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.tight_layout()
    out = _img(fig, caption)
    plt.close(fig)
    return f"<figure>{out}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _dense_section(acc: dict[str, Any], samples: dict[str, Any] | None) -> str:
    from edgemobilenet.bench_dense import METRICS

    d = acc["dense"]
    cols = METRICS[d["task"]]
    rows = [[name] + [_pct((d.get(key) or {}).get(k)) for _, k in cols]
            for name, key in (("float", "float"), ("int8 (reference executor)", "int8"),
                              ("device", "device"))]
    nms = d.get("nms")
    how = (f"TFLite_Detection_PostProcess {'regular' if nms['use_regular_nms'] else 'fast'} "
           f"NMS: score &ge; {nms['score_threshold']:g}, IoU &gt; {nms['iou_threshold']:g} "
           f"suppressed, {nms['max_detections']} detections, top {nms['top_k']} candidates"
           if nms else "per-pixel argmax")
    out = [_table(["model"] + [f"{t} %" for t, _ in cols], rows),
           f'<p class="note">on {acc["images"]} images; post-processing ({how}) on '
           f'{html.escape(acc["postprocess_on"])}; the device\'s results equal the int8 '
           f'reference\'s: <b>{"yes" if d["device_equals_int8"] else "no"}</b></p>']
    if samples:
        out.append(samples_html(samples, f"ground truth and the device's "
                                f"{'boxes' if nms else 'class map'}, first "
                                f"{len(samples['images'])} test images"))
    return "".join(out)


def _accuracy_section(acc: dict[str, Any], samples: dict[str, Any] | None = None) -> str:
    out = []
    if acc.get("dense"):
        out.append(_dense_section(acc, samples))
    elif acc.get("images"):
        rows = [[name, _pct(acc.get(f"{key}_top1")), _pct(acc.get(f"{key}_top5"))]
                for name, key in (("float", "float"), ("int8 (reference executor)", "int8"),
                                  ("device", "device"))]
        out.append(_table(["model", "top-1 %", "top-5 %"], rows))
        if fig := accuracy_plot(acc):
            out.append(_img(fig, "accuracy"))
    match = acc.get("reference_match")
    out.append(f"<p>outputs bit-identical to the reference executor: "
               f"<b>{_pct(match)}%</b> of {acc.get('compared', 0)}</p>")
    if acc.get("first_mismatch"):
        m = acc["first_mismatch"]
        out.append(f"<p><b>first differing layer</b> (input {m.get('input')}): "
                   f"{html.escape(m.get('text', ''))}</p>")
    for note in acc.get("notes", []):
        out.append(f'<p class="note">{html.escape(note)}</p>')
    return "".join(out)


def _memory_section(mem: dict[str, Any]) -> str:
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in mem.get("notes", []))
    if "library_bytes" in mem:  # a Linux build
        return _table(["memory", "bytes", "KB", "of budget"],
                      [["shared library (.so)", *_bytes(mem["library_bytes"])]]) + notes
    rows = [["flash (ELF)", *_bytes(mem.get("flash_bytes"), mem.get("flash_budget"))],
            ["SRAM (ELF + stack)", *_bytes(mem.get("sram_bytes"), mem.get("sram_budget"))]]
    if mem.get("bulk_bytes"):
        rows.append(["bulk region", *_bytes(mem["bulk_bytes"])])
    rows += [["arena", *_bytes(mem.get("arena_bytes"))],
             ["arena lower bound", *_bytes(mem.get("arena_lower_bound"))],
             ["stack reserved", *_bytes(mem.get("stack_bytes"))],
             ["stack high-water (device)", *_bytes(mem.get("stack_high_water"),
                                                  mem.get("stack_bytes"))]]
    return _table(["memory", "bytes", "KB", "of budget"], rows) + notes


def _latency_section(lat: dict[str, Any]) -> str:
    unit = lat["unit_label"]
    rows = [["median", f"{lat['median']:,}"], ["p90", f"{lat['p90']:,}"],
            ["min", f"{lat['min']:,}"], ["max", f"{lat['max']:,}"]]
    head = ["per inference", unit]
    if lat["unit"] == "ns":  # times measured on a board: shown in ms
        rows = [[r[0]] for r in rows]
        head = head[:1]
    if lat.get("ms_median") is not None:
        head.append(f"ms at {lat['clock_hz'] / 1e6:g} MHz" if lat.get("clock_hz") else unit)
        rows = [r + [f"{ms:.3f}"] for r, ms in
                zip(rows, (lat["ms_median"], lat["ms_p90"], lat["ms_min"], lat["ms_max"]))]
    out = [_table(head, rows), f'<p class="note">{lat["runs"]} runs</p>']
    out += [f'<p class="note">{html.escape(n)}</p>' for n in lat.get("notes", [])]
    if lat.get("layers"):
        kind = lat.get("breakdown", "layer")
        out.append(_img(latency_plot(lat["layers"], lat["unit"], kind), f"per-{kind} latency"))
        top = sorted(lat["layers"], key=lambda r: -r["median"])[:10]
        out.append(f"<h3>slowest {kind}s</h3>" + _table(
            [kind, "op", "MACs", lat["unit"], "share"],
            [[f"{r['index']} {r['name']}", r["op"].replace("+", "+\u200b"),   # may wrap at +
              f"{r['macs']:,}", f"{r['median']:,}",
              f"{100 * r['share']:.1f}%"] for r in top]))
    return "".join(out)


def _body(doc: dict[str, Any], h: int = 2) -> str:
    """The sections of one bench result (headings at level `h`)."""
    parts = [f"<p>build <code>{html.escape(str(doc.get('build', '')))}</code>, model "
             f"<code>{html.escape(str(doc.get('model_hash', ''))[:12])}</code>, "
             f"{html.escape(str(doc.get('transport', '')))}</p>",
             f"<h{h}>latency</h{h}>", _latency_section(doc["latency"]),
             f"<h{h}>accuracy</h{h}>", _accuracy_section(doc["accuracy"], doc.get("samples")),
             f"<h{h}>memory</h{h}>", _memory_section(doc["memory"])]
    arena = doc.get("arena")
    if arena and arena.get("buffers"):
        before = arena.get("before")
        top = before["arena_bytes"] if before else 0
        if before:   # same scale, so the two plans compare by eye
            parts.append(_img(arena_plot(before["buffers"], before["live_bytes"],
                                         before["arena_bytes"], before["lower_bound"],
                                         "before: layer by layer"), "arena, layer by layer"))
        parts.append(_img(arena_plot(arena["buffers"], arena["live_bytes"],
                                     doc["memory"]["arena_bytes"],
                                     doc["memory"].get("arena_lower_bound") or 0,
                                     "after: this build's plan (in place, patches)" if before
                                     else "arena occupancy over the layer sequence", top),
                          "arena occupancy"))
    return "".join(parts)


def _page(title: str, body: str, css: str = "") -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{_CSS}{css}</style></head><body><h1>{html.escape(title)}</h1>"
            f"{body}</body></html>\n")


def render(doc: dict[str, Any]) -> str:
    """The report page for one bench result."""
    return _page(f"edgemb bench: {doc['target']}", _body(doc))


def _latency_cell(lat: dict[str, Any]) -> str:
    if lat.get("ms_median") is not None and lat["unit"] != "instructions":
        return f"{lat['ms_median']:.3f} ms"
    return f"{lat['median']:,} {lat['unit']}"


def render_all(docs: list[dict[str, Any]]) -> str:
    """One page for several bench results of one model: a summary table, then every
    target's report in its own column, side by side."""
    rows = []
    for d in docs:
        acc, mem, lat = d["accuracy"], d["memory"], d["latency"]
        size = mem.get("library_bytes") if "library_bytes" in mem else mem.get("flash_bytes")
        dense = acc.get("dense")
        device = (_pct(dense["device"].get("map50", dense["device"].get("miou"))) if dense
                  else _pct(acc.get("device_top1")))
        rows.append([d["target"], d.get("transport", ""), _latency_cell(lat),
                     device, _pct(acc.get("reference_match")),
                     f"{size:,}" if size is not None else "-",
                     f"{mem['sram_bytes']:,}" if mem.get("sram_bytes") else "-"])
    metric = {"detection": "device mAP@0.5 %", "segmentation": "device mIoU %"}.get(
        (docs[0]["accuracy"].get("dense") or {}).get("task") if docs else None,
        "device top-1 %")
    table = _table(["target", "measured with", "latency (median)", metric,
                    "bit-exact %", "flash / .so bytes", "SRAM bytes"], rows)
    cols = "".join(f'<section><h2>{html.escape(d["target"])}</h2>{_body(d, 3)}</section>'
                   for d in docs)
    css = (f"body{{max-width:none}}.cols{{display:grid;grid-template-columns:repeat("
           f"{max(len(docs), 1)},minmax(32em,1fr));gap:2em;align-items:start}}"
           ".cols section{min-width:0}.cols td{white-space:nowrap}"
           ".cols td:first-child{white-space:normal;overflow-wrap:anywhere}"
           ".cols td:nth-child(2){white-space:normal}")
    hashes = sorted({str(d.get("model_hash", ""))[:12] for d in docs})
    title = "edgemb bench: " + ", ".join(d["target"] for d in docs)
    return _page(title, f"<p>model {html.escape(', '.join(hashes))}; latency units differ "
                 f"by target (instructions in QEMU, time on boards)</p>{table}"
                 f'<div class="cols">{cols}</div>', css)


def write_report(path: str | Path, doc: dict[str, Any] | list[dict[str, Any]]) -> Path:
    """Write the HTML atomically (temp file + rename): one result's page, or with a list
    the side-by-side page of `render_all`; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_all(doc) if isinstance(doc, list) else render(doc)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
