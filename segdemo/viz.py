"""Pure-numpy visualisation of label maps: palette, colorize, overlay, legend, binary maps, sticker.

Also what the UI needs to show what the network sees: a palette whose hues keep touching
classes apart (``class_palette``), an error map against the truth, the probabilities at one
pixel, and the automatic sticker class.

Data flows ``labels -> colorize(labels, palette) -> overlay(image, color)``. Images are
HxWx3 uint8 RGB, label maps are HxW integer class indices, probability maps are HxWxC.
Nothing here imports gradio or tensorflow; PNG is the only output format, so colours stay exact.
"""

import functools
import html
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from .arrays import as_label_map, as_mask, as_palette, as_probs, as_rgb, present_classes
from .atomic import atomic_write
from .palette import hls_palette  # noqa: F401 (viz.hls_palette, as before)

HEATMAP_CMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray")
# Error map classes and colours (Okabe-Ito blue and vermillion, which colour-blind readers tell apart).
ERROR_CLASSES = ("correct", "wrong", "void (not scored)")
ERROR_PALETTE = np.array([[0, 114, 178], [213, 94, 0], [160, 160, 160]], np.uint8)


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
    lut, index = _color_lookup(labels, palette, ignore_index, ignore_color)
    return lut[index]


def palette_image(labels, palette, ignore_index=None, ignore_color=(0, 0, 0)):
    """``colorize`` as a PIL palette ("P") image: the same exact colours, a third of the bytes to encode as PNG.

    Args:
        labels, palette, ignore_index, ignore_color: as for ``colorize``.

    Returns:
        PIL.Image in mode "P" (mode "RGB" for a palette of more than 255 colours).
    """
    lut, index = _color_lookup(labels, palette, ignore_index, ignore_color)
    if len(lut) > 256:
        return Image.fromarray(lut[index])
    image = Image.fromarray(index.astype(np.uint8), "P")
    image.putpalette(lut.tobytes())
    return image


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
    image = as_rgb(image)
    color = as_rgb(color)
    if color.shape != image.shape:
        raise ValueError(f"color shape {color.shape} does not match image shape {image.shape}")
    blend = np.round((1.0 - alpha) * image + alpha * color.astype(np.float64)).astype(np.uint8)
    if mask is None:
        return blend
    mask = as_mask(mask, image.shape[:2])
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
    palette = as_palette(palette)
    if len(palette) < len(class_names):
        raise ValueError(f"palette has {len(palette)} colours for {len(class_names)} classes")
    return [
        {"index": i, "name": class_names[i], "color": _hex(palette[i]), "share": share}
        for i, share in present_classes(labels, len(class_names))
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
    labels = as_label_map(labels)
    return [
        {"index": i, "name": class_names[i], "share": share,
         "mask": np.where(labels == i, 255, 0).astype(np.uint8)}
        for i, share in present_classes(labels, len(class_names))
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
    truth, pred = as_label_map(truth), as_label_map(pred)
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
    probs = as_probs(probs)
    palette = as_palette(palette)
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
    return as_probs(probs).max(axis=-1).astype(np.float32)


def entropy(probs):
    """Per-pixel uncertainty as normalised entropy.

    Args:
        probs: HxWxC softmax probabilities (0 * log 0 is taken as 0).

    Returns:
        HxW float32 ``-sum(p log p) / log(C)`` in [0, 1]: 0 = one class has all the mass,
        1 = uniform. All zeros when C == 1.
    """
    probs = as_probs(probs).astype(np.float64)
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
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be HxW, got shape {values.shape}")
    t = np.nan_to_num((values.astype(np.float32) - vmin) * (255 / (vmax - vmin)), nan=0.0)  # NaN -> vmin
    return _colormap_lut(cmap)[np.rint(np.clip(t, 0, 255)).astype(np.uint8)]


def save_png(path, array):
    """Write an array as a lossless PNG, atomically.

    The image is written to a temporary file in the destination directory, flushed to disk and
    moved into place with ``os.replace`` (atomic.atomic_write), so readers never see a half-written file.

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
    return atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))


def _color_lookup(labels, palette, ignore_index, ignore_color):
    """((N + 1, 3) uint8 colours, HxW indices into them) for colorize: row N paints void and unknown labels."""
    labels = as_label_map(labels)
    palette = as_palette(palette)
    n = len(palette)
    lut = np.vstack([palette, np.asarray(ignore_color, np.uint8)[None]])
    if ignore_index is not None and 0 <= ignore_index < n:
        lut[ignore_index] = lut[n]
    return lut, np.where((labels >= 0) & (labels < n), labels, np.intp(n))  # one lookup, no boolean scatter


@functools.cache
def _colormap_lut(cmap):
    """(256, 3) uint8 lookup table of a matplotlib colour map."""
    table = matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(table * 255).astype(np.uint8)


def _hex(rgb):
    """'#rrggbb' of an RGB triple."""
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


