"""Which heartbeat may follow the last one accepted: boot ids, sequence numbers, the bound."""

from __future__ import annotations

import pytest
from sqlalchemy import String

from ostia.controller.health import sequence
from ostia.controller.health.sequence import SequenceState, judge
from ostia.db import models

WINDOW = 100
INTERVAL = 10.0
T0 = 1_000_000.0
BOOT_A, BOOT_B, BOOT_C = "a" * 32, "b" * 32, "c" * 32


def run(
    last: SequenceState | None, boot_id: str | None, seq: int, after: float = INTERVAL
) -> SequenceState | str:
    """Judge a heartbeat arriving `after` seconds after `last` was heard."""
    return judge(last, boot_id, seq, (last.heard_at if last else T0) + after, WINDOW, INTERVAL)


def accepted(result: SequenceState | str) -> SequenceState:
    assert isinstance(result, SequenceState), f"refused: {result}"
    return result


def test_first_heartbeat_of_an_amphora_is_accepted_whatever_its_seq():
    assert accepted(run(None, BOOT_A, 5000)).seq == 5000
    assert accepted(run(None, None, 7)).boot_id is None


def test_next_seq_of_the_same_boot_is_accepted_and_remembered():
    state = accepted(run(SequenceState(10, T0, BOOT_A), BOOT_A, 11))
    assert (state.seq, state.boot_id, state.heard_at) == (11, BOOT_A, T0 + INTERVAL)


@pytest.mark.parametrize("seq", [10, 9, 0])
def test_seq_not_above_the_last_of_the_same_boot_is_a_replay(seq):
    assert run(SequenceState(10, T0, BOOT_A), BOOT_A, seq) == "replayed"


def test_huge_seq_is_refused_and_genuine_heartbeats_keep_being_accepted():
    last = SequenceState(10, T0, BOOT_A)
    assert run(last, BOOT_A, 2**31 - 1) == "seq_jump"
    # Nothing was recorded: the genuine next heartbeat is still judged against seq 10.
    assert accepted(run(last, BOOT_A, 11)).seq == 11


def test_lost_datagrams_and_several_managers_stay_within_the_window():
    last = SequenceState(10, T0, BOOT_A)
    assert accepted(run(last, BOOT_A, 10 + WINDOW)).seq == 10 + WINDOW


def test_bound_grows_with_the_time_the_amphora_was_not_heard():
    last = SequenceState(10, T0, BOOT_A)
    hour = 3600.0  # every manager down for an hour: 360 heartbeats sent meanwhile
    assert accepted(run(last, BOOT_A, 10 + 360, after=hour)).seq == 370
    assert run(last, BOOT_A, 10 + 360, after=INTERVAL) == "seq_jump"


def test_new_boot_id_with_a_sequence_reset_is_accepted_and_the_old_boot_retired():
    state = accepted(run(SequenceState(5000, T0, BOOT_A), BOOT_B, 0))
    assert (state.seq, state.boot_id, state.previous_boot_ids) == (0, BOOT_B, (BOOT_A,))


def test_new_boot_first_heard_a_few_heartbeats_late_is_accepted():
    assert accepted(run(SequenceState(5000, T0, BOOT_A), BOOT_B, 40)).boot_id == BOOT_B


def test_new_boot_with_a_seq_no_new_run_can_have_reached_is_refused():
    assert run(SequenceState(5000, T0, BOOT_A), BOOT_B, 1_000_000) == "seq_jump"


def test_old_boot_replayed_after_a_restart_is_refused_even_with_a_small_seq():
    now = accepted(run(SequenceState(5000, T0, BOOT_A), BOOT_B, 0))
    assert run(now, BOOT_A, 3) == "old_boot"
    assert run(now, BOOT_A, 5001) == "old_boot"
    # ... and the agent that really runs keeps being heard.
    assert accepted(run(now, BOOT_B, 1)).seq == 1


def test_only_the_last_boots_are_remembered():
    state = SequenceState(0, T0, "boot-0")
    for number in range(1, sequence.KEPT_BOOTS + 3):
        state = accepted(run(state, f"boot-{number}", 0))
    assert len(state.previous_boot_ids) == sequence.KEPT_BOOTS
    assert state.previous_boot_ids[0] == f"boot-{sequence.KEPT_BOOTS + 1}"


def test_heartbeat_without_boot_id_from_an_amphora_that_sent_one_is_refused():
    assert run(SequenceState(10, T0, BOOT_A), None, 11) == "no_boot_id"


def test_upstream_amphora_keeps_the_restart_rule():
    last = SequenceState(500, T0)
    assert accepted(run(last, None, 501)).seq == 501
    assert run(last, None, 400) == "replayed"
    assert accepted(run(last, None, 0)).seq == 0  # its agent restarted
    assert run(last, None, 500 + 10 * WINDOW) == "seq_jump"


def test_first_boot_id_after_a_state_without_one_is_a_restart_or_the_same_run():
    last = SequenceState(5000, T0)  # a row written before boot ids were kept
    assert accepted(run(last, BOOT_C, 0)).boot_id == BOOT_C
    assert accepted(run(last, BOOT_C, 5001)).seq == 5001
    assert run(last, BOOT_C, 4000) == "seq_jump"


@pytest.mark.parametrize("value", ["", "a" * 37, "has space", "a\nb", 7, None, ["x"]])
def test_boot_ids_that_the_columns_cannot_hold_are_invalid(value):
    assert not sequence.valid_boot_id(value)


def test_previous_boots_survive_the_database_round_trip():
    state = SequenceState(1, T0, BOOT_C, (BOOT_B, BOOT_A))
    assert SequenceState.split_previous(state.joined_previous()) == (BOOT_B, BOOT_A)
    assert SequenceState.split_previous(None) == ()


def test_columns_hold_what_the_rules_keep():
    columns = models.AmphoraHealth.__table__.c
    assert isinstance(columns.boot_id.type, String)
    assert columns.boot_id.type.length == sequence.BOOT_ID_LENGTH
    assert columns.previous_boot_ids.type.length >= sequence.BOOT_IDS_COLUMN_LENGTH - 1
