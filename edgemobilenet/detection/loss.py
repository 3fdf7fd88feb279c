"""SSD's multibox loss as TF's SSDLite configurations train it: anchors matched to ground
truth by IoU, smooth-L1 on the matched anchors' box codes, and per-class sigmoid
cross-entropy on one-hot targets (column 0 is the background) with either hard-negative
mining (3 negatives per positive, ranked by their loss; `ssdlite_mobilenet_v2_coco`) or focal
weighting over every anchor (alpha 0.25, gamma 2; Lin et al.). Scores are therefore
`sigmoid(logit)` per class, so a score threshold is a threshold on the raw logit."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .boxes import corners, encode, iou

CLASS_LOSSES = ("hnm", "focal")


def match(anchors: torch.Tensor, boxes: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Index of the ground-truth box each anchor (cx, cy, w, h) regresses, -1 for background:
    IoU >= threshold, and every box's best anchor whatever its IoU."""
    matched = torch.full((anchors.shape[0],), -1, dtype=torch.int64)
    if len(boxes) == 0:
        return matched
    overlap = iou(boxes, corners(anchors))                  # (k, A)
    best, idx = overlap.max(0)
    matched = torch.where(best >= threshold, idx, matched)
    matched[overlap.argmax(1)] = torch.arange(len(boxes))
    return matched


def targets(anchors: torch.Tensor, boxes: list[torch.Tensor], labels: list[torch.Tensor]
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: class index per anchor (0 = background) (N, A), box codes (N, A, 4)."""
    cls, codes = [], []
    for b, lab in zip(boxes, labels):
        if len(b) == 0:
            cls.append(torch.zeros(len(anchors), dtype=torch.int64))
            codes.append(torch.zeros_like(anchors))
            continue
        m = match(anchors, b)
        cls.append(torch.where(m >= 0, lab[m.clamp(min=0)], 0))
        codes.append(encode(b[m.clamp(min=0)], anchors))
    return torch.stack(cls), torch.stack(codes)


def multibox_loss(codes: torch.Tensor, logits: torch.Tensor, anchors: torch.Tensor,
                  boxes: list[torch.Tensor], labels: list[torch.Tensor],
                  class_loss: str = "hnm", neg_ratio: int = 3) -> torch.Tensor:
    """Codes (N, A, 4), logits (N, A, K), anchors (A, 4); per image corner boxes (k, 4) and
    labels (k,) in 1..K-1. Both terms are normalised by the number of matched anchors."""
    tcls, tcodes = targets(anchors, boxes, labels)
    pos = tcls > 0
    n_pos = pos.sum().clamp(min=1).float()
    box_loss = F.smooth_l1_loss(codes[pos], tcodes[pos], reduction="sum")
    onehot = F.one_hot(tcls, logits.shape[-1]).to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none")
    if class_loss == "focal":
        p = torch.sigmoid(logits)
        p_t = p * onehot + (1 - p) * (1 - onehot)
        alpha = 0.25 * onehot + 0.75 * (1 - onehot)
        cls_loss = (alpha * (1 - p_t) ** 2 * bce).sum()
    else:
        per_anchor = bce.sum(-1)
        neg = per_anchor.detach().masked_fill(pos, -1.0)
        rank = neg.argsort(1, descending=True).argsort(1)
        keep = rank < (neg_ratio * pos.sum(1, keepdim=True)).clamp(min=neg_ratio)
        cls_loss = per_anchor[pos].sum() + per_anchor[keep & ~pos].sum()
    return (box_loss + cls_loss) / n_pos
