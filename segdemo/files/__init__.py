"""Reading and validating files on disk: images.py (images, masks), folders.py (image/mask folders),
zips.py (uploaded zips); reports.py holds what a check finds (InputError, Pairing, DatasetReport).

Everything here happens before arrays reach tf.data, and everything a user can get wrong ends in an
`InputError` whose one-line message names the file and the problem, e.g.
``photo.png: not an image file``. Nothing here imports TensorFlow.

Images are decoded with Pillow, restricted to the formats in `IMAGE_FORMATS`. The declared size is
checked against `max_pixels` before any pixel is decoded, so a tiny file that claims to be
30000x30000 is refused without allocating memory for it. Pillow's own limit
(`PIL.Image.MAX_IMAGE_PIXELS`) is left as it is, because it is process-wide; when Pillow refuses an
image first, that is reported as the same kind of error.
"""
from .folders import JUNK_NAMES, MAX_DESCEND, check_dataset, load_pairs, pair_folders
from .images import (BINARY_NOTE, IMAGE_FORMATS, IMAGE_SUFFIXES, JPEG_FORMATS, JPEG_SUFFIXES, MASK_SUFFIXES,
                     MAX_PIXELS, ORIENTATION_TAG, check_file, read_image, read_mask, to_rgb)
from .reports import MAX_LISTED, MAX_SHOWN_VALUES, DatasetReport, InputError, Pairing
from .zips import (ZIP_CHUNK_BYTES, ZIP_ENCRYPTED_FLAG, ZIP_MAX_FILES, ZIP_MAX_RATIO, ZIP_MAX_TOTAL_BYTES,
                   ZIP_RATIO_MIN_BYTES, extracted_zip, safe_extract_zip)

__all__ = ["BINARY_NOTE", "IMAGE_FORMATS", "IMAGE_SUFFIXES", "JPEG_FORMATS", "JPEG_SUFFIXES", "JUNK_NAMES",
           "MASK_SUFFIXES", "MAX_DESCEND", "MAX_LISTED", "MAX_PIXELS", "MAX_SHOWN_VALUES", "ORIENTATION_TAG",
           "ZIP_CHUNK_BYTES", "ZIP_ENCRYPTED_FLAG", "ZIP_MAX_FILES", "ZIP_MAX_RATIO", "ZIP_MAX_TOTAL_BYTES",
           "ZIP_RATIO_MIN_BYTES", "DatasetReport", "InputError", "Pairing", "check_dataset", "check_file", "extracted_zip",
           "load_pairs", "pair_folders", "read_image", "read_mask", "safe_extract_zip", "to_rgb"]
