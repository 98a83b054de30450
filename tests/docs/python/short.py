# The README's Python example. tests/docs/run.sh runs it under `cronium run` and checks the
# output it set; the README shows the region between the markers.
# START short
import cronium

order = cronium.input()
seen = cronium.get_variable("orders_seen", 0)
cronium.set_variable("orders_seen", seen + 1)
cronium.set_condition(order["total"] > 100)
cronium.output({"id": order["id"], "ok": True})
# END short
