"""Admission of audio jobs: a bounded line, fair across users, and the per-user limits.

Jobs run in the order users take turns, not in the order they arrived: when a worker frees up, the
next job is the oldest one of the user served longest ago (a user with nothing in flight counts as
never served). So one user's album of many tracks cannot starve other users' single songs, and each
waiting job knows its place in line (a round-robin over the waiting users, in that order).

Jobs of a batch (an album's tracks) wait only in part of the line, so the rest is always there for single
songs; and a job may name a time by which it must start (its answer is due), past which it is dropped
while its caller can still say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from bot.errors import BusyError

OnPosition = Callable[[int], None]
"""Told a waiting job's place in line (1 is next) each time it changes, and 0 when the job starts,
also when it starts at once without waiting (so a caller can tell "running" from "not placed yet")."""

# How long a job holds its slot before any was measured (a link's download plus its features), in
# seconds, and how fast the running mean follows new measurements.
_FIRST_GUESS_SECONDS = 5.0
_SMOOTHING = 0.2


@dataclass(eq=False)
class _Ticket:
    user_id: int
    number: int  # arrival order
    batch: bool
    on_position: OnPosition | None
    admitted: asyncio.Future[None]
    state: str = "waiting"  # "waiting", "running", or "dropped" (cancelled while waiting)
    position: int = 0  # the place in line last reported; 0: none reported
    started: float = 0.0  # loop time it started running


class FairQueue:
    """Admits at most ``capacity`` jobs at once; the rest wait their turn, fairly across users.

    Parameters
    ----------
    capacity
        Jobs running at once (the backend's workers).
    max_waiting
        Jobs waiting over all users; one more is refused with "try again in a minute".
    max_batch_waiting
        Jobs waiting over all users past which a job of a batch is refused: the places from here to
        ``max_waiting`` are kept for single songs.
    per_user
        Single songs (jobs without ``batch``) one user may have waiting or running at once.
    per_user_queued
        Jobs of any kind (an album's tracks included) one user may have waiting or running at once.
    """

    def __init__(
        self, capacity: int, *, max_waiting: int, max_batch_waiting: int, per_user: int, per_user_queued: int
    ) -> None:
        self.capacity = capacity
        self.max_waiting = max_waiting
        self.max_batch_waiting = max_batch_waiting
        self.per_user = per_user
        self.per_user_queued = per_user_queued
        self._waiting: dict[int, deque[_Ticket]] = {}  # only users with jobs waiting, each in arrival order
        self._running: set[_Ticket] = set()
        self._jobs: Counter[int] = Counter()  # per user, waiting or running
        self._singles: Counter[int] = Counter()  # per user, jobs without ``batch`` waiting or running
        self._last_served: dict[int, int] = {}  # per user with jobs in flight: when their last job started
        self._turns = itertools.count()
        self._arrivals = itertools.count()
        self._hold = _FIRST_GUESS_SECONDS

    @property
    def waiting(self) -> int:
        """Jobs waiting for a slot."""
        return sum(map(len, self._waiting.values()))

    @property
    def running(self) -> int:
        """Jobs holding a slot."""
        return len(self._running)

    @contextlib.asynccontextmanager
    async def slot(
        self,
        user_id: int,
        *,
        on_position: OnPosition | None = None,
        batch: bool = False,
        start_by: float | None = None,
    ) -> AsyncIterator[None]:
        """Wait for this user's turn, then hold one slot for the body of the ``async with``.

        Parameters
        ----------
        user_id
            Whose job it is: turns are taken per user.
        on_position
            Called with the job's place in line while it waits (see :data:`OnPosition`).
        batch
            One of several jobs of one request (an album's tracks): counted against ``per_user_queued``
            only, not the one-song-at-a-time ``per_user`` rule, and waits only within
            ``max_batch_waiting``.
        start_by
            Loop time (``loop.time()``, seconds) by which the job must have started; still waiting then,
            it gives up its place and BusyError is raised. None: no such time.

        Raises
        ------
        BusyError
            A per-user limit or the queue bound is reached (the message says how long to wait), or the
            job was still waiting at ``start_by``.
        """
        self._check(user_id, batch=batch)
        loop = asyncio.get_running_loop()
        ticket = _Ticket(user_id, next(self._arrivals), batch, on_position, loop.create_future())
        self._jobs[user_id] += 1
        if not batch:
            self._singles[user_id] += 1
        try:
            if self._waiting or len(self._running) >= self.capacity:
                self._waiting.setdefault(user_id, deque()).append(ticket)
                self._report_positions()
                try:
                    async with asyncio.timeout_at(start_by):
                        await ticket.admitted
                except TimeoutError:
                    if ticket.state != "running":  # else it started as the time came: let it run
                        raise BusyError(
                            "So many songs were ahead of yours that I couldn't get to it in time."
                            " Send it again in a few minutes."
                        ) from None
            else:
                self._start(ticket)
            ticket.started = loop.time()
            yield
            self._hold += _SMOOTHING * (loop.time() - ticket.started - self._hold)
        finally:
            self._leave(ticket)

    def _check(self, user_id: int, *, batch: bool) -> None:
        if not batch and self._singles[user_id] >= self.per_user:
            raise BusyError(
                "You already have a song in line or being rated; wait for it to finish"
                f" ({self._wait_text(user_id)})."
            )
        if self._jobs[user_id] >= self.per_user_queued:
            raise BusyError(
                f"You have {self._jobs[user_id]} songs in line or being rated; wait for some to finish"
                f" ({self._wait_text(user_id)})."
            )
        if self.waiting >= self.max_waiting:
            raise BusyError("I'm rating a lot of songs right now. Try again in a minute.")
        if batch and self.waiting >= self.max_batch_waiting:
            raise BusyError(
                "I'm rating a lot of songs right now, and keep the rest of my line for single songs."
                " Try again in a few minutes."
            )

    def _wait_text(self, user_id: int) -> str:
        """How long until the user's first job in flight is likely done, e.g. "about 8 seconds"."""
        if any(t.user_id == user_id for t in self._running):
            place = 0
        else:
            place = min((t.position for t in self._waiting.get(user_id, ())), default=0)
        seconds = max(1, round(self._hold * (1 + place / self.capacity)))
        return f"about {seconds} second{'s' if seconds != 1 else ''}"

    def _start(self, ticket: _Ticket) -> None:
        ticket.state = "running"
        self._running.add(ticket)
        self._last_served[ticket.user_id] = next(self._turns)
        ticket.admitted.set_result(None)
        if ticket.on_position is not None:
            ticket.on_position(0)

    def _leave(self, ticket: _Ticket) -> None:
        user = ticket.user_id
        if ticket.state == "waiting":
            # Cancelled while waiting: give up the place in line.
            line = self._waiting[user]
            line.remove(ticket)
            if not line:
                del self._waiting[user]
        elif ticket.state == "running":
            self._running.discard(ticket)
        self._jobs[user] -= 1
        if not ticket.batch:
            self._singles[user] -= 1
        if not self._jobs[user]:
            del self._jobs[user], self._singles[user]
            self._last_served.pop(user, None)
        self._admit()

    def _admit(self) -> None:
        """Start waiting jobs while slots are free, then tell the rest their new places."""
        while self._waiting and len(self._running) < self.capacity:
            user = min(self._waiting, key=self._turn_key)
            line = self._waiting[user]
            ticket = line.popleft()
            if not line:
                del self._waiting[user]
            if ticket.admitted.cancelled():
                ticket.state = "dropped"  # its task is being cancelled; its ``finally`` releases nothing
                continue
            self._start(ticket)
        self._report_positions()

    def _turn_key(self, user_id: int) -> tuple[int, int]:
        return self._last_served.get(user_id, -1), self._waiting[user_id][0].number

    def _report_positions(self) -> None:
        users = sorted(self._waiting, key=self._turn_key)
        rounds = max((len(line) for line in self._waiting.values()), default=0)
        order = [self._waiting[u][r] for r in range(rounds) for u in users if len(self._waiting[u]) > r]
        for place, ticket in enumerate(order, start=1):
            if ticket.position != place:
                ticket.position = place
                if ticket.on_position is not None:
                    ticket.on_position(place)
