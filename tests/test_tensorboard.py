"""TensorBoard, as a user opens it: a tiny RL run and a tiny genlab run, `tensorboard --logdir` on 127.0.0.1, the
page loaded in headless Chromium. The scalar tags, the image grids, the episode animation and the config text
are checked through TensorBoard's HTTP data API (what the page itself fetches) and on the rendered page.

`LAB_SCREENSHOTS=docs/tensorboard pytest tests/test_tensorboard.py` also keeps a screenshot of each tab.
"""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from genlab.cli import main as genlab_main
from rllab.cli import main as rllab_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
RL_TAGS = {"rollout/ep_rew_mean", "rollout/exploration_rate", "train/loss", "train/q_mean", "eval/mean_reward",
           "time/fps"}
GEN_TAGS = {"loss/total", "loss/recon", "loss/kl"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Both runs in one log folder and TensorBoard serving it on a free port; stopped afterwards."""
    logdir = tmp_path_factory.mktemp("runs")
    assert rllab_main(["train", "--run-dir", str(logdir / "dqn"), "--steps", "600", "learning_starts=100",
                       "eval_freq=300", "video_freq=300", "eval_episodes=2", "log_freq=100", "net_arch=[16]"]) == 0
    assert genlab_main(["train", "vae", "--run-dir", str(logdir / "vae"), "--data", "shapes:scale=5,orientation=0",
                        "resolution=16", "--steps", "20", "image_freq=10", "log_freq=5", "batch_size=16",
                        "eval_images=40", "eval_samples=32", "metric_points=300", "metric_test_points=100",
                        "metric_batch=8", "eval_k=5"]) == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host",
                             "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while not {"dqn", "vae"} <= loaded_runs(url):
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "TensorBoard did not load both runs within 60 s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def loaded_runs(url: str) -> set[str]:
    """The runs TensorBoard has loaded so far (none while it is still starting)."""
    try:
        return set(json.loads(urllib.request.urlopen(f"{url}/data/runs", timeout=5).read()))
    except OSError:
        return set()


def get(url: str) -> tuple[bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read(), response.headers.get("Content-Type", "")


def get_json(url: str):
    return json.loads(get(url)[0])


def test_the_data_api_serves_scalars_images_the_episode_animation_and_the_config(server):
    scalars = get_json(f"{server}/data/plugin/scalars/tags")
    assert RL_TAGS <= set(scalars["dqn"]) and GEN_TAGS <= set(scalars["vae"])
    images = get_json(f"{server}/data/plugin/images/tags")
    assert "eval/episode" in images["dqn"] and {"samples", "reconstructions"} <= set(images["vae"])

    def first_image(run: str, tag: str) -> tuple[bytes, str]:
        query = urllib.parse.urlencode({"run": run, "tag": tag})
        entries = get_json(f"{server}/data/plugin/images/images?{query}")
        assert entries, (run, tag)
        return get(f"{server}/data/plugin/images/individualImage?{entries[-1]['query']}")

    episode, kind = first_image("dqn", "eval/episode")
    assert kind == "image/gif" and episode.startswith(b"GIF89a")
    with Image.open(io.BytesIO(episode)) as gif:
        assert gif.n_frames > 5  # an animation, not a still
    grid, kind = first_image("vae", "samples")
    assert kind == "image/png"
    with Image.open(io.BytesIO(grid)) as png:
        assert png.width > 16 and png.height > 16  # a grid of 16 px images

    for run, key in (("dqn", "learning_starts"), ("vae", "resolution")):
        query = urllib.parse.urlencode({"run": run, "tag": "config/text_summary"})  # add_text's tag for "config"
        text = get_json(f"{server}/data/plugin/text/text?{query}")
        assert key in text[0]["text"], text


# How many <img> elements have loaded a picture, looking inside the shadow roots of TensorBoard's web components.
DRAWN_IMAGES = """(least) => {
    const images = [];
    const walk = (root) => root.querySelectorAll('*').forEach((e) => {
        if (e.tagName === 'IMG' && e.complete && e.naturalWidth > 0) images.push(e);
        if (e.shadowRoot) walk(e.shadowRoot);
    });
    walk(document);
    return images.length >= least;
}"""


def test_the_page_renders_each_tab_in_headless_chromium(server):
    playwright = pytest.importorskip("playwright.sync_api")
    shots = Path(os.environ["LAB_SCREENSHOTS"]) if os.environ.get("LAB_SCREENSHOTS") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # Each tab, with its tag filter set, and text that only appears once its data is fetched and drawn.
            for tab, tags, expected in (("timeseries", "rollout/ep_rew|loss/total|eval/episode",
                                         ["rollout/ep_rew_mean", "loss/total", "eval/episode"]),
                                        ("scalars", "rollout/ep_rew|loss/recon", ["rollout/ep_rew_mean", "loss/recon"]),
                                        ("images", "", ["eval/episode", "reconstructions"]),
                                        ("text", "", ["learning_starts", "resolution"])):
                if tab == "timeseries":  # the Angular dashboard: its filter box
                    page.goto(f"{server}/#timeseries")
                    box = page.locator('input[placeholder*="Filter tags"]:visible').first
                    box.fill(tags)
                    box.press("Escape")  # close the suggestions: the names below must come from the cards
                else:  # the Polymer dashboards read their filter from the address
                    page.goto(f"{server}/#{tab}&tagFilter={urllib.parse.quote(tags, safe='')}")
                for text in expected:
                    page.get_by_text(text).first.wait_for(state="visible", timeout=30_000)
                if tab == "images":  # the animation and the grids are drawn, not just named
                    page.wait_for_function(DRAWN_IMAGES, arg=2, timeout=30_000)
                if shots:
                    page.wait_for_timeout(1000)
                    page.screenshot(path=str(shots / f"{tab}.png"))
        finally:
            browser.close()
