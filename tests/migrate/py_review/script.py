import json
import cronium

# variables.json held every variable: no single call replaces reading it whole.
with open('variables.json') as f:
    variables = json.load(f)

cronium.output({'keys': sorted(variables)})
