"""MkDocs hook: "edit this page" links without a repository widget.

Setting ``repo_url`` would also make Material's header ask the GitHub API for
stars and forks on every page view: a third-party request, which this site does
not make. Instead, when ``EDIT_URL_BASE`` is set (the deploy workflow sets it to
``<repository>/edit/<branch>/docs/``), each page gets ``edit_url`` directly;
without it, pages have no edit link rather than a broken one.
"""

import os


def on_page_context(context, page, config, nav):
    base = os.environ.get("EDIT_URL_BASE")
    if base:
        page.edit_url = base.rstrip("/") + "/" + page.file.src_uri
    return context
