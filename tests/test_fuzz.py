"""Arbitrary text through the ABC loader: pieces, or the project's own input error."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from noizenet.datasets.abc_files import AbcFiles, AbcFilesConfig
from noizenet.errors import DataError
from noizenet.interfaces import Piece
from noizenet.plugins.abc_text import AbcConfig, AbcRepresentation

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
