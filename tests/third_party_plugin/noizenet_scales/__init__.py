"""Dataset ``scales`` (major scales in every key as ABC tunes, no files needed),
prime ``scale`` (the opening of a rising C major scale) and a check for
``noizenet doctor`` (the ``abcm2ps`` the tunes are engraved with)."""

import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import noizenet
from noizenet.interfaces import Check, Dataset, Piece, Prime

KEYS = ["C", "G", "D", "A", "E", "B", "F", "Bb", "Eb", "Ab"]
PATTERNS = ["CDEF GABc|cBAG FEDC|", "CEGc egc'g|ecGE C4|", "CDEC DEFD|EFGE FGAF|GABG c4|"]


@dataclass
class ScalesConfig:
    repeats: int = 3  # copies of each (key, pattern) tune


class Scales(Dataset):
    name = "scales"
    Config = ScalesConfig
    description = "major scales and arpeggios in ten keys, written as ABC"

    def pieces(self) -> Iterator[Piece]:
        for key in KEYS:
            for number, pattern in enumerate(PATTERNS):
                for copy in range(self.config.repeats):
                    text = f"X:{number + 1}\nT:{key} {number}\nM:4/4\nL:1/8\nK:{key}\n{pattern}\n"
                    yield Piece(f"{key}-{number}-{copy}", text)


class ScalePrime(Prime):
    name = "scale"
    description = "a rising C major scale"

    def make(self, representation, context, count):
        tune = Piece("prime", "X:1\nM:4/4\nL:1/8\nK:C\nCDEF GABc|")
        return [representation.opening(tune) for _ in range(count)]


@noizenet.hookimpl
def noizenet_datasets():
    return [Scales]


@noizenet.hookimpl
def noizenet_primes():
    return [ScalePrime]


@noizenet.hookimpl
def noizenet_checks():
    engraver = shutil.which("abcm2ps")
    return [Check("abcm2ps for scales", engraver is not None, engraver or "not found",
                  "sheet music of the scales")]
