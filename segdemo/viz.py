"""Pure-numpy visualisation of label maps: palette, colorize, overlay, legend, binary maps, sticker.

Also what the UI needs to show what the network sees: a palette whose hues keep touching
classes apart (``class_palette``), an error map against the truth, the probabilities at one
pixel, and the automatic sticker class.

Data flows ``labels -> colorize(labels, palette) -> overlay(image, color)``. Images are
HxWx3 uint8 RGB, label maps are HxW integer class indices, probability maps are HxWxC.
Nothing here imports gradio or tensorflow; PNG is the only output format, so colours stay exact.
"""

import html
import os
import uuid
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import seaborn as sns
from PIL import Image
from skimage.morphology import erosion, footprint_rectangle

from .data import CAMVID_CLASSES

HEATMAP_CMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray")
CHECKER_LIGHT = 240  # grey levels of the transparency checkerboard
CHECKER_DARK = 204
# Hue slot (of the 11 in hls_palette(11)) of each CamVid class, in data.CAMVID_CLASSES order
# (Sky, Building, Pole, Road, Pavement, Tree, SignSymbol, Fence, Car, Pedestrian, Bicyclist).
# Measured with separated_order(adjacency(masks, 11)) over the 367 masks of
# ../shared/camvid/trainannot (void 11 ignored); an exhaustive search over all 10! orders with
# Sky at slot 0 finds the same order. Road/Pavement are 5 slots (164 deg) apart, Pedestrian/
# Bicyclist 4 (131 deg), Sky/Tree 5 (164 deg). tests/test_viz.py recomputes it when the data is there.
CAMVID_HUE_SLOTS = (0, 3, 7, 4, 10, 5, 9, 1, 8, 6, 2)
# Countable objects: the automatic sticker class is one of these when any is present.
THING_CLASSES = ("Car", "Pedestrian", "Bicyclist", "SignSymbol", "Pole")
# Error map classes and colours (Okabe-Ito blue and vermillion, which colour-blind readers tell apart).
ERROR_CLASSES = ("correct", "wrong", "void (not scored)")
ERROR_PALETTE = np.array([[0, 114, 178], [213, 94, 0], [160, 160, 160]], np.uint8)


def hls_palette(n):
    """Evenly spaced HLS hues, one colour per class.

    Args:
        n: number of colours, >= 1.

    Returns:
        (n, 3) uint8 array: ``seaborn.color_palette("hls", n)`` scaled to 0..255 and rounded.
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    return np.round(np.asarray(sns.color_palette("hls", int(n))) * 255).astype(np.uint8)


def class_palette(classes):
    """The palette of a model: hls hues given to classes so that neighbours differ.

    Every palette in segdemo comes from here (training writes it into the manifest). CamVid's
    classes get CAMVID_HUE_SLOTS, measured on its training masks; any other class list steps
    through the hues with a fixed stride near n / golden ratio, coprime with n, so that
    consecutive classes (often related, e.g. "road" and "pavement") land far apart.

    Args:
        classes: the class names in index order (a count n >= 1 is also accepted).

    Returns:
        (n, 3) uint8: ``hls_palette(n)`` reordered, class i getting hue slot ``hue_slots(...)[i]``.
    """
    slots = hue_slots(classes)
    return hls_palette(len(slots))[list(slots)]


def hue_slots(classes):
    """Which of the n evenly spaced hls hues each class gets.

    Args:
        classes: the class names in index order, or a count n >= 1.

    Returns:
        tuple of n distinct slots in 0..n-1: CAMVID_HUE_SLOTS for CamVid's 11 classes in their
        usual order, else ``(i * stride) % n`` with the stride of ``golden_stride(n)``.
    """
    names = None if isinstance(classes, (int, np.integer)) else tuple(classes)
    n = int(classes) if names is None else len(names)
    if n < 1:
        raise ValueError(f"need at least one class, got {classes!r}")
    if names == CAMVID_CLASSES:
        return CAMVID_HUE_SLOTS
    stride = golden_stride(n)
    return tuple(i * stride % n for i in range(n))


def golden_stride(n):
    """The stride through n hues nearest n / golden ratio that is coprime with n (0 for n = 1).

    Args:
        n: number of hues, >= 1.

    Returns:
        int in 0..n-1; ties between two coprime candidates go to the smaller one.
    """
    if n == 1:
        return 0
    target = n / ((1 + 5 ** 0.5) / 2)
    candidates = [k for k in range(1, n) if np.gcd(k, n) == 1]
    return min(candidates, key=lambda k: (abs(k - target), k))


def adjacency(masks, num_classes):
    """How often each pair of classes touches: 4-neighbour pixel pairs with different classes.

    Args:
        masks: iterable of HxW integer label maps; labels outside 0..num_classes-1 (void) are
            ignored, and so are the pixel pairs they take part in.
        num_classes: C >= 1.

    Returns:
        (C, C) int64 symmetric matrix with a zero diagonal: ``A[i, j]`` = number of horizontally
        or vertically adjacent pixel pairs where one pixel is class i and the other class j.
    """
    c = int(num_classes)
    if c != num_classes or c < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    counts = np.zeros(c * c, np.int64)
    for mask in masks:
        mask = _as_label_map(mask).astype(np.int64)
        for a, b in ((mask[:, :-1], mask[:, 1:]), (mask[:-1], mask[1:])):  # left-right, up-down pairs
            keep = (a != b) & (a >= 0) & (a < c) & (b >= 0) & (b < c)
            counts += np.bincount(a[keep] * c + b[keep], minlength=c * c)
    pairs = counts.reshape(c, c)
    return pairs + pairs.T


def separated_order(adjacency, restarts=20, seed=0):
    """Hue slots that put classes which touch often far apart on the hue circle.

    Minimises ``sum_{i<j} A[i, j] / d(i, j)``, with d the circular distance between the two
    classes' slots (1..n//2): every boundary pixel between two classes costs the inverse of
    how far apart their hues are. Search: steepest pairwise swaps from ``restarts`` random
    orders (numpy generator ``seed``), the best kept. The result is made canonical (class 0 at
    slot 0, and class 1 on the first half of the circle) since turning or mirroring the circle
    does not change the cost.

    Args:
        adjacency: (n, n) non-negative symmetric matrix, e.g. from ``adjacency``.
        restarts: number of random starting orders, >= 1.
        seed: seed of the random starting orders.

    Returns:
        tuple of n distinct hue slots, class i getting slot ``result[i]``.
    """
    weights = np.asarray(adjacency, np.float64)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or (weights < 0).any():
        raise ValueError(f"adjacency must be a non-negative (n, n) matrix, got shape {weights.shape}")
    if int(restarts) != restarts or restarts < 1:
        raise ValueError(f"restarts must be an integer >= 1, got {restarts!r}")
    n = len(weights)
    if n < 3:
        return tuple(range(n))  # every order is as good
    weights = _pair_weights(weights)
    rng = np.random.default_rng(seed)
    best, best_cost = None, np.inf
    for _ in range(int(restarts)):
        slots, cost = _descend(weights, rng.permutation(n))
        if cost < best_cost - 1e-9:
            best, best_cost = slots, cost
    return _canonical(best)


def separation_cost(adjacency, slots):
    """``sum_{i<j} A[i, j] / d(i, j)`` of the objective of ``separated_order``.

    Args:
        adjacency: (n, n) non-negative matrix; a one-sided count is symmetrised (A + A.T) / 2.
        slots: n distinct hue slots, class i at ``slots[i]``.

    Returns:
        float, lower is better.
    """
    weights, slots = np.asarray(adjacency, np.float64), np.asarray(slots)
    if weights.shape != (len(slots), len(slots)) or sorted(slots.tolist()) != list(range(len(slots))):
        raise ValueError(f"slots must order 0..n-1 for an (n, n) adjacency, got {slots.tolist()} "
                         f"for shape {weights.shape}")
    return _cost(_pair_weights(weights), slots)


def _pair_weights(weights):
    """Upper triangle of the symmetrised matrix (A + A.T) / 2: each pair once."""
    return np.triu(weights + weights.T, 1) / 2


def _cost(upper, slots):
    """Objective of separated_order for an upper-triangular weight matrix."""
    n = len(slots)
    d = np.abs(slots[:, None] - slots[None, :])
    d = np.minimum(d, n - d)
    return float((upper / np.maximum(d, 1)).sum())


def _descend(upper, slots):
    """Steepest descent over pairwise swaps of slots: (local optimum, its cost)."""
    n = len(slots)
    cost = _cost(upper, slots)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    while True:
        trials = []
        for i, j in pairs:
            trial = slots.copy()
            trial[[i, j]] = trial[[j, i]]
            trials.append((_cost(upper, trial), trial))
        best_cost, best = min(trials, key=lambda t: t[0])
        if best_cost >= cost - 1e-9:
            return slots, cost
        slots, cost = best, best_cost


def _canonical(slots):
    """Turn the circle so class 0 is at slot 0, and mirror it if class 1 is past the half."""
    n = len(slots)
    slots = (np.asarray(slots) - slots[0]) % n
    if slots[1] > n - slots[1]:
        slots = (n - slots) % n
    return tuple(int(s) for s in slots)


def colorize(labels, palette, ignore_index=None, ignore_color=(0, 0, 0)):
    """Paint each pixel of a label map with its class colour.

    Args:
        labels: HxW integer class indices.
        palette: (N, 3) uint8 colours; class i gets ``palette[i]``.
        ignore_index: optional label (e.g. 255 for void) painted with ``ignore_color``.
        ignore_color: RGB colour for ``ignore_index`` and for labels outside 0..N-1.

    Returns:
        HxWx3 uint8 RGB image.
    """
    labels = _as_label_map(labels)
    palette = _as_palette(palette)
    known = (labels >= 0) & (labels < len(palette))
    if ignore_index is not None:
        known &= labels != ignore_index
    out = np.empty(labels.shape + (3,), np.uint8)
    out[...] = np.asarray(ignore_color, np.uint8)
    out[known] = palette[labels[known]]
    return out


def overlay(image, color, alpha=0.5, mask=None):
    """Alpha-blend a colour image (e.g. from ``colorize``) over a photo.

    Args:
        image: HxWx3 uint8 RGB (an HxW grey image is expanded to RGB).
        color: HxWx3 uint8 RGB of the same height and width.
        alpha: weight of ``color``, in [0, 1]; 0 returns the image, 1 returns the colour.
        mask: optional HxW bool; where False the image is left untouched.

    Returns:
        HxWx3 uint8 ``round((1 - alpha) * image + alpha * color)`` (inside ``mask``).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    image = _as_rgb(image)
    color = _as_rgb(color)
    if color.shape != image.shape:
        raise ValueError(f"color shape {color.shape} does not match image shape {image.shape}")
    blend = np.round((1.0 - alpha) * image + alpha * color.astype(np.float64)).astype(np.uint8)
    if mask is None:
        return blend
    mask = _as_mask(mask, image.shape[:2])
    return np.where(mask[..., None], blend, image)


def legend(labels, class_names, palette):
    """Describe the classes present in a label map, most frequent first.

    Args:
        labels: HxW integer class indices; values outside 0..len(class_names)-1 (void) are
            not listed but still count in the denominator of ``share``.
        class_names: one name per class index.
        palette: (N, 3) uint8 colours, N >= len(class_names).

    Returns:
        list of ``{"index", "name", "color" ('#rrggbb'), "share" (fraction of all pixels)}``
        sorted by share descending, ties by index.
    """
    palette = _as_palette(palette)
    if len(palette) < len(class_names):
        raise ValueError(f"palette has {len(palette)} colours for {len(class_names)} classes")
    return [
        {"index": i, "name": class_names[i], "color": _hex(palette[i]), "share": share}
        for i, share in _present_classes(labels, len(class_names))
    ]


def legend_html(entries):
    """Render ``legend`` entries as a small HTML list for the UI.

    Args:
        entries: output of ``legend``.

    Returns:
        HTML string with a colour swatch, the (escaped) name and the percentage per class.
        Inline styles only; text inherits the page colour so it reads on light and dark themes,
        and swatches have a mid-grey outline so white or black classes stay visible.
    """
    if not entries:
        return '<div class="segdemo-legend" style="opacity:0.7"><em>no classes found</em></div>'
    rows = []
    for e in entries:
        swatch = (
            f'<span style="display:inline-block;width:1em;height:1em;margin-right:0.5em;'
            f"vertical-align:-0.15em;border:1px solid rgba(128,128,128,0.8);border-radius:2px;"
            f'background:{e["color"]}"></span>'
        )
        rows.append(
            f'<div style="display:flex;align-items:center;gap:0.25em;color:inherit">{swatch}'
            f'<span style="flex:1">{html.escape(str(e["name"]))}</span>'
            f'<span style="font-variant-numeric:tabular-nums">{100 * e["share"]:.1f}%</span></div>'
        )
    return '<div class="segdemo-legend" style="line-height:1.6">' + "".join(rows) + "</div>"


def binary_maps(labels, class_names):
    """One black-and-white mask per class present, largest first.

    Args:
        labels: HxW integer class indices; out-of-range labels (void) belong to no class.
        class_names: one name per class index.

    Returns:
        list of ``{"index", "name", "share", "mask"}``; ``mask`` is HxW uint8, 255 on the class
        and 0 elsewhere; ``share`` is the class's fraction of all pixels.
    """
    labels = _as_label_map(labels)
    return [
        {"index": i, "name": class_names[i], "share": share,
         "mask": np.where(labels == i, 255, 0).astype(np.uint8)}
        for i, share in _present_classes(labels, len(class_names))
    ]


def error_labels(truth, pred, num_classes, ignore_index=None):
    """Where a prediction agrees with the truth, as indices into ERROR_CLASSES.

    Args:
        truth: HxW integer class indices; ``ignore_index`` and labels outside
            0..num_classes-1 are void (not scored, as in metrics.confusion_matrix).
        pred: HxW integer predicted classes, same shape.
        num_classes: C >= 1.
        ignore_index: optional void label in ``truth`` (e.g. 11 for CamVid).

    Returns:
        HxW uint8: 0 correct, 1 wrong, 2 void. Paint it with ``colorize(e, ERROR_PALETTE)``
        and describe it with ``legend(e, ERROR_CLASSES, ERROR_PALETTE)``.
    """
    truth, pred = _as_label_map(truth), _as_label_map(pred)
    if truth.shape != pred.shape:
        raise ValueError(f"truth shape {truth.shape} does not match pred shape {pred.shape}")
    void = (truth < 0) | (truth >= num_classes)
    if ignore_index is not None:
        void |= truth == ignore_index
    return np.where(void, 2, np.where(truth == pred, 0, 1)).astype(np.uint8)


def error_map(truth, pred, num_classes, ignore_index=None):
    """The error map as a picture: correct, wrong and void pixels each in their ERROR_PALETTE colour.

    Args:
        truth, pred, num_classes, ignore_index: as for ``error_labels``.

    Returns:
        HxWx3 uint8 RGB.
    """
    return colorize(error_labels(truth, pred, num_classes, ignore_index), ERROR_PALETTE)


def pixel_probs(probs, y, x, class_names, palette):
    """The class probabilities at one pixel, for a bar chart (the pixel probe).

    Args:
        probs: HxWxC softmax probabilities (e.g. ``Segmentation.probs``; nothing is recomputed).
        y, x: row and column, 0 <= y < H, 0 <= x < W. (gradio's ``SelectData.index`` is [x, y].)
        class_names: C names.
        palette: (C, 3) uint8 class colours.

    Returns:
        list of C ``{"index", "name", "color" ('#rrggbb'), "probability" (float)}`` in class order.
    """
    probs = _as_probs(probs)
    palette = _as_palette(palette)
    h, w, c = probs.shape
    if len(class_names) != c or len(palette) < c:
        raise ValueError(f"probs have {c} classes, got {len(class_names)} names and {len(palette)} colours")
    if int(y) != y or int(x) != x or not (0 <= y < h and 0 <= x < w):
        raise ValueError(f"pixel (y={y!r}, x={x!r}) is outside the {h}x{w} image")
    values = probs[int(y), int(x)].astype(np.float64)
    return [{"index": i, "name": class_names[i], "color": _hex(palette[i]), "probability": float(values[i])}
            for i in range(c)]


def confidence(probs):
    """Per-pixel confidence of the predicted class.

    Args:
        probs: HxWxC softmax probabilities.

    Returns:
        HxW float32, the maximum probability over classes (1 = certain).
    """
    return _as_probs(probs).max(axis=-1).astype(np.float32)


def entropy(probs):
    """Per-pixel uncertainty as normalised entropy.

    Args:
        probs: HxWxC softmax probabilities (0 * log 0 is taken as 0).

    Returns:
        HxW float32 ``-sum(p log p) / log(C)`` in [0, 1]: 0 = one class has all the mass,
        1 = uniform. All zeros when C == 1.
    """
    probs = _as_probs(probs).astype(np.float64)
    c = probs.shape[-1]
    if c == 1:
        return np.zeros(probs.shape[:2], np.float32)
    safe = np.where(probs > 0, probs, 1.0)
    h = -(probs * np.log(safe)).sum(axis=-1) / np.log(c)
    return np.clip(h, 0.0, 1.0).astype(np.float32)


def heatmap(values, vmin=0.0, vmax=1.0, cmap="viridis"):
    """Colour-map a scalar map (e.g. ``confidence`` or ``entropy``).

    Args:
        values: HxW numbers; clipped to [vmin, vmax]; NaN maps like ``vmin``.
        vmin, vmax: value range mapped to the two ends of the colour map, vmin < vmax.
        cmap: one of ``HEATMAP_CMAPS`` (matplotlib colour maps).

    Returns:
        HxWx3 uint8 RGB.
    """
    if cmap not in HEATMAP_CMAPS:
        raise ValueError(f"cmap must be one of {HEATMAP_CMAPS}, got {cmap!r}")
    if not vmin < vmax:
        raise ValueError(f"vmin must be < vmax, got vmin={vmin!r}, vmax={vmax!r}")
    values = np.asarray(values, np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be HxW, got shape {values.shape}")
    t = np.nan_to_num((values - vmin) / (vmax - vmin), nan=0.0)
    index = np.round(np.clip(t, 0.0, 1.0) * 255).astype(np.intp)
    return _colormap_lut(cmap)[index]


def sticker_class(labels, class_names, prefer=THING_CLASSES):
    """The class a sticker starts with: the most whole object, not the most scattered fragments.

    Each class present scores the area of its largest connected region (8-connected), so one
    big car beats many small sign fragments whose total area is larger.

    Args:
        labels: HxW integer class indices (void outside 0..len(class_names)-1 is ignored).
        class_names: one name per class index.
        prefer: names of countable objects; when any is present, the best of them is chosen.

    Returns:
        class index: the best-scoring preferred class present; else the best-scoring class other
        than class 0 (by convention the background of binary masks); else 0 if present; None when
        no class is present. Ties go to the lower index.
    """
    labels = _as_label_map(labels)
    present = [i for i, _ in _present_classes(labels, len(class_names))]
    for pool in ([i for i in present if class_names[i] in prefer], [i for i in present if i != 0], present):
        if pool:
            return max(sorted(pool), key=lambda i: _largest_region(labels == i).sum())
    return None


def keep_region(mask, region, name="mask"):
    """Keep one connected region (8-connected) of a mask.

    Args:
        mask: HxW bool (or nonzero = inside).
        region: "largest" for the region with the most pixels (ties: the first in reading
            order), or a pixel (y, x) for the region under it (e.g. a clicked point).
        name: what the mask is, for the error message (e.g. the class name).

    Returns:
        HxW bool mask of that region only.

    Raises:
        ValueError: if the mask is empty, the pixel is outside the image or not on the mask,
            or ``region`` is neither.
    """
    mask = np.asarray(mask).astype(bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be HxW, got shape {mask.shape}")
    if not mask.any():
        raise ValueError(f"class {name!r} is not present in this image")
    if isinstance(region, str) and region == "largest":
        return _largest_region(mask)
    if not (isinstance(region, (tuple, list)) and len(region) == 2 and all(int(v) == v for v in region)):
        raise ValueError(f"region must be 'largest' or a pixel (y, x), got {region!r}")
    y, x = (int(v) for v in region)
    h, w = mask.shape
    if not (0 <= y < h and 0 <= x < w):
        raise ValueError(f"pixel (y={y}, x={x}) is outside the {h}x{w} image")
    if not mask[y, x]:
        raise ValueError(f"pixel (y={y}, x={x}) is not on {name!r}")
    _, components = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return components == components[y, x]


def sticker(image, mask, border=5, light=248, margin=8, fit=None, name="mask", region=None):
    """Cut one class out of a photo as a transparent sticker with a light outline.

    After the tf-image-segmentation "sticker" post: the outline is
    ``mask XOR erosion(mask, border x border square)``, so it lies inside the mask and is
    ``border // 2`` pixels thick (odd borders are symmetric; an even border makes it one pixel
    thicker on one side). The image edge does not erode the mask, so an object cut by the
    frame has no outline along the frame.

    Args:
        image: HxWx3 uint8 RGB (HxW grey is expanded to RGB).
        mask: HxW bool (or nonzero = inside), the class to cut out.
        border: side of the erosion square, int >= 0; 0 or 1 draws no outline.
        light: grey level 0..255 of the outline.
        margin: transparent pixels kept around the mask's bounding box (clipped to the image).
        fit: optional int >= 1; resize so the longer side equals ``fit`` (RGB by area/linear
            interpolation, alpha by nearest neighbour so it stays 0/255).
        name: what the mask is, for the error message (e.g. the class name).
        region: None for the whole mask, else only one connected region of it: "largest",
            or a pixel (y, x) for the region under it (see ``keep_region``).

    Returns:
        hxwx4 uint8 RGBA: the image inside the mask, outline pixels ``(light, light, light)``,
        alpha 255 on the mask and 0 (with RGB 0) elsewhere, cropped to the mask.

    Raises:
        ValueError: if the mask is empty ("class 'name' is not present in this image") or an
            argument is out of range.
    """
    image = _as_rgb(image)
    mask = _as_mask(mask, image.shape[:2])
    if int(border) != border or border < 0:
        raise ValueError(f"border must be an integer >= 0, got {border!r}")
    if int(light) != light or not 0 <= light <= 255:
        raise ValueError(f"light must be an integer in 0..255, got {light!r}")
    if int(margin) != margin or margin < 0:
        raise ValueError(f"margin must be an integer >= 0, got {margin!r}")
    if fit is not None and (int(fit) != fit or fit < 1):
        raise ValueError(f"fit must be None or an integer >= 1, got {fit!r}")
    if not mask.any():
        raise ValueError(f"class {name!r} is not present in this image")
    if region is not None:
        mask = keep_region(mask, region, name)
    contour = _contour(mask, int(border))
    rgb = np.where(mask[..., None], image, 0).astype(np.uint8)
    rgb[contour] = light
    rgba = np.dstack([rgb, np.where(mask, 255, 0).astype(np.uint8)])  # (H, W, 4)
    y0, y1, x0, x1 = _crop_box(mask, int(margin))
    rgba = rgba[y0:y1, x0:x1]
    if fit is None:
        return rgba
    # Before interpolating, fill the transparent area with the outline grey (or the photo
    # when there is no outline) so edges get no dark fringe; _resize_rgba clears it again.
    fill = light if contour.any() else image
    source = np.where(mask[..., None], rgb, fill)[y0:y1, x0:x1]
    return _resize_rgba(source.astype(np.uint8), rgba[..., 3], int(fit))


def checkerboard(rgba, cell=16):
    """Composite an RGBA image over a light-grey checkerboard to show its transparency.

    Args:
        rgba: HxWx4 uint8.
        cell: checker square size in pixels, >= 1; the top-left square is the lighter grey.

    Returns:
        HxWx3 uint8 ``round((a * rgb + (255 - a) * board) / 255)``.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba.dtype != np.uint8:
        raise ValueError(f"rgba must be HxWx4 uint8, got shape {rgba.shape} {rgba.dtype}")
    if int(cell) != cell or cell < 1:
        raise ValueError(f"cell must be an integer >= 1, got {cell!r}")
    h, w = rgba.shape[:2]
    ys, xs = np.indices((h, w))
    board = np.where((ys // cell + xs // cell) % 2 == 0, CHECKER_LIGHT, CHECKER_DARK)
    a = rgba[..., 3:].astype(np.float64)
    out = (a * rgba[..., :3] + (255.0 - a) * board[..., None]) / 255.0
    return np.round(out).astype(np.uint8)


def save_png(path, array):
    """Write an array as a lossless PNG, atomically.

    The image is written to a temporary file in the destination directory and moved into
    place with ``os.replace``, so readers never see a half-written file.

    Args:
        path: destination; must end in ``.png`` (any case).
        array: uint8, HxW (8-bit grey, e.g. class indices), HxWx3 (RGB) or HxWx4 (RGBA).

    Returns:
        ``pathlib.Path`` of the written file.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"only .png is supported (lossless, exact colours), got {path.name!r}")
    array = np.asarray(array)
    layout_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.dtype != np.uint8 or not layout_ok:
        raise ValueError(
            f"array must be uint8 HxW, HxWx3 or HxWx4, got shape {array.shape} {array.dtype}"
        )
    picture = Image.fromarray(np.ascontiguousarray(array))  # mode L, RGB or RGBA
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "xb") as f:
            picture.save(f, format="PNG")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _present_classes(labels, num_classes):
    """(index, share of all pixels) for classes 0..num_classes-1 present, largest first."""
    labels = _as_label_map(labels)
    flat = labels.ravel()
    flat = flat[(flat >= 0) & (flat < num_classes)].astype(np.intp)
    counts = np.bincount(flat, minlength=num_classes)
    order = sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
    return [(int(i), float(counts[i] / labels.size)) for i in order]


def _largest_region(mask):
    """The 8-connected region of a bool mask with the most pixels (all False if the mask is empty)."""
    count, components, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count < 2:
        return np.zeros(mask.shape, bool)
    return components == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))  # label 0 is the background


def _contour(mask, border):
    """Outline pixels: mask minus its erosion by a border x border square (none if border <= 1)."""
    if border <= 1:
        return np.zeros_like(mask)
    eroded = erosion(mask.astype(np.uint8), footprint_rectangle((border, border)), mode="ignore")
    return mask & ~eroded.astype(bool)


def _crop_box(mask, margin):
    """(y0, y1, x0, x1) of the mask's bounding box grown by margin, clipped to the image."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (max(0, rows[0] - margin), min(h, rows[-1] + 1 + margin),
            max(0, cols[0] - margin), min(w, cols[-1] + 1 + margin))


def _resize_rgba(rgb, alpha, fit):
    """Resize so the longer side is fit: RGB smoothly, alpha nearest; RGB 0 where transparent."""
    h, w = alpha.shape
    scale = fit / max(h, w)
    size = (fit, max(1, round(h * scale))) if w >= h else (max(1, round(w * scale)), fit)  # (W, H)
    smooth = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    rgb = cv2.resize(rgb, size, interpolation=smooth)
    alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_NEAREST)
    rgb[alpha == 0] = 0
    return np.dstack([rgb, alpha])


def _colormap_lut(cmap):
    """(256, 3) uint8 lookup table of a matplotlib colour map."""
    table = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(table * 255).astype(np.uint8)


def _hex(rgb):
    """'#rrggbb' of an RGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


def _as_label_map(labels):
    """Validate an HxW integer label map."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be an HxW integer array, got shape {labels.shape} {labels.dtype}"
        )
    return labels


def _as_palette(palette):
    """Validate an (N, 3) uint8 palette."""
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) == 0:
        raise ValueError(f"palette must be (N, 3), got shape {palette.shape}")
    return palette.astype(np.uint8)


def _as_rgb(image):
    """Validate an HxWx3 uint8 image, expanding HxW grey to RGB."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got shape {image.shape} {image.dtype}")
    return image


def _as_mask(mask, shape):
    """Validate an HxW mask of the given shape and return it as bool."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} does not match image shape {tuple(shape)}")
    return mask.astype(bool)


def _as_probs(probs):
    """Validate an HxWxC probability map."""
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[2] < 1:
        raise ValueError(f"probs must be HxWxC, got shape {probs.shape}")
    return probs
