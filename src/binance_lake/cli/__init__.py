"""The command line: typer commands that call the Lake API and render with rich."""
