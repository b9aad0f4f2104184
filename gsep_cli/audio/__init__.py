"""Audio made on the client from the API's WAV stems: other formats, bit depths and sample
rates, mixes of several stems, and the input's tags copied onto every result.

The codecs come from the optional ``audio`` extra (``pip install 'gsep-cli[audio]'``:
soundfile, soxr, numpy), imported only when a conversion runs; :func:`require` says
whether they are there. What can be checked without them (which formats exist, which
bit depths each takes) is :mod:`gsep_cli.audio.formats`'s and needs nothing beyond the
standard library.
"""

from __future__ import annotations

from ..errors import UsageError

INSTALL_LINE = "pip install 'gsep-cli[audio]'"
"""What to run to get the conversions (said in every refusal)."""


def require(why: str) -> None:
    """Check that the audio extra imports; UsageError (exit 2) with the install line when
    it does not. ``why`` names what needs it (``"--format flac"``)."""
    try:
        import numpy  # noqa: F401
        import soundfile  # noqa: F401
        import soxr  # noqa: F401
    except (ImportError, OSError) as exc:  # OSError: soundfile without its libsndfile
        raise UsageError(
            f"{why} needs the audio extra, which is not installed ({exc.__class__.__name__})",
            f"Install it: {INSTALL_LINE}",
        ) from None
