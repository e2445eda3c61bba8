"""The sealer.cluster.lvscare module through real Ansible, in check mode and for real, against
stand-ins for ``ipvsadm`` and ``ip`` that keep the IPVS table in a JSON file (this machine's kernel has
no IPVS). The stand-ins are test-only: the product runs the real ipvsadm and ip."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"

# A stand-in ipvsadm (-S -n, -A, -D, -a, -d) and ip (addr show/add/del, link show/add) over one JSON file.
STANDIN = r'''#!{python}
import json, os, sys
state_file = os.environ["FAKE_IPVS_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {{"vs": {{}}, "addr": [], "links": [], "log": []}}
argv = sys.argv[1:]
name = os.path.basename(sys.argv[0])
state["log"].append([name] + argv)
if name == "ipvsadm":
    if argv == ["-S", "-n"]:
        for vs, rss in state["vs"].items():
            print("-A -t %s -s rr" % vs)
            for rs in rss:
                print("-a -t %s -r %s -m -w 1" % (vs, rs))
    elif argv[0] == "-A":
        state["vs"].setdefault(argv[2], [])
    elif argv[0] == "-D":
        state["vs"].pop(argv[2])
    elif argv[0] == "-a":
        state["vs"][argv[2]].append(argv[4])
    elif argv[0] == "-d":
        state["vs"][argv[2]].remove(argv[4])
    else:
        sys.exit("unknown ipvsadm call %r" % argv)
else:
    if argv[:3] == ["-o", "addr", "show"]:
        if argv[4] not in state["links"]:
            sys.exit("Device does not exist")
        for a in state["addr"]:
            print("5: %s    inet %s scope global" % (argv[4], a))
    elif argv[:2] == ["link", "show"]:
        if argv[2] not in state["links"]:
            sys.exit("Device does not exist")
    elif argv[:2] == ["link", "add"]:
        assert argv[3:] == ["type", "dummy"], argv
        state["links"].append(argv[2])
    elif argv[:2] == ["addr", "add"]:
        state["addr"].append(argv[2])
    elif argv[:2] == ["addr", "del"]:
        state["addr"].remove(argv[2])
    else:
        sys.exit("unknown ip call %r" % argv)
json.dump(state, open(state_file, "w"))
'''

PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - sealer.cluster.lvscare:
        masters: {masters}
        care_script: {tmp}/lib/lvscare.py
        care_unit: {tmp}/sealer-lvscare.service
        state: {state}
      register: result
    - ansible.builtin.copy:
        content: "{{{{ result | to_json }}}}"
        dest: {tmp}/result.json
      check_mode: false
      delegate_to: localhost
"""


def _play(tmp_path: Path, masters: list[str], *, state: str = "present", check: bool = False) -> dict:
    bindir = tmp_path / "bin"
    if not bindir.exists():
        bindir.mkdir()
        for name in ("ipvsadm", "ip"):
            (bindir / name).write_text(STANDIN.format(python=sys.executable))
            (bindir / name).chmod(0o755)
        collections = tmp_path / "collections" / "ansible_collections" / "sealer"
        collections.mkdir(parents=True)
        (collections / "cluster").symlink_to(REPO / "collection")
    play = tmp_path / "play.yml"
    play.write_text(PLAY.format(masters=json.dumps(masters), tmp=tmp_path, state=state))
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "FAKE_IPVS_STATE": str(tmp_path / "ipvs.json"),
           "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")}
    done = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                           f"ansible_python_interpreter={sys.executable}", *(["--check"] if check else []), str(play)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp_path / "result.json").read_text())


def _table(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "ipvs.json").read_text()) if (tmp_path / "ipvs.json").exists() else {}


def test_check_mode_reports_and_changes_nothing_then_apply_then_rerun_is_unchanged(tmp_path):
    masters = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    planned = _play(tmp_path, masters, check=True)
    assert planned["changed"] is True
    assert [r["op"] for r in planned["rules"]] == ["add-address", "add-vs", "add-rs", "add-rs", "add-rs"]
    assert _table(tmp_path).get("vs", {}) == {}, "check mode ran no changing command"
    assert not (tmp_path / "lib" / "lvscare.py").exists()

    applied = _play(tmp_path, masters)
    assert applied["changed"] is True and applied["rules"] == planned["rules"]
    table = _table(tmp_path)
    assert table["vs"] == {"10.103.97.2:6443": ["10.0.0.1:6443", "10.0.0.2:6443", "10.0.0.3:6443"]}
    assert table["addr"] == ["10.103.97.2/32"] and table["links"] == ["sealer-ipvs"]
    unit = (tmp_path / "sealer-lvscare.service").read_text()
    assert "care --vs 10.103.97.2:6443 --rs 10.0.0.1:6443 --rs 10.0.0.2:6443 --rs 10.0.0.3:6443" in unit
    script = tmp_path / "lib" / "lvscare.py"
    assert os.access(script, os.X_OK)
    # the written care loop is the module_utils source, runnable on its own
    usage = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "care" in usage.stdout

    again = _play(tmp_path, masters)
    assert again["changed"] is False and again["rules"] == [] and again["files"] == []

    fewer = _play(tmp_path, masters[:2])
    assert fewer["rules"] == [{"op": "del-rs", "real_server": "10.0.0.3:6443"}]
    gone = _play(tmp_path, masters[:2], state="absent")
    assert [r["op"] for r in gone["rules"]] == ["del-vs", "del-address"]
    assert _table(tmp_path)["vs"] == {}
