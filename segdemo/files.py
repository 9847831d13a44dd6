"""Reading and validating files on disk: images, masks, image/mask folders and uploaded zips.

Everything here happens before arrays reach tf.data, and everything a user can get wrong ends in an
`InputError` whose one-line message names the file and the problem, e.g.
``photo.png: not an image file``. Nothing here imports TensorFlow.

Images are decoded with Pillow, restricted to the formats in `IMAGE_FORMATS`. The declared size is
checked against `max_pixels` before any pixel is decoded, so a tiny file that claims to be
30000x30000 is refused without allocating memory for it. Pillow's own limit
(`PIL.Image.MAX_IMAGE_PIXELS`) is left as it is, because it is process-wide; when Pillow refuses an
image first, that is reported as the same kind of error.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

MAX_PIXELS = 50_000_000  # width * height; a 6000x4000 photo (24 M) passes
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
MASK_SUFFIXES = IMAGE_SUFFIXES | {".gif"}  # JPEG masks are listed here and refused by read_mask
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")  # decoders Pillow may use (JPEG covers MPO)
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})  # OS litter, compared lowercased
MAX_DESCEND = 3  # how many single-subfolder levels pair_folders walks down
MAX_LISTED = 50  # errors/warnings kept in a report before "... and N more"
MAX_SHOWN_VALUES = 8  # offending labels or colours quoted in one message
BINARY_NOTE = "masks are 0/255: mapped to 0/1"
ORIENTATION_TAG = 0x0112  # EXIF orientation; values 5..8 swap width and height
ZIP_MAX_FILES = 10_000
ZIP_MAX_TOTAL_BYTES = 2_000_000_000
ZIP_MAX_RATIO = 200
ZIP_RATIO_MIN_BYTES = 1 << 20  # entries smaller than this are not ratio-checked one by one
ZIP_CHUNK_BYTES = 1 << 20
ZIP_ENCRYPTED_FLAG = 0x1


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

    def _class_rows(self) -> list[tuple[str, str, int, float]]:
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

    def _size_text(self) -> str:
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
                 f"image sizes: {self._size_text()}",
                 f"classes found: {self.num_classes_found}"]
        rows = self._class_rows()
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

    def to_markdown(self) -> str:
        """Compact Markdown report for the UI.

        Returns:
            A verdict line, counts and sizes, a class table with pixel shares, then notes,
            warnings and errors as bullet lists.
        """
        verdict = "**Data set OK**" if self.ok else "**Data set has problems**"
        parts = [verdict,
                 f"{self.n_pairs} pairs (checked {self.n_checked}); image sizes: "
                 f"{self._size_text()}; classes found: {self.num_classes_found}"]
        rows = self._class_rows()
        if rows:
            table = ["| label | class | pixels | share |", "|---:|:---|---:|---:|"]
            table += [f"| {label} | {_markdown_cell(name)} | {pixels:,} | {share:.1f}% |"
                      for label, name, pixels, share in rows]
            parts.append("\n".join(table))
        for title, items in (("Notes", self.notes), ("Warnings", self.warnings),
                             ("Errors", self.errors)):
            if items:
                parts.append(f"**{title}**\n" + "\n".join(
                    f"- {_markdown_cell(item)}" for item in items))
        return "\n\n".join(parts)

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


# ----------------------------------------------------------------------------- helpers


def _markdown_cell(text: str) -> str:
    """Escape characters that would break a Markdown table cell or list item."""
    return str(text).replace("|", "\\|").replace("\n", " ")


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


def _read_source(source, name: str | None) -> tuple[io.BytesIO | Path, str]:
    """Validate a path or bytes and return what Image.open takes plus the name for messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        shown = name or "image"
        if len(source) == 0:
            raise _fail(None, "file is empty", shown)
        return io.BytesIO(bytes(source)), shown
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"expected a path or bytes, got {type(source).__name__}")
    return check_file(source, name)


def check_file(path, name: str | None = None) -> tuple[Path, str]:
    """Check that a path is an existing, non-empty file, before anything reads it.

    Args:
        path: a file path.
        name: name used in error messages (default: the file name).

    Returns:
        (Path, the name for messages).

    Raises:
        InputError: missing file, a folder, or an empty file.
    """
    path = Path(path)
    shown = name or _name(path)
    if not path.exists():
        raise _fail(path, "file not found", shown)
    if path.is_dir():
        raise _fail(path, "is a folder, not a file", shown)
    if path.stat().st_size == 0:
        raise _fail(path, "file is empty", shown)
    return path, shown


@contextlib.contextmanager
def _open_image(source, name: str | None, max_pixels: int) -> Iterator[tuple[Image.Image, str]]:
    """Open an image lazily (header only) after the empty/format/size checks; yield (img, name)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True in this process: "
                           "truncated images would be silently padded; leave it False")
    _check_int(max_pixels, "max_pixels", 1)
    fp, shown = _read_source(source, name)
    try:
        img = Image.open(fp, formats=IMAGE_FORMATS)
    except UnidentifiedImageError:
        raise _fail(source if not isinstance(fp, io.BytesIO) else None,
                    "not an image file (supported: PNG, JPEG, BMP, TIFF, WebP, GIF)",
                    shown) from None
    except Image.DecompressionBombError:
        raise _fail(None, "image is too large: its declared size is over Pillow's "
                    "decompression-bomb limit", shown) from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as e:
        raise _fail(None, f"truncated or corrupt image ({e})", shown) from None
    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise _fail(None, f"image is too large: {width}x{height} = {width * height:,} "
                        f"pixels (limit {max_pixels:,})", shown)
        yield img, shown


def _load(img: Image.Image, shown: str) -> Image.Image:
    """Decode all pixels and apply EXIF orientation; corrupt data becomes an InputError."""
    try:
        img.load()
    except Image.DecompressionBombError:
        raise _fail(None, "image is too large: its declared size is over Pillow's "
                    "decompression-bomb limit", shown) from None
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error, IndexError) as e:
        raise _fail(None, f"truncated or corrupt image ({e})", shown) from None
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block is not worth refusing the pixels over
        return img


def _oriented_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) as displayed, i.e. after EXIF orientation, read from the header only."""
    width, height = img.size
    try:
        orientation = img.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block is not worth refusing the image over
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _over_white(rgba: np.ndarray) -> np.ndarray:
    """Composite an (H, W, 4) uint8 RGBA array on white; returns (H, W, 3) uint8."""
    rgb = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:].astype(np.uint32)
    return ((rgb * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _scale_to_uint8(values: np.ndarray, bits: int) -> np.ndarray:
    """Scale integers in 0..2**bits-1 to 0..255 with rounding (not by clipping)."""
    top = (1 << bits) - 1
    values = np.clip(values.astype(np.int64), 0, top)
    return ((values * 255 + top // 2) // top).astype(np.uint8)


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any decoded Pillow image -> (H, W, 3) uint8 RGB."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode.startswith("I;16"):
        gray = _scale_to_uint8(np.asarray(img), 16)
    elif mode == "I":
        values = np.asarray(img)
        top = int(values.max(initial=0))
        # 32-bit integer images: keep 8-bit data, scale 16-bit data, else scale by the maximum
        bits = 8 if top < 256 else 16 if top < 65536 else max(top.bit_length(), 17)
        gray = values.clip(0, 255).astype(np.uint8) if bits == 8 else _scale_to_uint8(values, bits)
    elif mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64))
        if values.size and values.min() >= 0.0 and values.max() <= 1.0:
            values = values * 255.0  # floats in [0, 1] are intensities
        gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
            mode == "P" and "transparency" in img.info):
        return _over_white(np.asarray(img.convert("RGBA"), dtype=np.uint8))
    else:  # 1, L, P, CMYK, YCbCr, LAB, HSV: Pillow's own conversions are right
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _mask_labels(img: Image.Image, shown: str, color_table: dict | None) -> np.ndarray:
    """Decoded mask image -> (H, W) integer label array, without any remapping."""
    mode = img.mode
    if mode in ("1", "L", "P"):
        return np.asarray(img).astype(np.uint8)  # P: the raw palette indices, never colours
    if mode in ("LA", "PA", "La"):
        return np.asarray(img)[..., 0].astype(np.uint8)
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(img).astype(np.int64)
        if values.size and values.min() < 0:
            raise _fail(None, f"mask has negative labels ({_first_few(np.unique(values[values < 0]))})",
                        shown)
        return values
    if mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(values)) or np.any(values != np.rint(values)) or (
                values.size and values.min() < 0):
            raise _fail(None, "mask holds non-integer values: save class indices as an 8- or "
                        "16-bit PNG", shown)
        return values.astype(np.int64)
    if mode in ("RGB", "RGBA"):
        rgb = np.asarray(img.convert("RGB") if mode == "RGBA" else img, dtype=np.uint8)
        if color_table is not None:
            return _apply_color_table(rgb, color_table, shown)
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return rgb[..., 0].copy()
        raise _fail(None, "mask is a colour image with different R, G, B values: save class "
                    "indices as a single-channel or palette PNG, or give a colour table "
                    "{(r, g, b): class}", shown)
    raise _fail(None, f"image mode {mode} is not a class-index mask: save masks as single-"
                "channel or palette PNG", shown)


def _check_color_table(color_table: dict) -> None:
    """ValueError unless color_table maps (r, g, b) tuples of 0..255 to labels >= 0."""
    if not isinstance(color_table, dict) or not color_table:
        raise ValueError(f"color_table must be a non-empty dict {{(r, g, b): class_index}}, "
                         f"got {color_table!r}")
    for rgb, label in color_table.items():
        if (not isinstance(rgb, tuple) or len(rgb) != 3
                or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in rgb)):
            raise ValueError(f"color_table keys must be (r, g, b) tuples of 0..255, got {rgb!r}")
        _check_int(label, f"color_table[{rgb}]", 0)


def _apply_color_table(rgb: np.ndarray, color_table: dict, shown: str) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) labels via {(r, g, b): label}; unknown colours fail."""
    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    colours, inverse = np.unique(packed, return_inverse=True)
    table = {(r << 16) | (g << 8) | b: int(label) for (r, g, b), label in color_table.items()}
    unknown = [c for c in colours.tolist() if c not in table]
    if unknown:
        shown_colours = [f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in unknown]
        raise _fail(None, f"colours not in the colour table: {_first_few(shown_colours, 5)}",
                    shown)
    lookup = np.array([table[c] for c in colours.tolist()], dtype=np.int64)
    return lookup[inverse.reshape(packed.shape)]


# ----------------------------------------------------------------------------- images and masks


def read_image(path_or_bytes, max_pixels: int = MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """Read a photo as RGB, refusing anything that is not a sound, reasonably sized image.

    The declared size is checked before decoding. EXIF orientation is applied, so the array is
    the picture as a viewer shows it. Conversions to RGB uint8:
    grayscale (1, L) is repeated over three channels; 16-bit grayscale is scaled with rounding
    (v * 255 / 65535), never clipped; 16-bit RGB(A) PNGs arrive from Pillow as their high byte
    (v >> 8); 32-bit integer images keep values 0..255, are scaled as 16-bit when under 65536,
    else by their maximum; float images in [0, 1] are scaled by 255, others clipped to 0..255;
    alpha (RGBA, LA, palette transparency) is composited on white, so transparent pixels become
    white; CMYK (JPEG), palette and other modes use Pillow's conversion.

    Args:
        path_or_bytes: a file path, or the file's bytes (e.g. an upload).
        max_pixels: largest width * height accepted (default MAX_PIXELS = 50 M).
        name: name used in error messages (default: the file name, or "image" for bytes).

    Returns:
        (H, W, 3) uint8 RGB array.

    Raises:
        InputError: missing, empty, non-image, truncated/corrupt or too large file.
    """
    with _open_image(path_or_bytes, name, max_pixels) as (img, shown):
        img = _load(img, shown)
        return np.ascontiguousarray(_to_rgb(img))


def read_mask(path, num_classes: int | None = None, ignore_index: int | None = None,
              color_table: dict | None = None, max_pixels: int = MAX_PIXELS,
              name: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Read a segmentation mask as a map of class indices.

    Accepted: 8- and 16-bit single-channel PNG; palette PNG (the raw indices are the classes,
    the palette colours are never used); RGB whose three channels are equal (one is taken);
    colour-coded RGB when `color_table` is given. Masks holding only 0 and 255 are taken as
    binary and mapped to 0/1 with a note (not when ignore_index is 255, or num_classes > 255).
    JPEG masks are refused: lossy compression invents labels at class borders.

    Args:
        path: mask file path (or its bytes).
        num_classes: if given, labels must be < num_classes (except ignore_index).
        ignore_index: the void label, exempt from the range check (e.g. 11 for CamVid).
        color_table: {(r, g, b): class_index} for colour-coded RGB masks.
        max_pixels: largest width * height accepted.
        name: name used in error messages (default: the file name).

    Returns:
        (labels, notes): (H, W) labels, uint8 when all are < 256 else int32; notes is a list
        of remarks such as "masks are 0/255: mapped to 0/1".

    Raises:
        InputError: unreadable, JPEG, colour mask without table, unknown colours or labels
            out of range; the message names the file and lists offending values.
        ValueError: bad num_classes, ignore_index or color_table argument.
    """
    _check_int(num_classes, "num_classes", 1)
    _check_int(ignore_index, "ignore_index", 0)
    if color_table is not None:
        _check_color_table(color_table)
    is_path = isinstance(path, (str, os.PathLike))
    jpeg_problem = ("JPEG masks are not accepted: lossy compression invents labels at class "
                    "borders; save masks as PNG")
    if is_path and Path(path).suffix.lower() in JPEG_SUFFIXES:
        raise _fail(path, jpeg_problem, name)
    with _open_image(path, name, max_pixels) as (img, shown):
        if img.format in JPEG_FORMATS:
            raise _fail(None, jpeg_problem, shown)
        img = _load(img, shown)
        labels = _mask_labels(img, shown, color_table)
    notes = []
    present = np.unique(labels)
    if (color_table is None and ignore_index != 255
            and (num_classes is None or num_classes <= 255)
            and 255 in present and set(present.tolist()) <= {0, 255}):
        labels = (labels == 255).astype(np.uint8)
        present = np.unique(labels)
        notes.append(BINARY_NOTE)
    if num_classes is not None:
        bad = [v for v in present.tolist() if v >= num_classes and v != ignore_index]
        if bad:
            allowed = f"0..{num_classes - 1}"
            if ignore_index is not None:
                allowed += f", or {ignore_index} (ignored)"
            raise _fail(path if is_path else None,
                        f"labels out of range for {num_classes} classes (allowed {allowed}): "
                        f"{_first_few(bad)}", shown)
    dtype = np.uint8 if present.size == 0 or present.max() <= 255 else np.int32
    return np.ascontiguousarray(labels.astype(dtype)), notes


# ----------------------------------------------------------------------------- folders


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
        warnings.append(f"images come in {len(report.sizes)} sizes: {report._size_text()}")
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


# ----------------------------------------------------------------------------- zip uploads


def _zip_entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry must not be extracted, from its central-directory record, or None."""
    name = info.filename
    mode = info.external_attr >> 16
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "has a '..' path component (would write outside the folder)"
    if stat.S_ISLNK(mode):
        return "is a symbolic link"
    if info.flag_bits & ZIP_ENCRYPTED_FLAG:
        return "is encrypted (password-protected zips are not accepted)"
    if not info.is_dir() and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return "is not a regular file"
    if not info.is_dir() and name.lower().endswith(".zip"):
        return "is a zip inside the zip: nested archives are not accepted, unzip it first"
    return None


def _remove_created(created: list[Path]) -> None:
    """Delete files and folders this extraction created, newest first."""
    for path in reversed(created):
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
        except OSError:
            pass


def _make_dirs(folder: Path, created: list[Path]) -> None:
    """mkdir -p that records every folder it creates."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        created.append(path)


def safe_extract_zip(zip_path, dest_dir, max_files: int = ZIP_MAX_FILES,
                     max_total_bytes: int = ZIP_MAX_TOTAL_BYTES,
                     max_ratio: float = ZIP_MAX_RATIO) -> Path:
    """Extract an uploaded zip into dest_dir, refusing anything unsafe before writing a byte.

    Every entry is checked from the central directory first: absolute paths, '..' components,
    symbolic links, encrypted entries, non-regular files, nested .zip files, more than
    max_files entries, more than max_total_bytes in all, and a compression ratio above
    max_ratio for an entry (entries of at least 1 MiB) or for the whole archive (zip bombs).
    Then only regular files are written, and the bytes actually produced are counted while
    streaming: an entry yielding more than it declared stops the extraction. On any failure
    everything this call wrote into dest_dir is removed.

    Args:
        zip_path: the zip file.
        dest_dir: folder to extract into (created if missing); the caller owns it.
        max_files: largest number of entries.
        max_total_bytes: largest total uncompressed size.
        max_ratio: largest uncompressed / compressed size ratio.

    Returns:
        dest_dir as a Path.

    Raises:
        InputError: naming the zip and the offending entry.
    """
    zip_path, dest = Path(zip_path), Path(dest_dir)
    if not zip_path.is_file():
        raise _fail(zip_path, "file not found")
    if zip_path.stat().st_size == 0:
        raise _fail(zip_path, "file is empty")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise _fail(zip_path, f"not a zip file or damaged ({e})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise _fail(zip_path, f"too many entries ({len(infos):,}, limit {max_files:,})")
        seen, total, total_compressed = set(), 0, 0
        for info in infos:
            problem = _zip_entry_problem(info)
            if problem is None and info.filename in seen:
                problem = "appears twice in the zip"
            if problem is None and info.file_size >= ZIP_RATIO_MIN_BYTES and (
                    info.file_size > max_ratio * max(info.compress_size, 1)):
                problem = (f"expands {info.file_size / max(info.compress_size, 1):,.0f} times "
                           f"(limit {max_ratio:g}): looks like a zip bomb")
            if problem is not None:
                raise _fail(zip_path, f"entry '{info.filename}' {problem}")
            seen.add(info.filename)
            total += info.file_size
            total_compressed += info.compress_size
        if total > max_total_bytes:
            raise _fail(zip_path, f"uncompressed size {total:,} bytes is over the limit "
                        f"({max_total_bytes:,})")
        if total >= ZIP_RATIO_MIN_BYTES and total > max_ratio * max(total_compressed, 1):
            raise _fail(zip_path, f"expands {total / max(total_compressed, 1):,.0f} times "
                        f"(limit {max_ratio:g}): looks like a zip bomb")
        created: list[Path] = []
        current = ""
        try:
            _make_dirs(dest, created)
            root = dest.resolve()
            written_total = 0
            for info in infos:
                current = info.filename
                parts = [p for p in re.split(r"[/\\]", info.filename) if p not in ("", ".")]
                if not parts:
                    continue
                target = root.joinpath(*parts)
                if root not in target.resolve().parents:
                    raise _fail(zip_path, f"entry '{current}' would be written outside the folder")
                if info.is_dir():
                    _make_dirs(target, created)
                    continue
                _make_dirs(target.parent, created)
                with archive.open(info) as src, open(target, "xb") as dst:
                    created.append(target)
                    written = 0
                    while chunk := src.read(ZIP_CHUNK_BYTES):
                        written += len(chunk)
                        written_total += len(chunk)
                        if written > info.file_size or written_total > max_total_bytes:
                            raise _fail(zip_path, f"entry '{current}' holds more data than "
                                        "declared (damaged or malicious zip)")
                        dst.write(chunk)
            return dest
        except InputError:
            _remove_created(created)
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as e:
            _remove_created(created)
            raise _fail(zip_path, f"entry '{current}' is damaged or unsupported ({e})") from None
        except OSError as e:
            _remove_created(created)
            raise _fail(zip_path, f"could not extract entry '{current}' "
                        f"({e.strerror or e})") from None
        except BaseException:
            _remove_created(created)
            raise


@contextlib.contextmanager
def extracted_zip(zip_path, **limits) -> Iterator[Path]:
    """Extract a zip into a fresh temporary folder for the duration of a `with` block.

    Args:
        zip_path: the zip file.
        **limits: max_files, max_total_bytes, max_ratio as in safe_extract_zip.

    Returns:
        A context manager yielding the temporary folder (a Path); the folder and everything in
        it are removed on exit, also when extraction or the block fails.

    Raises:
        InputError: as safe_extract_zip.
    """
    with tempfile.TemporaryDirectory(prefix="segdemo-zip-") as tmp:
        yield safe_extract_zip(zip_path, tmp, **limits)
