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
    # Which params go with which tool and action: one alternative per action, so a request
    # the schema admits names an action the tool has and params that action takes.
    pairs = []
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
            names = [action["action"], *action["aliases"]]
            pairs.append(
                {
                    "properties": {
                        "tool": {"const": tool["tool"]},
                        "action": {"enum": names},
                        "params": {"anyOf": [{"$ref": f"#/components/schemas/{name}"}, {"type": "null"}]},
                        "config": {"$ref": f"#/components/schemas/{name}"},
                    }
                }
            )
    request = schemas["ToolActionRequest"]["properties"]
    request["tool"]["enum"] = [t["tool"] for t in registry]
    request["params"]["anyOf"] = refs
    schemas["ToolActionRequest"]["oneOf"] = pairs
    # `config` is what older SDKs send instead of `params`; both at once is refused (the
    # tool engine cannot tell which one the caller meant).
    schemas["ToolActionRequest"]["not"] = {"required": ["params", "config"]}
    compat = schemas["CompatToolActionRequest"]
    older = set(compat["properties"]["tool"]["enum"])
    compat["oneOf"] = [p for p in pairs if p["properties"]["tool"]["const"] in older]
    compat["not"] = {"required": ["params", "config"]}
    doc["paths"]["/v1/tool-actions/execute"]["post"]["x-cronium-tools"] = registry
    OPENAPI.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
