"""SSD's multibox loss: anchors matched to ground truth by IoU, smooth-L1 on the matched
anchors' box codes, and softmax cross-entropy over classes with hard-negative mining (3
negatives per positive, the SSD paper) or focal weighting (Lin et al., gamma 2)."""
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


def multibox_loss(codes: torch.Tensor, logits: torch.Tensor, anchors: torch.Tensor,
                  boxes: list[torch.Tensor], labels: list[torch.Tensor],
                  class_loss: str = "hnm", neg_ratio: int = 3) -> torch.Tensor:
    """Codes (N, A, 4), logits (N, A, K), anchors (A, 4); per image corner boxes (k, 4) and
    labels (k,) in 1..K-1. Both terms are normalised by the number of matched anchors."""
    target_codes, target_cls = [], []
    for b, lab in zip(boxes, labels):
        if len(b) == 0:
            target_cls.append(torch.zeros(len(anchors), dtype=torch.int64))
            target_codes.append(torch.zeros_like(anchors))
            continue
        m = match(anchors, b)
        target_cls.append(torch.where(m >= 0, lab[m.clamp(min=0)], 0))
        target_codes.append(encode(b[m.clamp(min=0)], anchors))
    tcls, tcodes = torch.stack(target_cls), torch.stack(target_codes)
    pos = tcls > 0
    n_pos = pos.sum().clamp(min=1).float()
    box_loss = F.smooth_l1_loss(codes[pos], tcodes[pos], reduction="sum")
    ce = F.cross_entropy(logits.flatten(0, 1), tcls.flatten(), reduction="none").view_as(tcls)
    if class_loss == "focal":
        cls_loss = ((1 - torch.exp(-ce)) ** 2 * ce).sum()
    else:
        neg_ce = ce.detach().masked_fill(pos, -1.0)
        rank = neg_ce.argsort(1, descending=True).argsort(1)
        keep = rank < (neg_ratio * pos.sum(1, keepdim=True)).clamp(min=neg_ratio)
        cls_loss = ce[pos].sum() + ce[keep & ~pos].sum()
    return (box_loss + cls_loss) / n_pos
