"""The console in a real headless Chromium (Debian's package, driven by Selenium's chromedriver).

One scenario, as a person would walk it: open a run, follow its lineage to the registered
version and to the runs that share its data, promote a version whose gate failed with a typed
reason and find it in the audit log, label three texts with the keyboard and export them, and
ask the customer-service assistant of a (fake) service.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmline.ui.app import UiConfig, create_app
from tests.ui.conftest import fake_service, served

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="no chromium/chromedriver on PATH (apt-get install chromium chromium-driver)",
    ),
]


def start_browser() -> Any:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)


@pytest.fixture()
def browser() -> Iterator[Any]:
    driver = start_browser()
    driver.implicitly_wait(10)
    try:
        yield driver
    finally:
        driver.quit()


def test_console_scenario(browser: Any, console_ws: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    fake = fake_service()
    with served(fake) as service_url:
        app = create_app(UiConfig(workspace=console_ws, service_url=service_url))
        with served(app) as url:
            # open a run and follow its lineage
            browser.get(f"{url}/runs")
            runs = browser.find_elements(By.CSS_SELECTOR, "#runs tbody a[href^='/runs/']")
            assert len(runs) == 2
            champion = next(
                a.get_attribute("href")
                for a in browser.find_elements(
                    By.CSS_SELECTOR, "#runs tbody a[href^='/registry/reviews/1']"
                )
            )
            assert champion.endswith("/registry/reviews/1")
            run_link = browser.find_element(
                By.XPATH,
                "//tr[.//a[contains(@href,'/registry/reviews/1')]]//a[starts-with(@href,'/runs/')]",
            )
            run_id = run_link.text
            run_link.click()
            assert run_id in browser.title
            assert "run was made from them" in browser.find_element(By.ID, "lineage").text
            browser.find_element(By.CSS_SELECTOR, "#lineage a.sha").click()
            assert run_id in browser.find_element(By.ID, "lineage-runs").text
            browser.back()
            browser.find_element(By.ID, "registered-link").click()
            assert "reviews v1" in browser.find_element(By.TAG_NAME, "h1").text
            browser.find_element(By.ID, "run-link").click()
            assert run_id in browser.title

            # promote v2 (its gate failed): refused without a reason, audited with one
            browser.get(f"{url}/registry/reviews/2")
            browser.find_element(By.ID, "promote").click()
            assert "type the reason" in browser.find_element(By.ID, "problem").text
            reason = "上线评审通过 reviewed by the release board"
            browser.find_element(By.NAME, "reason").send_keys(reason)
            browser.find_element(By.ID, "promote").click()
            assert "now points here" in browser.find_element(By.ID, "moved").text
            browser.find_element(By.LINK_TEXT, "audit log").click()
            audit = browser.find_element(By.ID, "audit").text
            assert "gate_override" in audit and reason in audit
            assert "chain verified" in browser.find_element(By.ID, "verdict").text

            # label three texts with the keyboard and export them
            browser.get(f"{url}/labeling/{run_id}")
            browser.find_element(By.NAME, "size").clear()
            browser.find_element(By.NAME, "size").send_keys("5")
            browser.find_element(By.ID, "build-batch").click()
            for expected_done, key in ((1, "1"), (2, "2"), (3, Keys.ENTER)):
                assert browser.find_element(By.ID, "item-text").text
                position = browser.find_element(By.ID, "position").text
                browser.find_element(By.TAG_NAME, "body").send_keys(key)
                _wait_text(browser, "done", str(expected_done))
                assert browser.find_element(By.ID, "position").text != position
            browser.find_element(By.ID, "export").click()
            exported = browser.find_element(By.ID, "exported").text
            assert exported.startswith("3 labelled texts")
            path = Path(exported.split("written to ")[1].split(" (")[0])
            assert len(path.read_text(encoding="utf-8").splitlines()) == 3

            # ask the assistant
            browser.get(f"{url}/assistant")
            browser.find_element(By.NAME, "message").send_keys("信用卡怎么退款？")
            browser.find_element(By.ID, "ask").click()
            assert "退款" in browser.find_element(By.ID, "answer-text").text
            assert "faq/refunds.md" in browser.find_element(By.ID, "citations").text

            # chat streams into the page
            browser.get(f"{url}/chat")
            browser.find_element(By.ID, "chat-message").send_keys("你好")
            browser.find_element(By.CSS_SELECTOR, "#chat-form button").click()
            reply = browser.find_element(By.CSS_SELECTOR, "#reply-0[data-done='1']")
            assert reply.text == "你好， I am streaming."
    assert fake.state.asked[0]["message"] == "信用卡怎么退款？"


def _wait_text(browser: Any, element_id: str, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 15).until(
        lambda driver: driver.find_element("id", element_id).text == text
    )
