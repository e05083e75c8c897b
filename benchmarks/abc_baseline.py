"""The reference point of the ABC acceptance check: a bare fused 2x256 LSTM loop.

Trains a plain character LSTM the way public char-RNN scripts do (random windows
of the training text, zero initial state, Adam, no schedule) for a time budget on
the same tunes and the same train/validation split as `abc_quality.py`, and scores
the validation tunes exactly as noizenet does (each from its start to its end).
Run `abc_quality.py` first: it writes the tunes file this script reads.

    python benchmarks/abc_baseline.py --minutes 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from noizenet.datasets.abc_files import AbcFiles, AbcFilesConfig
from noizenet.plugin.interfaces import OutputSpec
from noizenet.plugin.kinds import Categorical
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation
from noizenet.train.scoring import score_pieces
from noizenet.data.splits import split_pieces


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, 64)
        self.rnn = nn.LSTM(64, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.rnn(self.embed(x), state)
        return self.head(h), state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("benchmarks/results/abc_quality/tunes.abc"))
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)

    pieces = list(AbcFiles(AbcFilesConfig(), args.data).pieces())
    train, val, _ = split_pieces(pieces, [0.8, 0.1, 0.1], args.seed)
    representation = AbcRepresentation(AbcConfig())
    representation.fit(train)
    corpus = torch.cat([representation.encode(p) for p in train])
    vocab = representation.spec.size
    model = CharLSTM(vocab)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps, tick = 0, time.perf_counter()
    while time.perf_counter() - tick < 60 * args.minutes:
        starts = torch.randint(0, len(corpus) - args.seq_len - 1, (args.batch_size,))
        window = torch.stack([corpus[s : s + args.seq_len + 1] for s in starts])
        logits, _ = model(window[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), window[:, 1:].reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        steps += 1
    seconds = time.perf_counter() - tick
    spec = OutputSpec(Categorical(), vocab, start=0, stop=1)
    score = score_pieces(model, [representation.encode(p) for p in val], spec, torch.device("cpu"))
    result = {
        "baseline": "bare fused 2x256 LSTM, random windows",
        "steps": steps,
        "tokens_per_s": round(steps * args.batch_size * args.seq_len / seconds),
        "val_loss": score["loss"],
        "val_accuracy": score["accuracy"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
