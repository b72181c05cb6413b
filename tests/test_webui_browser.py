"""The studio in a real browser: Playwright driving Debian's Chromium against a live server on
127.0.0.1 with the tiny checkpoint (SPEC §11). For every tab: pick an example, build the
tracking video, generate, and check the result is a playable video. Screenshots are kept in
``test-artifacts/`` (the ones in ``docs/screenshots/`` come from here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from playwright.sync_api import expect

from ui.server import running_studio

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
SMALL_VIEWPORT = {"width": 1280, "height": 1000}
FAST_STEPS = 2
PAGE_TIMEOUT_MS = 60_000
GENERATE_TIMEOUT_MS = 180_000  # the first generation also loads the model

# tab key → (tab title, how to pick its first example, a selector that shows the example loaded)
TABS = {
    "motion_transfer": ("Motion Transfer", "Ball rolling over a meadow", "#motion_transfer-video video"),
    "camera_control": ("Camera Control", "Landscape photo · orbit", "#camera_control-image img"),
    "object_manipulation": ("Object Manipulation", "Ball photo · move right", "#object_manipulation-mask-upload img"),
    "mesh_animation": ("Mesh Animation", "Bouncing blob (mesh sequence) · orbit", "#mesh_animation-mesh-file a"),
}


@pytest.fixture(scope="module")
def studio_url(new_tiny_studio):
    studio = new_tiny_studio("browser", default_steps=FAST_STEPS)
    with running_studio(studio) as url:
        yield url
    studio.engine.unload()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (see packages.txt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, studio_url, artifacts_dir, request):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(studio_url)
    page.wait_for_selector("#status-line")
    yield page
    # The page as the test left it, to look at when something failed.
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in request.node.name)
    page.screenshot(path=str(artifacts_dir / f"browser-last-{safe_name}.png"), full_page=True)
    context.close()


def open_tab(page, key: str) -> None:
    page.get_by_role("tab", name=TABS[key][0]).click()
    page.locator(f"#{key}-build").wait_for(state="visible")


def click_example(page, key: str) -> None:
    _, label, loaded = TABS[key]
    page.locator(f"#{key}-examples").get_by_text(label, exact=True).click()
    page.locator(loaded).first.wait_for(state="attached")


def assert_playable(page, selector: str) -> str:
    """The ``<video>`` under ``selector`` has a source the server serves and that the browser
    can decode (metadata loaded, positive duration); returns its URL."""
    video = page.locator(f"{selector} video").first
    video.wait_for(state="attached", timeout=GENERATE_TIMEOUT_MS)
    source = video.get_attribute("src")
    assert source, f"{selector}: the video has no src"
    response = page.request.get(source)
    assert response.status == 200 and len(response.body()) > 0
    page.wait_for_function(
        "el => el.readyState >= 1 && el.duration > 0 && el.videoWidth > 0",
        arg=video.element_handle(),
        timeout=PAGE_TIMEOUT_MS,
    )
    return source


def assert_point_cloud_drawn(page, key: str, timeout_s: float = 30.0) -> None:
    """The 3D view shows points: some of its pixels differ from the dark background.

    WebGL runs in software here (no GPU), so the first frame can take a few seconds.
    """
    import io
    import time

    import numpy as np
    from PIL import Image

    viewer = page.locator(f"#{key}-point-cloud canvas").first
    viewer.wait_for(state="visible")
    deadline = time.monotonic() + timeout_s
    while True:
        pixels = np.asarray(Image.open(io.BytesIO(viewer.screenshot())).convert("RGB"), dtype=np.int16)
        lit = (np.abs(pixels - pixels[0, 0]).sum(axis=-1) > 60).mean()
        if lit > 0.005:
            return
        assert time.monotonic() < deadline, f"the 3D point cloud of {key} stayed empty"
        page.wait_for_timeout(500)


def build_tracking(page, key: str) -> None:
    page.locator(f"#{key}-build").click()
    assert_playable(page, f"#{key}-tracking")
    page.locator(f"#{key}-generate:not([disabled])").wait_for()


def generate(page, key: str) -> None:
    page.locator(f"#{key}-generate").click()
    assert_playable(page, f"#{key}-result")
    expect(page.locator(f"#{key}-downloads")).to_contain_text("settings")
    page.locator(f"#{key}-result-info").get_by_text("Seed").wait_for()


def keep_screenshot(page, artifacts_dir: Path, name: str) -> Path:
    path = artifacts_dir / f"ui-{name}.png"
    page.wait_for_timeout(2000)  # let videos paint their first frame and the 3D view its points
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.parametrize("key", list(TABS))
def test_tab_from_example_to_result(page, key, artifacts_dir):
    open_tab(page, key)
    assert page.locator(f"#{key}-generate").is_disabled(), "Generate must wait for a tracking video"
    click_example(page, key)
    build_tracking(page, key)
    if key != "mesh_animation":
        assert_playable(page, f"#{key}-source")
    assert_point_cloud_drawn(page, key)
    generate(page, key)
    seed_box = page.locator(f"#{key}-seed-used input")
    seed_box.wait_for()  # hidden until the first result
    seed = seed_box.input_value()
    assert seed.isdigit()
    status = page.locator("#status-line").inner_text()
    assert "tiny test model — output is noise" in status and "loaded" in status and "GPU queue" in status
    keep_screenshot(page, artifacts_dir, key)


def test_painted_mask_drives_the_object(page, artifacts_dir):
    key = "object_manipulation"
    open_tab(page, key)
    click_example(page, key)
    page.locator(f"#{key}-mask-upload").get_by_role("button", name="Remove Image").click()
    editor = page.locator(f"#{key}-mask-editor")
    editor.locator("canvas").first.wait_for()
    editor.scroll_into_view_if_needed()
    editor.get_by_role("button", name="Brush", exact=True).click()
    # The example also sets the editor's background (the source picture, with any uploaded
    # mask tinted over it); a stroke painted while that is still loading is dropped with the
    # old layer, so let the editor settle first.
    page.wait_for_timeout(EDITOR_SETTLE_MS)
    box = editor.locator("canvas").first.bounding_box()
    # Paint a short stroke over the ball (left third, lower part of the picture).
    x, y = box["x"] + box["width"] * 0.36, box["y"] + box["height"] * 0.72
    paint_stroke(page, x, y)
    page.wait_for_timeout(EDITOR_SETTLE_MS)
    build_tracking(page, key)
    info = page.locator(f"#{key}-tracking-info").inner_text()
    assert "object: right" in info
    assert_point_cloud_drawn(page, key)
    keep_screenshot(page, artifacts_dir, "object_manipulation-painted-mask")
    # The editor's own late events change nothing; another stroke changes the mask, so the
    # tracking video is retired until the next build.
    assert not page.locator(f"#{key}-generate").is_disabled()
    paint_stroke(page, x - 20, y - 10)
    page.locator(f"#{key}-generate[disabled]").wait_for()
    expect(page.locator(f"#{key}-tracking-info")).to_contain_text("inputs changed")


EDITOR_SETTLE_MS = 2000
"""Time for the mask editor to load a new background (and to register a stroke) on a busy machine."""


def paint_stroke(page, x: float, y: float) -> None:
    """A short brush stroke starting at page coordinates ``(x, y)``."""
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 12, y + 4, steps=6)
    page.mouse.up()


def test_bad_inputs_show_errors_and_the_app_keeps_serving(page, artifacts_dir):
    key = "camera_control"
    open_tab(page, key)
    # An invalid motion string is reported inline, naming the step and token, as it is typed.
    page.locator(f"#{key}-motion textarea").fill("trans 0 0 -0.3; rot q 10")
    message = page.locator(f"#{key}-motion-message")
    message.get_by_text("step 2").wait_for()
    assert "'q'" in message.inner_text()
    # Building without a source: a toast says what to do; no stack trace in the page.
    page.locator(f"#{key}-build").click()
    toast = page.locator(".toast-body").filter(has_text="upload")
    toast.first.wait_for()
    keep_screenshot(page, artifacts_dir, "error-toast")
    assert "Traceback" not in page.content()
    # With an image but the invalid motion: refused with the parser's message.
    click_example(page, key)
    page.locator(f"#{key}-motion textarea").fill("rot q 10")
    page.locator(f"#{key}-build").click()
    page.locator(".toast-body").filter(has_text="rotation axis").first.wait_for()
    assert page.locator(f"#{key}-generate").is_disabled()
    # The next good request succeeds.
    page.locator(f"#{key}-motion textarea").fill("trans 0 0 -0.3")
    message.get_by_text("forward").wait_for()
    build_tracking(page, key)
    generate(page, key)


def test_presets_builder_and_plot(page):
    key = "camera_control"
    open_tab(page, key)
    motion = page.locator(f"#{key}-motion textarea")
    page.locator("#preset-dolly-in").click()
    page.wait_for_function("el => el.value === 'trans 0 0 -0.5'", arg=motion.element_handle())
    page.locator(f"#{key}-builder").get_by_text("Step builder").click()
    page.locator(f"#{key}-builder-add").click()
    page.wait_for_function("el => el.value.startsWith('trans 0 0 -0.5; trans 0 0 -0.3')", arg=motion.element_handle())
    page.locator(f"#{key}-builder-undo").click()
    page.wait_for_function("el => el.value === 'trans 0 0 -0.5'", arg=motion.element_handle())
    page.locator(f"#{key}-builder-clear").click()
    page.wait_for_function("el => el.value === ''", arg=motion.element_handle())
    page.locator(f"#{key}-motion-message").get_by_text("static camera").wait_for()
    assert page.locator(f"#{key}-plot img, #{key}-plot canvas, #{key}-plot svg").count() > 0


@pytest.fixture
def slow_jobs(monkeypatch):
    """Builds and generations that report progress slowly (as on a loaded machine), so a Cancel
    clicked once they run reaches them: the tiny model otherwise finishes in a blink. The
    server runs in this process, so patching its handlers' progress adapter slows them."""
    import time

    from ui.handlers import builds, generation

    def slow_progress(progress):
        def report(fraction, message):
            time.sleep(0.25)
            if progress is not None:
                progress(fraction, desc=message)

        return report

    monkeypatch.setattr(builds, "core_progress", slow_progress)
    monkeypatch.setattr(generation, "core_progress", slow_progress)


CANCEL_REACH_TIMEOUT_S = 90.0
"""How long Cancel is retried until the job is running: on a loaded 2-core machine a queued job
can take tens of seconds to start."""


def cancel_until_reached(page, key: str, timeout_s: float = CANCEL_REACH_TIMEOUT_S) -> str:
    """Click Cancel until it reaches a running job (a job still being dequeued is not yet
    running, and a Cancel that finds nothing cancels nothing); returns the final notice."""
    import time

    notice = page.locator(f"#{key}-notice")
    deadline = time.monotonic() + timeout_s
    while True:
        page.locator(f"#{key}-cancel").click()
        expect(notice).to_contain_text("ancel", timeout=PAGE_TIMEOUT_MS)  # "Cancelled" / "cancelled"
        text = notice.inner_text()
        if "Nothing was running" not in text:
            return text
        assert time.monotonic() < deadline, "Cancel never reached the running job"
        page.wait_for_timeout(300)


def test_cancel_stops_a_generation(page, slow_jobs):
    key = "camera_control"
    open_tab(page, key)
    click_example(page, key)
    build_tracking(page, key)
    page.locator(f"#tab-{key}").get_by_text("Advanced settings").click()
    steps = page.locator(f"#{key}-steps input[type='number']")
    steps.fill("100")
    steps.press("Enter")
    page.locator(f"#{key}-generate").click()
    page.locator(f"#{key}-result [data-testid='status-tracker']:not(.hide)").first.wait_for(timeout=GENERATE_TIMEOUT_MS)
    notice = page.locator(f"#{key}-notice")
    assert "Cancelled the generation" in cancel_until_reached(page, key)
    expect(page.locator(f"#{key}-result-info")).to_contain_text("nothing was generated")
    page.wait_for_timeout(3000)
    assert page.locator(f"#{key}-result video").count() == 0, "a cancelled generation must not show a result"
    # The app keeps serving: a short generation right after works, and an idle Cancel
    # before it cancels nothing.
    page.locator(f"#{key}-cancel").click()
    expect(notice).to_contain_text("Nothing was running")
    steps.fill("2")
    steps.press("Enter")
    generate(page, key)


def test_cancel_stops_a_build_and_clears_the_preview(page, artifacts_dir, slow_jobs):
    key = "motion_transfer"
    open_tab(page, key)
    click_example(page, key)
    build_tracking(page, key)  # a first preview, which the cancelled build must not leave behind
    page.locator(f"#{key}-build").click()
    page.locator(f"#{key}-tracking [data-testid='status-tracker']:not(.hide)").first.wait_for(timeout=GENERATE_TIMEOUT_MS)
    assert "Cancelled the build" in cancel_until_reached(page, key)
    page.wait_for_timeout(2000)
    expect(page.locator(f"#{key}-notice")).to_contain_text("Cancelled the build")  # it stays resolved
    expect(page.locator(f"#{key}-tracking-info")).to_contain_text("Cancelled")
    assert page.locator(f"#{key}-tracking video").count() == 0
    assert page.locator(f"#{key}-generate").is_disabled()
    keep_screenshot(page, artifacts_dir, "cancelled-build")


def test_mesh_amount_left_blank_sends_blank_and_means_the_default(page, artifacts_dir):
    """The field shows what the browser sends: untouched it is empty, the request carries "",
    and the build uses the motion's default (a turntable turns)."""
    import json

    key = "mesh_animation"
    open_tab(page, key)
    click_example(page, key)
    page.get_by_label("one mesh + procedural motion").check()
    amount = page.locator(f"#{key}-amount textarea, #{key}-amount input").first
    amount.wait_for(state="visible")
    assert amount.input_value() == ""
    with page.expect_request(lambda request: "queue/join" in request.url and request.method == "POST") as sent:
        page.locator(f"#{key}-build").click()
    data = json.loads(sent.value.post_data)["data"]
    assert data[3] == "", f"the amount sent was {data[3]!r}"
    assert_playable(page, f"#{key}-tracking")
    expect(page.locator(f"#{key}-first-frame")).to_contain_text("Rendered first frame")
    keep_screenshot(page, artifacts_dir, "mesh-amount-blank")
    # The preview's label follows the input mode.
    page.get_by_label("tracking video made elsewhere").check()
    expect(page.locator(f"#{key}-first-frame")).to_contain_text("First frame (uploaded)")


def test_uploaded_mask_is_shown_over_the_image(page, artifacts_dir):
    import io
    import time

    import numpy as np
    from PIL import Image

    key = "object_manipulation"
    open_tab(page, key)
    click_example(page, key)
    editor = page.locator(f"#{key}-mask-editor")
    editor.scroll_into_view_if_needed()
    canvas = editor.locator("canvas").first
    canvas.wait_for()
    deadline = time.monotonic() + 30
    while True:
        pixels = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"), dtype=np.int16)
        red = (pixels[..., 0] > 210) & (pixels[..., 1] < 110) & (pixels[..., 2] < 110)  # brighter than the ball
        if red.mean() > 0.002:
            break
        assert time.monotonic() < deadline, "the uploaded mask is not drawn over the first frame"
        page.wait_for_timeout(500)
    editor.screenshot(path=str(artifacts_dir / "ui-mask-overlay.png"))


def test_layout_examples_downloads_and_stale_result(page, artifacts_dir):
    key = "camera_control"
    # In a 1280 × 1000 window every tab's examples are in view without scrolling, at the top of
    # the inputs.
    page.set_viewport_size(SMALL_VIEWPORT)
    for tab in TABS:
        open_tab(page, tab)
        page.evaluate("window.scrollTo(0, 0)")
        box = page.locator(f"#{tab}-examples").bounding_box()
        assert box is not None and box["y"] + box["height"] <= SMALL_VIEWPORT["height"], f"{tab}: examples at {box}"
        page.screenshot(path=str(artifacts_dir / f"ui-examples-in-view-{tab}.png"))
    page.set_viewport_size(VIEWPORT)
    open_tab(page, key)
    click_example(page, key)
    build_tracking(page, key)
    assert_point_cloud_drawn(page, key)
    page.locator(f"#{key}-point-cloud").screenshot(path=str(artifacts_dir / "ui-point-cloud-framing.png"))
    generate(page, key)
    # The result line names the full folder; the three downloads fit without a scrollbar.
    assert "/" in page.locator(f"#{key}-result-info code").first.inner_text()
    downloads = page.locator(f"#{key}-downloads")
    expect(downloads.locator("tr")).to_have_count(3)
    clipped = downloads.evaluate(
        "el => [...el.querySelectorAll('*')].some(n => n.scrollHeight > n.clientHeight + 1 "
        "&& ['auto', 'scroll'].includes(getComputedStyle(n).overflowY))"
    )
    page.locator(f"#{key}-downloads").screenshot(path=str(artifacts_dir / "ui-downloads.png"))
    assert not clipped, "the downloads list scrolls (a row is clipped)"
    # A changed input clears the old result.
    page.locator(f"#{key}-motion textarea").fill("trans 0 0 -0.3")
    expect(page.locator(f"#{key}-result video")).to_have_count(0)
    expect(page.locator(f"#{key}-result-info")).to_have_text("")
    keep_screenshot(page, artifacts_dir, "stale-result-cleared")
