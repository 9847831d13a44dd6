"""Video files: read a clip frame by frame, segment it, write the overlay and colour videos as H.264 mp4.

Data flows ``probe(path) -> read_frames(info) -> segment_frames(frames, segmenter) -> H264Writer``,
one frame at a time, so memory does not grow with the clip's length: nothing here holds more than
the current frame, the smoothed probabilities of the previous one and the encoder's few frames of
look-ahead.

Reading uses OpenCV (`cv2.VideoCapture` with its FFmpeg backend). Writing uses PyAV, whose wheels
bundle FFmpeg with libx264: the opencv-python-headless wheel has no H.264 encoder (its 'avc1'
writer fails to open, falling back to a hardware encoder this machine lacks), and browsers play
H.264 mp4 but not OpenCV's MPEG-4 part 2 ('mp4v'). Outputs are yuv420p H.264 (High profile),
`+faststart` so that a browser can start playing before the download ends, at the input's frame
rate and frame count, without audio.

Everything a user can get wrong ends in a `files.InputError` whose one-line message names the file:
not a video, truncated or corrupt, a codec OpenCV cannot decode, or a clip over the limits in
`Limits`.
"""
import contextlib
import time
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from . import atomic, files, viz

VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".avi", ".mov"})
MAX_FRAMES = 18_000  # 10 minutes at 30 fps
MAX_SECONDS = 600.0
MAX_PIXELS = 1920 * 1080  # per frame: Full HD passes, 4K does not
MAX_FPS = 240.0  # a larger frame rate is a container's time base, not a frame rate
FRAME_COUNT_SLACK = 2  # frames a container's declared count (estimated from its duration) may overstate
CODEC = "libx264"
PRESET = "superfast"  # ~10 ms per 480x360 frame here, against ~60 ms for x264's default "medium"
CRF = 23  # x264's default quality
MP4_BOXES = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})  # first box of mp4/mov
EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # WebM and Matroska
SUPPORTED = "mp4, webm, avi, mov"


@dataclass(frozen=True)
class Limits:
    """The largest clip accepted: frames, seconds (frames / fps) and pixels per frame (width * height)."""

    frames: int = MAX_FRAMES
    seconds: float = MAX_SECONDS
    pixels: int = MAX_PIXELS


LIMITS = Limits()


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` found out about a clip.

    path: the file; name: its name in messages; width, height: frame size in pixels; fps: frames
    per second; frames: the frame count the container declares (None when it does not say);
    codec: the video codec's FourCC, e.g. 'h264'.
    """

    path: Path
    name: str
    width: int
    height: int
    fps: float
    frames: int | None
    codec: str

    @property
    def seconds(self):
        """Duration in seconds from the declared frame count, or None."""
        return None if self.frames is None else self.frames / self.fps


@dataclass(frozen=True)
class Progress:
    """One step of `segment_video`: frames done out of total (None when unknown), seconds spent.

    outputs: None until the last step, then {"overlay": Path, "color": Path} (and "masks").
    """

    done: int
    total: int | None
    seconds: float
    outputs: dict | None = None

    @property
    def fps(self):
        """Frames segmented (and written) per second so far."""
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def fraction(self):
        """Share of the clip done, 0..1, or None when the frame count is unknown."""
        return min(1.0, self.done / self.total) if self.total else None


def _check_smooth(smooth):
    """ValueError unless smooth is in [0, 1)."""
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth must be in [0, 1), got {smooth!r}")


def _fail(info_or_name, problem):
    """InputError 'name: problem'."""
    name = getattr(info_or_name, "name", info_or_name)
    return files.InputError(f"{name}: {problem}", getattr(info_or_name, "path", None), problem)


def _container(head):
    """'mp4', 'webm' or 'avi' from a file's first bytes, or None when it is none of them."""
    if head[4:8] in MP4_BOXES:
        return "mp4"
    if head[:4] == EBML_MAGIC:
        return "webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    return None


def _fourcc(capture):
    """The video codec's FourCC as text, e.g. 'h264' ('?' when OpenCV does not say)."""
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    text = code.to_bytes(4, "little").decode("latin-1").strip("\0 ")
    return text if code > 0 and text.isprintable() else "?"


def _open(path, name):
    """A cv2.VideoCapture on the FFmpeg backend, or an InputError saying why it cannot be opened."""
    with open(path, "rb") as f:
        head = f.read(12)
    if _container(head) is None:
        raise _fail(name, f"not a video file (supported: {SUPPORTED})")
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not capture.isOpened():
        raise _fail(name, "truncated or corrupt video: OpenCV cannot open it")
    return capture


def probe(path, limits=LIMITS, name=None):
    """Check a clip before any frame is segmented: a video OpenCV can open and decode, within the limits.

    Args:
        path: a video file (mp4, webm, avi or mov; recognised by its content, not its suffix).
        limits: the largest clip accepted (default LIMITS: 18,000 frames, 600 s, 1920x1080 pixels).
        name: the name in messages (default: the file name).

    Returns:
        VideoInfo.

    Raises:
        InputError: missing or empty file, not a video, truncated or corrupt, a codec OpenCV cannot
            decode (e.g. AV1 in OpenCV 4's wheels), a frame rate outside (0, MAX_FPS], or a
            clip over the limits by its declared frame count, duration or frame size.
    """
    path, name = files.check_file(path, name)
    capture = _open(path, name)
    try:
        codec = _fourcc(capture)
        _check_size(name, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                    limits)  # the declared size, before a frame is decoded
        ok, first = capture.read()
        if not ok or first is None:
            raise _fail(name, f"cannot decode its video (codec {codec}): a codec OpenCV cannot read, or a "
                              "corrupt file; convert it to H.264 mp4")
        height, width = first.shape[:2]
        fps = capture.get(cv2.CAP_PROP_FPS)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    info = VideoInfo(path, name, width, height, fps, count if count > 0 else None, codec)
    if not 0 < fps <= MAX_FPS:
        raise _fail(name, f"unreadable frame rate ({fps:g} fps)")
    _check_size(name, width, height, limits)
    if info.frames is not None:
        _check_length(info, info.frames, limits)
    return info


def _check_size(name, width, height, limits):
    """InputError when a frame of width x height is over the pixel limit."""
    if width * height > limits.pixels:
        raise _fail(name, f"video is too large: {width}x{height} = {width * height:,} pixels a frame "
                          f"(limit {limits.pixels:,})")


def _check_length(info, frames, limits):
    """InputError when a clip of `frames` frames is over the frame or duration limit."""
    if frames > limits.frames:
        raise _fail(info, f"video is too long: {frames:,} frames (limit {limits.frames:,})")
    if frames / info.fps > limits.seconds:
        raise _fail(info, f"video is too long: {frames / info.fps:.1f} s (limit {limits.seconds:.1f} s)")


def read_frames(info, limits=LIMITS):
    """Yield a clip's frames one at a time, as decoded: memory does not depend on the clip's length.

    Args:
        info: from `probe`.
        limits: as given to `probe`; enforced again while reading, for containers that do not
            declare their frame count.

    Returns:
        A generator of (H, W, 3) uint8 RGB frames; the capture is released when it ends or is closed.

    Raises:
        InputError: while reading, when fewer frames decode than the container declares (more
            than FRAME_COUNT_SLACK short: a truncated or corrupt file), or the clip turns out to
            be over the limits.
    """
    capture = _open(info.path, info.name)
    done = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            done += 1
            _check_length(info, done, limits)
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # (H, W, 3)
    finally:
        capture.release()
    if info.frames is not None and done < info.frames - FRAME_COUNT_SLACK:
        raise _fail(info, f"truncated or corrupt video: only {done} of {info.frames} frames could be decoded")


def smooth_probs(state, probs, smooth):
    """Exponential moving average of class probabilities: smooth * state + (1 - smooth) * probs.

    Args:
        state: the previous average, (H, W, C) float32, or None for the first frame; updated in place.
        probs: this frame's (H, W, C) probabilities.
        smooth: weight of the past, in [0, 1); 0 returns probs unchanged.

    Returns:
        The new average, (H, W, C) float32.
    """
    _check_smooth(smooth)
    if state is None or smooth == 0.0:
        return np.array(probs, np.float32)
    state *= smooth
    state += (1.0 - smooth) * probs
    return state


def segment_frames(frames, segmenter, smooth=0.0):
    """Segment a stream of frames, optionally smoothing the class probabilities over time.

    Args:
        frames: an iterable of (H, W, 3) uint8 RGB frames of one size, e.g. `read_frames`.
        segmenter: a segdemo.infer.Segmenter.
        smooth: weight of the past in an exponential moving average of the probabilities,
            in [0, 1); 0: each frame on its own. 0.5 halves the weight of a frame each frame later.

    Returns:
        A generator of (frame, (H, W) uint8 labels) pairs, one per frame.
    """
    _check_smooth(smooth)
    state = None
    for frame in frames:
        result = segmenter.segment(frame)
        if smooth == 0.0:
            yield frame, result.labels
            continue
        state = smooth_probs(state, result.probs, smooth)  # (H, W, C)
        yield frame, state.argmax(axis=-1).astype(np.uint8)


def changed_share(previous, labels):
    """Share of pixels whose class differs between two (H, W) label maps."""
    return float(np.mean(previous != labels))


def flicker(label_maps):
    """Mean share of pixels that change class between consecutive label maps.

    Args:
        label_maps: an iterable of (H, W) label maps of one size (consumed one at a time).

    Returns:
        The mean over consecutive pairs, 0..1; 0.0 for fewer than two maps.
    """
    total, pairs, previous = 0.0, 0, None
    for labels in label_maps:
        if previous is not None:
            total += changed_share(previous, labels)
            pairs += 1
        previous = labels
    return total / pairs if pairs else 0.0


def frame_rate(fps):
    """A float frame rate as the exact fraction a container stores: 29.97... -> 30000/1001, 25.0 -> 25."""
    return Fraction(fps).limit_denominator(1001)


def _even(rgb):
    """Pad an odd height or width by one edge pixel (yuv420p needs even sides)."""
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_y4m(path, frames, fps=15):
    """Frames (H, W, 3 RGB, even sides) as an uncompressed YUV4MPEG2 4:2:0 clip: the format Chromium's fake
    camera plays (--use-file-for-fake-video-capture), for tests and benchmarks of the Live tab."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


class H264Writer:
    """An H.264 mp4 written one RGB frame at a time (PyAV, libx264, yuv420p, +faststart, no audio)."""

    def __init__(self, path, width, height, fps):
        """Open the file for writing.

        Args:
            path: destination (the container is mp4 whatever the suffix).
            width, height: frame size; odd sides are padded by one edge pixel.
            fps: frames per second (float or Fraction); frame i is shown at i / fps.
        """
        import av

        self._container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        self._stream = self._container.add_stream(CODEC, rate=frame_rate(fps),
                                                  options={"preset": PRESET, "crf": str(CRF)})
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self.frames = 0

    def write(self, rgb):
        """Encode one (H, W, 3) uint8 RGB frame of the size given at opening."""
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(_even(rgb)), format="rgb24")
        frame.pts = self.frames
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self, flush=True):
        """Flush the encoder (unless flush is False: the file is being abandoned) and finish the file."""
        if self._container is None:
            return
        try:
            if flush:
                self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()
            self._container = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(flush=exc_type is None)


class _MaskZip:
    """Per-frame class-index PNGs appended to a zip, one at a time (stored: PNG is compressed already)."""

    def __init__(self, path, stem):
        self._zip, self._stem, self._index = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED), stem, 0

    def write(self, labels):
        """Append one (H, W) uint8 label map as STEM_000000.png, STEM_000001.png, ..."""
        ok, png = cv2.imencode(".png", labels)
        if not ok:
            raise OSError("PNG encoding failed")
        self._zip.writestr(f"{self._stem}_{self._index:06d}.png", png.tobytes())
        self._index += 1

    def close(self):
        """Finish the zip."""
        self._zip.close()


def output_paths(out_dir, stem, masks=False):
    """{"overlay": DIR/STEM_overlay.mp4, "color": DIR/STEM_color.mp4} and, with masks, DIR/STEM_masks.zip."""
    out_dir = Path(out_dir)
    paths = {"overlay": out_dir / f"{stem}_overlay.mp4", "color": out_dir / f"{stem}_color.mp4"}
    if masks:
        paths["masks"] = out_dir / f"{stem}_masks.zip"
    return paths


def segment_video(path, segmenter, out_dir, smooth=0.0, alpha=0.5, masks=False, limits=LIMITS,
                  stem=None, name=None):
    """Segment a clip into STEM_overlay.mp4 and STEM_color.mp4, reporting progress after every frame.

    The outputs are H.264 mp4 at the input's frame rate and frame count, without audio; the colour
    video is lossy (H.264), so the exact class indices go, with masks=True, into STEM_masks.zip:
    one 8-bit PNG per frame (STEM_000000.png, ...). Files appear only when the whole clip is done
    (written beside their destination and moved into place); an error or closing the generator
    early leaves nothing behind. Memory does not depend on the clip's length.

    Args:
        path: the clip (mp4, webm, avi, mov).
        segmenter: a segdemo.infer.Segmenter (call its warmup() first for a steady fps readout).
        out_dir: output folder, created if missing.
        smooth: temporal smoothing, in [0, 1): see `segment_frames`; 0: off.
        alpha: overlay opacity in [0, 1].
        masks: also write STEM_masks.zip.
        limits: the largest clip accepted (default LIMITS).
        stem: output name stem (default: the clip's file stem).
        name: the clip's name in messages (default: its file name).

    Returns:
        A generator of Progress, one per frame written; the last one, with `outputs` set, comes
        after the files are in place. For example, in a UI:
        ``for p in segment_video(clip, seg, out): bar(p.fraction, f"{p.fps:.1f} fps")``.

    Raises:
        InputError: bad input, see `probe` and `read_frames` (before any output is written, except
            for a truncation found while reading).
        ValueError: smooth or alpha out of range.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    _check_smooth(smooth)
    info = probe(path, limits, name)
    stem = stem or Path(path).stem
    paths = output_paths(out_dir, stem, masks)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    start, done = time.perf_counter(), 0
    with contextlib.ExitStack() as stack:
        tmp = {key: stack.enter_context(atomic.atomic_path(p)) for key, p in paths.items()}
        writers = [stack.enter_context(H264Writer(tmp[key], info.width, info.height, info.fps))
                   for key in ("overlay", "color")]
        mask_zip = stack.enter_context(contextlib.closing(_MaskZip(tmp["masks"], stem))) if masks else None
        for frame, labels in segment_frames(read_frames(info, limits), segmenter, smooth):
            color = viz.colorize(labels, segmenter.palette)  # (H, W, 3)
            writers[0].write(viz.overlay(frame, color, alpha))
            writers[1].write(color)
            if mask_zip:
                mask_zip.write(labels)
            done += 1
            yield Progress(done, info.frames, time.perf_counter() - start)
    yield Progress(done, info.frames, time.perf_counter() - start, outputs=paths)
