"""The workflow's Python: checks of a configured study that the rules call before any job."""
