"""Uploaded zips, extracted safely: no paths outside the folder, no links, bounded size and ratio."""
from __future__ import annotations

import contextlib
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Iterator

from .reports import InputError, _fail

ZIP_MAX_FILES = 10_000
ZIP_MAX_TOTAL_BYTES = 2_000_000_000
ZIP_MAX_RATIO = 200
ZIP_RATIO_MIN_BYTES = 1 << 20  # entries smaller than this are not ratio-checked one by one
ZIP_CHUNK_BYTES = 1 << 20
ZIP_ENCRYPTED_FLAG = 0x1


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
