"""The HTML bench report: self-contained (PNG plots inline as base64), with the latency,
arena, accuracy and memory sections filled from a real bench run."""
from __future__ import annotations

import base64
import re

import pytest

from bench_builds import TARGETS, bench_doc
from edgemobilenet.report import render, write_report

pytestmark = pytest.mark.needs("arm-none-eabi-gcc", "qemu-system-arm")

PNG = b"\x89PNG\r\n\x1a\n"


def _images(page: str) -> dict[str, bytes]:
    return {alt: base64.b64decode(data) for alt, data in
            re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)}


def test_report_has_plots_and_tables(tmp_path) -> None:
    doc = bench_doc(TARGETS[0])
    path = write_report(tmp_path / "sub" / "report.html", doc)
    page = path.read_text()
    imgs = _images(page)
    assert set(imgs) == {"per-layer latency", "arena occupancy", "accuracy"}
    assert all(v.startswith(PNG) and len(v) > 5000 for v in imgs.values())
    assert "http://" not in page and "https://" not in page      # viewable offline
    assert doc["target"] in page and f"{doc['latency']['median']:,}" in page
    assert f"{doc['memory']['flash_bytes']:,}" in page
    assert f"{doc['memory']['stack_high_water']:,}" in page
    assert f"{100 * doc['accuracy']['device_top1']:.2f}" in page
    assert "instructions (QEMU -icount), not cycles" in page
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]    # no temp file left


def test_report_without_data_or_profile() -> None:
    """No dataset and no per-layer profile: no accuracy or latency plot, the rest stays."""
    doc = dict(bench_doc(TARGETS[1]))
    doc["accuracy"] = {"images": 0, "notes": [], "reference_match": 1.0, "compared": 3,
                       "first_mismatch": None}
    doc["latency"] = {k: v for k, v in doc["latency"].items() if k != "layers"}
    imgs = _images(render(doc))
    assert set(imgs) == {"arena occupancy"}


def test_report_escapes_text() -> None:
    doc = dict(bench_doc(TARGETS[0]))
    doc["accuracy"] = {**doc["accuracy"], "notes": ["<script>alert(1)</script>"]}
    page = render(doc)
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_report_puts_every_target_side_by_side(tmp_path) -> None:
    docs = [bench_doc(t) for t in TARGETS]
    page = write_report(tmp_path / "report.html", docs).read_text()
    assert page.count("<section><h2>") == len(docs) == len(TARGETS)
    for d in docs:   # a summary row and a column per target
        assert f"<td>{d['target']}</td>" in page
        assert f"{d['memory']['flash_bytes']:,}" in page
    alts = re.findall(r'<img alt="([^"]+)"', page)
    assert alts.count("per-layer latency") == len(docs)
    assert render(docs[0]) != page
