"""Image/mask folders: pairing by file stem, checking every pair, loading them."""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np

from .images import IMAGE_SUFFIXES, MASK_SUFFIXES, MAX_PIXELS, _open_image, _oriented_size, read_image, read_mask
from .reports import DatasetReport, InputError, Pairing, _capped, _check_int, _fail, _first_few, _shown

JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})  # OS litter, compared lowercased
MAX_DESCEND = 3  # how many single-subfolder levels pair_folders walks down


def _is_junk(name: str) -> bool:
    """Hidden files, macOS resource forks and OS litter."""
    return name.startswith((".", "~$")) or name.lower() in JUNK_NAMES


def _scan(folder: Path, suffixes: frozenset) -> tuple[list[str], list[str], list[str]]:
    """One os.scandir pass: (candidate file names, subfolder names, ignored names)."""
    files, subdirs, ignored = [], [], []
    with os.scandir(folder) as entries:
        for entry in entries:
            if _is_junk(entry.name):
                ignored.append(entry.name)
            elif entry.is_dir():
                subdirs.append(entry.name)
            elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in suffixes:
                files.append(entry.name)
            else:
                ignored.append(entry.name)
    return files, subdirs, ignored


def _find_files(folder, suffixes: frozenset, what: str) -> tuple[Path, list[str], list[str]]:
    """Scan a folder, descending through lone subfolders; returns (folder, files, ignored)."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"{folder}: {what} folder not found", folder, f"{what} folder not found")
    if not folder.is_dir():
        raise InputError(f"{folder}: is a file, not a {what} folder", folder,
                         f"is a file, not a {what} folder")
    for _ in range(MAX_DESCEND + 1):
        files, subdirs, ignored = _scan(folder, suffixes)
        if files or len(subdirs) != 1:
            break
        folder = folder / subdirs[0]  # a zip or browser upload often wraps everything in one folder
    if not files:
        problem = (f"{what} folder is empty" if not (subdirs or ignored) else
                   f"no {what} files here (looked for {', '.join(sorted(suffixes))})")
        raise InputError(f"{folder}: {problem}", folder, problem)
    return folder, files, ignored


def _index_by_stem(folder: Path, names: list[str], pairing: Pairing) -> dict[str, str]:
    """Map casefolded stem -> name for unambiguous files; record duplicates and case clashes."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(os.path.splitext(name)[0].casefold(), []).append(name)
    index = {}
    for key, group in groups.items():
        if len(group) == 1:
            index[key] = group[0]
        elif len({n.casefold() for n in group}) < len(group):
            pairing.case_clashes += [_shown(folder / n) for n in sorted(group)]
        else:
            pairing.duplicates += [_shown(folder / n) for n in sorted(group)]
    return index


def pair_folders(image_dir, mask_dir) -> Pairing:
    """Pair images with masks by file stem (a.jpg <-> a.png), without decoding anything.

    Only the top level of each folder is read, except that a folder holding no image files and
    exactly one subfolder (as zips and browser uploads often do) is descended into. Images must
    have a suffix in IMAGE_SUFFIXES, masks one in MASK_SUFFIXES (JPEG masks are paired and then
    refused by read_mask with a clear message). Stems are compared case-insensitively; the same
    stem twice in one folder (a.png, a.jpg) and names differing only by case (A.png, a.png) are
    problems, listed and left unpaired. Hidden files and non-image files are listed as ignored.
    Fast for thousands of files (one os.scandir per folder).

    Args:
        image_dir: folder of images.
        mask_dir: folder of masks.

    Returns:
        Pairing with sorted pairs and the lists of unmatched, duplicate, clashing and ignored
        names.

    Raises:
        InputError: a folder is missing, is a file, is empty or holds no image files, or both
            arguments are the same folder.
    """
    image_dir, image_names, image_ignored = _find_files(image_dir, IMAGE_SUFFIXES, "image")
    mask_dir, mask_names, mask_ignored = _find_files(mask_dir, MASK_SUFFIXES, "mask")
    if image_dir.resolve() == mask_dir.resolve():
        problem = "images and masks are in the same folder: put masks in a folder of their own"
        raise InputError(f"{image_dir}: {problem}", image_dir, problem)
    pairing = Pairing(image_dir=image_dir, mask_dir=mask_dir)
    pairing.ignored = sorted(_shown(image_dir / n) for n in image_ignored) + sorted(
        _shown(mask_dir / n) for n in mask_ignored)
    images = _index_by_stem(image_dir, image_names, pairing)
    masks = _index_by_stem(mask_dir, mask_names, pairing)
    all_image_stems = {os.path.splitext(n)[0].casefold() for n in image_names}
    all_mask_stems = {os.path.splitext(n)[0].casefold() for n in mask_names}
    pairing.pairs = sorted(((image_dir / name, mask_dir / masks[key])
                            for key, name in images.items() if key in masks),
                           key=lambda pair: pair[0].name)
    pairing.images_without_mask = sorted(n for k, n in images.items() if k not in all_mask_stems)
    pairing.masks_without_image = sorted(n for k, n in masks.items() if k not in all_image_stems)
    return pairing


def check_dataset(image_dir, mask_dir, num_classes: int | None = None,
                  ignore_index: int | None = None, class_names: list[str] | None = None,
                  color_table: dict | None = None, max_files: int | None = None,
                  max_pixels: int = MAX_PIXELS) -> DatasetReport:
    """Check an image folder and a mask folder before training, and summarise what is in them.

    Pairs the folders (`pair_folders`), reads every image header (size after EXIF orientation,
    no pixel decoding) and every mask in full (`read_mask`), compares sizes and counts pixels
    per class. A bad file becomes one "file: problem" line in `errors` and the scan goes on.

    Args:
        image_dir: folder of images.
        mask_dir: folder of masks.
        num_classes: number of classes; defaults to len(class_names) when those are given.
        ignore_index: the void label (e.g. 11 for CamVid), exempt from the range check.
        class_names: names of classes 0..n-1, used in the reports.
        color_table: {(r, g, b): class_index} for colour-coded masks.
        max_files: check only the first max_files pairs (None: all).
        max_pixels: largest width * height accepted per image.

    Returns:
        DatasetReport; `report.ok` tells whether the data set is usable.

    Raises:
        InputError: a folder is missing, empty or holds no images (see pair_folders).
        ValueError: bad arguments (e.g. class_names and num_classes disagree).
    """
    _check_int(max_files, "max_files", 1)
    _check_int(ignore_index, "ignore_index", 0)
    if class_names is not None:
        class_names = [str(n) for n in class_names]
        if num_classes is None:
            num_classes = len(class_names)
        elif num_classes != len(class_names):
            raise ValueError(f"num_classes={num_classes} but {len(class_names)} class_names given")
    _check_int(num_classes, "num_classes", 1)
    pairing = pair_folders(image_dir, mask_dir)
    report = DatasetReport(
        image_dir=pairing.image_dir, mask_dir=pairing.mask_dir, n_pairs=len(pairing.pairs),
        pairs=pairing.pairs, images_without_mask=pairing.images_without_mask,
        masks_without_image=pairing.masks_without_image, duplicates=pairing.duplicates,
        case_clashes=pairing.case_clashes, ignored=pairing.ignored,
        num_classes=num_classes, ignore_index=ignore_index, class_names=class_names)
    errors = [f"{name}: same name (stem) as another file in this folder: keep one"
              for name in pairing.duplicates]
    errors += [f"{name}: names differ only by upper/lower case: rename one"
               for name in pairing.case_clashes]
    warnings = []
    if pairing.images_without_mask:
        warnings.append(f"{len(pairing.images_without_mask)} images have no mask and are left "
                        f"out: {_first_few(pairing.images_without_mask, 5)}")
    if pairing.masks_without_image:
        warnings.append(f"{len(pairing.masks_without_image)} masks have no image and are left "
                        f"out: {_first_few(pairing.masks_without_image, 5)}")
    if pairing.ignored:
        report.notes.append(f"{len(pairing.ignored)} hidden or non-image files ignored: "
                            f"{_first_few(pairing.ignored, 5)}")
    if not pairing.pairs:
        errors.append(f"{pairing.image_dir}: no image has a mask with the same name in "
                      f"{pairing.mask_dir}")
    to_check = pairing.pairs if max_files is None else pairing.pairs[:max_files]
    if len(to_check) < len(pairing.pairs):
        report.notes.append(f"checked the first {len(to_check)} of {len(pairing.pairs)} pairs")
    counts = np.zeros(0, dtype=np.int64)
    note_files: Counter = Counter()
    void_masks, with_255 = [], 0
    for image_path, mask_path in to_check:
        image_size = None
        try:
            with _open_image(image_path, _shown(image_path), max_pixels) as (img, _):
                image_size = _oriented_size(img)
            report.sizes[image_size] += 1
        except InputError as e:
            errors.append(f"{_shown(image_path)}: {e.problem}")
        try:
            labels, notes = read_mask(mask_path, num_classes, ignore_index, color_table,
                                      max_pixels, name=_shown(mask_path))
        except InputError as e:
            errors.append(f"{_shown(mask_path)}: {e.problem}")
            continue
        note_files.update(notes)
        mask_size = (labels.shape[1], labels.shape[0])
        if image_size is not None and mask_size != image_size:
            errors.append(f"{_shown(mask_path)}: mask is {mask_size[0]}x{mask_size[1]} but image "
                          f"{image_path.name} is {image_size[0]}x{image_size[1]}")
        found = np.bincount(labels.ravel())
        if found.size > counts.size:
            counts = np.pad(counts, (0, found.size - counts.size))
        counts[:found.size] += found
        if ignore_index is not None and labels.size and np.all(labels == ignore_index):
            void_masks.append(f"{_shown(mask_path)}: mask is all void (label {ignore_index})")
        if ignore_index is None and found.size == 256:  # 255 is the largest label here
            with_255 += 1
    report.n_checked = len(to_check)
    report.class_pixels = {int(k): int(v) for k, v in enumerate(counts) if v}
    real = [k for k in report.class_pixels if k != ignore_index]
    report.num_classes_found = max(real) + 1 if real else 0
    report.notes += [f"{note} ({n} file{'s' if n != 1 else ''})" for note, n in note_files.items()]
    warnings += void_masks
    if len(report.sizes) > 1:
        warnings.append(f"images come in {len(report.sizes)} sizes: {report.size_text()}")
    if with_255:
        warnings.append(f"label 255 appears in {with_255} masks: if it marks void or borders, "
                        f"set ignore_index=255")
    if num_classes is not None and report.n_checked:
        missing = [k for k in range(num_classes) if k not in report.class_pixels]
        if missing:
            named = [f"{k} ({class_names[k]})" if class_names else str(k) for k in missing]
            warnings.append(f"classes never seen in any mask: {_first_few(named)}")
    report.warnings = _capped(warnings)
    report.errors = _capped(errors)
    return report


def load_pairs(pairs, num_classes: int | None = None, ignore_index: int | None = None,
               color_table: dict | None = None,
               max_pixels: int = MAX_PIXELS) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Read every image/mask pair into memory.

    Args:
        pairs: iterable of (image path, mask path), e.g. `pair_folders(...).pairs`.
        num_classes, ignore_index, color_table: passed to read_mask.
        max_pixels: largest width * height accepted per file.

    Returns:
        (images, masks): lists of (H, W, 3) uint8 RGB images (grayscale becomes RGB) and
        (H, W) label maps, in the order of `pairs`.

    Raises:
        InputError: a file cannot be read, or an image and its mask differ in size.
    """
    images, masks = [], []
    for image_path, mask_path in pairs:
        image = read_image(image_path, max_pixels=max_pixels)
        mask, _ = read_mask(mask_path, num_classes, ignore_index, color_table, max_pixels)
        if image.shape[:2] != mask.shape:
            raise _fail(mask_path, f"mask is {mask.shape[1]}x{mask.shape[0]} but image "
                        f"{Path(image_path).name} is {image.shape[1]}x{image.shape[0]}")
        images.append(image)
        masks.append(mask)
    return images, masks
