"""`make bench` (`python -m alert_courier_local.bench`): how fast alert-courier is, measured on this machine.

Four sections, each runnable alone with `--only`:

- ``coldstart``: import + module-level init of each function in fresh processes, against a baseline
  process that only imports boto3 and creates one client (dev venv, and an artefact-like copy of the
  layer without and with compiled bytecode);
- ``ingest``: normalised alerts per second for one 1,000-alert Alertmanager notification, against only
  validating the same JSON with pydantic;
- ``dispatch``: warm MCP tool calls per second and HTTP requests per call against the simulator;
- ``storm``: thousands of re-sent Alertmanager alerts through the whole local stack (a fresh process).

Benchmarks are not part of `make test`. Importing this package has no side effects: every section
imports what it measures only when it runs.
"""
