"""Pure-numpy visualisation of label maps: palette, colorize, overlay, legend, binary maps, sticker.

Data flows ``labels -> colorize(labels, palette) -> overlay(image, color)``. Images are
HxWx3 uint8 RGB, label maps are HxW integer class indices, probability maps are HxWxC.
Nothing here imports gradio or tensorflow; PNG is the only output format, so colours stay exact.
"""

import html
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image
from skimage.morphology import erosion, footprint_rectangle

from .atomic import atomic_write
from .palette import hls_palette  # noqa: F401 (viz.hls_palette, as before)

HEATMAP_CMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "gray")
CHECKER_LIGHT = 240  # grey levels of the transparency checkerboard
CHECKER_DARK = 204


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


def sticker(image, mask, border=5, light=248, margin=8, fit=None, name="mask"):
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


def _present_classes(labels, num_classes):
    """(index, share of all pixels) for classes 0..num_classes-1 present, largest first."""
    labels = _as_label_map(labels)
    flat = labels.ravel()
    flat = flat[(flat >= 0) & (flat < num_classes)].astype(np.intp)
    counts = np.bincount(flat, minlength=num_classes)
    order = sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
    return [(int(i), float(counts[i] / labels.size)) for i in order]


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
