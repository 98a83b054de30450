"""A Cronium Python script: `import cronium` and the runtime is there (under `cronium run`
even the import is optional).

    cronium run examples/hello.py --input '{"name":"Ada"}'
"""

import cronium

name = (cronium.input() or {}).get("name", "World")
print(f"Hello, {name}!")

# Variables belong to the user and outlive the run: count the greetings.
count = cronium.get_variable("greetings", 0) + 1
cronium.set_variable("greetings", count)
cronium.set_variable("last_name", name)

# The condition picks the next branch of a workflow.
cronium.set_condition(count > 1)
cronium.output({"greeting": f"Hello, {name}!", "count": count})
