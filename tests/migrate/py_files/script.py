# START readme
import json
import sys
sys.path.insert(0, '.')
from cronium import cronium

# Reads input.json and writes output.json directly, as scripts did before the helpers.
with open('input.json') as f:
    data = json.load(f)

event = json.load(open('event.json'))
# END readme


def summarize(rows):
    seen = int(cronium.getVariable('seen') or '0')
    for row in rows:
        seen += 1
    cronium.setVariable('seen', str(seen))
    return {'rows': len(rows), 'seen': seen, 'event': event['name']}


result = summarize(data['rows'])
print("writing output.json")
with open('output.json', 'w') as f:
    json.dump(result, f, indent=2)

with open('condition.json', 'w') as f:
    json.dump({'condition': result['rows'] > 2}, f)
