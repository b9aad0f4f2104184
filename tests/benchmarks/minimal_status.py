"""The floor of one status query: a minimal typer app whose command makes one GET with
requests (URL in MINIMAL_URL) and prints the answer's status code. Whatever a gsep
command imports beyond this is gsep's own choice (``tests/test_startup.py`` pins it)."""

import os

import typer

app = typer.Typer(add_completion=False)


@app.command()
def status() -> None:
    """GET MINIMAL_URL once."""
    import requests

    with requests.Session() as session:
        print(session.get(os.environ["MINIMAL_URL"], timeout=30).status_code)


@app.command()
def bye() -> None:
    """Do nothing (a second command, so typer builds a group as for gsep)."""


if __name__ == "__main__":
    app(prog_name="minimal-status")
