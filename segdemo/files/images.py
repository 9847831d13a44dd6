"""Reading one image or one mask, with every check a person's file may need: format, size, EXIF, modes."""
from __future__ import annotations

import contextlib
import io
import os
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .reports import InputError, _check_int, _fail, _first_few, _name

MAX_PIXELS = 50_000_000  # width * height; a 6000x4000 photo (24 M) passes
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
MASK_SUFFIXES = IMAGE_SUFFIXES | {".gif"}  # JPEG masks are listed here and refused by read_mask
JPEG_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif"})
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")  # decoders Pillow may use (JPEG covers MPO)
JPEG_FORMATS = frozenset({"JPEG", "MPO"})
BINARY_NOTE = "masks are 0/255: mapped to 0/1"
ORIENTATION_TAG = 0x0112  # EXIF orientation; values 5..8 swap width and height


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


def _over_white(values: np.ndarray) -> np.ndarray:
    """Composite uint8 colour channels over white by the last (alpha) channel, rounding; drops the alpha."""
    color = values[..., :-1].astype(np.uint32)
    alpha = values[..., -1:].astype(np.uint32)
    return ((color * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _scale_to_uint8(values: np.ndarray, bits: int) -> np.ndarray:
    """Scale integers in 0..2**bits-1 to 0..255 with rounding (not by clipping)."""
    top = (1 << bits) - 1
    values = np.clip(values.astype(np.int64), 0, top)
    return ((values * 255 + top // 2) // top).astype(np.uint8)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Intensities of any dtype -> uint8, rounding: 16-bit scaled, wider integers by their maximum, floats in
    [0, 1] as shares of 255 (other floats as 0..255)."""
    if values.dtype == np.uint8:
        return values
    if values.dtype.kind == "u" and values.dtype.itemsize == 2:  # 16-bit, either byte order
        return _scale_to_uint8(values, 16)
    if values.dtype.kind in "iub":
        top = int(values.max(initial=0))
        # 32-bit integer images: keep 8-bit data, scale 16-bit data, else scale by the maximum
        bits = 8 if top < 256 else 16 if top < 65536 else max(top.bit_length(), 17)
        return values.clip(0, 255).astype(np.uint8) if bits == 8 else _scale_to_uint8(values, bits)
    values = np.nan_to_num(values.astype(np.float64))
    if values.size and values.min() >= 0.0 and values.max() <= 1.0:
        values = values * 255.0  # floats in [0, 1] are intensities
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def to_rgb(image) -> np.ndarray:
    """Convert an array to (H, W, 3) uint8 RGB: the one conversion of files and infer.

    Args:
        image: HxW (grey), HxWx1, HxWx2 (grey + alpha), HxWx3 (RGB) or HxWx4 (RGBA); uint8, 16-bit
            or wider integers (scaled to 8 bits with rounding) or floats (0..1 or 0..255).
            Alpha is composited on white.

    Returns:
        (H, W, 3) uint8 array.
    """
    values = np.asarray(image)
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim != 3 or values.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {values.shape}")
    values = _to_uint8(values)
    if values.shape[-1] in (2, 4):
        values = _over_white(values)
    if values.shape[-1] == 1:
        values = np.repeat(values, 3, axis=-1)
    return values


def _pil_to_rgb(img: Image.Image) -> np.ndarray:
    """Any decoded Pillow image -> (H, W, 3) uint8 RGB."""
    mode = img.mode
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return to_rgb(np.asarray(img))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        return to_rgb(np.asarray(img.convert("RGBA"), dtype=np.uint8))
    # 1, L, P, CMYK, YCbCr, LAB, HSV: Pillow's own conversions are right
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


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
        return np.ascontiguousarray(_pil_to_rgb(img))


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
