"""The HTTP API: `create_app(trail, tokens)`, served by `sessiontrail serve`."""
