"""What `list` reports of a unit (ServiceState) and how many processes it takes to learn it.

A fake `systemctl` (the `run` the Systemd wrapper calls) answers like systemd 252 does; the
same paths run against the real systemd in tests/integration/test_service_state.py.
"""

from __future__ import annotations

import pytest

from syscontainers.proc import Result
from syscontainers.service import systemd as sd
from syscontainers.service.systemd import ServiceState, Systemd


def state(**props) -> ServiceState:
    return ServiceState.from_properties({"Id": "a.service", "LoadState": "loaded", **props})


@pytest.mark.parametrize("props, status, shown", [
    ({"ActiveState": "active", "SubState": "running"}, "running", "running"),
    ({"ActiveState": "active", "SubState": "running", "NRestarts": "2"}, "running",
     "running (2 restarts)"),
    ({"ActiveState": "activating", "SubState": "auto-restart", "NRestarts": "3"}, "restarting",
     "restarting (3)"),
    ({"ActiveState": "activating", "SubState": "start", "NRestarts": "1"}, "restarting",
     "restarting (1)"),
    ({"ActiveState": "activating", "SubState": "start"}, "starting", "starting"),
    ({"ActiveState": "failed", "SubState": "failed", "NRestarts": "5"}, "failed",
     "failed (5 restarts)"),
    ({"ActiveState": "deactivating", "SubState": "stop-sigterm"}, "stopping", "stopping"),
    ({"ActiveState": "inactive", "SubState": "dead"}, "inactive", "inactive"),
    ({"LoadState": "not-found", "ActiveState": "inactive"}, "no service", "no service"),
    # a unit whose file was removed while it ran still runs
    ({"LoadState": "not-found", "ActiveState": "active", "SubState": "running"}, "running",
     "running"),
])
def test_state_from_systemd_properties(props, status, shown):
    s = state(**props)
    assert (s.status, s.display()) == (status, shown)


class FakeSystemctl:
    """list-units / show over a table of units (unit -> (load, active, sub, restarts));
    units missing from ``loaded`` are not in the manager's memory."""

    def __init__(self, loaded: dict, files: set[str]):
        self.loaded, self.files, self.calls = loaded, files, []

    def __call__(self, args, **kw) -> Result:
        self.calls.append(list(args))
        verb = next(a for a in args[1:] if a != "--user")
        units = args[args.index("--") + 1:]
        if verb == "list-units":
            out = "".join(f"{u} {l} {a} {s} desc\n" for u, (l, a, s, _) in self.loaded.items()
                          if u in units)
        else:
            assert verb == "show"
            blocks = []
            for u in units:
                load, active, sub, n = self.loaded.get(
                    u, ("loaded" if u in self.files else "not-found", "inactive", "dead", 0))
                blocks.append(f"Id={u}\nLoadState={load}\nActiveState={active}\n"
                              f"SubState={sub}\nNRestarts={n}\n")
            out = "\n".join(blocks)
        return Result(0, out, "")


def test_hundreds_of_units_take_at_most_two_processes(monkeypatch):
    loaded = {f"c{i}.service": ("loaded", "active", "running", 0) for i in range(300)}
    loaded["c7.service"] = ("loaded", "activating", "auto-restart", 4)
    loaded["c8.service"] = ("loaded", "failed", "failed", 5)
    loaded["c9.service"] = ("loaded", "inactive", "dead", 0)
    fake = FakeSystemctl(loaded, files={"off.service"})
    monkeypatch.setattr(sd, "run", fake)
    units = list(loaded) + ["off.service", "gone.service"]
    got = Systemd(user_mode=False).statuses(units)
    assert len(fake.calls) == 2
    assert got["c0.service"] == ServiceState("running", 0)
    assert got["c7.service"] == ServiceState("restarting", 4)
    assert got["c8.service"] == ServiceState("failed", 5)
    assert got["c9.service"] == ServiceState("inactive", 0)
    assert got["off.service"] == ServiceState("inactive", 0)        # unit file, not loaded
    assert got["gone.service"] == ServiceState("no service", 0)
    # the second process asks only about what list-units could not tell
    assert "c9.service" not in fake.calls[1] and "off.service" in fake.calls[1]


def test_all_inactive_units_take_one_process(monkeypatch):
    loaded = {f"c{i}.service": ("loaded", "inactive", "dead", 0) for i in range(50)}
    fake = FakeSystemctl(loaded, files=set())
    monkeypatch.setattr(sd, "run", fake)
    got = Systemd(user_mode=True).statuses(list(loaded))
    assert len(fake.calls) == 1 and fake.calls[0][:3] == ["systemctl", "--user", "list-units"]
    assert {s.status for s in got.values()} == {"inactive"}
