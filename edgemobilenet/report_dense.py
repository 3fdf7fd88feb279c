"""Sample images of a detection / segmentation run for the HTML report: ground truth next to
the predictions (boxes drawn on the image, or the class map), one row per image."""
from __future__ import annotations

import html
from typing import Any

import numpy as np

from edgemobilenet.report import Rectangle, _img, plt


def _boxes(ax, img: np.ndarray, boxes: np.ndarray, labels, title: str, color: str) -> None:
    ax.imshow(img, cmap="gray")
    h, w = img.shape[:2]
    for b, lab in zip(np.asarray(boxes).reshape(-1, 4), labels):
        ax.add_patch(Rectangle((b[0] * w, b[1] * h), (b[2] - b[0]) * w, (b[3] - b[1]) * h,
                               fill=False, color=color, lw=1.5))
        ax.text(b[0] * w, b[1] * h, str(lab), color=color, fontsize=7, va="bottom")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def samples_html(task: str, images: list[np.ndarray], truth: list[Any], pred: list[Any],
                 caption: str) -> str:
    """`images` (H, W) floats; detection: truth/pred are (boxes, labels) pairs (corner
    fractions); segmentation: (H, W) class maps (255: ignored)."""
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(5, 2.5 * n), squeeze=False)
    for i, (img, t, p) in enumerate(zip(images, truth, pred)):
        if task == "detection":
            _boxes(axes[i, 0], img, t[0], t[1], "ground truth", "lime")
            _boxes(axes[i, 1], img, p[0], p[1], "device", "red")
        else:
            for ax, m, title in ((axes[i, 0], t, "ground truth"), (axes[i, 1], p, "device")):
                ax.imshow(img, cmap="gray")
                ax.imshow(np.ma.masked_where((m == 0) | (m == 255), m), cmap="tab20",
                          alpha=0.6, vmin=0, vmax=20, interpolation="nearest")
                ax.set_title(title, fontsize=8)
                ax.axis("off")
    fig.tight_layout()
    out = _img(fig, caption)
    plt.close(fig)
    return f"<figure>{out}<figcaption>{html.escape(caption)}</figcaption></figure>"
