"""Video files: the CLI video path, H.264 outputs, smoothing against flicker, bad clips, streaming."""
import inspect
import os
import re
import subprocess
import sys
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from segdemo import files, video, viz
from segdemo.infer import Segmenter
from synthetic import scene

ROOT = Path(__file__).resolve().parent.parent
FPS = Fraction(30000, 1001)  # NTSC: a rate a float would not keep exactly
SIZE = (64, 80)  # H x W


def clip_frames(n, noise=0, seed=0):
    """n frames of one synthetic scene (classes background, box, disc), each with fresh noise."""
    rng = np.random.default_rng(seed)
    image, _ = scene(np.random.default_rng(1), SIZE)
    for _ in range(n):
        jitter = rng.integers(-noise, noise + 1, image.shape) if noise else 0
        yield np.clip(image.astype(np.int16) + jitter, 0, 255).astype(np.uint8)


def write_clip(path, n=6, fps=FPS, faststart=False, codec="libx264", container="mp4", noise=0):
    """A synthetic clip written with PyAV; returns its path."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container, options=options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv420p"
        for rgb in clip_frames(n, noise):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def stream_facts(path):
    """(codec name, frames decoded, average frame rate, (width, height), stream kinds) read back with PyAV."""
    with av.open(str(path)) as clip:
        v = clip.streams.video[0]
        decoded = sum(1 for _ in clip.decode(v))
        return v.codec_context.name, decoded, v.average_rate, (v.width, v.height), [s.type for s in clip.streams]


def run_cli(*args, weights):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "SEGDEMO_WEIGHTS": str(weights)}
    return subprocess.run([sys.executable, "-m", "segdemo", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


@pytest.fixture(scope="module")
def by_colour():
    """A Segmenter whose model scores class k by colour channel k (a 1x1 convolution): noise makes it flicker."""
    import keras

    conv = keras.layers.Conv2D(3, 1, use_bias=False)
    model = keras.Sequential([keras.Input((None, None, 3)), conv])
    conv.set_weights([0.05 * np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)])
    return Segmenter(model, {"classes": ["red", "green", "blue"]})


def test_cli_writes_h264_overlay_and_color_videos_with_the_input_rate_and_frame_count(tiny_weights, tmp_path):
    clip = write_clip(tmp_path / "drive.mp4", n=6)
    out = run_cli("predict", "--model", "tiny", clip, "--out", tmp_path / "o", "--masks", "--smooth", "0.5",
                  weights=tiny_weights)
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"drive\.mp4: 6 frames in .* fps\) -> drive_overlay\.mp4, drive_color\.mp4", out.stdout)
    for name in ("drive_overlay.mp4", "drive_color.mp4"):
        codec, frames, rate, size, kinds = stream_facts(tmp_path / "o" / name)
        assert (codec, frames, rate, size, kinds) == ("h264", 6, FPS, (SIZE[1], SIZE[0]), ["video"])
    with zipfile.ZipFile(tmp_path / "o" / "drive_masks.zip") as z:
        assert z.namelist() == [f"drive_{i:06d}.png" for i in range(6)]
        mask = cv2.imdecode(np.frombuffer(z.read("drive_000000.png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask.shape == SIZE and mask.dtype == np.uint8 and mask.max() <= 2
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["drive_color.mp4", "drive_masks.zip",
                                                                    "drive_overlay.mp4"]


def test_colour_video_shows_the_class_colours(by_colour, tmp_path):
    clip = write_clip(tmp_path / "c.mp4", n=3)
    *_, last = video.segment_video(clip, by_colour, tmp_path / "o")
    expected = viz.colorize(by_colour.segment(next(clip_frames(1))).labels, by_colour.palette).astype(int)
    with av.open(str(last.outputs["color"])) as c:
        first = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert np.median(np.abs(first - expected)) <= 8  # H.264 is lossy, colours stay close


@pytest.mark.parametrize("container,codec", [("mp4", "libx264"), ("mov", "libx264"), ("avi", "mpeg4"),
                                             ("webm", "libvpx-vp9")])
def test_each_container_is_read_frame_by_frame(container, codec, tmp_path):
    clip = write_clip(tmp_path / f"c.{container}", n=5, fps=25, codec=codec, container=container)
    info = video.probe(clip)
    assert (info.width, info.height, info.fps) == (SIZE[1], SIZE[0], 25)
    frames = video.read_frames(info)
    assert inspect.isgenerator(frames)  # streamed, never a list of the whole clip
    shapes = [f.shape for f in frames]
    assert shapes == [(*SIZE, 3)] * 5


def test_odd_frame_sizes_are_padded_to_even_for_yuv420(tmp_path):
    path = tmp_path / "odd.mp4"
    with video.H264Writer(path, 81, 63, 10) as w:
        for _ in range(3):
            w.write(np.zeros((63, 81, 3), np.uint8))
    assert stream_facts(path)[:4] == ("h264", 3, 10, (82, 64))


def test_segment_frames_streams_its_input(by_colour):
    def endless():
        for _ in range(20):
            yield np.zeros((*SIZE, 3), np.uint8)
        raise AssertionError("segment_frames read 20 frames ahead to give 3")

    stream = video.segment_frames(endless(), by_colour, smooth=0.5)
    taken = [next(stream) for _ in range(3)]
    assert [labels.shape for _, labels in taken] == [SIZE] * 3
    assert inspect.isgeneratorfunction(video.read_frames) and inspect.isgeneratorfunction(video.segment_video)


def test_smoothing_reduces_flicker_on_a_noisy_clip(by_colour):
    rng = np.random.default_rng(0)
    still = np.full((*SIZE, 3), 120, np.int16)
    still[:, :40, 0] += 30  # left half: red by a margin the noise often crosses
    frames = [np.clip(still + rng.integers(-50, 51, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    raw = video.flicker(labels for _, labels in video.segment_frames(frames, by_colour, smooth=0.0))
    smoothed = video.flicker(labels for _, labels in video.segment_frames(frames, by_colour, smooth=0.7))
    assert raw > 0.2, "the noise should make the model flicker"
    assert smoothed < 0.6 * raw


def test_smooth_probs_is_an_exponential_moving_average():
    state = video.smooth_probs(None, np.array([[[1.0, 0.0]]]), 0.75)
    state = video.smooth_probs(state, np.array([[[0.0, 1.0]]]), 0.75)
    np.testing.assert_allclose(state, [[[0.75, 0.25]]])
    np.testing.assert_allclose(video.smooth_probs(state, np.array([[[0.0, 1.0]]]), 0.0), [[[0.0, 1.0]]])
    with pytest.raises(ValueError, match="smooth"):
        video.smooth_probs(state, state, 1.0)


def test_flicker_is_the_mean_share_of_pixels_changing_class():
    a, b = np.zeros((2, 2), np.uint8), np.array([[0, 1], [0, 0]], np.uint8)
    assert video.flicker([a, b, b, a]) == pytest.approx((0.25 + 0.0 + 0.25) / 3)
    assert video.flicker([a]) == 0.0


def test_frame_rate_keeps_ntsc_exact():
    assert video.frame_rate(30000 / 1001) == Fraction(30000, 1001) and video.frame_rate(25.0) == 25


def write_bad(kind, tmp_path):
    """A bad clip of the given kind, and the message it should get."""
    path = tmp_path / f"{kind}.mp4"
    if kind == "text":
        path.write_text("not a video")
        return path, "not a video file"
    if kind == "image":
        path.write_bytes((ROOT / "examples" / "0016E5_07967.png").read_bytes())
        return path, "not a video file"
    if kind == "empty":
        path.write_bytes(b"")
        return path, "file is empty"
    if kind == "cut-index":  # the mp4 index (moov) comes last and is cut off
        data = write_clip(tmp_path / "whole.mp4", n=30).read_bytes()
        path.write_bytes(data[:len(data) // 2])
        return path, "truncated or corrupt video: OpenCV cannot open it"
    if kind == "cut-frames":  # the index comes first; half the frames are missing
        data = write_clip(tmp_path / "whole.mp4", n=30, faststart=True, noise=40).read_bytes()  # frames of a size
        path.write_bytes(data[:len(data) // 2])
        return path, r"truncated or corrupt video: only \d+ of 30 frames could be decoded"
    if kind == "no-frame":  # a sound index, but not one frame decodes (as a codec OpenCV lacks would do)
        data = bytearray(write_clip(tmp_path / "whole.mp4", n=6, faststart=True, noise=40).read_bytes())
        start = data.index(b"mdat") + 4
        data[start:] = bytes(len(data) - start)
        path.write_bytes(data)
        return path, r"cannot decode its video \(codec \w+\): a codec OpenCV cannot read, or a corrupt file"
    raise ValueError(kind)


def test_an_av1_clip_is_segmented_where_opencv_decodes_av1_and_named_where_not(by_colour, tmp_path):
    if "libsvtav1" not in av.codecs_available:
        pytest.skip("this PyAV has no AV1 encoder to make the clip")
    clip = write_clip(tmp_path / "av1.mp4", n=3, codec="libsvtav1")
    capture = cv2.VideoCapture(str(clip))
    decodes = capture.read()[0]  # OpenCV 5's wheels decode AV1, 4's do not
    capture.release()
    if decodes:
        for _ in video.segment_video(clip, by_colour, tmp_path / "o"):
            pass
        assert video.probe(tmp_path / "o" / "av1_overlay.mp4").frames == 3
    else:
        with pytest.raises(files.InputError, match=r"^av1\.mp4: cannot decode its video \(codec AV01\)"):
            video.probe(clip)


@pytest.mark.parametrize("kind", ["text", "image", "empty", "cut-index", "cut-frames", "no-frame"])
def test_bad_clips_get_a_message_naming_the_file_and_nothing_is_written(kind, by_colour, tmp_path):
    path, message = write_bad(kind, tmp_path)
    with pytest.raises(files.InputError, match=rf"^{kind}\.mp4: {message}") as err:
        for _ in video.segment_video(path, by_colour, tmp_path / "o"):
            pass
    assert "\n" not in str(err.value)
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


@pytest.mark.parametrize("limits,message", [
    (video.Limits(frames=5), r"too long: 6 frames \(limit 5\)"),
    (video.Limits(seconds=0.1), r"too long: 0.2 s \(limit 0.1 s\)"),
    (video.Limits(pixels=64 * 79), r"too large: 80x64 = 5,120 pixels a frame \(limit 5,056\)"),
])
def test_clips_over_the_limits_are_refused_before_any_frame_is_segmented(limits, message, tmp_path):
    clip = write_clip(tmp_path / "long.mp4", n=6, fps=30)
    with pytest.raises(files.InputError, match=rf"^long\.mp4: video is {message}"):
        video.probe(clip, limits)


def test_limits_hold_while_reading_when_the_container_understates_its_length(tmp_path):
    clip = write_clip(tmp_path / "c.mp4", n=6, fps=30)
    info = video.probe(clip)
    understated = video.VideoInfo(info.path, info.name, info.width, info.height, info.fps, None, info.codec)
    with pytest.raises(files.InputError, match="too long: 5 frames"):
        list(video.read_frames(understated, video.Limits(frames=4)))


def test_cli_reports_bad_clips_in_one_line_each_and_goes_on(tiny_weights, tmp_path):
    bad, _ = write_bad("text", tmp_path)
    cut, _ = write_bad("cut-frames", tmp_path)
    long = write_clip(tmp_path / "long.mp4", n=6, fps=5)
    out = run_cli("predict", "--model", "tiny", bad, cut, long, "--out", tmp_path / "o", "--max-seconds", "1.1",
                  weights=tiny_weights)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: text.mp4: not a video file (supported: mp4, webm, avi, mov)",
                      errors[1], "error: long.mp4: video is too long: 1.2 s (limit 1.1 s)"]
    assert re.match(r"error: cut-frames\.mp4: truncated or corrupt video: only \d+ of 30 frames", errors[1])
    assert not [line for line in out.stderr.splitlines() if re.match(r"\[\w+ @ 0x|\[ WARN", line)]
