"""The local stack's published development credentials (README "Try it locally").

Fixed, documented values that only the local simulator and moto accept: not secrets, and a published
interface (users' scripts and our acceptance checks send them). Spelled here once; everything else imports them.
"""

DEV_API_KEY = "local-dev-api-key"  # the incident.io API key the simulator accepts
DEV_WEBHOOK_TOKEN = "local-dev-token"  # every monitoring source's webhook credential in the local stack
DEV_ALERT_SOURCE_TOKEN = "local-dev-alert-source-token"  # the simulator's REST alert and heartbeat sources
