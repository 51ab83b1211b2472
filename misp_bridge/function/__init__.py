"""The sync as an Azure Function: what one timer invocation does (the app itself is azure_function/).

    run.py    one invocation: app settings -> the same run as script.py, under the state's lease, within
              a time budget below the host's functionTimeout; the outcome in the host's log
    host.py   what the Functions host says about time: functionTimeout from host.json or app settings

Settings are read by misp_bridge/config/appsettings.py; the state is an Azure table
(misp_bridge/sync/state/tables.py). docs/azure-function.md is the guide.
"""
