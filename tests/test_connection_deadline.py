"""ConnectionDeadline: the head, idle and linger deadlines of a TPP connection, on one lazy timer."""

from __future__ import annotations

import asyncio

from gateway.connection_deadline import ConnectionDeadline


def deadline_with_log() -> tuple[ConnectionDeadline, list[str]]:
    expired: list[str] = []
    return ConnectionDeadline(expired.append), expired


async def test_a_deadline_expires_once_with_its_kind() -> None:
    deadline, expired = deadline_with_log()
    deadline.arm("head", 0.02)
    await asyncio.sleep(0.15)
    assert expired == ["head"]
    assert deadline.kind == ""


async def test_keep_alive_requests_move_the_deadline_without_a_new_timer() -> None:
    """A later deadline keeps the running timer; when it fires early it re-arms for the rest."""
    deadline, expired = deadline_with_log()
    deadline.arm("idle", 0.05)
    timer = deadline._timer
    for _ in range(100):  # a request begins, is answered, the connection is idle again
        deadline.disarm()
        deadline.arm("idle", 30)
    assert deadline._timer is timer, "no timer was cancelled or created per request"
    await asyncio.sleep(0.2)  # the first timer fired: the deadline was not due
    assert expired == []
    assert deadline._timer is not None and deadline._timer.when() > asyncio.get_running_loop().time() + 25
    deadline.stop()


async def test_a_sooner_deadline_moves_the_timer() -> None:
    deadline, expired = deadline_with_log()
    deadline.arm("idle", 30)
    deadline.arm("head", 0.02)  # a head began: its timeout is shorter than the idle one
    await asyncio.sleep(0.15)
    assert expired == ["head"]


async def test_disarmed_and_stopped_deadlines_never_expire() -> None:
    deadline, expired = deadline_with_log()
    deadline.arm("idle", 0.02)
    deadline.disarm()
    other, other_expired = deadline_with_log()
    other.arm("linger", 0.02)
    timer = other._timer
    other.stop()
    await asyncio.sleep(0.15)
    assert expired == [] and other_expired == []
    assert timer is not None and timer.cancelled(), "a closed connection's timer is cancelled"
    assert other._timer is None


async def test_the_expiry_callback_may_arm_again() -> None:
    """The connection re-arms the head deadline while its own answers are still going out."""
    expired: list[str] = []

    def on_expired(kind: str) -> None:
        expired.append(kind)
        if len(expired) < 3:
            deadline.arm(kind, 0.01)

    deadline = ConnectionDeadline(on_expired)
    deadline.arm("head", 0.01)
    await asyncio.sleep(0.3)
    assert expired == ["head", "head", "head"]


def test_under_uvloop_traffic_holds_the_idle_deadline_off_and_silence_lets_it_expire() -> None:
    """uvloop's clock is in milliseconds and cached per loop turn: the lazy timer still holds."""
    import uvloop

    async def scenario() -> tuple[list[str], float]:
        loop = asyncio.get_running_loop()
        expired: list[str] = []
        done = asyncio.Event()

        def on_expired(kind: str) -> None:
            expired.append(kind)
            done.set()

        deadline = ConnectionDeadline(on_expired)
        last_arm = loop.time()
        stop_at = last_arm + 0.6
        while loop.time() < stop_at:  # a request every 5 ms re-arms a 250 ms idle deadline
            deadline.arm("idle", 0.25)
            last_arm = loop.time()
            await asyncio.sleep(0.005)
            assert expired == [], "traffic keeps an idle connection open"
        await asyncio.wait_for(done.wait(), 5)
        return expired, loop.time() - last_arm

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        expired, after = runner.run(scenario())
    assert expired == ["idle"]
    assert 0.245 <= after < 3, "expired one idle timeout after the last request (a loaded VM may be late)"
