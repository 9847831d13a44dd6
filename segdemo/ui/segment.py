"""The Segment tab: a photo in; mask, legend, overlay, binary maps, confidence, truth and error, a pixel probe
and a sticker out."""
from pathlib import Path

import gradio as gr
from matplotlib.figure import Figure
from PIL import Image

from .. import cutout, metrics, viz
from ..metrics import format_score
from .common import (EXAMPLES, PHOTO_EVENT, PRIVATE, SEG_QUEUE, VIEW_QUEUE, badges, checked, checked_model,
                     example_truth, photo, read_photo, read_truth, resize_labels, safe_filename, shrink, uploaded,
                     user_error, user_errors)

HEAT_KINDS = ("confidence (max softmax)", "uncertainty (entropy)")
REGIONS = ("whole class", "largest region", "region I click")  # what of the sticker's class is kept
NO_TRUTH = ("*No truth for this photo.* Click an example (CamVid frames come with their labels), or add the "
            "photo's label mask under **Truth mask (optional)**, to see where the model is wrong.")
PROBE_HINT = "*Click a pixel of the mask, the overlay or the truth to see the model's class probabilities there.*"


def knows_text(manifest):
    """What a model can answer: '**camvid-fcn8s knows 11 classes:** Sky, ... It gives every pixel one of them...'"""
    classes = manifest.get("classes", [])
    return (f"**{manifest['name']} knows {len(classes)} classes:** {', '.join(map(str, classes))}. "
            f"It gives every pixel one of them, whatever the photo shows.")


def unlike_text(mean, reference, name):
    """The hint for a photo the model is unsure about (metrics.low_confidence), or '' when it is not."""
    if not metrics.low_confidence(mean, reference):
        return ""
    return (f"**This photo may be unlike anything {name} learned from.** Its mean confidence, {mean:.2f}, is "
            f"lower than on 19 in 20 of the model's own validation frames ({reference['p05']:.2f} and up): "
            f"read its classes as guesses.")


def score_markdown(scores, mistaken, source):
    """This frame's mIoU and pixel accuracy, and per true class (largest first) what it was most often taken for."""
    rows = sorted(((name, m) for name, m in scores["per_class"].items() if m["support"]),
                  key=lambda item: -item[1]["support"])
    table = ["| true class | IoU | most often taken for |", "|:---|---:|:---|"]
    for name, m in rows:
        wrong = mistaken[name]
        taken = f"{wrong['as']} ({100 * wrong['share']:.0f}%)" if wrong else "never mistaken"
        table.append(f"| {name} | {format_score(m['iou'], 2)} | {taken} |")
    return (f"**This frame against {source}:** mIoU **{format_score(scores['miou'], 3)}** · pixel accuracy "
            f"**{format_score(scores['pixel_accuracy'], 3)}** (void pixels are not scored). Per class, what the "
            f"model most often took it for, and on what share of its pixels:\n\n" + "\n".join(table))


def probe_figure(bars, truth=None):
    """viz.pixel_probs as horizontal bars, most likely class on top; the true class (if known) outlined."""
    bars = sorted(bars, key=lambda b: -b["probability"])
    names = [f"{b['name']} (truth)" if b["name"] == truth else b["name"] for b in bars]
    fig = Figure(figsize=(4.4, 0.28 * len(bars) + 0.8), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.barh(range(len(bars)), [b["probability"] for b in bars], color=[b["color"] for b in bars],
            edgecolor=["black" if b["name"] == truth else "none" for b in bars], linewidth=2)
    for i, b in enumerate(bars):
        ax.text(min(b["probability"], 0.86) + 0.015, i, f"{b['probability']:.2f}", va="center", fontsize=9)
    ax.set_yticks(range(len(bars)), names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability at this pixel")
    return fig


class SegmentTab:
    """The tab's layout (built in __init__, inside a gr.Tab) and its handlers."""

    def __init__(self, shared, choices, default):
        self.shared = shared
        gr.Markdown("Upload, paste or take a photo (or click an example). The model colours each pixel by "
                    "class; slide the opacity to compare with the photo.", elem_classes="intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                image = photo(label="Photo", sources=["upload", "webcam", "clipboard"], height=300,
                              elem_id="photo")
                self.model = gr.Dropdown(choices, value=default, label="Model", allow_custom_value=True,
                                         elem_id="seg-model",
                                         info="mIoU: how well it did on frames it never trained on (1 = perfect)")
                knows = gr.Markdown(self.knows(default), elem_id="seg-knows")
                flip = gr.Checkbox(False, label="Also look at the mirrored photo (flip TTA)", elem_id="seg-flip",
                                   info="averages the two answers: often a little better, twice the time")
                run = gr.Button("Segment", variant="primary", elem_id="segment-button")
                info = gr.HTML(badges(shared.device if default else "no model loaded"), elem_id="seg-info")
                examples = gr.Examples(EXAMPLES, inputs=image, examples_per_page=6, elem_id="seg-examples",
                                       label="Examples: CamVid validation frames (click one)")
                truth_upload = gr.Image(label="Truth mask (optional)", type="filepath", sources=["upload"],
                                        height=140, elem_id="truth-upload")
                gr.Markdown("A label mask of your photo (one class number per pixel, as in training) shows "
                            "where the model is wrong.", elem_classes="intro")
            with gr.Column(scale=1, min_width=280):
                mask = gr.Image(label="Class mask (click a pixel)", format="png", interactive=False, height=300,
                                elem_id="mask")
                hint = gr.Markdown(visible=False, elem_id="seg-hint")
                legend = gr.HTML('<div class="segdemo-legend" style="opacity:.7"><em>The classes found will be '
                                 'listed here, largest first.</em></div>', elem_id="legend", padding=True)
                maps = gr.Gallery(label="One map per class found", format="png", columns=2, height=330,
                                  object_fit="contain", elem_id="binary-maps", elem_classes="segdemo-gallery")
            with gr.Column(scale=1, min_width=280):
                # The overlay and the heatmap are for the eye: JPEG, 1 ms to encode where PNG takes 40-70.
                overlay = gr.Image(label="Overlay (click a pixel)", format="jpeg", interactive=False, height=300,
                                   elem_id="overlay")
                opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Overlay opacity", elem_id="opacity",
                                    info="0 = photo only, 1 = mask only")
                probe_text = gr.Markdown(PROBE_HINT, elem_id="probe-text")
                probe = gr.Plot(show_label=False, format="png", visible=False, elem_id="probe")  # until a click
                heat = gr.Image(label="Where is the model unsure?", format="jpeg", interactive=False,
                                height=260, elem_id="confidence")
                heat_kind = gr.Radio(list(HEAT_KINDS), value=HEAT_KINDS[0], show_label=False)
                heat_text = gr.Markdown("Bright = sure, dark = unsure.")
        gr.Markdown("### Truth and error\nThe labels a person drew, in the same colours, and where the model "
                    "agrees with them.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=280):
                truth = gr.Image(label="Truth (black: void, not labelled)", format="png", interactive=False,
                                 height=260, elem_id="truth")
                truth_legend = gr.HTML(elem_id="truth-legend")
            with gr.Column(scale=1, min_width=280):
                error = gr.Image(label="Error map", format="png", interactive=False, height=260, elem_id="error-map")
                error_legend = gr.HTML(elem_id="error-legend")
            with gr.Column(scale=1, min_width=280):
                truth_score = gr.Markdown(NO_TRUTH, elem_id="truth-score")
        gr.Markdown("### Sticker\nCut one class out of the photo as a transparent PNG with a light outline "
                    "(the outline is the mask minus its erosion).")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=260):
                sticker_class = gr.Dropdown([], label="Class", allow_custom_value=True, elem_id="sticker-class",
                                            info="starts with the most whole object found")
                region = gr.Radio(list(REGIONS), value=REGIONS[0], label="Keep", elem_id="sticker-region",
                                  info="region I click: click a pixel of the mask or the overlay")
                border = gr.Slider(0, 21, value=5, step=1, label="Outline (erosion size, px)",
                                   info="0 or 1: no outline")
                download = gr.DownloadButton("Download sticker (PNG)", value=None, variant="primary",
                                             elem_id="sticker-download")
            with gr.Column(scale=2, min_width=300):
                sticker = gr.Image(label="Sticker (checkerboard = transparent)", format="png",
                                   interactive=False, height=260, elem_id="sticker")
        result = gr.State(None)  # the last segmentation, for re-blending, probes and stickers without a model run

        inputs = [image, self.model, opacity, heat_kind, truth_upload, flip]
        outputs = [mask, legend, overlay, maps, heat, heat_text, info, sticker_class, hint, truth, truth_legend,
                   error, error_legend, truth_score, result]
        self.n_outputs = len(outputs)
        sticker_io = dict(inputs=[result, sticker_class, border, region], outputs=[sticker, download], **VIEW_QUEUE)
        probe_io = dict(inputs=[result, region], outputs=[probe, probe_text, sticker_class, result], **VIEW_QUEUE)
        fresh_probe = dict(fn=self.fresh_probe, inputs=None, outputs=[probe, probe_text], queue=False,
                           show_progress="hidden", **PRIVATE)  # a new result: no chart of the last one's pixel
        segmented = checked(run.click, self.check, inputs, **PHOTO_EVENT).success(
            self.segment, inputs, outputs, api_name="segment", **SEG_QUEUE, **PHOTO_EVENT)
        segmented.then(**fresh_probe)
        checked(sticker_class.input, self.check_sticker, sticker_io["inputs"]).success(
            self.sticker, **sticker_io, api_name="sticker")
        # The UI's own events: no API endpoints; a result-less sticker or an emptied photo changes nothing.
        segmented.then(self.sticker_auto, **sticker_io, **PRIVATE)
        automatic = [checked(trigger, self.check_auto, inputs, **PHOTO_EVENT).success(
            self.segment_auto, inputs, outputs, **SEG_QUEUE, **PRIVATE, **PHOTO_EVENT)
            for trigger in (image.upload, self.model.input, truth_upload.upload, flip.input)]
        # An example is one of ours, with no check to wait for; it brings its own truth (a mask given for
        # another photo goes).
        automatic.append(examples.load_input_event.then(
            self.segment_example, [image, self.model, opacity, heat_kind, flip], [*outputs, truth_upload],
            **SEG_QUEUE, **PRIVATE, **PHOTO_EVENT))
        for auto in automatic:
            auto.then(self.sticker_auto, **sticker_io, **PRIVATE)
            auto.then(**fresh_probe)
        self.model.change(self.knows, self.model, knows, queue=False, show_progress="hidden", **PRIVATE)
        for clickable in (mask, overlay, truth, error, heat):
            clickable.select(self.probe, **probe_io, **PRIVATE).then(self.sticker_clicked, **sticker_io, **PRIVATE)
        for control in (border.release, region.input):
            control(self.sticker_auto, **sticker_io, **PRIVATE)
        opacity.change(self.blend, [result, opacity], overlay, trigger_mode="always_last", **VIEW_QUEUE,
                       **PRIVATE)
        heat_kind.change(self.heat, [result, heat_kind], [heat, heat_text], **VIEW_QUEUE, **PRIVATE)

    @staticmethod
    def knows(model):
        """knows_text of a listed model; '' for anything else (the Segment button then says what is wrong)."""
        try:
            return knows_text(checked_model(model))
        except gr.Error:
            return ""

    @staticmethod
    def read_inputs(image, model, truth):
        """The checked inputs of a segmentation: (RGB, file name, manifest, truth labels or None, what the truth
        is), read before any model runs; gr.Error for a mistake."""
        manifest = checked_model(model)
        rgb, filename = read_photo(image)
        labels = read_truth(truth, rgb.shape[:2], manifest)
        if labels is not None:
            return rgb, filename, manifest, labels, "your truth mask"
        labels = example_truth(filename, rgb, manifest, uploaded(image)[0])
        return rgb, filename, manifest, labels, "its CamVid truth"

    def check(self, image, model, opacity, heat_kind, truth=None, flip=False):
        """The Segment button's check (common.checked): read_inputs, nothing shown."""
        self.read_inputs(image, model, truth)

    def check_auto(self, image, model, opacity, heat_kind, truth=None, flip=False):
        """check, for uploads and example clicks; a cleared image is no mistake."""
        if image is not None:
            self.check(image, model, opacity, heat_kind, truth, flip)

    def segment(self, image, model, opacity, heat_kind, truth=None, flip=False):
        """Segment one photo: mask, legend, overlay, binary maps, confidence map and its caption, badges, the
        sticker class picker, the low-confidence hint; with a truth (an example's, or a mask given with the
        photo) the truth, its legend, the error map, its legend and this frame's scores; and the result kept
        for re-blending, probes and stickers. With `flip`, the model also sees the mirrored photo (flip TTA).

        A generator: the mask, its legend and the overlay go to the page first (the binary maps, the heatmap
        and the truth follow in a second update), so that a click shows its answer without waiting for the
        pictures further down; an API client gets the second, complete, update."""
        rgb, filename, manifest, truth, source = self.read_inputs(image, model, truth)
        rgb, note = shrink(rgb)
        segmenter = self.shared.segmenters.get(model, "flip" if flip else "none")
        with user_errors():
            result = segmenter.segment(rgb)
        truth = None if truth is None else resize_labels(truth, rgb.shape[:2])
        color = viz.colorize(result.labels, result.palette)
        entries = viz.legend(result.labels, result.classes, result.palette)
        state = {"image": rgb, "labels": result.labels, "color": color, "classes": result.classes,
                 "palette": result.palette, "confidence": result.confidence, "probs": result.probs,
                 "truth": truth, "ignore": manifest.get("ignore_index"), "point": None,
                 "stem": safe_filename(Path(filename).stem)}
        h, w = rgb.shape[:2]
        info = badges(self.shared.device, "mixed bfloat16" if segmenter.precision == "bfloat16" else "",
                      "flip TTA" if flip else "",
                      f"{1000 * result.seconds:.0f} ms last run", f"{w}x{h} px{note}")
        hint = unlike_text(float(state["confidence"].mean()), segmenter.confidence_reference, segmenter.name)
        # The pictures sent twice go as files: gradio would rewrite a picture given as an image in its cache
        # while the page still downloads it; a file it has already copied it leaves alone.
        folder = self.shared.out_folder()
        mask, shown = folder / f"{state['stem']}-mask.png", folder / f"{state['stem']}-overlay.jpg"
        viz.palette_image(result.labels, result.palette).save(mask)
        Image.fromarray(viz.overlay(rgb, color, float(opacity))).save(shown, quality=90)
        first = (str(mask), viz.legend_html(entries), str(shown))
        # Updates (gr.update) only in the last yield: gradio sends an update's unchanged parts once.
        yield *first, *(gr.skip(),) * 3, info, *(gr.skip(),) * 7, state
        maps = [(Image.fromarray(m["mask"] > 0), f"{m['name']} · {100 * m['share']:.1f}%")  # 1-bit PNGs
                for m in viz.binary_maps(result.labels, result.classes)]
        yield (*first, maps, *self.heat(state, heat_kind), info,
               gr.update(choices=[e["name"] for e in entries], value=self.sticker_default(result)),
               gr.update(value=hint, visible=bool(hint)),
               *self.against_truth(truth, result, state["ignore"], source), state)

    @staticmethod
    def against_truth(truth, result, ignore, source):
        """(truth picture, its legend, error map, its legend, this frame's scores) for a truth; quiet without."""
        if truth is None:
            return None, "", None, "", NO_TRUTH
        classes, palette = result.classes, result.palette
        errors = viz.error_labels(truth, result.labels, len(classes), ignore)
        cm = metrics.confusion_matrix(truth, result.labels, len(classes), ignore_index=ignore)
        return (viz.palette_image(truth, palette, ignore_index=ignore),
                viz.legend_html(viz.legend(truth, classes, palette)),
                viz.palette_image(errors, viz.ERROR_PALETTE),
                viz.legend_html(viz.legend(errors, viz.ERROR_CLASSES, viz.ERROR_PALETTE)),
                score_markdown(metrics.scores(cm, classes), metrics.mistaken_for(cm, classes), source))

    @staticmethod
    def sticker_default(result):
        """The class the sticker starts with: the most whole object (cutout.sticker_class)."""
        index = cutout.sticker_class(result.labels, result.classes)
        return None if index is None else result.classes[index]

    def segment_auto(self, image, model, opacity, heat_kind, truth=None, flip=False):
        """segment, for uploads, example clicks and the flip box; a cleared image changes nothing."""
        if image is None:
            yield (gr.skip(),) * self.n_outputs
            return
        yield from self.segment(image, model, opacity, heat_kind, truth, flip)

    def segment_example(self, image, model, opacity, heat_kind, flip):
        """segment, for an example click: its truth is its own, and the truth mask input is cleared."""
        for update in self.segment_auto(image, model, opacity, heat_kind, None, flip):
            yield *update, None

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
            values = viz.entropy(state["probs"])  # only when asked for: 30 ms of every click otherwise
            text = (f"Uncertainty: bright = unsure. Mean entropy {values.mean():.2f} "
                    f"(0 = certain, 1 = all classes equally likely).")
            return viz.heatmap(values, cmap="magma"), text
        values = state["confidence"]
        text = (f"Confidence: bright = sure, dark = unsure. Mean {values.mean():.2f}; "
                f"{100 * (values < 0.5).mean():.0f}% of pixels below 0.5.")
        return viz.heatmap(values, cmap="viridis"), text

    @staticmethod
    def clicked_pixel(state, evt):
        """(y, x) of a click on a picture of the last result, or None (no result, or a click beside the picture,
        for which gradio gives no pixel)."""
        index = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else None
        if not state or not index or None in index:
            return None
        (x, y), (h, w) = (int(v) for v in index), state["labels"].shape
        return (y, x) if 0 <= x < w and 0 <= y < h else None

    @staticmethod
    def fresh_probe():
        """The probe before any click: no chart, the hint."""
        return gr.update(value=None, visible=False), PROBE_HINT

    def probe(self, state, region, evt: gr.SelectData):
        """The class probabilities at a clicked pixel (from the last result's, no model run) as a bar chart and a
        line; the pixel is kept for "region I click", whose sticker then takes the class there."""
        pixel = self.clicked_pixel(state, evt)
        if pixel is None:
            return (gr.skip(),) * 4
        (y, x), classes = pixel, state["classes"]
        bars = viz.pixel_probs(state["probs"], y, x, classes, state["palette"])
        label = int(state["labels"][y, x])
        predicted = classes[label]
        text = f"**Pixel x={x}, y={y}:** the model says **{predicted}** ({bars[label]['probability']:.2f})"
        truth, true_name = state["truth"], None
        if truth is not None:
            true_label = int(truth[y, x])
            void = true_label >= len(classes) or true_label == state["ignore"]
            true_name = None if void else classes[true_label]
            text += f"; the truth is **{true_name or 'void (not labelled)'}**"
        state["point"] = pixel
        picked = gr.update(value=predicted) if region == REGIONS[2] else gr.skip()
        return gr.update(value=probe_figure(bars, true_name), visible=True), text + ".", picked, state

    def sticker_clicked(self, state, class_name, border, region):
        """After a click: the sticker of the region under it, when that is what the sticker keeps."""
        if region != REGIONS[2]:
            return gr.skip(), gr.skip()
        return self.sticker_auto(state, class_name, border, region)

    @staticmethod
    def kept(state, class_name, region):
        """What of the class the sticker keeps, as cutout.sticker's region: None, "largest" or the clicked (y, x);
        gr.Error when "region I click" has no click on that class."""
        if region == REGIONS[1]:
            return "largest"
        if region != REGIONS[2]:
            return None
        point = state.get("point")
        if point is None or state["classes"][int(state["labels"][point])] != class_name:
            raise user_error(f"Click a pixel of {class_name} in the mask or the overlay: the sticker keeps the "
                             f"region under it.")
        return point

    def check_sticker(self, state, class_name, border, region=REGIONS[0]):
        """The sticker's check (common.checked): a result, a class it found, a click for "region I click"."""
        if not state:
            raise user_error("Segment an image first: the sticker is cut from the last result.")
        if class_name not in state["classes"]:
            raise user_error(f"Unknown class {repr(class_name)[:60]}: choose one of the classes in the legend.")
        if region not in REGIONS:
            raise user_error(f"Unknown region {repr(region)[:60]}: choose one of {', '.join(REGIONS)}.")
        self.kept(state, class_name, region)

    def sticker_auto(self, state, class_name, border, region=REGIONS[0]):
        """sticker, after a segmentation, a click or a control move: nothing to do (and no error) without a
        result, or without a click on the class for "region I click"."""
        try:
            self.check_sticker(state, class_name, border, region)
        except gr.Error:
            return gr.skip(), gr.skip()
        return self.sticker(state, class_name, border, region)

    def sticker(self, state, class_name, border, region=REGIONS[0]):
        """Cut the chosen class (all of it, its largest region or the clicked one) out as an RGBA PNG with a
        light outline; preview on a checkerboard."""
        self.check_sticker(state, class_name, border, region)
        classes = list(state["classes"])
        with user_errors():
            rgba = cutout.sticker(state["image"], state["labels"] == classes.index(class_name),
                                  border=int(border), name=class_name, region=self.kept(state, class_name, region))
            path = viz.save_png(self.shared.out_path(
                f"{state['stem']}-{safe_filename(class_name)}-sticker.png"), rgba)
        return cutout.checkerboard(rgba), str(path)
