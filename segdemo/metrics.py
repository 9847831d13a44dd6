"""Segmentation metrics from one confusion matrix: pixel/class accuracy, IoU, mIoU, fwIoU, Dice.

Accumulate ``confusion_matrix`` over a data set (the matrices add), then call ``scores`` once.
``mistaken_for`` reads the matrix the other way: what each class was taken for. The model's
mean confidence on its validation frames (``confidence_reference``) tells, by comparison,
whether a new photo is unlike them (``low_confidence``). Pure numpy.
"""

import numpy as np


def confusion_matrix(truth, pred, num_classes, ignore_index=None):
    """Count pixels by (true class, predicted class).

    Args:
        truth: integer label map (any shape, e.g. HxW or BxHxW). Pixels equal to
            ``ignore_index`` or outside 0..num_classes-1 (void) are not counted.
        pred: integer label map of the same shape; every value must be in 0..num_classes-1,
            including at ignored pixels (a prediction is always a class).
        num_classes: C, >= 1.
        ignore_index: optional label in ``truth`` to skip (e.g. 255).

    Returns:
        (C, C) int64 array ``cm`` with ``cm[i, j]`` = pixels of true class i predicted as j
        (rows = truth, columns = prediction). Matrices from several batches can be summed.
    """
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    c = int(num_classes)
    truth = np.asarray(truth)
    pred = np.asarray(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth shape {truth.shape} does not match pred shape {pred.shape}")
    for arr, what in ((truth, "truth"), (pred, "pred")):
        if not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{what} must be an integer label map, got dtype {arr.dtype}")
    bad = (pred < 0) | (pred >= c)
    if bad.any():
        raise ValueError(
            f"pred values must be in 0..{c - 1}, got {pred[bad].ravel()[0]} "
            f"({int(bad.sum())} pixels out of range)"
        )
    keep = (truth >= 0) & (truth < c)
    if ignore_index is not None:
        keep &= truth != ignore_index
    codes = truth[keep].astype(np.int64) * c + pred[keep].astype(np.int64)
    return np.bincount(codes, minlength=c * c).reshape(c, c).astype(np.int64)


def scores(cm, class_names=None):
    """Summarise a confusion matrix with the FCN paper's metrics plus Dice.

    With ``n_ij`` the pixels of true class i predicted as j and ``t_i = sum_j n_ij`` the
    pixels of class i (Long, Shelhamer & Darrell 2015, "Fully Convolutional Networks for
    Semantic Segmentation", section 5):

    - pixel accuracy      ``sum_i n_ii / sum_i t_i``
    - mean class accuracy ``mean_i n_ii / t_i``
    - mean IoU            ``mean_i n_ii / (t_i + sum_j n_ji - n_ii)``
    - frequency-weighted IoU ``(sum_k t_k)^-1 sum_i t_i n_ii / (t_i + sum_j n_ji - n_ii)``
    - Dice (F1)           ``mean_i 2 n_ii / (t_i + sum_j n_ji)``

    A class's accuracy is undefined (None) when it is absent from the truth (``t_i = 0``);
    its IoU and Dice are undefined when it is absent from both truth and prediction.
    Each mean is over the classes where that metric is defined, so a class that is only
    predicted (all false positives) counts in mIoU and Dice with 0 but not in class accuracy.
    Classes absent from both are listed in ``undefined`` and left out of every mean.

    Args:
        cm: (C, C) non-negative integer confusion matrix, rows = truth, columns = prediction.
        class_names: optional C distinct names; defaults to "0", "1", ...

    Returns:
        dict with ``pixel_accuracy``, ``mean_class_accuracy``, ``miou``, ``fwiou``, ``dice``
        (floats, or None when nothing defines them, e.g. an empty matrix), ``per_class``
        (name -> {"iou", "accuracy", "dice", "support"}; support = true pixel count),
        ``undefined`` (list of names) and ``n_pixels`` (int).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.integer) or (cm < 0).any():
        raise ValueError("cm must hold non-negative integer pixel counts")
    c = cm.shape[0]
    names = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    if len(names) != c or len(set(names)) != c:
        raise ValueError(f"class_names must be {c} distinct names, got {class_names!r}")

    cm = cm.astype(np.int64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)  # t_i
    predicted = cm.sum(axis=0)  # sum_j n_ji
    union = support + predicted - tp
    n = int(cm.sum())

    accuracy = [_ratio(tp[i], support[i]) for i in range(c)]
    iou = [_ratio(tp[i], union[i]) for i in range(c)]
    dice = [_ratio(2 * tp[i], support[i] + predicted[i]) for i in range(c)]
    defined = [i for i in range(c) if iou[i] is not None]
    return {
        "pixel_accuracy": _ratio(tp.sum(), n),
        "mean_class_accuracy": _mean(accuracy),
        "miou": _mean(iou),
        "fwiou": _ratio(sum(support[i] * iou[i] for i in defined), support[defined].sum()),
        "dice": _mean(dice),
        "per_class": {
            names[i]: {"iou": iou[i], "accuracy": accuracy[i], "dice": dice[i],
                       "support": int(support[i])}
            for i in range(c)
        },
        "undefined": [names[i] for i in range(c) if iou[i] is None],
        "n_pixels": n,
    }


def mistaken_for(cm, class_names=None):
    """Per true class, the class it was most often predicted as instead.

    Args:
        cm: (C, C) confusion matrix, rows = truth, columns = prediction (``confusion_matrix``).
        class_names: optional C names; defaults to "0", "1", ...

    Returns:
        dict name -> ``{"as": name of the most frequent wrong prediction, "share": its pixels /
        the class's true pixels}``, or None when the class is absent from the truth or never
        mistaken. Ties go to the lower index.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"cm must be a square (C, C) matrix, got shape {cm.shape}")
    c = cm.shape[0]
    names = [str(i) for i in range(c)] if class_names is None else [str(n) for n in class_names]
    if len(names) != c:
        raise ValueError(f"class_names must be {c} names, got {class_names!r}")
    wrong = cm.astype(np.int64) * (1 - np.eye(c, dtype=np.int64))  # (C, C), diagonal cleared
    worst = wrong.argmax(axis=1)  # first maximum: the lower index on ties
    support = cm.sum(axis=1)
    return {names[i]: ({"as": names[worst[i]], "share": float(wrong[i, worst[i]] / support[i])}
                       if wrong[i, worst[i]] else None)
            for i in range(c)}


def confidence_reference(frame_means):
    """Summarise a model's mean confidence over its own validation frames.

    Args:
        frame_means: one value per frame, the mean over its pixels of the max softmax probability.

    Returns:
        ``{"frames", "mean", "p05", "min"}`` (p05: the 5th percentile, linearly interpolated),
        or None for no frames.
    """
    values = np.asarray(frame_means, np.float64).ravel()
    if values.size == 0:
        return None
    return {"frames": int(values.size), "mean": float(values.mean()),
            "p05": float(np.percentile(values, 5)), "min": float(values.min())}


def low_confidence(mean, reference):
    """Whether a photo's mean confidence is low for this model: below 19 in 20 of its validation frames.

    The threshold is the reference's 5th percentile of per-frame means rather than a margin
    under their mean: it adapts to how spread a model's confidence is, and by construction the
    hint appears on only 1 frame in 20 like those the model was validated on.

    Args:
        mean: the photo's mean max softmax probability (e.g. ``Segmentation.confidence.mean()``).
        reference: ``confidence_reference`` output (the manifest's), or None.

    Returns:
        True when ``mean < reference["p05"]``; False without a reference.
    """
    return bool(reference) and float(mean) < reference["p05"]


def format_scores(s):
    """Render ``scores`` output as a plain-text table for the command line.

    Args:
        s: dict returned by ``scores``.

    Returns:
        Multi-line string: the summary metrics, then one row per class (IoU, accuracy, Dice,
        support); undefined values print as "-".
    """
    summary = [
        ("pixel accuracy", s["pixel_accuracy"]),
        ("mean class accuracy", s["mean_class_accuracy"]),
        ("mean IoU", s["miou"]),
        ("frequency-weighted IoU", s["fwiou"]),
        ("mean Dice", s["dice"]),
    ]
    lines = [f"{label:<24}{format_score(value)}" for label, value in summary]
    lines.append(f"{'pixels':<24}{s['n_pixels']}")
    width = max([5] + [len(name) for name in s["per_class"]])
    lines.append("")
    lines.append(f"{'class':<{width}}  {'IoU':>7}  {'acc':>7}  {'Dice':>7}  {'support':>9}")
    for name, m in s["per_class"].items():
        lines.append(
            f"{name:<{width}}  {format_score(m['iou']):>7}  {format_score(m['accuracy']):>7}  "
            f"{format_score(m['dice']):>7}  {m['support']:>9}"
        )
    if s["undefined"]:
        lines.append("")
        lines.append("absent from truth and prediction (left out of means): "
                     + ", ".join(s["undefined"]))
    return "\n".join(lines)


def _ratio(num, den):
    """num / den as a float, or None when den is 0."""
    return float(num) / float(den) if den else None


def _mean(values):
    """Mean of the values that are not None, or None if there are none."""
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def format_score(value, digits=4):
    """A score as text: the one formatter of the CLI, the app and format_scores.

    Args:
        value: a float, or None when the score is undefined.
        digits: decimals shown.

    Returns:
        '0.1234' (digits decimals), or '-' when value is None.
    """
    return "-" if value is None else f"{value:.{digits}f}"
