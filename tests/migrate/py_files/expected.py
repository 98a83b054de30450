# START readme
import json
import cronium

# Reads input.json and writes output.json directly, as scripts did before the helpers.
data = cronium.input()

event = cronium.event()
# END readme


def summarize(rows):
    seen = int(cronium.getVariable('seen') or '0')
    for row in rows:
        seen += 1
    cronium.setVariable('seen', str(seen))
    return {'rows': len(rows), 'seen': seen, 'event': event['eventName']}


result = summarize(data['rows'])
print("writing output.json")
cronium.output(result)

cronium.setCondition(result['rows'] > 2)
