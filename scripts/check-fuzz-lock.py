#!/usr/bin/env python3
"""The fuzz crate (a workspace of its own, so it has its own Cargo.lock) must fuzz the
versions the product ships: every package in both lock files has the same version.

Fix a disagreement with `cp Cargo.lock fuzz/Cargo.lock && (cd fuzz && cargo metadata
--format-version 1 >/dev/null)`, which keeps the workspace's versions and adds only what
the fuzz crate needs besides (libfuzzer-sys and its dependencies)."""
import sys
import tomllib


def versions(path):
    out = {}
    with open(path, "rb") as f:
        for p in tomllib.load(f)["package"]:
            out.setdefault(p["name"], set()).add(p["version"])
    return out


main, fuzz = versions("Cargo.lock"), versions("fuzz/Cargo.lock")
bad = sorted(
    f"{name}: fuzz/Cargo.lock has {', '.join(sorted(v))}, Cargo.lock has {', '.join(sorted(main[name]))}"
    for name, v in fuzz.items()
    if name in main and not v <= main[name]
)
for line in bad:
    print(line, file=sys.stderr)
if bad:
    print("fuzz/Cargo.lock disagrees with Cargo.lock; see scripts/check-fuzz-lock.py for the fix", file=sys.stderr)
sys.exit(1 if bad else 0)
