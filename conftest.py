"""Run the pages' ```python blocks as ``__main__`` under pytest-codeblocks.

pytest-codeblocks 0.18 runs each block with ``exec(code, {"__MODULE__": "__main__"})``:
the globals have no ``__name__``, so ``__name__`` is ``"builtins"`` and a block
under ``if __name__ == "__main__":`` (which pages that start worker processes
must show, so that the code also works saved as a script) would silently run
nothing. Give the blocks the ``__name__`` a reader's script or interpreter has.
"""

import builtins

import pytest_codeblocks.plugin


def _exec_as_main(code, globals_=None, *args):
    return builtins.exec(code, {**(globals_ or {}), "__name__": "__main__"}, *args)


pytest_codeblocks.plugin.exec = _exec_as_main
