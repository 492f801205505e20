"""Wall time of costed jobs on a number of cores: list scheduling along the plan's
dependencies, each job holding as many cores as its threads.

Ready jobs start longest-path-to-the-end first, so the chains that set the end (training,
then the analysis of its checkpoints, then the tables and figures) start early, as a good
scheduler would; the result is at least the larger of the summed time over the cores and the
longest chain.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence


def critical_paths(seconds: Sequence[float], after: Sequence[Sequence[int]]) -> list[float]:
    """For each job, its seconds plus the longest chain of jobs that must follow it."""
    followers: list[list[int]] = [[] for _ in seconds]
    for job, before in enumerate(after):
        for first in before:
            followers[first].append(job)
    order = _topological(len(seconds), after)
    longest = [0.0] * len(seconds)
    for job in reversed(order):
        tail = max((longest[f] for f in followers[job]), default=0.0)
        longest[job] = seconds[job] + tail
    return longest


def _topological(n: int, after: Sequence[Sequence[int]]) -> list[int]:
    waiting = [len(set(before)) for before in after]
    followers: list[list[int]] = [[] for _ in range(n)]
    for job, before in enumerate(after):
        for first in set(before):
            followers[first].append(job)
    ready = [job for job in range(n) if waiting[job] == 0]
    order = []
    while ready:
        job = ready.pop()
        order.append(job)
        for follower in followers[job]:
            waiting[follower] -= 1
            if waiting[follower] == 0:
                ready.append(follower)
    if len(order) != n:
        raise ValueError("the jobs' dependencies form a cycle")
    return order


def wall_time(
    seconds: Sequence[float],
    threads: Sequence[int],
    after: Sequence[Sequence[int]],
    cores: int,
) -> float:
    """Seconds until the last job ends when job ``i`` takes ``seconds[i]`` on
    ``min(threads[i], cores)`` cores and starts after every job in ``after[i]``."""
    n = len(seconds)
    if n == 0:
        return 0.0
    cores = max(1, cores)
    priority = critical_paths(seconds, after)
    waiting = [len(set(before)) for before in after]
    followers: list[list[int]] = [[] for _ in range(n)]
    for job, before in enumerate(after):
        for first in set(before):
            followers[first].append(job)
    ready = [(-priority[j], j) for j in range(n) if waiting[j] == 0]
    heapq.heapify(ready)
    running: list[tuple[float, int]] = []
    free, now, end = cores, 0.0, 0.0
    while ready or running:
        skipped = []
        while ready and free > 0:
            item = heapq.heappop(ready)
            need = min(max(threads[item[1]], 1), cores)
            if need <= free:
                free -= need
                heapq.heappush(running, (now + seconds[item[1]], item[1]))
            else:
                skipped.append(item)
        for item in skipped:
            heapq.heappush(ready, item)
        now, job = heapq.heappop(running)
        end = max(end, now)
        free += min(max(threads[job], 1), cores)
        for follower in followers[job]:
            waiting[follower] -= 1
            if waiting[follower] == 0:
                heapq.heappush(ready, (-priority[follower], follower))
    return end
