"""Image datasets on disk: ImageFolder-style directories and CSV files of `path,label`."""
from __future__ import annotations

import csv
from pathlib import Path

from edgemobilenet.errors import EdgembError

from .tensors import ImageFiles

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def _split_dir(root: Path, train: bool) -> Path:
    """`train/` for training, `val/` or `test/` for evaluation, else the directory itself."""
    for name in (("train",) if train else ("val", "test")):
        if (root / name).is_dir():
            return root / name
    return root


def open_image_folder(root: Path, *, train: bool, preprocess: dict,
                      in_channels: int) -> ImageFiles:
    """One subdirectory per class (sorted names are labels 0..K-1), images inside."""
    folder = _split_dir(root, train)
    class_dirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    items = [(f, label) for label, d in enumerate(class_dirs)
             for f in sorted(d.rglob("*")) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise EdgembError(f"{folder}: no images found (expected one subdirectory per class "
                          f"holding {'/'.join(sorted(IMAGE_SUFFIXES))} files)")
    return ImageFiles(items, [d.name for d in class_dirs], preprocess, in_channels)


def open_csv(path: Path, *, preprocess: dict, in_channels: int) -> ImageFiles:
    """Rows `path,label` (integer label; a non-integer first row is a header); paths are
    relative to the CSV's folder."""
    items: list[tuple[Path, int]] = []
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise EdgembError(f"{path}: cannot read CSV ({e})") from None
    for lineno, row in enumerate(rows, 1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise EdgembError(f"{path}:{lineno}: expected 2 columns `path,label`, got {len(row)}")
        try:
            label = int(row[1])
        except ValueError:
            if lineno == 1:
                continue
            raise EdgembError(f"{path}:{lineno}: label {row[1]!r} is not an integer") from None
        if label < 0:
            raise EdgembError(f"{path}:{lineno}: label {label} is negative")
        image = path.parent / row[0].strip()
        if not image.is_file():
            raise EdgembError(f"{path}:{lineno}: image {image} does not exist")
        items.append((image, label))
    if not items:
        raise EdgembError(f"{path}: no `path,label` rows")
    n_classes = max(label for _, label in items) + 1
    return ImageFiles(items, [str(i) for i in range(n_classes)], preprocess, in_channels)
