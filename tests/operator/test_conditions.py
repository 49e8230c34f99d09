"""The Ready condition as a value: its transition time moves only when its status flips."""

from kfn_operator import conditions


def test_transition_time_moves_only_on_a_flip() -> None:
    first = conditions.ready(None, False, "MissingReference", "Secret x not found", 1, "t1")
    assert first == [{"type": "Ready", "status": "False", "reason": "MissingReference",
                      "message": "Secret x not found", "lastTransitionTime": "t1", "observedGeneration": 1}]
    same = conditions.ready([{"type": "Other", "status": "True"}, *first], False, "MissingReference", "again", 2, "t2")
    assert same[0] == {"type": "Other", "status": "True"} and same[1]["lastTransitionTime"] == "t1"
    flipped = conditions.ready(same, True, "Deployed", "ok", 3, "t3")
    assert flipped[1]["lastTransitionTime"] == "t3" and flipped[1]["status"] == "True"
