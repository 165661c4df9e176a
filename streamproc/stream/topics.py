"""Topic administration: the contract's topics, created when missing, and their partitions."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streamproc.config import WorkerConfig
from streamproc.kafka_security import client_options, start_client

# A checkpoint record at most (streamproc.stream.checkpoints.MAX_CHECKPOINT_BYTES,
# 8 MiB, and the record's framing): the state topic's max.message.bytes.
STATE_RECORD_BYTES = 9 * 1024 * 1024


async def ensure_topics(config: WorkerConfig) -> None:
    """Create the contract's topics that do not exist yet.

    Events, labels, alerts and dead letters get ``config.partitions`` partitions;
    baselines one partition, compacted (the newest baseline of each model is kept);
    the state topic (checkpoints) ``config.partitions`` partitions, compacted,
    taking records of up to :data:`STATE_RECORD_BYTES` (a broker's default
    limit is 1 MiB; a model's checkpoint with its label join may be larger).
    """
    t = config.topics
    admin = AIOKafkaAdminClient(bootstrap_servers=config.bootstrap, **client_options(config))
    try:
        await start_client(admin)
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, config.partitions, 1)
            for name in (t.events, t.labels, t.alerts, t.dlq)
            if name not in existing
        ]
        if t.baselines not in existing:
            wanted.append(NewTopic(t.baselines, 1, 1, topic_configs={"cleanup.policy": "compact"}))
        if t.state not in existing and config.checkpoint_seconds > 0:
            state = {"cleanup.policy": "compact", "max.message.bytes": str(STATE_RECORD_BYTES)}
            wanted.append(NewTopic(t.state, config.partitions, 1, topic_configs=state))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


async def partitions_of(config: WorkerConfig, topics: Iterable[str]) -> dict[str, list[int]]:
    """The partitions of ``topics``, from metadata fetched now (sorted; ``[0]``
    for a topic the broker does not describe).

    A fresh metadata request, because a consumer's cached metadata may predate
    the topics that :func:`ensure_topics` just created.
    """
    topics = list(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=config.bootstrap, **client_options(config))
    await start_client(admin)
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    found = {
        t["topic"]: sorted(p["partition"] for p in t["partitions"])
        for t in described
        if t["partitions"]
    }
    return {topic: found.get(topic) or [0] for topic in topics}
