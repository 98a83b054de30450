import cronium

# Counts runs in COUNTER. Old variables are strings: cronium.getVariable('COUNTER')
# gave '41', so the count is parsed and written back as a string.


def bump(key):
    value = str(int(cronium.getVariable(key) or '0') + 1)
    cronium.setVariable(key, value)
    return value


order = cronium.input()
count = bump('COUNTER')
for item in order.get('items', []):
    cronium.setVariable('last_item', item['sku'])
total = sum(i['qty'] * i['price'] for i in order.get('items', []))
cronium.setCondition(total > 100)
note = "not code: import cronium; cronium.setVariable('x', 1)"
cronium.output({'count': count, 'total': total, 'event': cronium.event()['name'], 'note': note})
