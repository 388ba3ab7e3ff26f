"""Headless Chromium for the browser tests and the README's screenshots: Debian's ``chromium``.

    python -m infra.browser install     # apt-get install chromium, when no Chromium is found
    python -m infra.browser path        # where it is (exit 1 if none)
    python -m infra.browser shot PAGE.html OUT.png [--width W --height H]

``make browser`` runs ``install`` (``make test`` does too). No browser is downloaded by
Playwright: it drives the system's Chromium (``SURGE_CHROMIUM`` to pick another binary), always
with a fresh profile and no background traffic, so a page opens exactly as a newcomer's would.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# No GPU, no sandbox (root in CI), and nothing that phones home while a test runs.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    """The Chromium binary: ``SURGE_CHROMIUM``, else the first candidate on PATH."""
    chosen = os.environ.get("SURGE_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).exists() else None
    return next(filter(None, map(shutil.which, CANDIDATES)), None)


def install() -> str | None:
    """Debian's ``chromium`` through apt-get when none is found; its path, or None when it
    cannot be installed here (not root, no apt-get): the caller says what to do."""
    found = chromium_path()
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        check=True,
        env=env,
    )
    return chromium_path()


@dataclass
class Console:
    """What a page did while it was open: console errors and uncaught exceptions, and the
    requests it tried beyond its own file (refused: a page must open with no network)."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def refuse(self, route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


@contextlib.contextmanager
def open_page(page_file: Path, width: int = 1280, height: int = 900) -> Iterator[tuple]:
    """(page, console) of ``page_file`` loaded in headless Chromium; every console error and
    uncaught exception is collected in ``console.errors``, every request off the machine refused
    and listed in ``console.outside``. Needs ``chromium_path()``."""
    from playwright.sync_api import sync_playwright  # a test/dev dependency: imported on use

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no Chromium found: run `make browser` (or set SURGE_CHROMIUM)")
    console = Console()
    with (
        tempfile.TemporaryDirectory(prefix="surge-chromium-") as profile,
        sync_playwright() as playwright,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(FLAGS),
            viewport={"width": width, "height": height},
        )
        try:
            context.route("**/*", console.refuse)
            page = context.pages[0] if context.pages else context.new_page()
            page.on(
                "console",
                lambda m: console.errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda exc: console.errors.append(f"uncaught: {exc}"))
            page.goto(Path(page_file).resolve().as_uri(), wait_until="load")
            yield page, console
        finally:
            context.close()


def screenshot(
    page_file: Path, out: Path, width: int = 1280, height: int = 900, settle_ms: int = 1500
) -> Path:
    """A PNG of the whole page, once every script has run and the layout has settled (charts
    resize to their cells after the load event)."""
    with open_page(page_file, width, height) as (page, console):
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(settle_ms)
        page.screenshot(path=str(out), full_page=True)
        if console.errors or console.outside:
            raise RuntimeError(f"{page_file}: {console.errors} {console.outside}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.browser", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="apt-get install chromium if none is found")
    sub.add_parser("path", help="print the Chromium binary")
    shot = sub.add_parser("shot", help="a PNG of a page")
    shot.add_argument("page", type=Path)
    shot.add_argument("out", type=Path)
    shot.add_argument("--width", type=int, default=1280)
    shot.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    if args.command == "install":
        found = install()
        if found is None:
            print(
                "no Chromium, and it cannot be installed here (needs root and apt-get): "
                "install Debian's `chromium`; browser tests skip without it outside CI",
                file=sys.stderr,
            )
        else:
            print(f"chromium: {found}")
        return 0
    if args.command == "path":
        found = chromium_path()
        print(found or "no Chromium found")
        return 0 if found else 1
    print(screenshot(args.page, args.out, args.width, args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
