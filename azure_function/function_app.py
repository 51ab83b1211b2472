"""The MISP -> Microsoft Sentinel sync as an Azure Function (Python v2 programming model).

One timer-triggered function runs the same sync as script.py (misp_bridge/function/run.py) on the
schedule in the app setting `timerTriggerSchedule` (NCRONTAB, UTC). Settings are app settings (Key Vault
references resolved by the platform); the state is a table in the app's storage account. `make
function-zip` puts this file, host.json, requirements.txt, constants.py and misp_bridge/ into the zip to
deploy; docs/azure-function.md walks through it.
"""

from __future__ import annotations

from pathlib import Path

import azure.functions as func

from misp_bridge.function.run import invoke

app = func.FunctionApp()


@app.function_name(name="misp2sentinel")
@app.timer_trigger(
    schedule="%timerTriggerSchedule%", arg_name="timer", run_on_startup=False, use_monitor=True
)
def misp2sentinel(timer: func.TimerRequest) -> None:
    """Sync MISP to Sentinel once; raises (the invocation fails) when the run ended in error."""
    invoke(past_due=timer.past_due, app_dir=Path(__file__).resolve().parent)
