"""Audio files in, float arrays out: what ``checkerscope score`` reads besides images.

``load_audio`` returns the samples as ``float32`` ``(C, T)`` in ``[-1, 1]`` and the sample
rate:

* WAV (PCM, 8, 16, 24 or 32 bits, any number of channels) with the standard library's
  :mod:`wave`, nothing to install;
* FLAC, OGG/Vorbis, AIFF and floating-point WAV with the optional ``soundfile`` package
  (``pip install 'checkerscope[audio]'``); without it these raise an error that says so.

A transposed convolution in a vocoder (MelGAN, HiFi-GAN) leaves the same kind of periodic
pattern along time as in an image, so the score applies with ``dims=1``.

Examples:
    >>> import tempfile, pathlib, wave
    >>> import numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "tone.wav"
    >>> samples = (np.sin(np.arange(800) / 5.0)[:, None] * [8000, -8000]).astype("<i2")
    >>> with wave.open(str(path), "wb") as out:
    ...     out.setnchannels(2); out.setsampwidth(2); out.setframerate(16000)
    ...     out.writeframes(samples.tobytes())
    >>> audio, rate = load_audio(path)
    >>> audio.shape, audio.dtype, rate, round(float(audio[0, 8]), 3)
    ((2, 800), dtype('float32'), 16000, 0.244)
"""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

from checkerscope.errors import CheckerscopeError

__all__ = ["AUDIO_SUFFIXES", "is_audio_path", "load_audio"]

#: File name suffixes read as audio (any case).
AUDIO_SUFFIXES: frozenset[str] = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".aiff"})

_NEEDS_SOUNDFILE = "needs the optional soundfile package: pip install 'checkerscope[audio]'"


def is_audio_path(path: str | os.PathLike[str]) -> bool:
    """Whether the file name says audio (:data:`AUDIO_SUFFIXES`).

    Examples:
        >>> is_audio_path("take1.WAV"), is_audio_path("frame.png")
        (True, False)
    """
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def load_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read an audio file as ``float32`` ``(C, T)`` in ``[-1, 1]`` and its sample rate.

    Args:
        path: A WAV file (or FLAC, OGG, AIFF with ``soundfile`` installed).

    Returns:
        ``(samples, sample_rate)``.

    Raises:
        CheckerscopeError: the file is missing, empty, truncated, not audio, or needs
            ``soundfile`` and it is not installed.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckerscopeError(f"{path}: no such file") from None
    except OSError as exc:
        raise CheckerscopeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if path.is_dir():
        raise CheckerscopeError(f"{path}: is a folder, not an audio file")
    if size == 0:
        raise CheckerscopeError(f"{path}: empty file")
    if path.suffix.lower() in (".wav", ".wave"):
        try:
            return _read_wav(path)
        except wave.Error as exc:
            if "unknown format" not in str(exc):
                raise CheckerscopeError(f"{path}: not a readable WAV file ({exc})") from None
            # compressed or floating-point WAV: the wave module reads integer PCM only
    return _read_with_soundfile(path)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    try:
        with wave.open(str(path), "rb") as file:
            channels = file.getnchannels()
            width = file.getsampwidth()
            rate = file.getframerate()
            frames = file.readframes(file.getnframes())
    except (EOFError, OSError) as exc:
        raise CheckerscopeError(f"{path}: truncated or corrupt WAV file ({exc})") from None
    if width not in (1, 2, 3, 4):
        raise CheckerscopeError(f"{path}: unsupported WAV sample width of {width} bytes")
    usable = len(frames) - len(frames) % (width * channels)
    raw = np.frombuffer(frames[:usable], dtype=np.uint8)
    if raw.size == 0:
        raise CheckerscopeError(f"{path}: the WAV file holds no samples")
    if width == 1:  # unsigned 8-bit
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif width == 3:  # little-endian 24-bit: widen to 32 bits, keep the sign
        triples = raw.reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        samples = values.astype(np.float32) / float(1 << 23)
    else:
        dtype = "<i2" if width == 2 else "<i4"
        samples = raw.view(dtype).astype(np.float32) / float(1 << (8 * width - 1))
    return np.ascontiguousarray(samples.reshape(-1, channels).T), rate


def _read_with_soundfile(path: Path) -> tuple[np.ndarray, int]:
    try:
        import soundfile
    except ImportError:
        raise CheckerscopeError(
            f"{path}: reading {path.suffix or 'this file'} {_NEEDS_SOUNDFILE}"
        ) from None
    try:
        samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError, ValueError) as exc:  # soundfile.LibsndfileError is one
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise CheckerscopeError(f"{path}: not a readable audio file ({reason})") from None
    if samples.size == 0:
        raise CheckerscopeError(f"{path}: the audio file holds no samples")
    return np.ascontiguousarray(samples.T), int(rate)
