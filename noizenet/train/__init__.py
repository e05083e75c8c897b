"""Training: the trainer, teacher-forcing windows, held-out scoring, devices, distributed runs."""
