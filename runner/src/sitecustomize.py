# Written by `cronium run` (and installed in the python image of images/): makes `cronium`
# usable without an import, as Cronium's scripts always had it, then runs the
# sitecustomize module this file shadows, if there is one.
try:
    import builtins as _builtins
    import cronium as _cronium

    _builtins.cronium = _cronium
except ImportError:
    pass


def _cronium_chain():
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        path = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(path):
            spec = importlib.util.spec_from_file_location("_cronium_shadowed_sitecustomize", path)
            if spec and spec.loader:
                spec.loader.exec_module(importlib.util.module_from_spec(spec))
            return


_cronium_chain()
del _cronium_chain
