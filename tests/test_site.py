"""The built site: internal links and anchors resolve; a real browser finds no
console errors, no failed or external requests, a working search and copy buttons."""

import functools
import http.server
import os
import re
import threading
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import pytest

from tests.pages import ROOT

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def _parse(path):
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_internal_link_and_anchor_resolves(built_site):
    from tests.conftest import TEST_SITE_URL

    root = urlsplit(TEST_SITE_URL).path  # where the site lives on its host
    pages = {p: _parse(p) for p in built_site.rglob("*.html")}
    broken = []
    for page, parsed in pages.items():
        for href in parsed.hrefs:
            parts = urlsplit(href)
            if parts.scheme or parts.netloc or href.startswith("mailto:"):
                continue
            if not parts.path:
                target = page
            elif parts.path.startswith("/"):  # the 404 page links from the site's root path
                path = unquote(parts.path)
                assert path.startswith(root), f"{page.relative_to(built_site)}: {href} is outside the site"
                target = (built_site / path[len(root):]).resolve()
            else:
                target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(built_site)}: {href} (no such page)")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(built_site)}: {href} (no such anchor)")
    assert not broken, "\n".join(broken)


@pytest.fixture(scope="module")
def served_site(built_site, tmp_path_factory):
    """The site on loopback at the path it has on its host (the 404 page links from there)."""
    from tests.conftest import TEST_SITE_URL

    prefix = urlsplit(TEST_SITE_URL).path.strip("/")
    root = tmp_path_factory.mktemp("host")
    (root / prefix).symlink_to(built_site, target_is_directory=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{prefix}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true" and hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.fail(f"{CHROMIUM} is missing in CI; tasks.py installs Debian's chromium package there")
        pytest.skip(f"browser test needs Debian's Chromium at {CHROMIUM}: "
                    "apt-get install chromium (CI installs it automatically)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def _page_paths(built_site):
    out = []
    for html in sorted(built_site.rglob("index.html")):
        rel = html.parent.relative_to(built_site).as_posix()
        out.append("/" if rel == "." else f"/{rel}/")
    return out


def test_every_page_loads_without_errors_or_external_requests(browser, served_site, built_site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request: {r.url}"))
    page.on("request", lambda r: problems.append(f"external request: {r.url}")
            if not r.url.startswith(served_site) and not r.url.startswith(("data:", "blob:")) else None)
    paths = _page_paths(built_site) + ["/404.html"]
    assert len(paths) >= 10
    for path in paths:
        page.goto(served_site + path, wait_until="networkidle")
        assert page.title().endswith("Generator Pipelines") or page.title() == "Generator Pipelines"
    page.goto(served_site + "/", wait_until="networkidle")
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=False)
    page.goto(served_site + "/recipes/sharded_generator/", wait_until="networkidle")
    page.screenshot(path=str(SCREENSHOTS / "recipe.png"), full_page=False)
    context.close()
    assert not problems, "\n".join(problems)


def test_code_blocks_have_copy_buttons(browser, served_site):
    page = browser.new_page()
    page.goto(served_site + "/recipes/interleave_files/", wait_until="networkidle")
    blocks = page.locator("div.highlight pre").count()
    buttons = page.locator('button.md-code__button[data-md-type="copy"]').count()
    page.close()
    assert blocks > 5 and buttons >= blocks


def troubleshooting_entries():
    """(message, anchor) of every message entry on every troubleshooting page.

    The query is the start of the quoted message as a user would paste it: its
    first sentence, without what precedes the message itself (an exception or
    warning type, ``TypeError: ``; TensorFlow's logger prefix, ``WARNING:tensorflow:``
    with ``From file.py:12: `` for deprecations; a dataset's name,
    ``ShuffleDatasetV3:2: ``), and up to its first ``:`` outside square brackets,
    which the site's search (Lunr) would read as a field name.
    """
    from tests.troubleshooting.pages import PAGES, quoted

    prefix = re.compile(r"^(WARNING:tensorflow:(From \S+:\d+: )?|\w+(Error|Warning): |\w+Dataset\w*:\d+: )")
    queries = []
    for page in PAGES:
        for anchor, message in quoted(page).items():
            text = prefix.sub("", message.splitlines()[0])
            text = re.split(r"(?<=\.) ", text, maxsplit=1)[0]
            colon = re.search(r":(?![^\[]*\])", text)  # not one inside [Op:IteratorGetNext]
            queries.append(((text[:colon.start()] if colon else text).strip(), anchor))
    return queries


@pytest.fixture(scope="module")
def search_box(browser, served_site):
    """One page with the search open; ``search_box(text)`` pastes ``text`` and returns the result links.

    Material searches on ``keyup`` with the box's whole value, so a pasted query
    (its text set at once, then one key released) is searched whole, never a
    prefix of it. Between queries the box is emptied and the results cleared.
    """
    page = browser.new_page()
    page.goto(served_site + "/", wait_until="networkidle")
    page.keyboard.press("/")  # Material's search shortcut
    box = page.locator("input.md-search__input")
    links = page.locator("a.md-search-result__link")

    def search(text):
        box.fill("")
        box.press("End")
        links.first.wait_for(state="detached", timeout=15000)
        box.fill(text)  # as pasted
        box.press("End")
        links.first.wait_for(timeout=15000)
        return [links.nth(i).get_attribute("href") for i in range(links.count())]

    yield search
    page.close()


@pytest.mark.parametrize("query, anchor", troubleshooting_entries())
def test_searching_an_error_message_finds_its_entry(search_box, query, anchor):
    hrefs = search_box(query)
    # The first result is the best page; the first section link is its best section.
    best_section = next(h for h in hrefs if "#" in h)
    assert "/reference/troubleshooting/" in best_section and best_section.endswith("#" + anchor), hrefs


# What TensorFlow's and absl's start-up logging prints (not the words themselves:
# a recipe's comment may well mention oneDNN).
LOG_LINE = re.compile(r"All log messages before absl::InitializeLog\(\) is called|oneDNN custom operations are on"
                      r"|failed call to cuInit|Unable to register cuDNN|^[IWEF]\d{4} \d\d:\d\d:\d\d", re.M)


def _text(html_path):
    return re.sub(r"<[^>]+>", "", html_path.read_text(encoding="utf-8"))


def test_site_builds_as_the_workflow_publishes_it(built_site):
    """`built_site` ran the workflow's own build step; check what readers get from it."""
    from tests.conftest import TEST_EDIT_URL_BASE, TEST_SITE_URL

    pages = sorted(built_site.rglob("index.html"))
    assert len(pages) >= 10
    for html_path in pages:
        html = html_path.read_text(encoding="utf-8")
        rel = html_path.parent.relative_to(built_site).as_posix()
        where = "" if rel == "." else rel + "/"
        assert f'<link rel="canonical" href="{TEST_SITE_URL}{where}">' in html, rel
        noise = LOG_LINE.search(_text(html_path))
        assert not noise, f"{rel}: {noise.group(0)!r} in the rendered page"
    home = (built_site / "index.html").read_text(encoding="utf-8")
    assert f'href="{TEST_EDIT_URL_BASE}index.md"' in home
    recipe = (built_site / "recipes" / "sharded_generator" / "index.html").read_text(encoding="utf-8")
    assert f'href="{TEST_EDIT_URL_BASE}recipes/sharded_generator.md"' in recipe


def test_every_page_says_what_it_ran_on(built_site):
    import platform
    from importlib import metadata

    expected = (f"Examples run on TensorFlow {metadata.version('tensorflow-cpu')}, "
                f"Keras {metadata.version('keras')}, Python {platform.python_version()}; built 20")
    for html_path in built_site.rglob("*.html"):
        assert expected in html_path.read_text(encoding="utf-8"), html_path.relative_to(built_site)
