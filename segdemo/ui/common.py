"""What every tab shares: error handling, loaded models, model pickers, the photo, data set uploads, rendering."""
import base64
import binascii
import contextlib
import filecmp
import html
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pandas as pd

from .. import data, files, infer, store
from ..choices import ARCH_LABELS, FCN_ARCHS
from ..metrics import format_score

EXAMPLES_DIR = Path(__file__).resolve().parent.parent.parent / "examples"
EXAMPLES = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png"))
EXAMPLE_TRUTH_DIR = EXAMPLES_DIR / "truth"  # each example's CamVid label mask, under the same name
MAX_LOADED_MODELS = 8  # Segmenters kept in memory (least recently used dropped first)
DISPLAY_MAX_SIDE = 1600  # larger photos are shrunk before segmenting, to keep the page fast
CLASS_COLUMNS = ("class", "IoU", "accuracy", "Dice", "pixels")
SEG_QUEUE = {"concurrency_id": "segment", "concurrency_limit": 2}  # model runs: at most two at once
VIEW_QUEUE = {"concurrency_id": "view", "concurrency_limit": 4, "show_progress": "hidden"}  # no model run
CHECK_QUEUE = {"concurrency_id": "check", "concurrency_limit": None, "show_progress": "hidden"}  # see checked
PRIVATE = {"api_visibility": "private"}  # UI-only events: not API endpoints
# Events that take a photo: the handler gets gradio's checked upload (FileData) and reads it itself, so
# that a file that is not an image is named in the error (gradio's own preprocessing opens it with PIL).
PHOTO_EVENT = {"preprocess": False}
# The temporary folder each upload is unpacked into (dataset_folders), as messages name it: in a full path,
# or as the folder of a report's 'folder/name'. user_text leaves it out: the user's own names stay.
TEMP_PREFIX = "segdemo-upload-"
TEMP_FOLDER = re.compile(rf"(?:{re.escape(tempfile.gettempdir())}/)?{TEMP_PREFIX}[A-Za-z0-9_]+/")


def user_error(message):
    """A gr.Error for a user's mistake: shown on the page, with no traceback in the server log (it is no bug);
    temporary folder names in the message are left out (see user_text)."""
    return gr.Error(user_text(message), print_exception=False)


def user_text(text):
    """A message without the app's temporary folders: '/tmp/segdemo-upload-x1y2/images/a.png' -> 'images/a.png'."""
    return TEMP_FOLDER.sub("", str(text))


@contextlib.contextmanager
def user_errors():
    """Turn segdemo's user-facing errors (InputError, ModelFileError, ValueError) into user_error."""
    try:
        yield
    except gr.Error:
        raise
    except ValueError as err:  # InputError and ModelFileError are ValueErrors
        raise user_error(str(err).strip() or err.__class__.__name__) from None


def checked(trigger, check, inputs, **kwargs):
    """Start an action with its check: trigger(check, inputs) with no outputs, for the event that does the work
    to follow with .success. gradio marks every output of a failed event with an "Error" badge; a mistake found
    by the check is the action's one message instead. The check goes through the queue (CHECK_QUEUE): gradio 6
    shows no message at all for a failed event outside it.

    Args:
        trigger: an event listener, e.g. button.click or the .then of an event.
        check: a quick function of the inputs that raises gr.Error (user_error) for a mistake.
        inputs: the work's inputs (or the first of them).
        **kwargs: more event options (e.g. PHOTO_EVENT).

    Returns:
        The check's event (a UI-only event, not an API endpoint).
    """
    return trigger(check, inputs, None, **CHECK_QUEUE, **PRIVATE, **kwargs)


def arch_label(arch):
    """'fcn8s' -> 'FCN-8s'."""
    return ARCH_LABELS.get(arch, str(arch))


def val_miou(manifest):
    """The model's validation mIoU from its manifest, or None."""
    return ((manifest.get("metrics") or {}).get("val") or {}).get("miou")


def headline_miou(manifest):
    """(split, mIoU) of the figure the model is known by (store.headline); (None, None) without one."""
    split, scores = store.headline(manifest)
    return (split, scores.get("miou")) if scores and scores.get("miou") is not None else (None, None)


def score_label(manifest, digits=2):
    """'cross-sequence mIoU 0.52', 'val mIoU 0.52' or 'mIoU n/a'."""
    split, miou = headline_miou(manifest)
    return f"{split} mIoU {format_score(miou, digits)}" if split else "mIoU n/a"


def model_label(manifest):
    """Picker label: 'camvid-fcn8s · FCN-8s · cross-sequence mIoU 0.52'."""
    return f"{manifest['name']} · {arch_label(manifest.get('arch'))} · {score_label(manifest)}"


def teaching_order(manifest):
    """Sort key: FCN-32s, FCN-16s, FCN-8s, SegNet, then anything else; by name."""
    order = list(ARCH_LABELS)
    arch = manifest.get("arch")
    return (order.index(arch) if arch in order else len(order), manifest["name"])


def list_models():
    """Manifests of the weights folder's models in teaching order."""
    return sorted(store.list_models(), key=teaching_order)


def default_model(manifests):
    """store.DEFAULT_MODEL if present, else the model with the best headline mIoU, else None."""
    names = [m["name"] for m in manifests]
    if store.DEFAULT_MODEL in names:
        return store.DEFAULT_MODEL
    scored = sorted(manifests, key=lambda m: -(headline_miou(m)[1] or -1.0))
    return scored[0]["name"] if scored else None


def model_choices(manifests, fcn_only=False):
    """(label, name) picker choices of these manifests (only the FCNs if fcn_only)."""
    return [(model_label(m), m["name"]) for m in manifests if not fcn_only or m.get("arch") in FCN_ARCHS]


def checked_model(name):
    """The manifest of a model the picker lists; gr.Error for anything else (typed or sent by the API)."""
    manifests = {m["name"]: m for m in store.list_models()}
    if not manifests:
        raise user_error("No models in the weights folder yet: train one in the Train tab.")
    if not isinstance(name, str) or name not in manifests:
        shown = repr(name)[:80]
        raise user_error(f"Unknown model {shown}: choose one of {', '.join(sorted(manifests))}.")
    return manifests[name]


@dataclass
class Pickers:
    """Every model picker of the page, in the order refresh() returns their updates."""

    seg_model: gr.Dropdown
    cmp_models: gr.CheckboxGroup
    card_model: gr.Dropdown
    eval_model: gr.Dropdown
    fcn_model: gr.Dropdown
    live_model: gr.Dropdown

    def components(self):
        """The pickers as a list, in refresh()'s order."""
        return [self.seg_model, self.cmp_models, self.card_model, self.eval_model, self.fcn_model, self.live_model]

    def refresh(self):
        """Fresh choices for every picker (models trained or shipped since the page was built)."""
        manifests = list_models()
        return tuple(gr.update(choices=model_choices(manifests, fcn_only=p is self.fcn_model))
                     for p in self.components())


class Segmenters:
    """Loaded Segmenters, one per model name (and test-time augmentation), reloaded when the model file changes."""

    def __init__(self, capacity=MAX_LOADED_MODELS):
        self.capacity = capacity
        self._items = OrderedDict()  # name -> ((mtime_ns, size), {tta: Segmenter})
        self._lock = threading.Lock()
        self._name_locks = {}

    def get(self, name, tta="none"):
        """The warmed Segmenter for a listed model (checked against the weights folder), with test-time
        augmentation `tta` (infer.TTA); the variants share the loaded model."""
        checked_model(name)
        with user_errors():
            path, _ = store.model_paths(name)
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            with self._lock:
                name_lock = self._name_locks.setdefault(name, threading.Lock())
            with name_lock:  # one load per model, also when several sessions ask at once
                with self._lock:
                    hit = self._items.get(name)
                    if hit and hit[0] == stamp:
                        self._items.move_to_end(name)
                    else:
                        hit = None  # not loaded, or the file changed since
                if hit is None:
                    hit = (stamp, {"none": infer.Segmenter.fastest(name, probe=example_photo()).warmup()})
                    with self._lock:
                        self._items[name] = hit
                        self._items.move_to_end(name)
                        while len(self._items) > self.capacity:
                            self._items.popitem(last=False)
                variants = hit[1]
                if tta not in variants:  # the same model, traced once more
                    plain = variants["none"]
                    variants[tta] = infer.Segmenter(plain.model, plain.manifest, tta=tta,
                                                    precision=plain.precision).warmup()
                return variants[tta]


class Shared:
    """What the tabs share: the loaded models, the output folder (removed at exit) and the device name."""

    def __init__(self):
        self.segmenters = Segmenters()
        self._outputs = tempfile.TemporaryDirectory(prefix="segdemo-app-")
        self.out_dir = Path(self._outputs.name)
        self._device = None

    @property
    def device(self):
        """infer.device(), computed once."""
        if self._device is None:
            self._device = infer.device()
        return self._device

    def out_folder(self):
        """A fresh, empty folder inside the output folder."""
        folder = self.out_dir / uuid.uuid4().hex[:12]
        folder.mkdir()
        return folder

    def out_path(self, filename):
        """A fresh path in the output folder with a readable file name."""
        return self.out_folder() / filename

    def warm_default(self):
        """Load and warm the default model, so that the first click is fast. Returns its name."""
        name = default_model(list_models())
        if name:
            self.segmenters.get(name)
        return name


# ----------------------------------------------------------------------------- the photo


def photo(value=None, **kwargs):
    """The photo input: a gr.Image(type="filepath") whose events use PHOTO_EVENT and read it with read_photo."""
    return gr.Image(value, type="filepath", **kwargs)


def uploaded(payload, default="image"):
    """An upload (gradio's checked FileData dict, or a path) -> (source: a path or the bytes of a data URL, or
    None when there is nothing; the file name the user knows)."""
    if not isinstance(payload, dict):
        return payload or None, Path(payload).name if payload else default
    url, path = payload.get("url") or "", payload.get("path")
    name = Path(payload.get("orig_name") or path or default).name
    if not url.startswith("data:"):
        return path or None, name
    try:  # some webcam and clipboard captures
        return base64.b64decode(url.split(",", 1)[1], validate=True), name
    except (IndexError, binascii.Error):
        raise user_error(f"{name}: not a readable image (a broken data URL).") from None


def read_photo(payload):
    """An uploaded photo (see uploaded) -> (RGB uint8, file name), with segdemo's checks (EXIF, CMYK, 16-bit,
    size); gr.Error naming the file for anything else."""
    source, name = uploaded(payload)
    if not source:
        raise user_error("Upload, paste or capture an image first, or click one of the examples.")
    with user_errors():
        return files.read_image(source, name=name), name


def read_truth(payload, size, manifest):
    """An uploaded truth mask (see uploaded) for a photo of size (H, W) -> (H, W) labels of the model's
    classes (files.read_mask's checks), or None when there is none; gr.Error naming the file."""
    source, name = uploaded(payload, default="mask")
    if not source:
        return None
    with user_errors():
        labels, _ = files.read_mask(source, len(manifest["classes"]), manifest.get("ignore_index"), name=name)
    if labels.shape != tuple(size):
        raise user_error(f"{name}: the truth mask is {labels.shape[1]}x{labels.shape[0]} but the photo is "
                         f"{size[1]}x{size[0]}: give the mask of this photo.")
    return labels


def example_truth(name, rgb, manifest, source=None):
    """The CamVid truth of an example frame (examples/truth/NAME) when `rgb` holds that example's pixels (source,
    the photo's file if known, holds its bytes, or its pixels match) and the model has CamVid's classes; else None."""
    example, truth = EXAMPLES_DIR / Path(name).name, EXAMPLE_TRUTH_DIR / Path(name).name
    if tuple(manifest["classes"]) != data.CAMVID_CLASSES or not (example.is_file() and truth.is_file()):
        return None
    same_file = isinstance(source, (str, Path)) and filecmp.cmp(source, example, shallow=False)
    if not same_file and not np.array_equal(files.read_image(example), rgb):  # the same name, another photo
        return None
    return files.read_mask(truth, len(data.CAMVID_CLASSES), data.CAMVID_IGNORE)[0]


def example_photo():
    """The first example's pixels (a street scene to check a model's precision on), or None without examples."""
    return files.read_image(EXAMPLES[0]) if EXAMPLES else None


def resize_labels(labels, size):
    """A label map resized to (H, W) by nearest neighbour (labels stay labels)."""
    if labels.shape == tuple(size):
        return labels
    return cv2.resize(labels, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def shrink(rgb):
    """(image no longer than DISPLAY_MAX_SIDE, note or '')."""
    h, w = rgb.shape[:2]
    scale = DISPLAY_MAX_SIDE / max(h, w)
    if scale >= 1:
        return rgb, ""
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), f" (shrunk from {w}x{h})"


def safe_filename(text):
    """A string reduced to letters, digits, '.', '_' and '-' for use in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "image"


# ----------------------------------------------------------------------------- uploaded data sets


def dataset_upload(prefix):
    """Image and mask uploads, as folders or as zips: (image files, mask files, image zip, mask zip).
    Their file lists are styled by the app's .segdemo-files CSS (room for the names, two boxes side by side)."""
    with gr.Tabs():
        with gr.Tab("Folders"):
            with gr.Row():
                image_files = gr.File(label="Image folder", file_count="directory", height=140,
                                      elem_id=f"{prefix}-image-folder", elem_classes="segdemo-files")
                mask_files = gr.File(label="Mask folder", file_count="directory", height=140,
                                     elem_id=f"{prefix}-mask-folder", elem_classes="segdemo-files")
        with gr.Tab("Zip files"):
            with gr.Row():
                image_zip = gr.File(label="Images (.zip)", file_types=[".zip"], height=140,
                                    elem_id=f"{prefix}-image-zip", elem_classes="segdemo-files")
                mask_zip = gr.File(label="Masks (.zip)", file_types=[".zip"], height=140,
                                   elem_id=f"{prefix}-mask-zip", elem_classes="segdemo-files")
    return image_files, mask_files, image_zip, mask_zip


def one_source(folder_files, zip_file, what):
    """Which upload holds the images (or masks): ('folder', files) or ('zip', path); gr.Error for none or both."""
    if folder_files and zip_file:
        raise user_error(f"Give the {what} either as a folder or as a zip, not both: clear one of them.")
    if zip_file:
        return "zip", zip_file
    if folder_files:
        return "folder", folder_files
    raise user_error(f"Upload the {what}: a folder (choose the folder) or a zip file.")


@contextlib.contextmanager
def dataset_folders(image_files, mask_files, image_zip, mask_zip):
    """(image folder, mask folder) on disk for uploaded folders or zips; removed when the block ends.

    Each is a folder named as the user knows it, inside a fresh temporary folder (TEMP_PREFIX, which
    user_text leaves out of messages): 'images.zip' for a zip (extracted safely by files.safe_extract_zip),
    'images' or 'masks' for a folder upload, whose files arrive as a list and are linked into it.
    """
    sources = [one_source(image_files, image_zip, "images"), one_source(mask_files, mask_zip, "masks")]
    with contextlib.ExitStack() as stack:
        folders = []
        for (kind, source), what in zip(sources, ("images", "masks")):
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=TEMP_PREFIX)))
            if kind == "zip":
                with user_errors():
                    folders.append(files.safe_extract_zip(source, root / Path(source).name))
                continue
            folder = root / what
            folder.mkdir()
            for path in source:
                target = folder / Path(path).name
                if target.exists():
                    continue  # the same name twice in one upload (subfolders): keep the first
                try:
                    os.link(path, target)
                except OSError:
                    shutil.copyfile(path, target)
            folders.append(folder)
        yield folders


def check_report(image_dir, mask_dir, classes, ignore):
    """files.check_dataset with the class names (if any), its lines in user_text; InputError -> user_error."""
    with user_errors():
        report = files.check_dataset(image_dir, mask_dir, ignore_index=ignore, class_names=list(classes) or None)
    for lines in (report.notes, report.warnings, report.errors):
        lines[:] = [user_text(line) for line in lines]
    return report


def class_names(text):
    """data.parse_class_names; its ValueError (e.g. a name given twice) -> gr.Error."""
    with user_errors():
        return data.parse_class_names(text)


# ----------------------------------------------------------------------------- rendering


def badges(*texts):
    """HTML pills."""
    return '<div class="badges">' + "".join(
        f'<span class="badge">{html.escape(t)}</span>' for t in texts if t) + "</div>"


def progress_html(fraction, text):
    """A progress bar with a line of text under it; fraction None: a run with no planned end (striped)."""
    if fraction is None:
        bar = '<div class="progress-inner progress-open" style="width:100%"></div>'
    else:
        bar = f'<div class="progress-inner" style="width:{max(0.0, min(1.0, float(fraction))) * 100:.1f}%"></div>'
    return f'<div class="progress-outer">{bar}</div><div class="progress-text">{html.escape(text)}</div>'


def format_seconds(seconds):
    """12 -> '12 s', 95 -> '1 min 35 s'."""
    if seconds is None or not np.isfinite(seconds):
        return "estimating..."
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def run_outcome(training):
    """'Stopped (early stopping: ...): 12 epochs in 3 min 0 s.' from a manifest's "training" record."""
    reason = training.get("stop_reason", "finished")
    epochs = training.get("epochs_run", 0)
    return (f"{'Stopped' if training.get('stopped_early') else 'Finished'}"
            f"{'' if reason == 'finished' else f' ({reason})'}: {epochs} epoch{'s' if epochs != 1 else ''} "
            f"in {format_seconds(training.get('seconds'))}.")


def start_text(recipe):
    """What a run started from, for a sentence: 'the encoder of camvid-fcn8s (a head start)' or 'scratch'."""
    start = recipe.get("start_from")
    return f"the encoder of {start} (a head start)" if start and start != "auto" else "scratch"


def per_class_table(scores):
    """metrics.scores -> DataFrame with one row per class."""
    rows = [{"class": name, "IoU": m["iou"], "accuracy": m["accuracy"], "Dice": m["dice"],
             "pixels": m["support"]} for name, m in scores["per_class"].items()]
    table = pd.DataFrame(rows, columns=list(CLASS_COLUMNS))
    return table.round({"IoU": 3, "accuracy": 3, "Dice": 3})


def summary_markdown(scores):
    """The headline metrics of metrics.scores as a Markdown table."""
    cells = [format_score(scores[k], 3) for k in ("miou", "fwiou", "pixel_accuracy", "mean_class_accuracy", "dice")]
    return ("| mIoU | fwIoU | pixel acc. | class acc. | Dice |\n"
            "|---:|---:|---:|---:|---:|\n"
            f"| **{cells[0]}** | {' | '.join(cells[1:])} |")


def _markdown_cell(text):
    """Escape characters that would break a Markdown table cell or list item."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def report_markdown(report):
    """A files.DatasetReport as compact Markdown: verdict, counts and sizes, class table, notes, warnings, errors."""
    verdict = "**Data set OK**" if report.ok else "**Data set has problems**"
    parts = [verdict, f"{report.n_pairs} pairs (checked {report.n_checked}); image sizes: "
                      f"{report.size_text()}; classes found: {report.num_classes_found}"]
    rows = report.class_rows()
    if rows:
        table = ["| label | class | pixels | share |", "|---:|:---|---:|---:|"]
        table += [f"| {label} | {_markdown_cell(name)} | {pixels:,} | {share:.1f}% |"
                  for label, name, pixels, share in rows]
        parts.append("\n".join(table))
    for title, items in (("Notes", report.notes), ("Warnings", report.warnings), ("Errors", report.errors)):
        if items:
            parts.append(f"**{title}**\n" + "\n".join(f"- {_markdown_cell(item)}" for item in items))
    return "\n\n".join(parts)
