"""What a person waits for in the browser (issue 10), measured in Debian's headless Chromium:
an example click until its mask shows, and the Live tab's frames per second with Chromium's fake
camera playing CamVid frames at 640x480.

    python benchmarks/browser.py [--clicks 12] [--live-seconds 20]

Needs requirements-dev.txt (playwright) and Debian's chromium (never a downloaded browser). Run it
on a quiet machine: a benchmark taken while a training runs measures nothing.
"""
import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from segdemo import video  # noqa: E402
from segdemo.bench import served_app  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CAMERA = (640, 480)  # the fake camera's frame, W x H
# Click the n-th example and resolve with the ms until the mask shows a new, decoded picture.
CLICK_JS = """async (n) => {
  const img = () => document.querySelector('#mask img');
  const before = img() ? img().src : null;
  const examples = [...document.querySelectorAll('#seg-examples button')].filter(b => b.querySelector('img'));
  const start = performance.now();
  examples[n % examples.length].click();
  return await new Promise(resolve => {
    const look = () => { const i = img();
      if (i && i.src !== before && i.complete && i.naturalWidth > 0) resolve(performance.now() - start);
      else setTimeout(look, 2); };
    look();
  });
}"""
# Count the new pictures the Live tab's output shows during `seconds`.
FRAMES_JS = """(seconds) => new Promise(resolve => {
  const box = document.querySelector('#live-overlay'); let seen = null, n = 0;
  const watch = new MutationObserver(() => { const i = box.querySelector('img');
    if (i && i.src !== seen) { seen = i.src; n += 1; } });
  watch.observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
  setTimeout(() => { watch.disconnect(); resolve(n); }, seconds * 1000);
})"""
IDLE_JS = """() => [...document.querySelectorAll('[data-testid=status-tracker]')].every(e => e.classList.contains('hide'))"""


def camera_clip(folder):
    """The examples, resized to CAMERA, as the fake camera's looping .y4m clip."""
    frames = [cv2.resize(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), CAMERA, interpolation=cv2.INTER_AREA)
              for p in sorted((REPO / "examples").glob("*.png"))]
    return video.write_y4m(Path(folder) / "street.y4m", frames, fps=30)


def example_clicks(page, clicks):
    """ms from each example click to its mask on screen, the page idle between clicks (after a warm-up)."""
    times = []
    for n in range(clicks + 1):
        times.append(page.evaluate(CLICK_JS, n))
        page.wait_for_function(IDLE_JS)
        time.sleep(0.3)
    return times[1:]


def live_fps(page, seconds, sides):
    """{frame side: (frames per second the Live tab shows over `seconds`, after its first frames; its badges then)}
    for each frame size, one stream."""
    page.get_by_role("tab", name="Live").click()
    page.locator("#camera").get_by_text("Click to Access Webcam").click()
    page.locator("#camera").get_by_text("Record", exact=True).click()
    figures = {}
    for side in sides:
        page.locator("#live-size").get_by_text(f"{side} px").click()
        figures[side] = live_rate(page, seconds, side)
    return figures


def live_rate(page, seconds, side):
    """(frames per second shown over `seconds` once frames of this side arrive, the badges then)."""
    page.wait_for_function(f"() => /frames\\/s/.test(document.querySelector('#live-stats').innerText) && "
                           f"/{side}x/.test(document.querySelector('#live-stats').innerText)", timeout=120_000)
    time.sleep(2)  # past the first frames
    frames = page.evaluate(FRAMES_JS, seconds)
    return frames / seconds, page.locator("#live-stats").inner_text()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=12, help="example clicks timed (default 12)")
    parser.add_argument("--live-seconds", type=float, default=20,
                        help="seconds the Live tab is counted at each frame size (default 20)")
    parser.add_argument("--live-sides", type=int, nargs="+", default=[240, 360],
                        help="the Live tab's frame sizes measured (default 240 360)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, served_app() as url, sync_playwright() as p:
        camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={camera_clip(tmp)}"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", *camera])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(120_000)
        page.goto(url)
        page.wait_for_selector("#seg-examples button img")
        page.wait_for_function(IDLE_JS)
        clicks = example_clicks(page, args.clicks)
        model_ms = [int(m) for m in re.findall(r"(\d+) ms last run", page.locator("#seg-info").inner_text())]
        live = live_fps(page, args.live_seconds, args.live_sides)
        browser.close()
    figures = {"example_click_ms": float(np.median(clicks)), "clicks": [round(c) for c in clicks],
               "last_click_model_ms": model_ms[0] if model_ms else None,
               "live": {side: {"fps": fps, "badges": " ".join(stats.split())} for side, (fps, stats) in live.items()}}
    print(f"example click to mask shown in Chromium: median {figures['example_click_ms']:.0f} ms over "
          f"{len(clicks)} clicks (the last click's model run: {figures['last_click_model_ms']} ms)")
    for side, r in figures["live"].items():
        print(f"Live tab at {side} px, fake camera {CAMERA[0]}x{CAMERA[1]}, {args.live_seconds:g} s: "
              f"{r['fps']:.1f} frames/s shown (badges: {r['badges']})")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
