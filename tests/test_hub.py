"""Hub fan-out: order, gap-free numbering, conflation, slow subscribers cut off without hurting others."""

import asyncio
import json

import pytest

from server.hub import Hub, SubscriberClosed


def run(coro):
    return asyncio.run(coro)


def test_events_arrive_in_order_with_gap_free_sequence_numbers():
    async def go():
        hub = Hub(maxsize=100)
        async with hub.subscribe([("snapshot", {"n": 0}, 1)]) as a, hub.subscribe() as b:
            for i in range(20):
                hub.publish("move", {"ply": i}, ts=i)
            got_a = [await a.get() for _ in range(21)]
            got_b = [await b.get() for _ in range(20)]
        return got_a, got_b

    got_a, got_b = run(go())
    assert got_a[0] == {"t": "snapshot", "v": 0, "ts": 1, "d": {"n": 0}}
    assert [m["d"]["ply"] for m in got_a[1:]] == list(range(20)) == [m["d"]["ply"] for m in got_b]
    assert [m["v"] for m in got_a] == list(range(21)) and [m["v"] for m in got_b] == list(range(20))


def test_conflating_topics_deliver_only_the_latest_pending_value():
    async def go():
        hub = Hub()
        async with hub.subscribe() as sub:
            hub.publish("metrics", {"update": 1}, ts=1)
            hub.publish("move", {"ply": 1}, ts=2)
            hub.publish("metrics", {"update": 2}, ts=3)
            hub.publish("status", {"s": "a"}, ts=4)
            hub.publish("metrics", {"update": 3}, ts=5)
            return [await sub.get() for _ in range(3)], sub.backlog

    got, left = run(go())
    assert [(m["t"], m["d"]) for m in got] == [
        ("move", {"ply": 1}),
        ("status", {"s": "a"}),
        ("metrics", {"update": 3}),
    ]
    assert [m["v"] for m in got] == [0, 1, 2] and left == 0


def test_a_slow_subscriber_is_closed_and_the_others_get_everything():
    async def go():
        hub = Hub(maxsize=10)
        async with hub.subscribe() as slow, hub.subscribe() as fast:
            received = []

            async def reader():
                async for message in fast:
                    received.append(message["d"]["ply"])
                    if len(received) == 50:
                        return

            task = asyncio.create_task(reader())
            for i in range(50):
                hub.publish("move", {"ply": i}, ts=i)
                await asyncio.sleep(0)  # let the fast reader run, as the event loop would
            await asyncio.wait_for(task, 5)
            with pytest.raises(SubscriberClosed, match="too slow"):
                await slow.get()
            return received, hub.subscribers, hub.disconnected_slow

    received, subscribers, cut = run(go())
    assert received == list(range(50))
    assert subscribers == 1 and cut == 1  # the slow one is gone, the fast one still listens


def test_unsubscribe_always_cleans_up_and_restart_renumbers():
    async def go():
        hub = Hub()
        with pytest.raises(RuntimeError):
            async with hub.subscribe():
                assert hub.subscribers == 1
                raise RuntimeError("viewer went away")
        assert hub.subscribers == 0
        async with hub.subscribe() as sub:
            hub.publish("move", {"ply": 1}, ts=1)
            await sub.get()
            hub.publish("move", {"ply": 2}, ts=2)
            sub.restart([("snapshot", {"fresh": True}, 3)])
            first = await sub.get()
        return first

    first = run(go())
    assert first["t"] == "snapshot" and first["v"] == 0


def test_text_form_is_the_same_message():
    async def go():
        hub = Hub()
        async with hub.subscribe() as a, hub.subscribe() as b:
            hub.publish("move", {"ply": 1, "name": "▲７六歩"}, ts=7)
            return await a.get(), json.loads(await b.get_text())

    as_dict, from_text = run(go())
    assert as_dict == from_text == {"t": "move", "v": 0, "ts": 7, "d": {"ply": 1, "name": "▲７六歩"}}
