"""The Live tab: the webcam segmented as it streams, and a video clip segmented frame by frame."""
import time
from pathlib import Path

import cv2
import gradio as gr

from .. import video, viz
from .common import PRIVATE, badges, progress_html, safe_filename, user_error, user_errors

LIVE_SECONDS = 120  # one viewer's stream, then the server ends it, so that no one holds the model for long
LIVE_VIEWERS = 2  # streams served at once; more viewers take turns in the queue, frame by frame
STREAM_EVERY = 0.1  # seconds between the frames the browser sends (the model sets the real rate)
# Fast is the default: above 5 frames/s on a 2-core CPU (benchmarks/browser.py)
FRAME_SIDES = [("Fast · 240 px", 240), ("Balanced · 360 px", 360), ("Detailed · 480 px", 480)]
FPS_WINDOW = 10  # frames the fps counter averages over
VIDEO_QUEUE = {"concurrency_id": "video", "concurrency_limit": 1}  # one clip at a time: it takes every core


def fit_side(rgb, side):
    """The frame scaled so that its long side is `side` pixels (never enlarged)."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def frame_rate(times):
    """Frames per second over a list of arrival times (seconds), or None before there are two."""
    if len(times) < 2 or times[-1] <= times[0]:
        return None
    return (len(times) - 1) / (times[-1] - times[0])


class LiveTab:
    """The tab's layout (built in __init__, inside a gr.Tab) and its handlers."""

    def __init__(self, shared, choices, default):
        self.shared = shared
        gr.Markdown("Point a camera at a street and press its record button: every frame goes through the "
                    f"model and comes back coloured by class. A stream lasts {LIVE_SECONDS // 60} minutes; start "
                    "it again for more. Below, a video clip is segmented frame by frame.", elem_classes="intro")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                camera = gr.Image(label="Camera", sources=["webcam"], streaming=True, height=320,
                                  webcam_options=gr.WebcamOptions(mirror=False), elem_id="camera")
                self.model = gr.Dropdown(choices, value=default, label="Model", elem_id="live-model")
                side = gr.Radio(FRAME_SIDES, value=240, label="Frame size", elem_id="live-size",
                                info="smaller frames: more frames per second, less detail")
                opacity = gr.Slider(0, 1, value=0.5, step=0.05, label="Overlay opacity")
            with gr.Column(scale=1, min_width=300):
                live = gr.Image(label="Segmented", format="jpeg", interactive=False, height=320,
                                elem_id="live-overlay")
                stats = gr.HTML(badges("waiting for the camera"), elem_id="live-stats")
                legend = gr.HTML(elem_id="live-legend")
        gr.Markdown("### A video clip\nmp4, webm, avi or mov, up to 10 minutes: the overlay comes back as an "
                    "H.264 mp4 with the same frames and frame rate (no sound), with the colour video and "
                    "every frame's class mask (PNG, in a zip) to download.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                clip = gr.Video(label="Clip", sources=["upload"], height=280, elem_id="clip")
                smooth = gr.Slider(0, 0.9, value=0.0, step=0.1, label="Temporal smoothing", elem_id="smooth",
                                   info="weight of the past frames' class probabilities: less flicker, some lag")
                run = gr.Button("Segment the clip", variant="primary", elem_id="clip-button")
            with gr.Column(scale=1, min_width=300):
                overlay_video = gr.Video(label="Overlay", interactive=False, height=280, elem_id="clip-overlay")
                clip_status = gr.HTML(progress_html(0, "No clip yet."), elem_id="clip-status")
                downloads = gr.File(label="Colour video and masks", file_count="multiple", interactive=False,
                                    elem_id="clip-files")
        times = gr.State([])  # this viewer's last frame arrival times, for the fps counter

        camera.stream(self.frame, [camera, self.model, side, opacity, times], [live, stats, legend, times],
                      stream_every=STREAM_EVERY, time_limit=LIVE_SECONDS, concurrency_id="live",
                      concurrency_limit=LIVE_VIEWERS, show_progress="hidden", **PRIVATE)
        run.click(self.video, [clip, self.model, smooth, opacity], [overlay_video, clip_status, downloads],
                  api_name="video", show_progress="minimal", **VIDEO_QUEUE)

    def frame(self, image, model, side, opacity, times):
        """One webcam frame: the overlay, the fps and model-latency badges, the legend and the clock."""
        if image is None:
            return gr.skip(), gr.skip(), gr.skip(), times
        rgb = fit_side(image, int(side))
        with user_errors():
            result = self.shared.segmenters.get(model).segment(rgb)
        color = viz.colorize(result.labels, result.palette)
        times = [*times[-(FPS_WINDOW - 1):], time.perf_counter()]
        fps = frame_rate(times)
        h, w = rgb.shape[:2]
        stats = badges(f"{fps:.1f} frames/s" if fps else "measuring frames/s...",
                       f"model {1000 * result.seconds:.0f} ms", f"{w}x{h} px", self.shared.device)
        legend = viz.legend_html(viz.legend(result.labels, result.classes, result.palette))
        return viz.overlay(rgb, color, float(opacity)), stats, legend, times

    def video(self, clip, model, smooth, opacity, progress=gr.Progress()):
        """Segment a clip (video.segment_video): the overlay video, a status line and the downloads."""
        if not clip:
            raise user_error("Upload a clip first (mp4, webm, avi or mov).")
        segmenter = self.shared.segmenters.get(model)
        segmenter.warmup()
        stem = safe_filename(Path(clip).stem)
        out_dir = self.shared.out_folder()
        last = None
        with user_errors():
            for last in video.segment_video(clip, segmenter, out_dir, smooth=float(smooth), alpha=float(opacity),
                                            masks=True, stem=stem, name=Path(clip).name):
                of = f"/{last.total}" if last.total else ""
                progress(last.fraction, desc=f"frame {last.done}{of} · {last.fps:.1f} frames/s")
        outputs = last.outputs
        status = (f"{last.done} frames segmented at {last.fps:.1f} frames/s with {segmenter.name}"
                  f"{f', smoothing {float(smooth):g}' if smooth else ''}.")
        return (str(outputs["overlay"]), progress_html(1.0, status),
                [str(outputs[k]) for k in ("color", "masks") if outputs.get(k)])
