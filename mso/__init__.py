"""mso: YANG-Push telemetry for devices with a main board and line cards."""
