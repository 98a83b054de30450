# docs/python.md, "A script": every everyday call. tests/docs/run.sh runs it under
# `cronium run` with an order as input, a two-record input stream and a Slack credential
# pointing at a local receiver, then checks the output, the stream and the message.
# START basics
import cronium

order = cronium.input()                                 # {} when none (Cronium().input(): None)
seen = cronium.get_variable("orders_seen", 0)          # 0, "", False, None stay themselves
cronium.set_variable("orders_seen", seen + 1)           # returns the new version
cronium.set_condition(order["total"] > 100)
cronium.output({"id": order["id"], "ok": True})

runs = cronium.variable("runs")                         # get / set / delete / watch / subscribe
runs.set(runs.get(0) + 1)
stop = runs.subscribe(lambda v: print("runs is now", v))   # a background thread; what it raises
                                                           # is reported (sys.excepthook), it goes on
runs.set(runs.get(0) + 1)
stop()                                                  # ends it; a script need not wait

for record in cronium.stream_input():                   # NDJSON records, read incrementally
    cronium.stream_output({"seen": record})             # appended in call order
cronium.stream_output().close()                         # or leave it: flushed at exit

try:
    cronium.send_slack_message("done", channel="#alerts", idempotency_key=f"order-{order['id']}")
except cronium.ToolActionError as e:                    # every error: .code .status .retryable
    print(e.code)                                       # tool_not_configured without a credential
# END basics
