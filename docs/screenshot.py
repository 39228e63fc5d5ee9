"""Regenerate docs/report.png, the README's picture of the HTML report: probe the example models in
fixtures/report/ and screenshot the report in headless Chromium.

    python docs/screenshot.py                     # writes docs/report.png (needs `pip install -e '.[test]'` and Debian's chromium)
    python docs/screenshot.py --html r.html --png r.png --width 390 --height 0

`open_report` is what the browser test uses too: it loads the page with every network request
refused, and returns what went wrong (console errors, page errors, requests for anything but the file).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Flags for a root user on a machine with no network (Chromium retries its background services otherwise).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]  # fmt: skip


def open_report(html: Path, png: Path, width: int = 1100, height: int | None = None) -> dict:
    """Open `html` at `width` CSS pixels, screenshot its top `height` pixels (None: the whole page)
    to `png`; returns the problems seen (`console`, `requests`) and the page's `scroll_width`."""
    from playwright.sync_api import sync_playwright

    console: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", lambda message: console.append(f"{message.type}: {message.text}")
                    if message.type in ("error", "warning") else None)  # fmt: skip
            page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
            page.route("**/*", lambda route: route.continue_() if route.request.url == html.resolve().as_uri()
                       else (requests.append(route.request.url), route.abort()))  # fmt: skip
            page.goto(html.resolve().as_uri(), wait_until="load")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            clip = {"x": 0, "y": 0, "width": width, "height": height} if height else None
            page.screenshot(path=str(png), full_page=True, clip=clip)
        finally:
            browser.close()
    return {"console": console, "requests": requests, "scroll_width": scroll_width}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, help="keep the report here (default: a temporary file)")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=1900, help="the top this many pixels (0: the whole page)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        html = options.html or Path(scratch) / "vglint-report.html"
        run = subprocess.run([sys.executable, "-m", "vglint", "check", "--probe", "--report", str(html), "--quiet",
                              "fixtures/report"], cwd=ROOT, stdout=subprocess.DEVNULL)  # fmt: skip
        if run.returncode not in (0, 1):
            return run.returncode
        seen = open_report(html, options.png, options.width, options.height or None)
    for problem in seen["console"] + [f"request: {url}" for url in seen["requests"]]:
        print(problem, file=sys.stderr)
    print(f"wrote {options.png}")
    return 1 if seen["console"] or seen["requests"] else 0


if __name__ == "__main__":
    sys.exit(main())
