"""Route groups: each module defines `install(app, state, metrics)`."""
