"""The smoke book, built whole and opened page by page in headless Chromium with the network off.

Every page: no broken image, no console error (a resource fetched from the internet fails and shows here), no raw
TeX left (every formula typeset by the MathJax the book serves itself); every internal link and its anchor resolve;
the ledger has one row per claim in the results. Screenshots of the intro, the ledger and one chapter go to
`_build/screenshots/` of the scratch book. Needs Debian's chromium and chromium-driver (tools/system_packages.sh
installs them as root); skipped, naming the command, without them.
"""

import functools
import json
import re
import shutil
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import build_book, vendored_mathjax

from attnmem_core.book.ledger import TABLE_NAME
from attnmem_core.runner import EXECUTED, REPO
from attnmem_core.runner import main as run_book

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium (in the dev extra)")
WebDriverWait = pytest.importorskip("selenium.webdriver.support.ui").WebDriverWait
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
MATHJAX = REPO / "_vendor" / "mathjax" / "VERSION"
pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER), reason="needs Chromium: sudo apt-get install chromium chromium-driver"
    ),
    pytest.mark.skipif(
        not (shutil.which("npm") or MATHJAX.is_file()), reason="needs npm for tools/mathjax.py: apt-get install npm"
    ),
]
SCREENSHOTS = {
    "intro": "book/intro.html",
    "ledger": "book/executed/ledger.html",
    "chapter": "book/executed/03_han.html",
}
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\\begin\{|\\frac|\\sqrt")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """Every chapter executed in the smoke profile into a scratch copy of the book, built with warnings as errors."""
    root = tmp_path_factory.mktemp("smoke-book")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "book", root / "book", ignore=shutil.ignore_patterns(EXECUTED.name))
    vendored_mathjax(root)
    out, results = root / "book" / "executed", root / "results"
    assert run_book(["--profile", "smoke", "--device", "cpu", "--out", str(out), "--results-dir", str(results)]) == 0
    build_book(root)
    return root


@pytest.fixture(scope="module")
def server(book):
    handler = functools.partial(QuietHandler, directory=str(book / "_build" / "html"))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
        httpd.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/favicon.ico":  # asked for by the browser itself; the book has none
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(argument)
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")  # the network is off
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def pages(book: Path) -> list[str]:
    """Every page of the built book; not index.html, a redirect to the intro (checked on its own)."""
    html = book / "_build" / "html"
    return sorted(
        p.relative_to(html).as_posix()
        for p in html.rglob("*.html")
        if not any(part.startswith("_") for part in p.relative_to(html).parts) and p.name != "index.html"
    )


def test_the_front_page_leads_to_the_intro(book, server, browser):
    browser.get(server)
    WebDriverWait(browser, 30).until(lambda driver: driver.current_url.endswith("book/intro.html"))


TYPESET = """const done = arguments[arguments.length - 1];
if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
  MathJax.startup.promise.then(() => done("typeset"), (error) => done("MathJax failed: " + error));
} else { done(document.querySelector(".math") ? "math but no MathJax" : "no math"); }"""
LEFT_OVER = """const body = document.body.cloneNode(true);
body.querySelectorAll("pre, code, script, style, mjx-container").forEach((e) => e.remove());
return body.textContent;"""


def test_every_page_renders_offline_with_images_math_and_no_console_error(book, server, browser):
    problems = []
    for page in pages(book):
        browser.get(server + page)
        WebDriverWait(browser, 30).until(
            lambda driver: driver.execute_script("return document.readyState") == "complete"
        )
        typeset = browser.execute_async_script(TYPESET)
        if typeset not in ("typeset", "no math"):
            problems.append(f"{page}: {typeset}")
        raw = RAW_TEX.findall(browser.execute_script(LEFT_OVER))
        broken = browser.execute_script(
            "return [...document.images].filter((i) => !i.complete || i.naturalWidth === 0).map((i) => i.src)"
        )
        errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        problems += [f"{page}: raw TeX {raw[:3]}"] * bool(raw) + [f"{page}: broken image {src}" for src in broken]
        problems += [f"{page}: console: {message}" for message in errors]
    assert len(pages(book)) > 10 and problems == []
    folder = book / "_build" / "screenshots"
    folder.mkdir(exist_ok=True)
    for name, page in SCREENSHOTS.items():
        browser.get(server + page)
        browser.execute_async_script(TYPESET)
        assert browser.save_screenshot(str(folder / f"{name}.png"))


def test_the_ledger_has_one_row_per_claim_in_the_results(book, server, browser):
    claims = sum(len(json.loads(p.read_text())["claims"]) for p in (book / "results").glob("*-smoke.json"))
    browser.get(server + "book/executed/ledger.html")
    rows = browser.execute_script(f"return document.querySelectorAll('table#{TABLE_NAME} tbody tr').length")
    assert claims > 0 and rows == claims


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def parsed(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text())
    return links


def test_every_internal_link_and_anchor_resolves(book):
    html = book / "_build" / "html"
    broken = []
    for page in pages(book):
        for href in parsed(html / page).hrefs:
            target = urlsplit(urljoin(f"http://book/{page}", href))
            if target.netloc != "book" or href.startswith(("mailto:", "javascript:")):
                continue
            path = html / unquote(target.path).lstrip("/")
            path = path / "index.html" if path.is_dir() else path
            if not path.is_file():
                broken.append(f"{page}: {href} (no such file)")
            elif target.fragment and path.suffix == ".html" and unquote(target.fragment) not in parsed(path).ids:
                broken.append(f"{page}: {href} (no such anchor)")
    assert broken == []
