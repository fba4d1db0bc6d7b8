"""Helpers for browser tests: the real app served on a free loopback port, driven by headless
Chromium through Selenium. Waits poll for a condition (WebDriverWait); nothing sleeps."""
from __future__ import annotations

import shutil
import threading

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--window-size=1400,1000")


class ServedApp:
    """`create_app(root)` served by werkzeug in a daemon thread."""

    def __init__(self, root):
        from werkzeug.serving import make_server
        from workbench.app import create_app
        self.app = create_app(root)
        self.server = make_server("127.0.0.1", 0, self.app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()


def chromium_driver(tmp_path):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Chromium and ChromeDriver are not installed (./setup.sh --test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_path), options=options)
