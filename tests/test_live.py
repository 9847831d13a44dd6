"""The Live tab: webcam frames through the stream handler and Chromium's fake camera, clips through /video."""
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from conftest import REPO, SLOW
from segdemo import video
from segdemo.ui.live import fit_side, frame_rate

EXAMPLE_FRAMES = sorted((REPO / "examples").glob("*.png"))  # CamVid frames, 480x360


def camvid_clip(path, n=4, fps=15):
    """An H.264 mp4 of the first n example frames."""
    frames = [np.asarray(Image.open(p).convert("RGB")) for p in EXAMPLE_FRAMES[:n]]
    with video.H264Writer(path, frames[0].shape[1], frames[0].shape[0], fps) as writer:
        for rgb in frames:
            writer.write(rgb)
    return path


def test_fit_side_shrinks_the_long_side_and_never_enlarges():
    assert fit_side(np.zeros((360, 480, 3), np.uint8), 240).shape == (180, 240, 3)
    assert fit_side(np.zeros((100, 50, 3), np.uint8), 240).shape == (100, 50, 3)


def test_frame_rate_counts_frames_between_the_first_and_last_arrival():
    assert frame_rate([]) is None and frame_rate([3.0]) is None
    assert frame_rate([1.0, 1.2, 1.4, 1.6, 1.8, 2.0]) == pytest.approx(5.0)


def test_a_webcam_frame_comes_back_overlaid_at_the_chosen_size_with_fps_and_latency(app_module):
    live = app_module.demo.tabs["live"]
    frame = np.asarray(Image.open(EXAMPLE_FRAMES[0]).convert("RGB"))
    times = []
    for _ in range(3):
        overlay, stats, legend, times = live.frame(frame, "camvid-fcn8s", 240, 0.5, times)
    assert overlay.shape == (180, 240, 3) and len(times) == 3
    assert "frames/s" in stats and "model " in stats and "240x180 px" in stats
    assert "Road" in legend
    assert live.frame(None, "camvid-fcn8s", 240, 0.5, times)[-1] == times  # no frame: nothing changes


def test_video_endpoint_returns_the_overlay_colour_video_and_masks(app_url, tmp_path):
    clip = camvid_clip(tmp_path / "street.mp4")
    overlay, status, downloads = Client(app_url, verbose=False).predict(
        handle_file(str(clip)), "camvid-fcn8s", 0.0, 0.5, api_name="/video")
    with av.open(overlay) as out:  # a Video output arrives as the downloaded file's path
        stream = out.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.average_rate == 15
        assert sum(1 for _ in out.decode(stream)) == 4 and (stream.width, stream.height) == (480, 360)
    assert "4 frames segmented" in status and "camvid-fcn8s" in status
    names = sorted(Path(d).name for d in downloads)
    assert names == ["street_color.mp4", "street_masks.zip"]
    with zipfile.ZipFile(next(d for d in downloads if d.endswith(".zip"))) as masks:
        assert len(masks.namelist()) == 4


def test_video_endpoint_names_the_file_that_is_not_a_video(app_url, tmp_path):
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video")
    with pytest.raises(AppError, match=r"holiday\.mp4") as refused:
        Client(app_url, verbose=False).predict(handle_file(str(fake)), "camvid-fcn8s", 0.0, 0.5,
                                               api_name="/video")
    assert "gradio" not in str(refused.value).lower() and "/tmp/" not in str(refused.value)


def test_the_fake_camera_is_segmented_live(page, screenshots):
    page.get_by_role("tab", name="Live").click()
    page.locator("#camera").get_by_text("Click to Access Webcam").click()  # Chromium's fake camera
    page.locator("#camera").get_by_text("Record", exact=True).click()  # (its aria-label says "capture photo")
    page.wait_for_function("() => /[0-9.]+ frames\\/s/.test(document.querySelector('#live-stats').innerText)",
                           timeout=SLOW)  # two segmented frames came back
    stats = page.locator("#live-stats").inner_text()
    assert "model " in stats and " ms" in stats and "240x180 px" in stats, stats
    assert page.locator("#live-overlay img").count() == 1
    assert "Road" in page.locator("#live-legend").inner_text()
    page.screenshot(path=str(screenshots / "live-desktop.png"))
