"""Read the troubleshooting pages: entries, their anchors and the messages they quote.

An entry is a ``## heading { #anchor }``. A message entry's heading is the
message in backticks and is followed directly by a ```text block quoting what
TensorFlow or Keras prints; a symptom entry's heading is the symptom in words.
"""

import re
import sys
from concurrent.futures import ThreadPoolExecutor

from tests.pages import DOCS

FOLDER = DOCS / "reference" / "troubleshooting"
AREAS = ["keras_fit", "signatures", "lifecycle", "shuffling_splitting", "migrations", "distribution", "performance",
         "combining", "persisting", "interleave_flat_map", "keras_structure", "sequences", "structured_elements"]
PAGES = [FOLDER / f"{area}.md" for area in AREAS]

_ENTRY = re.compile(
    r"^## (?P<heading>.+?) \{ #(?P<anchor>[a-z0-9-]+) \}\n\n(?:```text\n(?P<quote>.*?)\n```)?",
    flags=re.MULTILINE | re.DOTALL,
)


def entries(page):
    """(heading, anchor, quoted message or None) of every entry of a page, in order."""
    text = page.read_text(encoding="utf-8")
    return [(m["heading"], m["anchor"], m["quote"]) for m in _ENTRY.finditer(text)]


def quoted(page):
    """anchor -> the quoted message, for the message entries of a page."""
    return {anchor: quote for heading, anchor, quote in entries(page) if heading.startswith("`")}


def normalise(text):
    """Hide the parts of a message that depend on the process, not on the mistake.

    ``pyfunc_<n>`` counts the py_funcs a process created before, Keras numbers
    unnamed layers and tensors, a deprecation warning names the caller's file and
    line and a retracing warning names the caller's function, a C++ log line starts
    with a time stamp, thread id and source line, and the shuffle buffer's progress
    depends on timing.
    """
    text = re.sub(r"\b(pyfunc|keras_tensor|functional|input_layer)(_\d+)?\b", r"\1_N", text)
    text = re.sub(r"From \S+:\d+: ", "From FILE:LINE: ", text)
    text = re.sub(r"\(this may take a while\): \d+ of", "(this may take a while): N of", text)
    text = re.sub(r"<function \S+ at 0x[0-9a-f]+>", "<function F>", text)
    return text



_BACKGROUND = ThreadPoolExecutor(max_workers=4, thread_name_prefix="troubleshooting-repro")
_PENDING = []


class _Job:
    """A reproduction registered by a test module, started on first demand."""

    def __init__(self, function, args, owner):
        self.function, self.args, self.owner, self.future = function, args, owner, None

    def start(self):
        if self.future is None:
            self.future = _BACKGROUND.submit(self.function, *self.args)

    def result(self):
        for job in _PENDING:  # start the test module's reproductions side by side
            if job.owner == self.owner:
                job.start()
        self.start()
        return self.future.result()


def in_background(function, *args):
    """Register ``function(*args)``; ``.result()`` runs it, with the module's others.

    For reproductions that run a fresh interpreter (to read TensorFlow's logs or
    once-per-process warnings). Nothing starts at import: under pytest-xdist every
    worker imports every test module, but only a worker that runs a test asking
    for a result runs them: all that its test module registered, in threads, so
    that their interpreters start side by side.
    """
    job = _Job(function, args, owner=sys._getframe(1).f_globals.get("__name__"))
    _PENDING.append(job)
    return job
