"""segdemo in the browser: segment a photo, compare FCN-32s/16s/8s and SegNet, train and evaluate.

UI only: `demo` (a gr.Blocks) is built at import time and every handler is a thin wrapper
around segdemo. Run:

    python app.py [--host 127.0.0.1] [--port 7860] [--share]

Models come from the weights folder ($SEGDEMO_WEIGHTS, else weights/). Outputs are written to a
temporary folder; the weights and source folders are never served.
"""
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")  # figures are drawn off screen, in worker threads

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import html  # noqa: E402
import queue  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
from collections import OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import cv2  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402

from segdemo import data, files, infer, metrics, store, viz  # noqa: E402
from segdemo import train as training  # noqa: E402

APP_DIR = Path(__file__).resolve().parent
EXAMPLES_DIR = APP_DIR / "examples"
EXAMPLES = sorted(str(p) for p in EXAMPLES_DIR.glob("*.png"))
ARCH_LABELS = {"fcn32s": "FCN-32s", "fcn16s": "FCN-16s", "fcn8s": "FCN-8s", "segnet": "SegNet"}
FCN_ARCHS = ("fcn32s", "fcn16s", "fcn8s")
# Default sticker class: the largest of these "thing" classes present (CamVid's countable
# objects); else the largest class present other than class 0 (by convention the background
# of binary masks); else class 0.
THING_CLASSES = ("Car", "Pedestrian", "Bicyclist", "SignSymbol", "Pole")
MAX_LOADED_MODELS = 8  # Segmenters kept in memory (least recently used dropped first)
DISPLAY_MAX_SIDE = 1600  # larger photos are shrunk before segmenting, to keep the page fast
APP_COMMAND = "app.py (Train tab)"  # recorded in manifests; such models may be retrained in place
WORST_IMAGES = 3  # evaluation: how many lowest-mIoU images to show
TRAIN_SAMPLES = 2  # training: validation images whose predictions refresh each epoch
MAX_PLOT_POINTS = 400  # training loss curve points shown (older steps are thinned out)
PROBE_SIDE = 224  # the model card lists layer output shapes for a square photo of this side
CLASS_COLUMNS = ("class", "IoU", "accuracy", "Dice", "pixels")
LAYER_COLUMNS = ("layer", "type", "output shape", "params")
LOSS_CHOICES = [("cross-entropy", "ce"), ("weighted cross-entropy", "weighted-ce"), ("Dice", "dice"),
                ("focal", "focal")]
WEIGHT_CHOICES = [("none", "none"), ("median frequency (SegNet)", "median-frequency")]
PICKERS = ("seg_model", "cmp_models", "card_model", "eval_model", "fcn_model")  # refresh_pickers' order
HEAT_KINDS = ("confidence (max softmax)", "uncertainty (entropy)")
SEG_QUEUE = {"concurrency_id": "segment", "concurrency_limit": 2}  # model runs: at most two at once
VIEW_QUEUE = {"concurrency_id": "view", "concurrency_limit": 4, "show_progress": "hidden"}  # no model run
PRIVATE = {"api_visibility": "private"}  # UI-only events: not API endpoints
QUEUE_SIZE = 64
MAX_FILE_SIZE = 200 * 1024 * 1024  # bytes: the largest upload, and the largest request body of any kind
UPLOAD_ROUTE = "/gradio_api/upload"  # gradio streams these to disk and checks each file itself
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="teal", neutral_hue="slate",  # system fonts:
                       font=["ui-sans-serif", "system-ui", "sans-serif"],  # no request leaves the page
                       font_mono=["ui-monospace", "SFMono-Regular", "Consolas", "monospace"])
CSS = """
.intro p { margin: 0 0 .25em 0; }
.badges { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; }
.badge { display: inline-block; padding: .15em .6em; border-radius: 999px; font-size: .85em;
         background: var(--block-background-fill); border: 1px solid var(--border-color-primary);
         color: var(--body-text-color); white-space: nowrap; }
.segdemo-legend { padding: .25em .5em; }
.segdemo-gallery .grid-wrap { padding-top: 2.8em; }  /* keep the label off the first thumbnails */
.segdemo-gallery .thumbnail-item { aspect-ratio: 4 / 3; }  /* photos, not squares: captions stay in view */
@media (max-width: 640px) {  /* phones: two thumbnails a row, none cut off */
  .segdemo-gallery .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
}
.progress-outer { height: 14px; border-radius: 7px; background: var(--border-color-primary);
                  overflow: hidden; margin: .3em 0; }
.progress-inner { height: 100%; background: var(--color-accent); transition: width .4s; }
.progress-text { font-size: .9em; color: var(--body-text-color); }
"""
SKIP_TEXT = """
**Why the three FCNs differ: skip connections.** The VGG16 encoder halves the image five
times, so its last feature map (*pool5*) sees the whole scene but only at 1/32 of the
resolution: **FCN-32s** upsamples that coarse map 32x in one step, and its classes come out as
soft blobs. **FCN-16s** adds a *skip connection*: it upsamples the coarse prediction 2x and adds
a prediction made from *pool4* (1/16 resolution), which still knows where edges are. **FCN-8s**
does it once more with *pool3* (1/8), so thin things like poles and people get sharper
outlines. **SegNet** takes another route: its decoder mirrors the encoder and unpools with the
positions remembered by every max-pooling layer, recovering detail step by step.
"""
FCN_INSIDE_TEXT = """
**Inside one FCN.** The same network's prediction at each stage of its decoder, every map
upsampled to the photo's size: first from *pool5* alone (stride 32), then after adding *pool4*
(stride 16), then after adding *pool3* (stride 8). Watch the edges sharpen.
"""


# ----------------------------------------------------------------------------- small helpers


@contextlib.contextmanager
def user_errors():
    """Turn segdemo's user-facing errors (InputError, ModelFileError, ValueError) into gr.Error."""
    try:
        yield
    except gr.Error:
        raise
    except ValueError as err:  # InputError and ModelFileError are ValueErrors
        raise gr.Error(str(err).strip() or err.__class__.__name__) from None


def arch_label(arch):
    """'fcn8s' -> 'FCN-8s'."""
    return ARCH_LABELS.get(arch, str(arch))


def val_miou(manifest):
    """The model's validation mIoU from its manifest, or None."""
    return ((manifest.get("metrics") or {}).get("val") or {}).get("miou")


def model_label(manifest):
    """Picker label: 'camvid-fcn8s · FCN-8s · val mIoU 0.52'."""
    miou = val_miou(manifest)
    score = f"val mIoU {miou:.2f}" if miou is not None else "val mIoU n/a"
    return f"{manifest['name']} · {arch_label(manifest.get('arch'))} · {score}"


def sort_key(manifest):
    """Models in teaching order: FCN-32s, FCN-16s, FCN-8s, SegNet, then anything else; by name."""
    order = list(ARCH_LABELS)
    arch = manifest.get("arch")
    return (order.index(arch) if arch in order else len(order), manifest["name"])


def list_models():
    """Manifests of the weights folder's models in teaching order."""
    return sorted(store.list_models(), key=sort_key)


def default_model(manifests):
    """store.DEFAULT_MODEL if present, else the model with the best val mIoU, else None."""
    names = [m["name"] for m in manifests]
    if store.DEFAULT_MODEL in names:
        return store.DEFAULT_MODEL
    scored = sorted(manifests, key=lambda m: -(val_miou(m) or -1.0))
    return scored[0]["name"] if scored else None


def checked_model(name):
    """The manifest of a model the picker lists; gr.Error for anything else (typed or sent by the API)."""
    manifests = {m["name"]: m for m in store.list_models()}
    if not manifests:
        raise gr.Error("No models in the weights folder yet: train one in the Train tab.")
    if not isinstance(name, str) or name not in manifests:
        shown = repr(name)[:80]
        raise gr.Error(f"Unknown model {shown}: choose one of {', '.join(sorted(manifests))}.")
    return manifests[name]


def parse_class_names(text):
    """'a, b' or one name a line -> ('a', 'b'); 'camvid' -> CamVid's 11 classes; '' -> ()."""
    text = (text or "").strip()
    if text.lower() == "camvid":
        return data.CAMVID_CLASSES
    names = tuple(n.strip() for n in re.split(r"[,\n]", text) if n.strip())
    if len(set(names)) != len(names):
        raise gr.Error("Class names must be different from each other.")
    return names


def void_label(text):
    """The ignored (void) mask label typed in the UI: None when empty or 'none'."""
    text = str(text if text is not None else "").strip()
    if text.lower() in ("", "none"):
        return None
    if not text.isdigit() or int(text) > 255:
        raise gr.Error(f"The ignored (void) label must be a whole number 0..255 or empty, got {text[:20]!r}.")
    return int(text)


def safe_filename(text):
    """A string reduced to letters, digits, '.', '_' and '-' for use in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._") or "image"


def shrink(rgb):
    """(image no longer than DISPLAY_MAX_SIDE, note or '')."""
    h, w = rgb.shape[:2]
    scale = DISPLAY_MAX_SIDE / max(h, w)
    if scale >= 1:
        return rgb, ""
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), f" (shrunk from {w}x{h})"


def read_photo(path):
    """An uploaded image path -> RGB uint8, with segdemo's checks (EXIF, CMYK, 16-bit, size)."""
    if path is None:
        raise gr.Error("Upload, paste or capture an image first, or click one of the examples.")
    with user_errors():
        return files.read_image(path, name=Path(path).name)


def sticker_default(legend_entries):
    """The class the sticker starts with (see THING_CLASSES)."""
    present = [e["name"] for e in legend_entries]  # largest first
    things = [n for n in present if n in THING_CLASSES]
    if things:
        return things[0]
    others = [e["name"] for e in legend_entries if e["index"] != 0]
    return others[0] if others else (present[0] if present else None)


def format_seconds(seconds):
    """12 -> '12 s', 95 -> '1 min 35 s'."""
    if seconds is None or not np.isfinite(seconds):
        return "estimating..."
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def badges(*texts):
    """HTML pills."""
    return '<div class="badges">' + "".join(
        f'<span class="badge">{html.escape(t)}</span>' for t in texts if t) + "</div>"


def metric(value, digits=3):
    """A score as text, '-' when undefined."""
    return "-" if value is None else f"{value:.{digits}f}"


def progress_html(fraction, text):
    """A progress bar with a line of text under it."""
    pct = max(0.0, min(1.0, float(fraction))) * 100
    return (f'<div class="progress-outer"><div class="progress-inner" style="width:{pct:.1f}%">'
            f'</div></div><div class="progress-text">{html.escape(text)}</div>')


def progress_text(p, stop):
    """'Epoch 2/5 · step 10/46 · loss 0.734 · best val mIoU 0.31 · 1 min 20 s left'."""
    parts = [f"Epoch {p.epoch}/{p.epochs}", f"step {p.step}/{p.steps}"]
    if np.isfinite(p.loss):
        parts.append(f"loss {p.loss:.3f}")
    if p.history:
        parts.append(f"best val mIoU {max(h['val_miou'] or 0 for h in p.history):.3f}")
    parts.append("stopping after this step..." if stop.is_set() else f"{format_seconds(p.eta_seconds)} left")
    return " · ".join(parts)


def progress_batches(events, interval=0.5):
    """Lists of the training.Progress items put on a queue, one list per `interval` at most, until None."""
    while True:
        try:
            batch = [events.get(timeout=interval)]
        except queue.Empty:
            continue
        while not events.empty():
            batch.append(events.get_nowait())
        items = [p for p in batch if p is not None]
        if items:
            yield items
        if len(items) < len(batch):
            return


def loss_frame(losses):
    """(step, loss) pairs as a DataFrame for the loss plot, thinned to MAX_PLOT_POINTS."""
    frame = pd.DataFrame(losses[:: max(1, len(losses) // MAX_PLOT_POINTS)], columns=["step", "loss"])
    return frame.astype({"step": "int64", "loss": "float64"})  # numbers, also when empty: numeric axes


def miou_frame(history):
    """training.Progress history as a DataFrame for the val mIoU plot."""
    frame = pd.DataFrame([(h["epoch"], h["val_miou"]) for h in history], columns=["epoch", "val mIoU"])
    return frame.astype({"epoch": "int64", "val mIoU": "float64"})


def per_class_table(scores):
    """metrics.scores -> DataFrame with one row per class."""
    rows = [{"class": name, "IoU": m["iou"], "accuracy": m["accuracy"], "Dice": m["dice"],
             "pixels": m["support"]} for name, m in scores["per_class"].items()]
    table = pd.DataFrame(rows, columns=list(CLASS_COLUMNS))
    return table.round({"IoU": 3, "accuracy": 3, "Dice": 3})


def summary_markdown(scores):
    """The headline metrics of metrics.scores as a Markdown table."""
    return ("| mIoU | fwIoU | pixel acc. | class acc. | Dice |\n"
            "|---:|---:|---:|---:|---:|\n"
            f"| **{metric(scores['miou'])}** | {metric(scores['fwiou'])} | "
            f"{metric(scores['pixel_accuracy'])} | {metric(scores['mean_class_accuracy'])} | "
            f"{metric(scores['dice'])} |")


def confusion_figure(cm, classes):
    """Row-normalised confusion matrix (each row: where that class's pixels went) as a seaborn heatmap."""
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, np.float64), where=rows > 0)
    n = len(classes)
    side = min(11.0, 3.0 + 0.55 * n)
    fig = Figure(figsize=(side + 1.2, side), dpi=100, layout="constrained")
    ax = fig.subplots()
    sns.heatmap(norm, ax=ax, vmin=0, vmax=1, cmap="viridis", square=True, annot=n <= 12, fmt=".2f",
                annot_kws={"fontsize": 8}, xticklabels=classes, yticklabels=classes,
                cbar_kws={"label": "share of the true class's pixels"})
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.tick_params(axis="x", labelrotation=60)
    ax.tick_params(axis="y", labelrotation=0)
    return fig


def layer_table(model):
    """One row per Keras layer: name, type, output shape for a PROBE_SIDE photo (H, W, C), parameters."""
    import keras

    outputs, owners = [], []
    for i, layer in enumerate(model.layers):
        out = layer.output
        for tensor in out if isinstance(out, (list, tuple)) else [out]:
            outputs.append(tensor)
            owners.append(i)
    probe = keras.Model(model.inputs, outputs)
    values = probe([np.zeros((1, PROBE_SIDE, PROBE_SIDE, 3), np.float32)], training=False)
    shapes = [[] for _ in model.layers]
    for i, value in zip(owners, values):
        shapes[i].append(" x ".join(str(d) for d in value.shape[1:]))
    rows = [(layer.name, layer.__class__.__name__, " + ".join(shape), layer.count_params())
            for layer, shape in zip(model.layers, shapes)]
    return pd.DataFrame(rows, columns=list(LAYER_COLUMNS))


def model_card_markdown(manifest, params):
    """What a model is, how it was trained and how well it does, from its manifest."""
    recipe = manifest.get("recipe") or {}
    data_info = manifest.get("data") or {}
    run = manifest.get("training") or {}
    val = (manifest.get("metrics") or {}).get("val") or {}
    crop = recipe.get("crop")
    crop = "x".join(str(c) for c in crop) if crop else "-"
    classes = manifest.get("classes", [])
    epochs = recipe.get("epochs", "-")
    lines = [
        f"### {manifest['name']}: {arch_label(manifest.get('arch'))} on a VGG16 encoder of width "
        f"x{manifest.get('width', '-')}",
        f"**{params:,} parameters** · {len(classes)} classes: {', '.join(map(str, classes))}",
        "",
        f"- **Training data:** {data_info.get('n_train', '-')} images "
        f"(folder *{html.escape(Path(str(data_info.get('images', '-'))).name)}*); validation: "
        f"{data_info.get('n_val', '-')} images, {html.escape(str(data_info.get('val', '-')))}",
        f"- **Recipe:** {epochs} epoch{'s' if epochs != 1 else ''}, batch {recipe.get('batch_size', '-')}, "
        f"crop {crop}, learning rate {recipe.get('lr', '-')}, loss {recipe.get('loss', '-')}, "
        f"class weights {recipe.get('class_weights', '-')}",
        f"- **Best epoch:** {(manifest.get('metrics') or {}).get('epoch', '-')} of "
        f"{run.get('epochs_run', '-')} run{' (stopped early)' if run.get('stopped_early') else ''}, "
        f"trained in {format_seconds(run.get('seconds'))} on {html.escape(str(run.get('machine', '-')))}, "
        f"{html.escape(str(run.get('date', '-')))}",
        "",
        "**Validation scores** (full frames)",
        "",
        summary_markdown(val) if val else "-",
    ]
    return "\n".join(lines)


def _photo_component():
    """The Photo class: a gr.Image(type="filepath") whose uploads segdemo reads and checks.

    gradio's own preprocessing opens every upload with PIL and fails with no message on a file
    that is not an image; Photo hands the uploaded path to the handler, where files.read_image
    raises an InputError that names the file and the problem. Data URLs (some webcam and
    clipboard captures) still go through gradio. `is_template` keeps gradio's Image front end.
    gradio writes a .pyi stub beside the file that defines a component class; the app must not
    write into its source folder, so that step is skipped while the class is made.
    """
    import gradio.component_meta

    with mock.patch.object(gradio.component_meta, "create_or_modify_pyi", lambda *args: None):
        class Photo(gr.Image):
            is_template = True

            def preprocess(self, payload):
                if payload is None or payload.path is None or (payload.url or "").startswith("data:"):
                    return super().preprocess(payload)
                return payload.path  # gradio has checked that it is an upload of this app

    return Photo


Photo = _photo_component()


# ----------------------------------------------------------------------------- loaded models


class Segmenters:
    """Loaded Segmenters, one per model name, reloaded when the model file changes."""

    def __init__(self, capacity=MAX_LOADED_MODELS):
        self.capacity = capacity
        self._items = OrderedDict()  # name -> ((mtime_ns, size), Segmenter)
        self._lock = threading.Lock()
        self._name_locks = {}

    def get(self, name):
        """The warmed Segmenter for a listed model (checked against the weights folder)."""
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
                        return hit[1]
                segmenter = infer.Segmenter.load(name).warmup()
                with self._lock:
                    self._items[name] = (stamp, segmenter)
                    self._items.move_to_end(name)
                    while len(self._items) > self.capacity:
                        self._items.popitem(last=False)
                return segmenter


# ----------------------------------------------------------------------------- uploaded data sets


def _one_source(folder_files, zip_file, what):
    """Which upload holds the images (or masks): ('folder', files) or ('zip', path)."""
    if folder_files and zip_file:
        raise gr.Error(f"Give the {what} either as a folder or as a zip, not both: clear one of them.")
    if zip_file:
        return "zip", zip_file
    if folder_files:
        return "folder", folder_files
    raise gr.Error(f"Upload the {what}: a folder (choose the folder) or a zip file.")


@contextlib.contextmanager
def dataset_folders(image_files, mask_files, image_zip, mask_zip):
    """(image folder, mask folder) on disk for uploaded folders or zips; removed when the block ends.

    A folder upload arrives as a list of files; they are linked into a fresh temporary folder.
    A zip is extracted safely by files.extracted_zip.
    """
    sources = [_one_source(image_files, image_zip, "images"), _one_source(mask_files, mask_zip, "masks")]
    with contextlib.ExitStack() as stack:
        folders = []
        for kind, source in sources:
            if kind == "zip":
                with user_errors():
                    folders.append(stack.enter_context(files.extracted_zip(source)))
                continue
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="segdemo-upload-")))
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
    """files.check_dataset with the class names (if any); InputError -> gr.Error."""
    with user_errors():
        return files.check_dataset(image_dir, mask_dir, ignore_index=ignore,
                                   class_names=list(classes) or None)


def split_indices(n, fraction, seed):
    """The validation indices train() will use (data.split), or [] when n is too small to split."""
    try:
        return data.split(n, fraction, seed)[1]
    except ValueError:
        return []


# ----------------------------------------------------------------------------- the handlers


class Handlers:
    """Every event handler of the app, sharing loaded models, an output folder and training runs."""

    def __init__(self):
        self.segmenters = Segmenters()
        self._outputs = tempfile.TemporaryDirectory(prefix="segdemo-app-")  # removed at exit
        self.out_dir = Path(self._outputs.name)
        self._device = None
        self.runs = {}  # run token -> threading.Event that stops it
        self.ui = {}  # components the training generator updates by name, filled by build_demo

    @property
    def device(self):
        """infer.device(), computed once."""
        if self._device is None:
            self._device = infer.device()
        return self._device

    def out_path(self, filename):
        """A fresh path in the output folder with a readable file name."""
        folder = self.out_dir / uuid.uuid4().hex[:12]
        folder.mkdir()
        return folder / filename

    # --- model pickers

    def picker_update(self, fcn_only=False):
        """gr.update with the weights folder's models (only the FCNs if fcn_only) as choices."""
        return gr.update(choices=[(model_label(m), m["name"]) for m in list_models()
                                  if not fcn_only or m.get("arch") in FCN_ARCHS])

    def refresh_pickers(self):
        """Fresh choices for every model picker, in the order of PICKERS."""
        return tuple(self.picker_update(fcn_only=key == "fcn_model") for key in PICKERS)

    def warm_default(self):
        """Load and warm the default model, so that the first click is fast. Returns its name."""
        name = default_model(list_models())
        if name:
            self.segmenters.get(name)
        return name

    # --- Segment tab

    def segment(self, image_path, model, opacity, heat_kind):
        """Segment one photo: mask, legend, overlay, binary maps, confidence map and its caption,
        badges, the sticker class picker and the result kept for re-blending and stickers."""
        rgb, note = shrink(read_photo(image_path))
        segmenter = self.segmenters.get(model)
        with user_errors():
            result = segmenter.segment(rgb)
        color = viz.colorize(result.labels, result.palette)
        entries = viz.legend(result.labels, result.classes, result.palette)
        maps = [(m["mask"], f"{m['name']} · {100 * m['share']:.1f}%")
                for m in viz.binary_maps(result.labels, result.classes)]
        state = {"image": rgb, "labels": result.labels, "color": color, "classes": result.classes,
                 "confidence": result.confidence, "entropy": viz.entropy(result.probs),
                 "stem": safe_filename(Path(image_path).stem)}
        default = sticker_default(entries)
        h, w = rgb.shape[:2]
        info = badges(self.device, f"{1000 * result.seconds:.0f} ms last run",
                      f"{w}x{h} px{note}")
        heat_image, heat_text = self.heat(state, heat_kind)
        return (color, viz.legend_html(entries), viz.overlay(rgb, color, float(opacity)), maps,
                heat_image, heat_text, info,
                gr.update(choices=[e["name"] for e in entries], value=default), state)

    def segment_auto(self, image_path, model, opacity, heat_kind):
        """segment, for uploads and example clicks; a cleared image changes nothing."""
        if image_path is None:
            return (gr.skip(),) * 9
        return self.segment(image_path, model, opacity, heat_kind)

    def blend(self, state, opacity):
        """Re-blend the overlay from the last result (no model run)."""
        if not state:
            return gr.skip()
        return viz.overlay(state["image"], state["color"], float(opacity))

    def heat(self, state, kind):
        """Confidence (max softmax) or uncertainty (entropy) heatmap from the last result."""
        if not state:
            return gr.skip(), gr.skip()
        if kind == HEAT_KINDS[1]:
            values = state["entropy"]
            text = (f"Uncertainty: bright = unsure. Mean entropy {values.mean():.2f} "
                    f"(0 = certain, 1 = all classes equally likely).")
            return viz.heatmap(values, cmap="magma"), text
        values = state["confidence"]
        text = (f"Confidence: bright = sure, dark = unsure. Mean {values.mean():.2f}; "
                f"{100 * (values < 0.5).mean():.0f}% of pixels below 0.5.")
        return viz.heatmap(values, cmap="viridis"), text

    def sticker_auto(self, state, class_name, border):
        """sticker, after a segmentation or a slider move: nothing to do (and no error) without a result."""
        if not state or class_name not in state["classes"]:
            return gr.skip(), gr.skip()
        return self.sticker(state, class_name, border)

    def sticker(self, state, class_name, border):
        """Cut the chosen class out as an RGBA PNG with a light outline; preview on a checkerboard."""
        if not state:
            raise gr.Error("Segment an image first: the sticker is cut from the last result.")
        classes = list(state["classes"])
        if class_name not in classes:
            raise gr.Error(f"Unknown class {repr(class_name)[:60]}: choose one of the classes in the "
                           f"legend.")
        with user_errors():
            rgba = viz.sticker(state["image"], state["labels"] == classes.index(class_name),
                               border=int(border), name=class_name)
            path = viz.save_png(self.out_path(f"{state['stem']}-{safe_filename(class_name)}-sticker.png"),
                                rgba)
        return viz.checkerboard(rgba), str(path)

    # --- Compare tab

    def compare(self, image_path, models, fcn_model):
        """The photo through every chosen model, then one FCN's stride-32/16/8 predictions."""
        rgb, _ = shrink(read_photo(image_path))
        if not models:
            raise gr.Error("Tick at least one model to compare.")
        gallery, rows = [], []
        for name in models:
            segmenter = self.segmenters.get(name)
            with user_errors():
                result = segmenter.segment(rgb)
            miou = val_miou(segmenter.manifest)
            gallery.append((viz.colorize(result.labels, result.palette),
                            f"{arch_label(segmenter.manifest.get('arch'))} · mIoU {metric(miou, 2)} · "
                            f"{1000 * result.seconds:.0f} ms"))
            rows.append(f"| {name} | {metric(miou)} | {1000 * result.seconds:.0f} ms | "
                        f"{segmenter.model.count_params() / 1e6:.2f} M |")
        table = ("| model | val mIoU | time | parameters |\n"
                 "|:---|---:|---:|---:|\n" + "\n".join(rows)
                 + f"\n\nTime: this photo on {self.device}.")
        stages = []
        if fcn_model:
            segmenter = self.segmenters.get(fcn_model)
            with user_errors():
                for title, labels in segmenter.stages(rgb):
                    stages.append((viz.colorize(labels, segmenter.palette), title))
        return gallery, table, stages

    def model_card(self, name):
        """Model card: summary Markdown, layer table, per-class validation table."""
        if not name:
            return "Pick a model.", None, None
        segmenter = self.segmenters.get(name)
        manifest, model = segmenter.manifest, segmenter.model
        val = (manifest.get("metrics") or {}).get("val")
        return (model_card_markdown(manifest, model.count_params()), layer_table(model),
                per_class_table(val) if val else None)

    # --- Train tab

    def check_dataset(self, image_files, mask_files, image_zip, mask_zip, class_text, void):
        """Check an uploaded data set: the report, and the Start button enabled only when it is usable."""
        try:
            classes, ignore = parse_class_names(class_text), void_label(void)
            with dataset_folders(image_files, mask_files, image_zip, mask_zip) as (image_dir, mask_dir):
                report = check_report(image_dir, mask_dir, classes, ignore)
        except gr.Error as err:
            gr.Warning(err.message)
            return f"**Cannot use this data set:** {err.message}", gr.update(interactive=False)
        if not report.ok:
            gr.Warning("The data set has problems: see the report. Training stays disabled until "
                       "they are fixed.")
        return report.to_markdown(), gr.update(interactive=report.ok)

    def check_dataset_auto(self, image_files, mask_files, image_zip, mask_zip, class_text, void):
        """check_dataset as soon as both images and masks are uploaded; a hint until then."""
        if not (image_files or image_zip) or not (mask_files or mask_zip):
            return ("Upload the images and the masks (folders or zips); they are checked as soon as "
                    "both are here."), gr.update(interactive=False)
        return self.check_dataset(image_files, mask_files, image_zip, mask_zip, class_text, void)

    def _validation_samples(self, report, config):
        """A few validation images and masks (as train() splits them) to show predictions on."""
        picked = split_indices(report.n_pairs, config.val_split, config.seed)[:TRAIN_SAMPLES]
        samples = []
        for i in picked:
            image_path, mask_path = report.pairs[i]
            with user_errors():
                mask, _ = files.read_mask(mask_path, len(config.classes) or None, config.ignore_index)
                samples.append((files.read_image(image_path), mask, image_path.name))
        return samples

    @staticmethod
    def _sample_gallery(segmenter, samples, caption):
        """Photo, truth and prediction for each sample (labels outside the classes, e.g. void, black)."""
        items = []
        for image, mask, filename in samples:
            pred = segmenter.segment(image).labels
            items += [(image, filename), (viz.colorize(mask, segmenter.palette), "truth"),
                      (viz.colorize(pred, segmenter.palette), caption)]
        return items

    def _train_config(self, name, classes, ignore, arch, width, epochs, batch_size, crop, lr, loss,
                      class_weights, val_split, steps_per_epoch):
        """A checked TrainConfig (folders filled in later); gr.Error for a bad name or option."""
        with user_errors():
            store.check_name(name)
        existing = {m["name"]: m for m in store.list_models()}
        if name in existing and (existing[name].get("training") or {}).get("command") != APP_COMMAND:
            raise gr.Error(f"A model named {name!r} already exists and was not trained here: "
                           f"choose another name.")
        with user_errors():
            return training.TrainConfig(
                arch=arch, width=float(width), epochs=int(epochs), batch_size=int(batch_size),
                crop=(int(crop), int(crop)), lr=float(lr), loss=loss, class_weights=class_weights,
                val_split=float(val_split), steps_per_epoch=int(steps_per_epoch or 0),
                ignore_index=ignore, classes=classes,
                fc_channels=max(64, int(4096 * float(width)))).check()

    def train(self, image_files, mask_files, image_zip, mask_zip, class_text, void, arch, width,
              epochs, batch_size, crop, lr, loss, class_weights, val_split, steps_per_epoch, name):
        """Train on an uploaded data set in a worker thread, streaming progress, curves and samples.

        Yields dicts of component updates; the last one names the saved model and refreshes the
        model pickers. Stop (or cancelling the call) keeps the best epoch so far.
        """
        ui = self.ui
        classes, ignore = parse_class_names(class_text), void_label(void)
        config = self._train_config(name, classes, ignore, arch, width, epochs, batch_size, crop, lr, loss,
                                    class_weights, val_split, steps_per_epoch)
        stop, token, events, outcome = threading.Event(), uuid.uuid4().hex, queue.Queue(), {}
        losses, history, shown_best = [], [], None

        def work():
            try:
                outcome["result"] = training.train(config, name, on_progress=events.put, stop_event=stop,
                                                   command=APP_COMMAND)
            except Exception as err:  # shown to the user below
                outcome["error"] = err
                traceback.print_exc()
            finally:
                events.put(None)

        with dataset_folders(image_files, mask_files, image_zip, mask_zip) as (image_dir, mask_dir):
            report = check_report(image_dir, mask_dir, classes, ignore)
            if not report.ok:
                raise gr.Error("The data set has problems (see the report under Check): "
                               + "; ".join(report.errors[:3]))
            config.images, config.masks = str(image_dir), str(mask_dir)  # train() reads them at its start
            samples = self._validation_samples(report, config)
            sample_classes = classes or tuple(f"class {i}" for i in range(max(1, report.num_classes_found)))
            thread = threading.Thread(target=work, name=f"train-{name}", daemon=True)
            self.runs[token] = stop
            thread.start()
            try:
                yield {ui["status"]: progress_html(0, f"Loading {report.n_pairs} image/mask pairs..."),
                       ui["start"]: gr.update(interactive=False), ui["stop"]: gr.update(interactive=True),
                       ui["run"]: token, ui["result"]: "", ui["samples"]: None,
                       ui["loss_plot"]: loss_frame(losses), ui["miou_plot"]: miou_frame(history)}
                for batch in progress_batches(events):
                    losses += [((p.epoch - 1) * p.steps + p.step, p.loss) for p in batch
                               if p.phase == "train" and np.isfinite(p.loss)]
                    last = batch[-1]
                    update = {ui["status"]: progress_html(last.fraction, progress_text(last, stop)),
                              ui["loss_plot"]: loss_frame(losses)}
                    if last.history != history:  # an epoch ended: validation scores and a better model?
                        history = last.history
                        update[ui["miou_plot"]] = miou_frame(history)
                        best = max(history, key=lambda h: h["val_miou"] or 0)["epoch"]
                        if samples and best != shown_best and last.checkpoint:
                            shown_best = best
                            with contextlib.suppress(ValueError, OSError):  # replaced while read: next time
                                segmenter = infer.Segmenter(store.load_keras(last.checkpoint),
                                                            {"name": name, "classes": list(sample_classes)})
                                update[ui["samples"]] = self._sample_gallery(
                                    segmenter, samples, f"prediction (epoch {best})")
                    yield update
            finally:
                if thread.is_alive():  # cancelled or disconnected: stop cleanly, keep the best epoch
                    stop.set()
                    thread.join()
                self.runs.pop(token, None)

        done = {ui["start"]: gr.update(interactive=True), ui["stop"]: gr.update(interactive=False),
                ui["run"]: None, ui["loss_plot"]: loss_frame(losses), ui["miou_plot"]: miou_frame(history)}
        if "error" in outcome:
            err = outcome["error"]
            message = str(err) if isinstance(err, ValueError) else f"{err.__class__.__name__}: {err}"
            yield {**done, ui["status"]: progress_html(0, "Training failed.")}
            raise gr.Error(f"Training failed: {message}")
        path, manifest = outcome["result"]
        if path is None:
            yield {**done, ui["status"]: progress_html(0, "Stopped before the first epoch ended."),
                   ui["result"]: "**Nothing saved**: training stopped before the first epoch ended."}
            return
        best_epoch, run = manifest["metrics"]["epoch"], manifest["training"]
        ran = (f"{'Stopped' if run['stopped_early'] else 'Finished'}: {run['epochs_run']} "
               f"epoch{'s' if run['epochs_run'] != 1 else ''} in {format_seconds(run['seconds'])}.")
        saved = (f"Saved **{name}** ({arch_label(arch)}): val mIoU **{metric(val_miou(manifest))}** at epoch "
                 f"{best_epoch}. It is now in the model pickers of the Segment, Compare and Evaluate tabs."
                 f"\n\n{summary_markdown(manifest['metrics']['val'])}")
        final = {**done, ui["status"]: progress_html(1.0, ran), ui["result"]: saved,
                 **dict(zip([ui[k] for k in PICKERS], self.refresh_pickers()))}
        if samples:
            final[ui["samples"]] = self._sample_gallery(self.segmenters.get(name), samples,
                                                        f"prediction (epoch {best_epoch})")
        yield final

    def stop_training(self, token):
        """Ask this session's run to stop at its next step; the best epoch so far is saved."""
        event = self.runs.get(token) if token else None
        if event is None:
            gr.Info("No training of yours is running.")
            return gr.skip()
        event.set()
        gr.Info("Stopping after the current step; the best epoch so far will be saved.")
        return gr.update(interactive=False)

    # --- Evaluate tab

    def evaluate(self, model, image_files, mask_files, image_zip, mask_zip, progress=gr.Progress()):
        """Score a model on a labelled data set: metrics, confusion matrix, worst images."""
        segmenter = self.segmenters.get(model)
        classes, ignore = list(segmenter.classes), segmenter.manifest.get("ignore_index")
        cm = np.zeros((len(classes), len(classes)), np.int64)
        worst = []  # (mIoU, file name, image, truth, prediction), the WORST_IMAGES lowest so far
        with dataset_folders(image_files, mask_files, image_zip, mask_zip) as (image_dir, mask_dir):
            report = check_report(image_dir, mask_dir, classes, ignore)
            if not report.ok:
                raise gr.Error("This data set does not fit the model: " + "; ".join(report.errors[:3]))
            for k, (image_path, mask_path) in enumerate(report.pairs):
                progress((k, report.n_pairs), desc=f"Segmenting {image_path.name}")
                with user_errors():
                    image = files.read_image(image_path)
                    truth, _ = files.read_mask(mask_path, len(classes), ignore)
                    pred = segmenter.segment(image).labels
                    one = metrics.confusion_matrix(truth, pred, len(classes), ignore)
                cm += one
                miou = metrics.scores(one, classes)["miou"]
                if miou is not None:  # None: nothing labelled in this image
                    worst = sorted(worst + [(miou, image_path.name, image, truth, pred)],
                                   key=lambda r: r[0])[:WORST_IMAGES]
        scores = metrics.scores(cm, classes)
        gallery = []
        for miou, filename, image, truth, pred in worst:
            gallery += [(image, f"mIoU {miou:.2f} · {filename}"),
                        (viz.colorize(truth, segmenter.palette, ignore_index=ignore), "truth (black: void)"),
                        (viz.colorize(pred, segmenter.palette), "prediction")]
        summary = (f"**{model}** on {report.n_pairs} images ({scores['n_pixels']:,} labelled pixels)\n\n"
                   + summary_markdown(scores))
        if scores["undefined"]:
            summary += ("\n\nAbsent from truth and prediction (left out of the means): "
                        + ", ".join(scores["undefined"]))
        return summary, per_class_table(scores), confusion_figure(cm, classes), gallery


# ----------------------------------------------------------------------------- the page


def dataset_upload(prefix):
    """Image and mask uploads, as folders or as zips: (image files, mask files, image zip, mask zip)."""
    with gr.Tabs():
        with gr.Tab("Folders"):
            with gr.Row():
                image_files = gr.File(label="Image folder", file_count="directory", height=140,
                                      elem_id=f"{prefix}-image-folder")
                mask_files = gr.File(label="Mask folder", file_count="directory", height=140,
                                     elem_id=f"{prefix}-mask-folder")
        with gr.Tab("Zip files"):
            with gr.Row():
                image_zip = gr.File(label="Images (.zip)", file_types=[".zip"], height=140,
                                    elem_id=f"{prefix}-image-zip")
                mask_zip = gr.File(label="Masks (.zip)", file_types=[".zip"], height=140,
                                   elem_id=f"{prefix}-mask-zip")
    return image_files, mask_files, image_zip, mask_zip


def _segment_tab(handlers, choices, default, ui):
    """Segment: photo in; mask, legend, overlay, binary maps, confidence and a sticker out."""
    gr.Markdown("Upload, paste or take a photo (or click an example). The model colours each pixel by "
                "class; slide the opacity to compare with the photo.", elem_classes="intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            image = Photo(label="Photo", type="filepath", sources=["upload", "webcam", "clipboard"],
                          height=300, elem_id="photo")
            model = ui["seg_model"] = gr.Dropdown(
                choices, value=default, label="Model", allow_custom_value=True, elem_id="seg-model",
                info="val mIoU: how well it did on validation images (1 = perfect)")
            run = gr.Button("Segment", variant="primary", elem_id="segment-button")
            info = gr.HTML(badges(handlers.device if default else "no model loaded"), elem_id="seg-info")
            examples = gr.Examples(EXAMPLES, inputs=image, examples_per_page=6, elem_id="seg-examples",
                                   label="Examples: CamVid validation frames (click one)")
        with gr.Column(scale=1, min_width=280):
            mask = gr.Image(label="Class mask", format="png", interactive=False, height=300, elem_id="mask")
            legend = gr.HTML('<div class="segdemo-legend" style="opacity:.7"><em>The classes found will be '
                             'listed here, largest first.</em></div>', elem_id="legend", padding=True)
            maps = gr.Gallery(label="One map per class found", format="png", columns=2, height=330,
                              object_fit="contain", elem_id="binary-maps", elem_classes="segdemo-gallery")
        with gr.Column(scale=1, min_width=280):
            overlay = gr.Image(label="Overlay", format="png", interactive=False, height=300,
                               elem_id="overlay")
            opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Overlay opacity", elem_id="opacity",
                                info="0 = photo only, 1 = mask only")
            heat = gr.Image(label="Where is the model unsure?", format="png", interactive=False, height=260,
                            elem_id="confidence")
            heat_kind = gr.Radio(list(HEAT_KINDS), value=HEAT_KINDS[0], show_label=False)
            heat_text = gr.Markdown("Bright = sure, dark = unsure.")
    gr.Markdown("### Sticker\nCut one class out of the photo as a transparent PNG with a light outline "
                "(the outline is the mask minus its erosion).")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=260):
            sticker_class = gr.Dropdown([], label="Class", allow_custom_value=True, elem_id="sticker-class",
                                        info="starts with the largest object class found")
            border = gr.Slider(0, 21, value=5, step=1, label="Outline (erosion size, px)",
                               info="0 or 1: no outline")
            download = gr.DownloadButton("Download sticker (PNG)", value=None, variant="primary",
                                         elem_id="sticker-download")
        with gr.Column(scale=2, min_width=300):
            sticker = gr.Image(label="Sticker (checkerboard = transparent)", format="png", interactive=False,
                               height=260, elem_id="sticker")
    result = gr.State(None)  # the last segmentation, for re-blending and stickers without a model run

    inputs = [image, model, opacity, heat_kind]
    outputs = [mask, legend, overlay, maps, heat, heat_text, info, sticker_class, result]
    sticker_io = dict(inputs=[result, sticker_class, border], outputs=[sticker, download], **VIEW_QUEUE)
    segmented = run.click(handlers.segment, inputs, outputs, api_name="segment", **SEG_QUEUE)
    sticker_class.input(handlers.sticker, **sticker_io, api_name="sticker")
    # The UI's own events: no API endpoints; a result-less sticker or an emptied photo changes nothing.
    segmented.then(handlers.sticker_auto, **sticker_io, **PRIVATE)
    for trigger in (image.upload, model.input, examples.load_input_event.then):
        trigger(handlers.segment_auto, inputs, outputs, **SEG_QUEUE, **PRIVATE).then(
            handlers.sticker_auto, **sticker_io, **PRIVATE)
    border.release(handlers.sticker_auto, **sticker_io, **PRIVATE)
    opacity.change(handlers.blend, [result, opacity], overlay, trigger_mode="always_last", **VIEW_QUEUE,
                   **PRIVATE)
    heat_kind.change(handlers.heat, [result, heat_kind], [heat, heat_text], **VIEW_QUEUE, **PRIVATE)


def _compare_tab(handlers, choices, fcn_choices, default, ui):
    """Compare & look inside: every model on one photo, one FCN's stages, model cards."""
    gr.Markdown("One photo through every model, side by side; then inside one FCN; then each model's card.",
                elem_classes="intro")
    shipped = [n for _, n in choices if n.startswith("camvid-")] or [n for _, n in choices][:4]
    default_fcn = store.DEFAULT_MODEL if store.DEFAULT_MODEL in [n for _, n in fcn_choices] else (
        fcn_choices[-1][1] if fcn_choices else None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            image = Photo(EXAMPLES[2] if EXAMPLES else None, label="Photo", type="filepath",
                          sources=["upload", "clipboard"], height=240, elem_id="compare-photo")
            examples = gr.Examples(EXAMPLES, inputs=image, label="Examples (click one)", examples_per_page=6)
        with gr.Column(scale=1, min_width=280):
            models = ui["cmp_models"] = gr.CheckboxGroup(choices, value=shipped, label="Models to compare")
            fcn = ui["fcn_model"] = gr.Dropdown(fcn_choices, value=default_fcn, allow_custom_value=True,
                                                label="FCN to look inside")
            run = gr.Button("Compare", variant="primary", elem_id="compare-button")
            table = gr.Markdown()
    gallery = gr.Gallery(label="Every model on the same photo", format="png", columns=4, height=310,
                         object_fit="contain", elem_id="compare-gallery", elem_classes="segdemo-gallery")
    gr.Markdown(SKIP_TEXT)
    gr.Markdown(FCN_INSIDE_TEXT)
    stages = gr.Gallery(label="Inside the FCN: stride 32 → 16 → 8", format="png", columns=3, height=380,
                        object_fit="contain", elem_id="stages", elem_classes="segdemo-gallery")
    gr.Markdown("### Model card")
    card = ui["card_model"] = gr.Dropdown(choices, value=default, label="Model", allow_custom_value=True)
    card_text = gr.Markdown()
    with gr.Row(equal_height=False):
        card_classes = gr.Dataframe(headers=list(CLASS_COLUMNS), label="Validation scores per class",
                                    interactive=False, max_height=420)
        card_layers = gr.Dataframe(headers=list(LAYER_COLUMNS), interactive=False, max_height=420,
                                   label=f"Layers (output shapes for a {PROBE_SIDE}x{PROBE_SIDE} photo)")

    compare_io = dict(inputs=[image, models, fcn], outputs=[gallery, table, stages], concurrency_id="compare",
                      concurrency_limit=1)
    card_io = dict(inputs=card, outputs=[card_text, card_layers, card_classes], **VIEW_QUEUE)
    run.click(handlers.compare, **compare_io, api_name="compare")
    card.change(handlers.model_card, **card_io, api_name="model_card")
    examples.load_input_event.then(handlers.compare, **compare_io, **PRIVATE)
    return card_io


def _train_tab(handlers, ui):
    """Train: upload and check a data set, choose a recipe, start, watch, stop."""
    gr.Markdown("Train your own model on your photos and masks (a mask is a PNG with one class number per "
                "pixel, same file name as its photo; 0/255 masks are read as 0/1). Upload, check, then "
                "start. The best epoch is saved as a new model.", elem_classes="intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=320):
            uploads = dataset_upload("train")
            with gr.Row():
                class_text = gr.Textbox(label="Class names (optional)", lines=2,
                                        placeholder="background, cat   (or 'camvid')",
                                        info="comma or newline separated, in label order")
                void = gr.Textbox("", label="Ignored (void) label (optional)", placeholder="none",
                                  info="a mask value the loss skips, e.g. 11 for CamVid")
            check = gr.Button("Check data set")
            report = gr.Markdown("Upload images and masks, then check them.", elem_id="report")
        with gr.Column(scale=2, min_width=300):
            arch = gr.Radio([(label, key) for key, label in ARCH_LABELS.items()], value="fcn8s",
                            label="Architecture")
            with gr.Row():
                width = gr.Dropdown([0.0625, 0.125, 0.25, 0.5, 1.0], value=0.125, label="Width",
                                    info="x VGG16's channels")
                epochs = gr.Number(5, label="Epochs", precision=0, minimum=1, maximum=500, elem_id="epochs")
                batch_size = gr.Number(4, label="Batch size", precision=0, minimum=1, maximum=64,
                                       elem_id="batch-size")
            with gr.Row():
                crop = gr.Slider(64, 512, value=224, step=32, label="Crop size (px)", elem_id="crop")
                lr = gr.Number(1e-3, label="Learning rate", minimum=1e-6, maximum=1.0)
            with gr.Row():
                loss = gr.Dropdown(LOSS_CHOICES, value="ce", label="Loss")
                class_weights = gr.Dropdown(WEIGHT_CHOICES, value="none", label="Class weighting",
                                            info="rare classes count more")
            with gr.Row():
                val_split = gr.Slider(0.05, 0.5, value=0.2, step=0.05, label="Validation share")
                steps = gr.Number(0, label="Steps per epoch", precision=0, minimum=0, elem_id="steps",
                                  info="0 = one pass over the images")
            name = gr.Textbox("my-fcn8s", label="Model name", elem_id="model-name",
                              info="letters, digits, '.', '_' and '-'")
            with gr.Row():
                ui["start"] = gr.Button("Start training", variant="primary", interactive=False,
                                        elem_id="start")
                ui["stop"] = gr.Button("Stop (keep best)", variant="stop", interactive=False, elem_id="stop")
    ui["status"] = gr.HTML(progress_html(0, "Not started."), elem_id="train-status")
    ui["result"] = gr.Markdown(elem_id="train-result")
    with gr.Row(equal_height=False):
        ui["loss_plot"] = gr.LinePlot(loss_frame([]), x="step", y="loss", title="Training loss (per step)",
                                      height=240)
        ui["miou_plot"] = gr.LinePlot(miou_frame([]), x="epoch", y="val mIoU", y_lim=[0, 1], height=240,
                                      title="Validation mIoU (per epoch)")
    ui["samples"] = gr.Gallery(label="Validation images: photo, truth, prediction", format="png", columns=6,
                               fit_columns=False, height=230, object_fit="contain", elem_id="train-samples",
                               elem_classes="segdemo-gallery")
    ui["run"] = gr.State(None)  # this session's run token, for Stop

    check_io = dict(inputs=[*uploads, class_text, void], outputs=[report, ui["start"]],
                    concurrency_id="check", concurrency_limit=2)
    check.click(handlers.check_dataset, **check_io, api_name="check_dataset")
    for upload in uploads:
        upload.change(handlers.check_dataset_auto, **check_io, trigger_mode="always_last", **PRIVATE)
    arch.change(lambda a: f"my-{a}", arch, name, queue=False, **PRIVATE)
    ui["stop"].click(handlers.stop_training, ui["run"], ui["stop"], concurrency_limit=None, **PRIVATE)
    return [*uploads, class_text, void, arch, width, epochs, batch_size, crop, lr, loss, class_weights,
            val_split, steps, name]


def _evaluate_tab(handlers, choices, default, ui):
    """Evaluate: a model on a labelled data set."""
    gr.Markdown("Score a model on labelled images it has not seen: per-class IoU, where it confuses "
                "classes, and the images it gets most wrong. Masks must use the model's class numbers "
                "(CamVid models: 0 to 10, and 11 for void), same file names as the photos.",
                elem_classes="intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            model = ui["eval_model"] = gr.Dropdown(choices, value=default, label="Model",
                                                   allow_custom_value=True, elem_id="eval-model")
            uploads = dataset_upload("eval")
            run = gr.Button("Evaluate", variant="primary", elem_id="eval-button")
        with gr.Column(scale=3, min_width=320):
            summary = gr.Markdown("Results appear here.", elem_id="eval-summary")
            table = gr.Dataframe(headers=list(CLASS_COLUMNS), label="Per class", interactive=False,
                                 max_height=420)
    with gr.Row(equal_height=False):
        plot = gr.Plot(label="Confusion matrix (each row sums to 1)", format="png", elem_id="eval-plot")
        worst = gr.Gallery(label=f"The {WORST_IMAGES} hardest images: photo, truth, prediction", format="png",
                           columns=3, height=520, object_fit="contain", elem_id="eval-worst",
                           elem_classes="segdemo-gallery")
    run.click(handlers.evaluate, [model, *uploads], [summary, table, plot, worst], api_name="evaluate",
              concurrency_id="evaluate", concurrency_limit=1)


def build_demo(handlers):
    """The whole app as a gr.Blocks; `handlers` does the work."""
    manifests = list_models()
    choices = [(model_label(m), m["name"]) for m in manifests]
    fcn_choices = [(model_label(m), m["name"]) for m in manifests if m.get("arch") in FCN_ARCHS]
    default = default_model(manifests)
    ui = handlers.ui
    with gr.Blocks(title="segdemo: semantic segmentation you can see, touch and train",
                   analytics_enabled=False) as demo:
        gr.Markdown("# segdemo · semantic segmentation\nA network gives **every pixel** of a photo a class: "
                    "road, car, person... Try it on a street scene, compare four classic networks, look "
                    "inside one, then train your own.", elem_classes="intro")
        with gr.Tabs():
            with gr.Tab("Segment", id="segment") as segment_tab:
                _segment_tab(handlers, choices, default, ui)
            with gr.Tab("Compare & look inside", id="compare") as compare_tab:
                card_io = _compare_tab(handlers, choices, fcn_choices, default, ui)
            with gr.Tab("Train", id="train"):
                train_inputs = _train_tab(handlers, ui)
            with gr.Tab("Evaluate", id="evaluate") as evaluate_tab:
                _evaluate_tab(handlers, choices, default, ui)

        pickers = [ui[key] for key in PICKERS]
        train_outputs = [ui[key] for key in ("status", "loss_plot", "miou_plot", "samples", "result", "start",
                                             "stop", "run")] + pickers
        ui["start"].click(handlers.train, train_inputs, train_outputs, api_name="train",
                          concurrency_id="train", concurrency_limit=1, show_progress="minimal")
        # Models trained or shipped since the page was built show up without a restart.
        refresh = dict(fn=handlers.refresh_pickers, inputs=None, outputs=pickers, queue=False,
                       show_progress="hidden", **PRIVATE)
        demo.load(**refresh)
        for tab in (segment_tab, compare_tab, evaluate_tab):
            tab.select(**refresh)
        for picker in (ui["seg_model"], ui["card_model"], ui["eval_model"], ui["fcn_model"]):
            picker.focus(functools.partial(handlers.picker_update, fcn_only=picker is ui["fcn_model"]), None,
                         picker, queue=False, show_progress="hidden", **PRIVATE)
        demo.load(handlers.model_card, **card_io, **PRIVATE)
    demo.handlers = handlers  # launch() warms the default model in its cache
    return demo


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over `limit` bytes or of unknown length, before any is read.

    gradio limits uploads to UPLOAD_ROUTE file by file; every other body (a JSON call may carry an image
    as a base64 data URL) would be read into memory whole, whatever its size.
    """

    def __init__(self, app, limit):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != UPLOAD_ROUTE:
            headers = dict(scope["headers"])
            length = headers.get(b"content-length", b"" if b"transfer-encoding" in headers else b"0")
            if not length.isdigit() or int(length) > self.limit:
                refusal = PlainTextResponse(f"Request body over {self.limit} bytes (or of unknown length): "
                                            f"refused.", status_code=413)
                return await refusal(scope, receive, send)
        await self.app(scope, receive, send)


def launch(host="127.0.0.1", port=7860, share=False, **kwargs):
    """Warm the default model, then serve `demo` (queue on, no analytics or monitoring, 200 MB uploads
    and request bodies at most).

    Extra keyword arguments go to demo.launch (e.g. prevent_thread_lock=True in tests).
    """
    started = time.perf_counter()
    name = demo.handlers.warm_default()
    print(f"default model {name or '(none: the weights folder is empty)'} warmed in "
          f"{time.perf_counter() - started:.1f} s on {demo.handlers.device}", flush=True)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=2)
    return demo.launch(server_name=host, server_port=port, share=share, max_file_size=MAX_FILE_SIZE,
                       enable_monitoring=False, theme=THEME, css=CSS, footer_links=["api"], ssr_mode=False,
                       app_kwargs={"middleware": [Middleware(BodySizeLimit, limit=MAX_FILE_SIZE)]}, **kwargs)


def main(argv=None):
    """python app.py [--host 127.0.0.1] [--port 7860] [--share]"""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="also create a public gradio.live link")
    args = parser.parse_args(argv)
    launch(args.host, args.port, args.share)


demo = build_demo(Handlers())

if __name__ == "__main__":
    main()
