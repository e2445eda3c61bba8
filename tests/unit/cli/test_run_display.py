"""What the run display shows of successful tasks: module warnings and the roles' debug reports."""

from sealer_runner.cli.run_cmd import notes


def test_warnings_of_a_task_and_of_its_loop_items_once_each():
    data = {"task_action": "sealer.cluster.sysctl_values",
            "res": {"warnings": ["a"], "results": [{"warnings": ["a", "b"]}, "not a result", {"changed": True}]}}
    assert notes(data) == ["a", "b"]


def test_debug_messages_are_shown_on_one_line_and_other_messages_are_not():
    assert notes({"task_action": "ansible.builtin.debug", "res": {"msg": "warning:  clock\n  is off"}}) == [
        "warning: clock is off"]
    assert notes({"task_action": "debug", "res": {"msg": "skipped"}}) == ["skipped"]
    assert notes({"task_action": "ansible.builtin.command", "res": {"msg": "non-zero"}}) == []
    assert notes({}) == []
