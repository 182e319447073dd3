"""The root command: --help and --version work."""

from typer.testing import CliRunner

from alliance import __version__
from alliance.cli import app


def test_version_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"alliance {__version__}"


def test_help_lists_the_command_line() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Alliance" in result.output
