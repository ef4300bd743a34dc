"""A real browser for the e2e tests: Debian's chromium, headless, driven through its
chromedriver by Selenium.

The driver binary is named explicitly, so Selenium never looks for one to download. Chromium
runs with a profile in the test's temporary directory and inside the test's loopback-only
network namespace, like everything else the tests start.

Screenshots go to $KEEL_E2E_SCREENSHOTS (default: ./e2e-screenshots, under the ctest build
tree) and are checked not to be blank.
"""

import os

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class BrowserFailure(Exception):
    """The page in the browser was not what the test expected."""


class Browser:
    def __init__(self, tmp, test_name):
        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise BrowserFailure(f"{path} missing; scripts/setup.sh installs chromium and "
                                     "chromium-driver")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1024,768",
                    f"--user-data-dir={os.path.join(tmp, 'chromium-profile')}"):
            options.add_argument(arg)
        service = Service(executable_path=CHROMEDRIVER,
                          log_output=os.path.join(tmp, "chromedriver.log"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_page_load_timeout(30)
        self.shots = os.environ.get("KEEL_E2E_SCREENSHOTS") or os.path.abspath("e2e-screenshots")
        self.prefix = test_name

    def open(self, url):
        self.driver.get(url)
        return self

    @property
    def url(self):
        return self.driver.current_url

    @property
    def title(self):
        return self.driver.title

    def text(self):
        """The visible text of the page."""
        return self.driver.find_element(By.TAG_NAME, "body").text

    def screenshot(self, name):
        """Saves the page as <prefix>-<name>.png; fails if it is blank (one colour)."""
        os.makedirs(self.shots, exist_ok=True)
        path = os.path.join(self.shots, f"{self.prefix}-{name}.png")
        if not self.driver.save_screenshot(path):
            raise BrowserFailure(f"screenshot {path} failed")
        with Image.open(path) as img:
            colours = img.convert("RGB").getcolors(maxcolors=1 << 16)
        # getcolors gives None past maxcolors: plenty of colours, so not blank.
        if colours is not None and len(colours) < 3:
            raise BrowserFailure(f"screenshot {path} is blank ({len(colours)} colours)")
        return path

    def close(self):
        try:
            self.driver.quit()
        except Exception:  # noqa: BLE001 - the test's outcome matters more than the cleanup
            pass
