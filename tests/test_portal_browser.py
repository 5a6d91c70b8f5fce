"""The portal in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`)
driven by Selenium against uvicorn on 127.0.0.1.

A learner redeems an invite, opens phase 07, takes its quiz with exactly one wrong answer and its
exam with none right, sees the cards in reviews, and (a day later on the portal's clock) grades it with a review key; an admin
then sees that learner's 42-cell strip. Screenshots are written under a temp dir (or
$PORTAL_SCREENSHOTS) and checked: real PNGs, not blank, no console errors on any page.

Skips with the reason when chromium, chromedriver or selenium is missing:
    apt-get install -y chromium chromium-driver && pip install selenium
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.apps.portal.accounts import Accounts
from engine.apps.portal.app import make_app
from engine.apps.portal.server import background
from engine.apps.portal.settings import from_env
from workbench.content.loader import load_catalog
from workbench.portal.adapter import WorkspaceLearning

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium missing: pip install selenium")
if not (CHROMIUM and DRIVER):
    pytest.skip("headless chromium missing: apt-get install -y chromium chromium-driver", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

PASSWORD = "correct horse battery staple"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def browser() -> Iterator[Any]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,1000",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def png_stats(path: Path) -> tuple[int, int, int]:
    """(width, height, number of distinct byte values in the decoded rows): enough to tell a blank page."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    return width, height, len(set(zlib.decompress(idat)[:2_000_000]))


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def shot(driver: Any, out: Path, name: str, errors: list[str]) -> Path:
    path = out / f"{name}.png"
    driver.save_screenshot(str(path))
    errors.extend(f"{name}: {m}" for m in console_errors(driver))
    return path


def fill_quiz(driver: Any, quiz: Any, wrong: str) -> None:
    """Answer every item right except `wrong` (a single-choice item, answered with another choice)."""
    for item in quiz.items:
        name = f"a_{item.id}"
        if item.kind == "single":
            pick = item.answer if item.id != wrong else (item.answer % len(item.choices)) + 1
            driver.find_element(By.CSS_SELECTOR, f'input[name="{name}"][value="{pick}"]').click()
        elif item.kind == "multi":
            for i in item.answer:
                driver.find_element(By.CSS_SELECTOR, f'input[name="{name}"][value="{i}"]').click()
        elif item.kind == "ordering":
            driver.find_element(By.NAME, name).send_keys(" ".join(map(str, item.answer)))
        elif item.kind == "free":
            words = [k if isinstance(k, str) else k[0] for k in item.keywords]
            driver.find_element(By.NAME, name).send_keys(" ".join(words) if words else str(item.answer))
        else:
            driver.find_element(By.NAME, name).send_keys(str(item.answer if not isinstance(item.answer, list) else item.answer[0]))


def test_invite_quiz_review_and_admin_strip_in_chromium(browser: Any, tmp_path: Path) -> None:
    out = Path(os.environ.get("PORTAL_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog()
    quiz = catalog.quizzes["phase-07-scalar-autograd"]
    wrong = next(i.id for i in quiz.items if i.kind == "single")
    clock = Clock()
    env = {"LYNX_PORTAL_ENV": "test", "LYNX_PORTAL_ARGON2": "fast"}
    learning = WorkspaceLearning(tmp_path, catalog)
    app = make_app(from_env(env, session_ttl_s=400 * 86400), Accounts(tmp_path / "workbench.db"), learning,
                   tmp_path / "audit", clock=clock)
    portal = app.state.portal
    learner_invite = portal.invite("ana", "learner", ".", None)
    admin_invite = portal.invite("root", "admin", "learners/root", None)
    wait = WebDriverWait(browser, 20)
    errors: list[str] = []
    shots = []
    with background(app) as url:
        # 1. invite flow
        browser.get(f"{url}/invite/{learner_invite}")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "confirm").send_keys(PASSWORD)
        browser.find_element(By.ID, "invite-submit").click()
        wait.until(ec.url_to_be(f"{url}/me"))
        assert len(browser.find_elements(By.CSS_SELECTOR, "ol.strip > li.cell")) == 42
        # 2. a phase page
        browser.find_element(By.CSS_SELECTOR, 'ol.strip a[href="/phase/7"]').click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "phase-title"), "Phase 07"))
        assert browser.find_elements(By.CSS_SELECTOR, "article.chapter")
        shots.append(shot(browser, out, "phase-07", errors))
        # 3. the quiz, one answer wrong, graded in place by the partial-update script
        browser.find_element(By.ID, "take-quiz").click()
        wait.until(ec.presence_of_element_located((By.ID, "quiz-form")))
        fill_quiz(browser, quiz, wrong)
        browser.find_element(By.ID, "quiz-submit").click()
        summary = wait.until(ec.presence_of_element_located((By.ID, "result-summary")))
        n = len(quiz.items)
        assert f"{n - 1} of {n} correct" in summary.text and "1 question(s) added to your review deck" in summary.text
        assert browser.find_element(By.CSS_SELECTOR, f'li.wrong[data-item="{wrong}"]')
        assert browser.current_url == f"{url}/phase/7/quiz"  # no page load: the fragment replaced the form
        shots.append(shot(browser, out, "quiz-result", errors))
        # 3b. the exam: started with a POST, submitted once, every blank answer wrong
        browser.get(f"{url}/phase/7/exam")
        browser.find_element(By.ID, "exam-begin").click()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'input[name="exam_token"]')))
        browser.find_element(By.ID, "quiz-submit").click()
        exam = wait.until(ec.presence_of_element_located((By.ID, "result-summary")))
        assert f"0 of {n} correct" in exam.text
        # 4. the cards in reviews: coming up today, due tomorrow, graded with a key
        browser.get(f"{url}/me/reviews")
        assert len(browser.find_elements(By.CSS_SELECTOR, "table.upcoming tbody tr")) == n
        assert browser.find_element(By.ID, f"up-phase-07-scalar-autograd-{wrong}")
        clock.t += 86400
        browser.refresh()
        card = browser.find_element(By.ID, f"card-phase-07-scalar-autograd-{wrong}")
        keys = {b.get_attribute("value"): b.text for b in card.find_elements(By.CSS_SELECTOR, "button.grade")}
        assert set(keys) == {"again", "hard", "good", "easy"} and keys["good"].endswith("1 d")
        shots.append(shot(browser, out, "reviews", errors))
        card.find_element(By.CSS_SELECTOR, 'button[value="good"]').click()
        done = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.reviewed")))
        assert "next review in 1 day(s)" in done.text
        # 5. the admin sees the learner's strip
        browser.delete_all_cookies()
        browser.get(f"{url}/invite/{admin_invite}")
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "confirm").send_keys(PASSWORD)
        browser.find_element(By.ID, "invite-submit").click()
        wait.until(ec.url_to_be(f"{url}/me"))
        browser.find_element(By.ID, "nav-admin").click()
        row = wait.until(ec.presence_of_element_located((By.ID, "row-ana")))
        cells = row.find_elements(By.CSS_SELECTOR, "ol.strip > li.cell")
        assert len(cells) == 42 and "in_progress" in cells[7].get_attribute("class")
        shots.append(shot(browser, out, "admin", errors))
    assert errors == []
    for path in shots:
        width, height, distinct = png_stats(path)
        assert (width, height) == (1200, 1000) or width >= 800, path
        assert distinct > 8, f"{path.name} looks blank"
