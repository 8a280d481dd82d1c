"""Headless Chromium (Debian's, installed by tools/setup.sh) driven through its chromedriver.

The pages under test open from the file system, as their users open them: no server.
Chromium is started as tools/setup.sh's environment notes say it must be on these machines:
no sandbox (root), no GPU, no background networking (the closed network refuses it), a
fresh profile per test.
"""

import shutil
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio",
         "--window-size=1280,1000")


def missing() -> str:
    """Why the browser cannot run here ('' when it can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return (f"{path} is missing: tools/setup.sh installs Debian's chromium and "
                    "chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is missing: tools/setup.sh installs tools/browser-requirements.lock"
    return ""


def start(profile_dir: Path, download_dir: Path):
    """A headless Chromium whose downloads land in ``download_dir`` without asking."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_experimental_option("prefs", {
        "download.default_directory": str(download_dir),
        "download.prompt_for_download": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver
