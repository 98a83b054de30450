# Written for the Go-era Python SDK: a client object, snake_case calls.
from cronium import Cronium

client = Cronium()
data = client.input() or {}
client.set_variable('runs', (client.get_variable('runs') or 0) + 1)
client.set_condition(bool(data.get('urgent')))
ctx = client.event()
client.output({'event': ctx['name'], 'type': ctx.get('type'), 'runs': client.get_variable('runs')})
