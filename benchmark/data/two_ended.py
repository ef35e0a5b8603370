"""Two-ended prediction protocols (Point-to-Point video generation, Wang et al. ICCV 2019, arXiv
1904.02912): the method is given the first frame of a clip *and its last frame*
(``Conditioning.end_frame``) and produces every frame after the first, the last one being the
given end frame's time.

A dataset offers them with its ``two_ended=True`` option: its prediction protocols are replaced by
their two-ended versions over the same clips (same split, length and samples per context).

>>> from benchmark.data.base import Protocol, TaskProtocols
>>> tp = TaskProtocols(Protocol("prediction-5to10", "prediction", "train", 5, 10, (64, 64), 3),
...                    Protocol("prediction-5to15", "prediction", "test", 5, 15, (64, 64), 3, samples_per_context=10))
>>> t = two_ended(tp)
>>> t.train.name, t.test.name, t.test.conditioning, t.test.samples_per_context
('two-ended-1to14', 'two-ended-1to19', ('end_frame',), 10)
"""

from __future__ import annotations

from benchmark.data.base import Protocol, TaskProtocols


def two_ended_protocol(p: Protocol, context: int = 1) -> Protocol:
    """``p``'s clips with ``context`` start frame(s), the rest to produce, the last frame given."""
    n = p.num_frames
    if n - context < 2:
        raise ValueError(f"protocol {p.name}: {n} frames leave no frame between the start and the end frame")
    return p.replace(name=f"two-ended-{context}to{n - context}", context_frames=context,
                     future_frames=n - context, conditioning=tuple(sorted({*p.conditioning, "end_frame"})))


def two_ended(tp: TaskProtocols, context: int = 1) -> TaskProtocols:
    """The two-ended versions of a task's train and test protocols."""
    return TaskProtocols(train=two_ended_protocol(tp.train, context), test=two_ended_protocol(tp.test, context))
