"""The event stream (`docs/stream.md`): what the node publishes, and the client library.

`Subscriber` is the client: every message once and in order, replaying gaps by itself.
"""

from monmouth.stream.schema import STREAM_VERSION
from monmouth.stream.subscriber import Message, ReplayUnavailable, Subscriber
from monmouth.stream.topics import filter_prefixes

__all__ = ["STREAM_VERSION", "Message", "ReplayUnavailable", "Subscriber", "filter_prefixes"]
