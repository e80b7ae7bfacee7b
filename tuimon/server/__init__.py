"""The engine process that runs the core: the one driver loop (app and headless), the typed protocol the UI speaks, queries and filters, the tshark labeller, drill-down, playback pacing."""
