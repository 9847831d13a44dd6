"""Scoring a Segmenter on labelled images: one loop for the CLI, training validation and the app."""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import metrics


@dataclass
class Hard:
    """One of the images a model gets most wrong: its mIoU, file name, photo, truth and prediction."""

    miou: float
    name: str
    image: np.ndarray  # (H, W, 3) uint8
    truth: np.ndarray  # (H, W) uint8 labels
    pred: np.ndarray  # (H, W) uint8 labels


@dataclass
class Evaluation:
    """What evaluate returns: scores over all pixels, their confusion matrix, per-image mIoU, the worst images."""

    scores: dict  # metrics.scores over every labelled pixel, with "confidence": metrics.confidence_reference
    confusion: np.ndarray  # (C, C) int64, rows: true class, columns: predicted class
    per_image: list = field(default_factory=list)  # mIoU of each image in input order (None: nothing labelled)
    worst: list = field(default_factory=list)  # Hard, lowest mIoU first


def evaluate(segmenter, items, ignore_index=None, worst=0):
    """Score a Segmenter on labelled images at their full resolution.

    Args:
        segmenter: an infer.Segmenter (anything with .classes, .manifest and .segment).
        items: iterable of (name, (H, W, 3) image, (H, W) mask of class indices).
        ignore_index: label excluded from every metric (default: the manifest's).
        worst: how many of the lowest-mIoU images to keep (images with nothing labelled are skipped).

    Returns:
        Evaluation.

    Raises:
        ValueError: when an image and its mask differ in size.
    """
    if ignore_index is None:
        ignore_index = segmenter.manifest.get("ignore_index")
    classes = segmenter.classes
    total = np.zeros((len(classes), len(classes)), np.int64)
    per_image, hard, confidences = [], [], []
    for name, image, mask in items:
        if np.asarray(image).shape[:2] != np.asarray(mask).shape[:2]:
            raise ValueError(f"image and mask sizes differ: {np.asarray(image).shape[:2]} "
                             f"vs {np.asarray(mask).shape[:2]}")
        result = segmenter.segment(image)
        pred = result.labels
        confidences.append(float(result.confidence.mean()))
        cm = metrics.confusion_matrix(mask, pred, len(classes), ignore_index=ignore_index)
        total += cm
        miou = metrics.scores(cm, classes)["miou"]
        per_image.append(miou)
        if worst and miou is not None:
            hard = sorted(hard + [Hard(miou, name, image, mask, pred)], key=lambda h: h.miou)[:worst]
    summary = {**metrics.scores(total, classes), "confidence": metrics.confidence_reference(confidences)}
    return Evaluation(summary, total, per_image, hard)


def read_pairs(pairs, num_classes, ignore_index=None, on_pair=None):
    """(name, image, mask) for each (image path, mask path), read one at a time with files' checks.

    Args:
        pairs: (image path, mask path) pairs, e.g. files.check_dataset(...).pairs.
        num_classes, ignore_index: what the masks may hold (see files.read_mask).
        on_pair: callable(index, image path) called before each pair is read (progress).

    Returns:
        a generator; files.InputError when a file cannot be read.
    """
    from . import files

    for k, (image_path, mask_path) in enumerate(pairs):
        if on_pair:
            on_pair(k, Path(image_path))
        mask, _ = files.read_mask(mask_path, num_classes, ignore_index)
        yield Path(image_path).name, files.read_image(image_path), mask
