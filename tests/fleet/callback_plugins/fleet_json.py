"""Ansible stdout callback ``fleet_json``: the whole run as one JSON document on stdout, for
tests/integration/test_fleet.py (ansible-core ships no JSON callback of its own).

Shape: ``{"plays": [{"play": NAME, "tasks": [{"task": {"name": NAME}, "hosts": {HOST:
RESULT}}]}], "stats": {HOST: {"ok", "changed", "failures", "unreachable", "skipped"}}}``.
RESULT is the module's result as Ansible shows it (no_log values already masked), plus
``failed``/``skipped``/``unreachable`` flags.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: fleet_json
    type: stdout
    short_description: the run as one JSON document (syscontainers tests)
    description:
        - Prints every play, task and host result, then the stats, as JSON at the end.
    author: syscontainers contributors
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "fleet_json"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": play.get_name(), "tasks": []})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def _record(self, result, **flags):
        data = self._clean(result)
        data.update(flags)
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = data

    def _clean(self, result):
        data = dict(result._result)
        data.pop("_ansible_no_log", None)
        return json.loads(json.dumps(data, default=str))

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True, failed=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed)
        summary = {h: stats.summarize(h) for h in hosts}
        self._display.display(json.dumps({"plays": self.plays, "stats": summary}, indent=1))
