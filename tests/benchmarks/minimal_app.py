"""The startup peer: a minimal typer app with two commands (what ``--help`` costs at least,
and one TAB of completion: ``_MINIMAL_COMPLETE=complete_bash``, set up as gsep does)."""

import os

import typer

app = typer.Typer(add_completion=False)


@app.command()
def hello(name: str = "world") -> None:
    """Say hello."""
    print(f"hello {name}")


@app.command()
def bye(name: str = "world") -> None:
    """Say goodbye."""
    print(f"bye {name}")


if __name__ == "__main__":
    if os.environ.get("_MINIMAL_COMPLETE"):  # register the shells, as gsep's run() does
        from typer._completion_classes import completion_init

        completion_init()
    app(prog_name="minimal")
