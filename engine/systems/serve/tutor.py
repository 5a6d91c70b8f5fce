"""The model behind the endpoint: a grammar tutor over the verb corpus with a fixed service time.

Why a stand-in: phase 33 is about what happens around the model (threads, queues, batching), so the
tutor's answer only needs to be right and its cost only needs to be known. It corrects a sentence to the
closest corpus sentence (difflib) and then sleeps `service_ms`, which stands for device time: like a
BLAS or GPU call, sleeping releases the GIL, so worker threads can overlap it and a blocked event loop
cannot. The 2-core box would otherwise show thread overlap only up to its core count.
"""

from __future__ import annotations

import difflib
import threading
import time
from dataclasses import dataclass

from engine.lm.train.data import load_corpus


@dataclass(frozen=True)
class Correction:
    corrected: str
    explanation: str
    was_correct: bool


class Tutor:
    def __init__(self, service_ms: float = 20.0) -> None:
        self.service_ms = service_ms
        self.sentences: list[str] = []
        self.fail_next = False  # lets a lab provoke the 500 path
        self.in_service = 0  # calls inside their service time right now
        self.max_overlap = 0  # the most at once: 1 when the handler serialises the model
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return bool(self.sentences)

    def load(self, delay_s: float = 0.0) -> None:
        time.sleep(delay_s)
        self.sentences = [e.text for e in load_corpus()]

    def correct(self, sentence: str) -> Correction:
        if not self.loaded:
            raise RuntimeError("tutor not loaded")
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("model failure (injected)")
        with self._lock:
            self.in_service += 1
            self.max_overlap = max(self.max_overlap, self.in_service)
        try:
            time.sleep(self.service_ms / 1000)
        finally:
            with self._lock:
                self.in_service -= 1
        text = " ".join(sentence.lower().split())
        if text in self.sentences:
            return Correction(text, "the sentence is already correct", True)
        best = difflib.get_close_matches(text, self.sentences, n=1, cutoff=0.0)[0]
        return Correction(best, f"closest correct form: '{best}'", False)
