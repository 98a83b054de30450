#!/usr/bin/env python3
"""Writes the tool registry's schemas into server/openapi.json.

`cronium tools schema` prints the registry (every tool's credential schema, every action's
params and result schema). This script puts that output under the tool-actions route as
`x-cronium-tools`, keeps one `components.schemas.<Tool><Action>Params` per action of the
REST-API tools (the four older tools keep their hand-written schemas), and lists every
tool in `ToolActionRequest`. server/tests/it/router.rs fails while the two differ.

    python3 scripts/update-openapi-tools.py [path/to/cronium]   (default target/debug/cronium)

Stdlib only; the file keeps its key order and two-space indentation.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "server" / "openapi.json"
# The older tools' params schemas are written by hand (richer descriptions); kept as is.
HAND_WRITTEN = {
    ("slack", "send-message"): "SlackSendMessageParams",
    ("discord", "send-message"): "DiscordSendMessageParams",
    ("webhook", "request"): "WebhookRequestParams",
    ("email", "send-email"): "SendEmailParams",
}


def camel(s: str) -> str:
    return "".join(w.capitalize() for w in s.replace("-", " ").split())


def main() -> int:
    cronium = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target" / "debug" / "cronium")
    registry = json.loads(subprocess.check_output([cronium, "tools", "schema"]))
    doc = json.loads(OPENAPI.read_text(encoding="utf-8"), object_pairs_hook=collections.OrderedDict)
    schemas = doc["components"]["schemas"]
    refs = []
    for tool in registry:
        for action in tool["actions"]:
            key = (tool["tool"], action["action"])
            name = HAND_WRITTEN.get(key) or camel(key[0]) + camel(key[1]) + "Params"
            if key not in HAND_WRITTEN:
                schema = dict(action["params"])
                alias = f" (also `{action['aliases'][0]}`)" if action["aliases"] else ""
                own = f" {schema['description']}" if "description" in schema else ""
                schema["description"] = f"`{key[0]}` / `{key[1]}`{alias}: {action['summary']}.{own}"
                schemas[name] = schema
            refs.append({"$ref": f"#/components/schemas/{name}"})
    request = schemas["ToolActionRequest"]["properties"]
    request["tool"]["enum"] = [t["tool"] for t in registry]
    request["params"]["anyOf"] = refs
    doc["paths"]["/v1/tool-actions/execute"]["post"]["x-cronium-tools"] = registry
    OPENAPI.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
