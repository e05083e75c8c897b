"""Arbitrary text and bytes through the ABC and audio loaders: pieces, or the
project's own input error, never anything else."""

import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noizenet.datasets.abc_files import AbcFiles, AbcFilesConfig
from noizenet.datasets.audio_files import AudioFiles, AudioFilesConfig
from noizenet.errors import DataError
from noizenet.plugin.interfaces import Piece
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation

ABC_ALPHABET = st.sampled_from(list("XKLMT:|ABCDEFGabcdefg,'^_=[]()/0123456789 \n%\"!{}"))
texts = st.one_of(st.text(max_size=400), st.text(ABC_ALPHABET, max_size=400))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=texts)
def test_abc_loader_yields_pieces_or_a_data_error(tmp_path, text):
    path = tmp_path / "fuzz.abc"
    path.write_bytes(text.encode("utf-8", errors="replace"))
    try:
        pieces = list(AbcFiles(AbcFilesConfig(), path).pieces())
    except DataError:
        return
    representation = AbcRepresentation(AbcConfig())
    representation.fit(pieces)
    for piece in pieces:
        encoded = representation.encode(piece)
        assert representation.decode(encoded).data == representation.normalize(piece)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_are_pieces_or_a_data_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "bytes.abc"
    path.write_bytes(data)
    try:
        pieces = list(AbcFiles(AbcFilesConfig(), path).pieces())
    except DataError:
        return
    assert all(isinstance(p, Piece) and p.data for p in pieces)


def wav_header(data: bytes) -> bytes:
    """A RIFF/WAVE header (16-bit mono, 16 kHz) claiming ``data`` as its samples,
    so that fuzzed bytes reach the decoder instead of failing at the magic number."""
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16)
    return b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + fmt + b"data" + struct.pack("<I", len(data)) + data


@settings(max_examples=80, deadline=None)
@given(data=st.binary(max_size=800), with_header=st.booleans(), suffix=st.sampled_from([".wav", ".flac", ".mp3", ".ogg"]))
def test_arbitrary_bytes_through_the_audio_loader_are_pieces_or_a_data_error(tmp_path_factory, data, with_header, suffix):
    folder = tmp_path_factory.mktemp("audio")
    (folder / f"fuzz{suffix}").write_bytes(wav_header(data) if with_header else data)
    try:
        pieces = list(AudioFiles(AudioFilesConfig(), folder).pieces())
    except DataError:
        return
    for piece in pieces:
        assert piece.data.dtype == np.float32 and piece.data.ndim == 1 and piece.data.size > 0
        assert np.isfinite(piece.data).all()
