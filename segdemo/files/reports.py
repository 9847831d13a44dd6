"""What a check of files finds: InputError (one line naming the file), Pairing, DatasetReport, as data.

The reports render only as plain text (DatasetReport.to_text, for the CLI and for errors); the UI
renders its own Markdown (segdemo.ui.common.report_markdown)."""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MAX_LISTED = 50  # errors/warnings kept in a report before "... and N more"
MAX_SHOWN_VALUES = 8  # offending labels or colours quoted in one message


class InputError(ValueError):
    """A user mistake in an input file or folder; the message names it and says what is wrong.

    The message is one line meant to be shown as is (no traceback).

    Args:
        message: the full one-line message, e.g. ``"x.png: file is empty"``.
        path: the file or folder concerned, when there is one.
        problem: the message without the file name (defaults to the whole message), so that
            callers can name the file their own way.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None,
                 problem: str | None = None):
        super().__init__(message)
        self.path = path
        self.problem = message if problem is None else problem


@dataclass
class Pairing:
    """Result of `pair_folders`.

    Attributes:
        image_dir: the image folder actually scanned (after descending into a lone subfolder).
        mask_dir: the mask folder actually scanned.
        pairs: (image path, mask path) for every stem found once in each folder, sorted by name.
        images_without_mask: image file names with no mask of the same stem.
        masks_without_image: mask file names with no image of the same stem.
        duplicates: "folder/name" of files sharing a stem with another file of the same folder
            (a.png and a.jpg); they are left out of `pairs`.
        case_clashes: "folder/name" of files whose names differ only by case (A.png and a.png);
            they cannot coexist on Windows or macOS and are left out of `pairs`.
        ignored: "folder/name" of hidden files, OS litter and files that are not images.
    """

    image_dir: Path
    mask_dir: Path
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    images_without_mask: list[str] = field(default_factory=list)
    masks_without_image: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    case_clashes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass
class DatasetReport:
    """Result of `check_dataset`: what is in an image/mask folder pair and what is wrong with it.

    Attributes:
        image_dir, mask_dir: the folders scanned.
        n_pairs: number of image/mask pairs found.
        n_checked: number of pairs actually read (fewer than n_pairs when max_files is set).
        pairs: all (image path, mask path) pairs.
        images_without_mask, masks_without_image, duplicates, case_clashes, ignored: as in
            `Pairing`.
        sizes: Counter of image sizes (width, height) after EXIF orientation.
        class_pixels: label -> pixel count over all masks read (the ignore label included).
        num_classes_found: largest label seen + 1, the ignore label excluded (0 if none).
        num_classes, ignore_index, class_names: the settings the check used.
        notes: things done to the data that the user should know about.
        warnings: suspicious but usable things (unmatched files, all-void masks, mixed sizes).
        errors: "file: problem" lines; the data set should not be used until they are fixed.
    """

    image_dir: Path
    mask_dir: Path
    n_pairs: int = 0
    n_checked: int = 0
    pairs: list[tuple[Path, Path]] = field(default_factory=list)
    images_without_mask: list[str] = field(default_factory=list)
    masks_without_image: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    case_clashes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    sizes: Counter = field(default_factory=Counter)
    class_pixels: dict[int, int] = field(default_factory=dict)
    num_classes_found: int = 0
    num_classes: int | None = None
    ignore_index: int | None = None
    class_names: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there are pairs and no errors."""
        return not self.errors and self.n_pairs > 0

    def class_rows(self) -> list[tuple[str, str, int, float]]:
        """(label, name, pixels, share in %) for every label seen or expected."""
        labels = set(self.class_pixels)
        if self.num_classes is not None:
            labels |= set(range(self.num_classes))
        total = sum(self.class_pixels.values()) or 1
        rows = []
        for label in sorted(labels):
            if label == self.ignore_index:
                name = "void (ignored)"
            elif self.class_names is not None and label < len(self.class_names):
                name = self.class_names[label]
            else:
                name = ""
            pixels = self.class_pixels.get(label, 0)
            rows.append((str(label), name, pixels, 100.0 * pixels / total))
        return rows

    def size_text(self) -> str:
        """Image sizes, most common first, e.g. '480x360 (367)'."""
        return ", ".join(f"{w}x{h} ({n})" for (w, h), n in self.sizes.most_common()) or "none"

    def to_text(self) -> str:
        """Plain-text report for the command line.

        Returns:
            Several lines: folders, counts, sizes, a class table, notes, warnings, errors and a
            final verdict.
        """
        lines = [f"images: {self.image_dir}", f"masks:  {self.mask_dir}",
                 f"pairs: {self.n_pairs} (checked {self.n_checked})",
                 f"image sizes: {self.size_text()}",
                 f"classes found: {self.num_classes_found}"]
        rows = self.class_rows()
        if rows:
            lines.append(f"  {'label':>5}  {'name':<16} {'pixels':>12}  share")
            lines += [f"  {label:>5}  {name:<16} {pixels:>12,}  {share:5.1f}%"
                      for label, name, pixels, share in rows]
        for title, items in (("notes", self.notes), ("warnings", self.warnings),
                             ("errors", self.errors)):
            if items:
                lines.append(f"{title}:")
                lines += [f"  - {item}" for item in items]
        lines.append("OK" if self.ok else "NOT OK: fix the errors above")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-friendly copy of the report.

        Returns:
            A dict of plain str/int/list values: paths as strings, sizes as {"WxH": count}.
        """
        return {
            "ok": self.ok,
            "image_dir": str(self.image_dir),
            "mask_dir": str(self.mask_dir),
            "n_pairs": self.n_pairs,
            "n_checked": self.n_checked,
            "pairs": [[str(i), str(m)] for i, m in self.pairs],
            "images_without_mask": list(self.images_without_mask),
            "masks_without_image": list(self.masks_without_image),
            "duplicates": list(self.duplicates),
            "case_clashes": list(self.case_clashes),
            "ignored": list(self.ignored),
            "sizes": {f"{w}x{h}": n for (w, h), n in self.sizes.most_common()},
            "class_pixels": {str(k): v for k, v in sorted(self.class_pixels.items())},
            "num_classes_found": self.num_classes_found,
            "num_classes": self.num_classes,
            "ignore_index": self.ignore_index,
            "class_names": None if self.class_names is None else list(self.class_names),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }


def _name(source: str | os.PathLike | None, default: str = "image") -> str:
    """File name used in messages."""
    return default if source is None else Path(source).name or str(source)


def _fail(source: str | os.PathLike | None, problem: str, name: str | None = None) -> InputError:
    """InputError 'name: problem' for a file."""
    shown = name if name is not None else _name(source)
    return InputError(f"{shown}: {problem}", source, problem)


def _shown(path: Path) -> str:
    """'folder/name' of a file, for reports covering two folders."""
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name


def _first_few(values, limit: int = MAX_SHOWN_VALUES) -> str:
    """'a, b, c' or 'a, b, c, ... (N in all)'."""
    values = list(values)
    text = ", ".join(str(v) for v in values[:limit])
    return text if len(values) <= limit else f"{text}, ... ({len(values)} in all)"


def _capped(items: list[str], limit: int = MAX_LISTED) -> list[str]:
    """At most `limit` items, then '... and N more'."""
    if len(items) <= limit:
        return items
    return items[:limit] + [f"... and {len(items) - limit} more"]


def _check_int(value, what: str, minimum: int) -> None:
    """ValueError unless value is None or an int >= minimum."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum} or None, got {value!r}")
