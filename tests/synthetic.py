"""Tiny synthetic image/mask folders for tests: bright rectangles (class 1) and dark discs (class 2) on grey."""
from pathlib import Path

import numpy as np
from PIL import Image


def scene(rng, size=(64, 80)):
    """One (image HxWx3 uint8, mask HxW uint8) pair with classes 0 (background), 1 and 2."""
    h, w = size
    image = np.full((h, w, 3), 110, np.uint8) + rng.integers(0, 20, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
    mask[y:y + h // 3, x:x + w // 3] = 1
    cy, cx, r = rng.integers(h // 4, 3 * h // 4), rng.integers(w // 4, 3 * w // 4), h // 6
    yy, xx = np.mgrid[:h, :w]
    mask[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 2
    image[mask == 1] = (230, 200, 40)
    image[mask == 2] = (30, 40, 160)
    return image, mask


def write_folder(root, n=8, size=(64, 80), binary=False, grayscale=False, seed=0):
    """Write n pairs to root/images and root/masks; binary: masks 0/255 of class 1 only.

    Returns:
        (images dir, masks dir)
    """
    rng = np.random.default_rng(seed)
    images, masks = Path(root) / "images", Path(root) / "masks"
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, mask = scene(rng, size)
        if binary:
            mask = np.where(mask == 1, 255, 0).astype(np.uint8)
        pil = Image.fromarray(image).convert("L") if grayscale else Image.fromarray(image)
        pil.save(images / f"frame_{i:03d}.png")
        Image.fromarray(mask).save(masks / f"frame_{i:03d}.png")
    return images, masks
