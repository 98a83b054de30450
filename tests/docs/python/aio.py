# docs/python.md, "Async code". tests/docs/run.sh runs it under `cronium run` with a
# two-record input stream and checks the output stream and the printed change.
# START aio
import asyncio

import cronium
import cronium.aio


async def main():
    n = await cronium.aio.get_variable("runs", 0)
    await cronium.aio.set_variable("runs", n + 1)
    async for record in cronium.stream_input():
        await cronium.stream_output({"seen": record})   # awaits only when backed up
    changes = await cronium.aio.watch_variable("runs")  # changes after this call
    await cronium.aio.set_variable("runs", n + 2)
    async for change in changes:
        print("runs is now", change.value, "version", change.version)
        break                                           # a watch runs until left


asyncio.run(main())
# END aio
