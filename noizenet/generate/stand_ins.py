"""Stand-ins for what the user asked: where a representation can make a steering in
another way and move the result (audio: a key made in another key, then
pitch-shifted), a few short probe samples try each way, and generation takes the
first, in the representation's order (the asked one first, then the nearest), that
the model follows; else the one it follows best.

A model follows the keys its corpus is in and drifts from the others toward them;
what it follows is measured here rather than guessed from the corpus
(benchmarks/README.md, "Borrowed keys").
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from noizenet.generate.generator import generate as sample_sequences
from noizenet.plugin.interfaces import Representation, SequenceModel

log = logging.getLogger("noizenet")
PROBES = 3  # probe samples a way
PROBE_SECONDS = 2.0  # each, after a one-step silent prime
FOLLOWED = 0.7  # mean score (Representation.follows) of a way the model follows
PROBE_SEED = 7919  # added to the run's seed: the probes draw apart from the samples they choose for


def stand_in(
    model: SequenceModel, representation: Representation, steering: dict[str, str], *, seed: int,
    device: torch.device, calibration: Any, guidance: float,
) -> tuple[dict[str, str], int]:
    """The steering to condition on in place of ``steering`` and the semitones that
    move its samples to what was asked; ``(steering, 0)`` where the representation
    offers no other way (:meth:`Representation.stand_ins`)."""
    ways = representation.stand_ins(steering)
    if len(ways) <= 1:
        return steering, 0
    prime = representation.opening(None)
    rows = [way for way in ways for _ in range(PROBES)]
    conditions = torch.from_numpy(np.stack([representation.asked_condition(way) for way, _ in rows]))
    result = sample_sequences(
        model, representation.spec, [prime] * len(rows), [1.0] * len(rows),
        max_length=max(1, round(PROBE_SECONDS * (representation.steps_per_second() or 1.0))), seed=seed + PROBE_SEED,
        device=device, calibration=calibration, conditions=conditions, guidance=guidance,
    )
    scores = [representation.follows(way, representation.decode(sequence, prime_steps=len(prime)))
              for (way, _), sequence in zip(rows, result.sequences)]
    followed = [float(np.mean(scores[i * PROBES : (i + 1) * PROBES])) for i in range(len(ways))]
    pick = next((i for i, score in enumerate(followed) if score >= FOLLOWED), int(np.argmax(followed)))
    if pick:
        log.info("%s: the model follows it at %.2f in %d probe samples and %s at %.2f; the samples are made in that "
                 "and moved %+d semitones", steering, followed[0], PROBES, ways[pick][0], followed[pick], ways[pick][1])
    return ways[pick]
