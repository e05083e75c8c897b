"""Generation: stateful sampling from primes, and stand-ins for asked keys."""
