"""haproxy's connection limit follows the descriptors it may open."""

from __future__ import annotations

import resource

from ostia.amphora.haproxy_limits import descriptor_cap, global_maxconn, maxconn_arguments

CONFIG = """global
    master-worker
    maxconn 50000  # the controller's default
defaults
    maxconn 7
frontend f
    maxconn 30
"""


def test_global_maxconn_is_read_from_the_global_section_only():
    assert global_maxconn(CONFIG) == 50000
    assert global_maxconn(CONFIG.replace("    maxconn 50000", "")) is None


def test_a_limit_beyond_the_descriptors_is_capped_to_what_they_allow():
    assert descriptor_cap(20000) == 9900
    assert maxconn_arguments(CONFIG, hard_limit=20000) == ["-n", "9900"]


def test_a_limit_the_descriptors_allow_is_left_to_the_configuration():
    assert maxconn_arguments(CONFIG, hard_limit=1 << 20) == []
    assert maxconn_arguments(CONFIG.replace("50000", "1000"), hard_limit=20000) == []
    assert maxconn_arguments(CONFIG, hard_limit=resource.RLIM_INFINITY) == []
