"""``python -m cronium info``: which module this is, the transport a script would use,
and whether the runtime answers. The token is never printed, only whether it is set.

Exit code 0 when the runtime answers ``GET /health``, 1 when it does not (or no
transport is configured), 2 on a usage error.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

from . import _native


def info() -> int:
    """Prints the diagnosis, one ``name: value`` line each; returns the exit code."""
    d = _native.diagnose()
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"cronium {_native.__version__} (Python module at {here}, Python {sys.version.split()[0]})")
    if d["transport"] is not None:
        print(f"transport: {d['transport']}")
    else:
        print(f"transport: none: {d['transport_error']}")
    print("token: " + ("set (CRONIUM_EXECUTION_TOKEN)" if d["token_set"] else "not set"))
    if d["execution_id"] is not None:
        print(f"execution: {d['execution_id']}")
    if d["runtime_ok"] is None:
        print("runtime: not asked (no transport)")
        return 1
    if d["runtime_ok"]:
        print("runtime: answers (GET /health)")
        return 0
    print(f"runtime: does not answer: {d['runtime_error']}")
    return 1


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m cronium [info]``."""
    args = sys.argv[1:] if argv is None else argv
    if args in ([], ["info"]):
        return info()
    print(
        f"python -m cronium: unknown arguments {' '.join(args)!r}; "
        "use `python -m cronium info`",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
