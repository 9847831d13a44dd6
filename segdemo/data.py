"""From image/mask folders to a tf.data pipeline: load, split, weigh classes, augment, batch."""
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol",
                  "Fence", "Car", "Pedestrian", "Bicyclist")
CAMVID_IGNORE = 11
PAD_LABEL = 255  # label of padding pixels when a data set has no void label
STRIDE = 32  # every model downsamples by 32: inputs are padded or cropped to multiples of it
CAMVID_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "camvid"  # beside the project



def parse_class_names(text):
    """Class names typed by a person: the one parser of the CLI and the app.

    Args:
        text: 'camvid' (any case) for CamVid's 11 classes, or names separated by commas or
            newlines; None or blank for none.

    Returns:
        tuple of names in label order; () when none are given.

    Raises:
        ValueError: when a name appears twice (labels would be ambiguous).
    """
    text = (text or "").strip()
    if text.lower() == "camvid":
        return CAMVID_CLASSES
    names = tuple(n.strip() for n in re.split(r"[,\n]", text) if n.strip())
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"Class names must be different from each other: {', '.join(repeated)} "
                         f"given more than once.")
    return names


@dataclass
class Augment:
    """Training-time augmentation: random scale and crop, flip, photometric jitter."""

    crop: tuple = (224, 224)  # (H, W), multiples of STRIDE
    scale: tuple = (0.75, 1.25)  # zoom range: 2.0 shows a region half the crop's size, enlarged
    flip: bool = True
    jitter: float = 0.1  # brightness/contrast/saturation amplitude; 0 disables
    hue: float = 0.0  # largest hue shift, as a fraction of the hue circle
    gamma: float = 0.0  # gamma drawn from exp(U(-g, g)): darker or brighter mid-tones, as at dusk


def load_folder(image_dir, mask_dir, num_classes=None, ignore_index=None, color_table=None):
    """Read every image/mask pair of two folders into memory.

    Args:
        image_dir, mask_dir: folders paired by file stem (see files.pair_folders).
        num_classes, ignore_index, color_table: passed to files.read_mask.

    Returns:
        (images, masks, report): lists of HxWx3 uint8 and HxW uint8 arrays, and the
        files.DatasetReport; raises files.InputError when the report has errors.
    """
    from . import files

    report = files.check_dataset(image_dir, mask_dir, num_classes=num_classes,
                                 ignore_index=ignore_index, color_table=color_table)
    if not report.ok:
        raise files.InputError(report.to_text())
    images, masks = files.load_pairs(report.pairs, num_classes=num_classes,
                                     ignore_index=ignore_index, color_table=color_table)
    return images, masks, report


def split(n, fraction, seed=0):
    """Shuffle range(n) with `seed` and split off `fraction` of it: (train indices, val indices)."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction!r}")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * fraction)))
    if n - n_val < 1:
        raise ValueError(f"{n} pairs are too few to split off a validation set")
    return sorted(order[n_val:]), sorted(order[:n_val])


def median_frequency_weights(masks, num_classes, ignore_index=None):
    """SegNet's class weights: median(freq) / freq(c), freq over images containing c (Eigen & Fergus 2015)."""
    pixels = np.zeros(num_classes, np.float64)
    image_pixels = np.zeros(num_classes, np.float64)
    for mask in masks:
        counts = np.bincount(mask.ravel(), minlength=max(num_classes, (ignore_index or 0) + 1))[:num_classes]
        pixels += counts
        image_pixels += (counts > 0) * counts.sum()
    freq = np.divide(pixels, image_pixels, out=np.zeros_like(pixels), where=image_pixels > 0)
    present = freq > 0
    weights = np.zeros(num_classes, np.float32)
    weights[present] = np.median(freq[present]) / freq[present]
    return weights


def class_weights(masks, num_classes, kind, ignore_index=None):
    """Per-class loss weights from the training masks.

    Args:
        masks: HxW integer label maps.
        num_classes: number of classes; other labels (void) are not counted.
        kind: "median-frequency" (SegNet: median(freq) / freq(c), freq over the images that
            contain c; Eigen & Fergus 2015) or "enet" (1 / ln(1.02 + p(c)); Paszke et al. 2016,
            scaled so that the average pixel weighs 1).
        ignore_index: the void label, if any (not counted).

    Returns:
        (num_classes,) float32 weights; 0 for a class absent from every mask.
    """
    if kind == "median-frequency":
        return median_frequency_weights(masks, num_classes, ignore_index)
    if kind != "enet":
        raise ValueError(f"class weights must be 'median-frequency' or 'enet', got {kind!r}")
    pixels = sum(np.bincount(m.ravel(), minlength=num_classes)[:num_classes] for m in masks).astype(np.float64)
    p = pixels / max(pixels.sum(), 1.0)
    weights = np.where(pixels > 0, 1.0 / np.log(1.02 + p), 0.0)
    return (weights / max((p * weights).sum(), 1e-12)).astype(np.float32)


def _augment_fn(aug, void):
    """The per-example augmentation as a tf function of (image, mask, stateless seed).

    The region to show is chosen first and only it is resized to the crop (one crop_and_resize
    per image and mask), so a wide scale range costs no more than a narrow one. Where the
    region reaches past the image, the mask is `void` (ignored by the loss).
    """
    import tensorflow as tf

    ch, cw = aug.crop
    crop = tf.constant([ch, cw], tf.float32)

    def fn(image, mask, rng):
        seeds = tf.random.experimental.stateless_split(rng, 9)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)  # (H, W)
        s = tf.random.stateless_uniform((), seeds[0], aug.scale[0], aug.scale[1])
        region = crop / s  # source pixels the crop shows, (h, w)
        # Top-left corner anywhere that keeps the region inside the image, or the image inside
        # the region when the region is larger; whole pixels, so scale 1 copies pixels exactly.
        lo, hi = tf.minimum(0.0, shape - region), tf.maximum(0.0, shape - region)
        corner = tf.floor(lo + tf.random.stateless_uniform((2,), seeds[1]) * (hi - lo + 1.0))
        corner = tf.minimum(corner, hi)
        last = corner + region * (crop - 1.0) / crop  # centre of the last sample
        scale = tf.maximum(shape - 1.0, 1.0)
        box = tf.concat([corner / scale, last / scale], 0)[None]  # (1, 4) y1, x1, y2, x2
        flip = tf.random.stateless_uniform((), seeds[2]) < 0.5 if aug.flip else tf.constant(False)
        image = tf.image.crop_and_resize(image[None], box, [0], (ch, cw))[0]
        mask = tf.image.crop_and_resize(mask[None, ..., None], box, [0], (ch, cw),
                                        method="nearest", extrapolation_value=float(void))[0, ..., 0]
        image = tf.where(flip, image[:, ::-1], image)
        mask = tf.cast(tf.where(flip, mask[:, ::-1], mask), tf.int32)
        image = _photometric(image / 255.0, aug, seeds[3:])
        return image * 255.0, mask

    return fn


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B in the brightness of a pixel
RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))  # Y, I, Q rows


def color_matrix(saturation, hue):
    """The 3x3 matrix M (rgb' = M @ rgb) that scales saturation and turns the hue, as tf float32.

    Both are linear in RGB, so one matrix product does them (no RGB <-> HSV round trip per pixel):
    saturation blends each pixel with its own gray (torchvision's adjust_saturation), and the hue
    turns around the gray axis of YIQ space, which keeps the brightness: by `hue` of a full circle
    there, about as far on HSV's hue circle (0.05 moves a red 20-26 degrees on it, HSV's 18).
    """
    import tensorflow as tf

    luma = tf.constant([LUMA] * 3, tf.float32)  # each row: the gray of the pixel
    blend = saturation * tf.eye(3) + (1.0 - saturation) * luma
    angle = -2.0 * np.pi * hue  # YIQ's angle runs against HSV's hue
    cos, sin = tf.cos(angle), tf.sin(angle)
    turn = tf.stack([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])  # about Y, in the I-Q plane
    to_yiq = tf.constant(RGB_TO_YIQ, tf.float32)
    return tf.linalg.inv(to_yiq) @ turn @ to_yiq @ blend


def _photometric(image, aug, seeds):
    """Brightness, contrast, saturation, hue and gamma on a 0..1 image (the amounts in `aug`; 0 skips one)."""
    import tensorflow as tf

    if aug.jitter:
        image = image + tf.random.stateless_uniform((), seeds[0], -aug.jitter, aug.jitter)  # brightness
        contrast = tf.random.stateless_uniform((), seeds[1], 1 - aug.jitter, 1 + aug.jitter)
        mean = tf.reduce_mean(image, axis=(0, 1))  # per channel, as tf.image.adjust_contrast
        image = (image - mean) * contrast + mean
    if aug.jitter or aug.hue:
        saturation = tf.random.stateless_uniform((), seeds[2], 1 - aug.jitter, 1 + aug.jitter)
        hue = tf.random.stateless_uniform((), seeds[3], -aug.hue, aug.hue) if aug.hue else tf.constant(0.0)
        image = tf.tensordot(image, tf.transpose(color_matrix(saturation, hue)), 1)  # (h, w, 3)
    if aug.gamma:
        gamma = tf.exp(tf.random.stateless_uniform((), seeds[4], -aug.gamma, aug.gamma))
        image = tf.clip_by_value(image, 0, 1) ** gamma
    return tf.clip_by_value(image, 0, 1)


def train_dataset(images, masks, batch_size, augment=None, ignore_index=PAD_LABEL, seed=0):
    """An endless, shuffled, augmented tf.data.Dataset of (B, h, w, 3) float32, (B, h, w) int32.

    Args:
        images, masks: lists of HxWx3 uint8 and HxW integer arrays (any sizes).
        batch_size: examples per batch.
        augment: an Augment (default: Augment()).
        ignore_index: label used for padding; ignored by the loss.
        seed: makes the order and the augmentation deterministic.
    """
    import tensorflow as tf

    augment = augment or Augment()
    if any(c % STRIDE for c in augment.crop):
        raise ValueError(f"crop must be multiples of {STRIDE}, got {augment.crop}")
    n = len(images)

    def gen():
        rng = np.random.default_rng(seed)
        while True:
            for i in rng.permutation(n):
                yield images[i], masks[i].astype(np.int32)

    ds = tf.data.Dataset.from_generator(gen, output_signature=(
        tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((None, None), tf.int32)))
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    augment_fn = _augment_fn(augment, ignore_index)
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda pair, rng: augment_fn(pair[0], pair[1], rng),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
