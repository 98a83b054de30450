# docs/tools.md, "Send it from a script" (Python). tests/docs/run.sh runs it under
# `cronium run` with Slack and email credentials pointing at local receivers and checks
# what they received.
# START tools
import cronium

cronium.send_slack_message("deploy done", channel="#ops")
cronium.execute_tool_action("email", "send-email",
                            {"to": "ops@example.com", "subject": "Nightly", "body": "All green."})
# END tools
