"""Before Start: a training setup's pitfalls in words a student understands, and the crop that fits the images.

Keras-free, so the app and the CLI can call it while they are still collecting options.
"""
STRIDE = 32  # crops are multiples of the models' stride (data.STRIDE)
AUTO_CROP_MAX = 256  # the automatic crop: the images' short side, at most this, in multiples of STRIDE
MIN_VAL_IMAGES = 2
RARE_SHARE = 0.001  # a class under 0.1% of the labelled pixels is hard to learn
PICTURE_LIKE_LABELS = 64  # masks with more distinct values than this look like pictures
PART_OF_IMAGE = 0.5  # a crop under this share of an image's area shows a part of it (class_weighting)


def auto_crop(sizes, largest=AUTO_CROP_MAX):
    """The training crop for images of these sizes: the smallest short side, rounded down to STRIDE.

    Args:
        sizes: (width, height) pairs (a DatasetReport's `sizes`).
        largest: the crop's largest side.

    Returns:
        (h, w), multiples of STRIDE, at least STRIDE.
    """
    short = min((min(w, h) for w, h in sizes), default=largest)
    side = max(STRIDE, min(largest, short) // STRIDE * STRIDE)
    return side, side


def class_weighting(sizes, crop):
    """What class_weights "auto" means for a data set: "enet" when the training crop shows a part of each image
    (under PART_OF_IMAGE of the median image's area), else "none".

    Measured on the small data sets (README, "Small data sets"): where crops are a part of large images, a
    rare class is missing from most batches and ENet's weights made up for it (+0.06 and +0.29 test mIoU at
    3 minutes); where a crop is the whole image every batch holds every class, and the weights only made
    the model over-paint the rare ones (-0.05 and -0.01).

    Args:
        sizes: (width, height) pairs of the training images.
        crop: the training crop (h, w).

    Returns:
        "enet" or "none".
    """
    areas = sorted(w * h for w, h in sizes)
    if not areas:
        return "none"
    return "enet" if crop[0] * crop[1] < PART_OF_IMAGE * areas[len(areas) // 2] else "none"


def training_warnings(sizes, class_pixels, crop=None, val_split=0.0, n_val=None, class_names=None,
                      ignore_index=None):
    """What is likely to go wrong when training on this data set with these settings.

    Args:
        sizes: the (width, height) of every image (DatasetReport.sizes.elements(), say).
        class_pixels: label -> pixel count over the masks (as DatasetReport.class_pixels).
        crop: the training crop (h, w), or None for the automatic one.
        val_split: the share of the pairs held out at random to validate on (0: none).
        n_val: the number of validation images, when known (a holdout or a val folder).
        class_names: the class names given, if any.
        ignore_index: the void label, if any.

    Returns:
        list of one-sentence warnings, empty when nothing looks wrong.
    """
    warnings = []
    sizes = list(sizes)
    if crop and sizes:
        small = [(w, h) for w, h in sizes if h < crop[0] or w < crop[1]]
        if small:
            w, h = min(small, key=lambda s: s[0] * s[1])
            warnings.append(f"The training crop ({crop[0]}x{crop[1]}) is larger than some images (the smallest is "
                            f"{w}x{h}): the rest of each crop is padding the model learns nothing from. "
                            f"Choose a crop of at most {auto_crop(sizes, max(crop))[0]}, or 'auto'.")
    if n_val is None and val_split:
        n_val = max(1, round(len(sizes) * val_split))
    if (n_val is not None or val_split) and n_val < MIN_VAL_IMAGES:
        warnings.append(f"Only {n_val} image{'s' if n_val != 1 else ''} would be kept aside to check the model: "
                        f"its score would say little. Add images or raise the validation share to keep at least "
                        f"{MIN_VAL_IMAGES}.")
    labelled = {k: v for k, v in class_pixels.items() if k != ignore_index}
    total = sum(labelled.values())
    if len(labelled) == 1:
        (only,) = labelled
        warnings.append(f"Every labelled pixel is class {_name(only, class_names)}: with one class there is "
                        f"nothing to tell apart. Check that the masks mark the objects with their own value.")
    elif total and len(labelled) <= PICTURE_LIKE_LABELS:
        rare = [k for k, v in sorted(labelled.items()) if v / total < RARE_SHARE]
        if rare:
            shown = ", ".join(_name(k, class_names) for k in rare)
            warnings.append(f"Class{'es' if len(rare) > 1 else ''} {shown} cover{'' if len(rare) > 1 else 's'} less "
                            f"than {RARE_SHARE:.1%} of the pixels: the model will rarely predict "
                            f"{'them' if len(rare) > 1 else 'it'}. More examples, or class weights, help.")
    if len(labelled) > PICTURE_LIKE_LABELS:
        warnings.append(f"The masks hold {len(labelled)} different values: they look like pictures (photos, "
                        f"smoothed or JPEG-compressed masks) rather than class indices 0, 1, 2, ... "
                        f"Save each mask as PNG with one value per class.")
    return warnings


def _name(label, class_names):
    """'2 (Pole)' when names are known, else '2'."""
    if class_names and 0 <= label < len(class_names):
        return f"{label} ({class_names[label]})"
    return str(label)
