"""The web viewer: plain HTML, CSS and JavaScript served by `sessiontrail serve`."""
