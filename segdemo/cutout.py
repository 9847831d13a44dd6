"""Stickers: one class cut out of a photo, with a light outline, on a transparent background.

After Daniil Pakhomov's tf-image-segmentation blog. `sticker_class` picks the class a sticker
starts with (the most whole object), `keep_region` one connected region of it, `sticker` cuts it
out as RGBA, `checkerboard` shows its transparency. Pure numpy, OpenCV and scikit-image; PNG only.
"""
import cv2
import numpy as np
from skimage.morphology import erosion, footprint_rectangle

from .arrays import as_label_map, as_mask, as_rgb, present_classes

CHECKER_LIGHT = 240  # grey levels of the transparency checkerboard
CHECKER_DARK = 204
# Countable objects: the automatic sticker class is one of these when any is present.
THING_CLASSES = ("Car", "Pedestrian", "Bicyclist", "SignSymbol", "Pole")


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
    labels = as_label_map(labels)
    present = [i for i, _ in present_classes(labels, len(class_names))]
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
    image = as_rgb(image)
    mask = as_mask(mask, image.shape[:2])
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
