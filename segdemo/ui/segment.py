"""The Segment tab: a photo in; mask, legend, overlay, binary maps, confidence and a sticker out."""
from pathlib import Path

import gradio as gr

from .. import cutout, viz
from .common import (EXAMPLES, PHOTO_EVENT, PRIVATE, SEG_QUEUE, VIEW_QUEUE, badges, photo, read_photo,
                     safe_filename, shrink, user_errors)

HEAT_KINDS = ("confidence (max softmax)", "uncertainty (entropy)")


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
                                         info="val mIoU: how well it did on validation images (1 = perfect)")
                run = gr.Button("Segment", variant="primary", elem_id="segment-button")
                info = gr.HTML(badges(shared.device if default else "no model loaded"), elem_id="seg-info")
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
                heat = gr.Image(label="Where is the model unsure?", format="png", interactive=False,
                                height=260, elem_id="confidence")
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
                sticker = gr.Image(label="Sticker (checkerboard = transparent)", format="png",
                                   interactive=False, height=260, elem_id="sticker")
        result = gr.State(None)  # the last segmentation, for re-blending and stickers without a model run

        inputs = [image, self.model, opacity, heat_kind]
        outputs = [mask, legend, overlay, maps, heat, heat_text, info, sticker_class, result]
        sticker_io = dict(inputs=[result, sticker_class, border], outputs=[sticker, download], **VIEW_QUEUE)
        segmented = run.click(self.segment, inputs, outputs, api_name="segment", **SEG_QUEUE, **PHOTO_EVENT)
        sticker_class.input(self.sticker, **sticker_io, api_name="sticker")
        # The UI's own events: no API endpoints; a result-less sticker or an emptied photo changes nothing.
        segmented.then(self.sticker_auto, **sticker_io, **PRIVATE)
        for trigger in (image.upload, self.model.input, examples.load_input_event.then):
            trigger(self.segment_auto, inputs, outputs, **SEG_QUEUE, **PRIVATE, **PHOTO_EVENT).then(
                self.sticker_auto, **sticker_io, **PRIVATE)
        border.release(self.sticker_auto, **sticker_io, **PRIVATE)
        opacity.change(self.blend, [result, opacity], overlay, trigger_mode="always_last", **VIEW_QUEUE,
                       **PRIVATE)
        heat_kind.change(self.heat, [result, heat_kind], [heat, heat_text], **VIEW_QUEUE, **PRIVATE)

    def segment(self, image, model, opacity, heat_kind):
        """Segment one photo: mask, legend, overlay, binary maps, confidence map and its caption,
        badges, the sticker class picker and the result kept for re-blending and stickers."""
        rgb, filename = read_photo(image)
        rgb, note = shrink(rgb)
        segmenter = self.shared.segmenters.get(model)
        with user_errors():
            result = segmenter.segment(rgb)
        color = viz.colorize(result.labels, result.palette)
        entries = viz.legend(result.labels, result.classes, result.palette)
        maps = [(m["mask"], f"{m['name']} · {100 * m['share']:.1f}%")
                for m in viz.binary_maps(result.labels, result.classes)]
        state = {"image": rgb, "labels": result.labels, "color": color, "classes": result.classes,
                 "confidence": result.confidence, "entropy": viz.entropy(result.probs),
                 "stem": safe_filename(Path(filename).stem)}
        h, w = rgb.shape[:2]
        info = badges(self.shared.device, f"{1000 * result.seconds:.0f} ms last run", f"{w}x{h} px{note}")
        heat_image, heat_text = self.heat(state, heat_kind)
        return (color, viz.legend_html(entries), viz.overlay(rgb, color, float(opacity)), maps,
                heat_image, heat_text, info,
                gr.update(choices=[e["name"] for e in entries], value=self.sticker_default(result)), state)

    @staticmethod
    def sticker_default(result):
        """The class the sticker starts with: the most whole object (cutout.sticker_class)."""
        index = cutout.sticker_class(result.labels, result.classes)
        return None if index is None else result.classes[index]

    def segment_auto(self, image, model, opacity, heat_kind):
        """segment, for uploads and example clicks; a cleared image changes nothing."""
        if image is None:
            return (gr.skip(),) * 9
        return self.segment(image, model, opacity, heat_kind)

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
            raise gr.Error(f"Unknown class {repr(class_name)[:60]}: choose one of the classes in the legend.")
        with user_errors():
            rgba = cutout.sticker(state["image"], state["labels"] == classes.index(class_name),
                               border=int(border), name=class_name)
            path = viz.save_png(self.shared.out_path(
                f"{state['stem']}-{safe_filename(class_name)}-sticker.png"), rgba)
        return cutout.checkerboard(rgba), str(path)
