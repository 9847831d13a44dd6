"""From image/mask folders to a tf.data pipeline: load, pad, augment, batch."""
from dataclasses import dataclass

import numpy as np

CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol",
                  "Fence", "Car", "Pedestrian", "Bicyclist")
CAMVID_IGNORE = 11
PAD_LABEL = 255  # label of padding pixels when a data set has no void label
STRIDE = 32  # every model downsamples by 32: inputs are padded or cropped to multiples of it


@dataclass
class Augment:
    """Training-time augmentation: random scale, random crop, flip, colour jitter."""

    crop: tuple = (224, 224)  # (H, W), multiples of STRIDE
    scale: tuple = (0.75, 1.25)
    flip: bool = True
    jitter: float = 0.1  # brightness/contrast/saturation amplitude; 0 disables


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


def pad_to_multiple(image, multiple=STRIDE):
    """Reflect-pad an (H, W, ...) array at the bottom and right to multiples of `multiple`."""
    h, w = image.shape[:2]
    ph, pw = -h % multiple, -w % multiple
    if not (ph or pw):
        return image
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad, mode="reflect" if ph < h and pw < w else "symmetric")


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


def _augment_fn(aug, ignore_index, seed):
    """The per-example augmentation as a tf function of (image, mask, stateless seed)."""
    import tensorflow as tf

    ch, cw = aug.crop

    def fn(image, mask, rng):
        seeds = tf.random.experimental.stateless_split(rng, 6)
        image = tf.cast(image, tf.float32)
        mask = tf.cast(mask[..., None], tf.int32)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        s = tf.random.stateless_uniform((), seeds[0], aug.scale[0], aug.scale[1])
        size = tf.cast(tf.round(shape * s), tf.int32)
        image = tf.image.resize(image, size, method="bilinear")
        mask = tf.image.resize(mask, size, method="nearest")
        # Pad (mask with the ignore index) when the scaled image is smaller than the crop.
        ph, pw = tf.maximum(ch - size[0], 0), tf.maximum(cw - size[1], 0)
        image = tf.pad(image, [[0, ph], [0, pw], [0, 0]])
        mask = tf.pad(mask - ignore_index, [[0, ph], [0, pw], [0, 0]]) + ignore_index
        both = tf.concat([image, tf.cast(mask, tf.float32)], axis=-1)
        both = tf.image.stateless_random_crop(both, (ch, cw, 4), seeds[1])
        if aug.flip:
            both = tf.image.stateless_random_flip_left_right(both, seeds[2])
        image, mask = both[..., :3], tf.cast(both[..., 3], tf.int32)
        if aug.jitter:
            image = tf.image.stateless_random_brightness(image, 255 * aug.jitter, seeds[3])
            image = tf.image.stateless_random_contrast(image, 1 - aug.jitter, 1 + aug.jitter, seeds[4])
            image = tf.image.stateless_random_saturation(image, 1 - aug.jitter, 1 + aug.jitter, seeds[5])
            image = tf.clip_by_value(image, 0, 255)
        return image, mask

    return fn


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
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda pair, rng: _augment_fn(augment, ignore_index, seed)(pair[0], pair[1], rng),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
