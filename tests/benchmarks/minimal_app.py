"""The startup peer: a minimal typer app with two commands (what ``--help`` costs at least)."""

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
    app()
