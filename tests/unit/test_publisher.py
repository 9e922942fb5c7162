"""The pipelined confirms' bookkeeping, on a stand-in for py-amqp's channel (the real broker's
acks are exercised by every integration and e2e test that publishes)."""
import collections

from fengqiao.bus.publisher import Confirms


class Channel:
    def __init__(self):
        self.events = collections.defaultdict(set)
        self.confirming = False

    def confirm_select(self):
        self.confirming = True

    def ack(self, tag, multiple=False):
        for callback in self.events["basic_ack"]:
            callback(tag, multiple)

    def nack(self, tag, multiple=False):
        for callback in self.events["basic_nack"]:
            callback(tag, multiple, False)


def test_acks_one_at_a_time_and_many_at_once_settle_every_tag():
    channel = Channel()
    confirms = Confirms(channel)
    for _ in range(5):
        confirms.sending()
    assert channel.confirming and confirms.waiting == {1, 2, 3, 4, 5}
    channel.ack(3, multiple=True)
    assert confirms.waiting == {4, 5}
    channel.ack(5)
    assert confirms.waiting == {4}
    channel.ack(4)
    assert not confirms.waiting and not confirms.refused


def test_a_nack_settles_its_tag_but_marks_the_call_refused():
    channel = Channel()
    confirms = Confirms(channel)
    confirms.sending()
    confirms.sending()
    channel.nack(1)
    assert confirms.waiting == {2} and confirms.refused
