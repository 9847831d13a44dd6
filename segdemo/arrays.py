"""Checks of the arrays that viz and cutout take: label maps, palettes, RGB images, masks, probabilities."""
import numpy as np


def as_label_map(labels):
    """Validate an HxW integer label map."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be an HxW integer array, got shape {labels.shape} {labels.dtype}"
        )
    return labels


def as_palette(palette):
    """Validate an (N, 3) uint8 palette."""
    palette = np.asarray(palette)
    if palette.ndim != 2 or palette.shape[1] != 3 or len(palette) == 0:
        raise ValueError(f"palette must be (N, 3), got shape {palette.shape}")
    return palette.astype(np.uint8)


def as_rgb(image):
    """Validate an HxWx3 uint8 image, expanding HxW grey to RGB."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got shape {image.shape} {image.dtype}")
    return image


def as_mask(mask, shape):
    """Validate an HxW mask of the given shape and return it as bool."""
    mask = np.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} does not match image shape {tuple(shape)}")
    return mask.astype(bool)


def as_probs(probs):
    """Validate an HxWxC probability map."""
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[2] < 1:
        raise ValueError(f"probs must be HxWxC, got shape {probs.shape}")
    return probs


def present_classes(labels, num_classes):
    """(index, share of all pixels) for classes 0..num_classes-1 present, largest first."""
    labels = as_label_map(labels)
    flat = labels.ravel()
    flat = flat[(flat >= 0) & (flat < num_classes)].astype(np.intp)
    counts = np.bincount(flat, minlength=num_classes)
    order = sorted(np.flatnonzero(counts), key=lambda i: (-counts[i], i))
    return [(int(i), float(counts[i] / labels.size)) for i in order]
