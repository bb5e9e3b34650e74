"""A local stand-in for incident.io's remote MCP server (https://mcp.incident.io/mcp) and its REST alert endpoints.

    from alert_courier_local.simulator import start_simulator

    with start_simulator(port=0) as sim:          # 127.0.0.1:3001 by default
        sim.mcp_url                              # MCP streamable HTTP, Authorization: Bearer local-dev-api-key
        sim.simulator.state_snapshot()           # what GET /_sim/state shows

Tools, resources and the organisation document follow contract.json (best guesses: the real schemas are
unknown), or the recording LOCAL_SIMULATOR_CONTRACT names; the on-call directory follows organisation.json.
`python -m alert_courier_local.simulator` runs it standalone.
"""

from __future__ import annotations

from .errors import IncidentIoError
from .events import EventHook, SimEvent
from .faults import Faults, ToolFault
from .running import DEFAULT_HOST, DEFAULT_PORT, RunningSimulator, start_simulator
from .schemas import load_tool_schemas, tool_names
from .server import MCP_PATH, ORGANISATION_URI, SimulatorApp
from .simulator import (
    DEFAULT_ALERT_SOURCE_ID,
    DEFAULT_ALERT_SOURCE_TOKEN,
    DEFAULT_API_KEY,
    DEFAULT_ESCALATION_LIMIT_PER_MINUTE,
    DEFAULT_HEARTBEAT_SOURCE_ID,
    DEFAULT_RATE_LIMIT_PER_MINUTE,
    Simulator,
    UnknownTool,
)

__all__ = [
    "DEFAULT_ALERT_SOURCE_ID",
    "DEFAULT_ALERT_SOURCE_TOKEN",
    "DEFAULT_API_KEY",
    "DEFAULT_ESCALATION_LIMIT_PER_MINUTE",
    "DEFAULT_HEARTBEAT_SOURCE_ID",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_RATE_LIMIT_PER_MINUTE",
    "MCP_PATH",
    "ORGANISATION_URI",
    "EventHook",
    "Faults",
    "IncidentIoError",
    "RunningSimulator",
    "SimEvent",
    "Simulator",
    "SimulatorApp",
    "ToolFault",
    "UnknownTool",
    "load_tool_schemas",
    "start_simulator",
    "tool_names",
]
