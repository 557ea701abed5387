"""MkDocs hook: every page's footer says what this build ran on.

The versions are read from the environment that builds the site (the same one
that runs the tests and executes the tutorials), without importing TensorFlow,
so a reader on another version knows what the examples were checked against.
"""

import datetime
import platform
from importlib import metadata


def _version(*names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def footer_text(today=None):
    today = today or datetime.datetime.now(datetime.UTC).date()
    return (f"Examples run on TensorFlow {_version('tensorflow-cpu', 'tensorflow')}, "
            f"Keras {_version('keras')}, Python {platform.python_version()}; "
            f"built {today.isoformat()}.")


def on_config(config):
    config.copyright = footer_text()
    return config
