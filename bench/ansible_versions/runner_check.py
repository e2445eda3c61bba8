"""ansible-runner compatibility check, run with the venv's own python by run.sh.

1. `ansible-runner run` (the CLI) on site.yml: exit code, status file, event stream.
2. Python API: ansible_runner.run() on compat.yml, then Runner.get_fact_cache(), the
   result of a template that imports macros, and the event of a failing task.
Prints one line `RUNNER <version> key=value ...`.
"""
import glob, json, os, shutil, subprocess, sys

here, work, version, limit, forks = sys.argv[1:6]
venv_bin = os.path.dirname(sys.executable)
env = dict(os.environ, PATH=venv_bin + os.pathsep + os.environ["PATH"], ANSIBLE_CONFIG=os.path.join(here, "ansible.cfg"))
pdd = os.path.join(work, "runner", version)
shutil.rmtree(pdd, ignore_errors=True)
os.makedirs(pdd)
out_dir = os.path.join(work, "out", "runner-" + version)
os.makedirs(out_dir, exist_ok=True)

# 1. the CLI
cli = subprocess.run(
    [os.path.join(venv_bin, "ansible-runner"), "run", pdd, "-p", "site.yml", "--project-dir", here,
     "--inventory", os.path.join(here, "inventory.ini"), "--limit", limit, "--forks", forks,
     "--ident", "cli", "--cmdline", f"-e bench_out_dir={out_dir}"],
    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
art = os.path.join(pdd, "artifacts", "cli")
status = open(os.path.join(art, "status")).read().strip() if os.path.exists(os.path.join(art, "status")) else "missing"
events = []
for p in glob.glob(os.path.join(art, "job_events", "*.json")):
    with open(p) as f:
        events.append(json.load(f).get("event"))
warn = sum(1 for line in cli.stdout.splitlines() if "Callback dispatch" in line or "failed for plugin" in line)
print(f"RUNNER {version} cli: rc={cli.returncode} status={status} events={len(events)} "
      f"runner_on_ok={events.count('runner_on_ok')} runner_item_on_ok={events.count('runner_item_on_ok')} "
      f"runner_on_failed={events.count('runner_on_failed')} playbook_on_stats={'playbook_on_stats' in events} "
      f"callback_warnings={warn}")

# 2. the Python API
os.environ.update(PATH=env["PATH"], ANSIBLE_CONFIG=env["ANSIBLE_CONFIG"])
import ansible_runner  # noqa: E402
r = ansible_runner.run(private_data_dir=pdd, project_dir=here, playbook="compat.yml",
                       inventory=os.path.join(here, "inventory.ini"), ident="api", quiet=True,
                       extravars={"bench_out_dir": out_dir})
try:
    facts = r.get_fact_cache("node01")
    fact_note = "ok" if facts.get("bench_marker") == "bench-v1.30.4" else ("EMPTY" if not facts else "WRONG")
except Exception as e:  # noqa: BLE001
    fact_note = "raised-" + type(e).__name__
cache_files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(pdd, "artifacts", "api", "fact_cache", "*")))
macro, failure = "missing", "missing"
for ev in r.events:
    data = ev.get("event_data", {})
    task = data.get("task", "")
    if task == "template that imports macros" and ev["event"] in ("runner_on_ok", "runner_on_failed"):
        msg = str(data.get("res", {}).get("msg", ""))
        macro = "ok" if ev["event"] == "runner_on_ok" else "FAILED(" + msg[:70].replace(" ", "_") + ")"
    if task == "a task that fails on purpose" and ev["event"] == "runner_on_failed":
        failure = "ok" if "intentional failure" in str(data.get("res", {}).get("msg", "")) else "no-msg"
api_out = r.stdout.read()
api_warn = sum(1 for line in api_out.splitlines() if "Callback dispatch" in line or "failed for plugin" in line)
print(f"RUNNER {version} api: status={r.status} rc={r.rc} get_fact_cache={fact_note} "
      f"cache_files={','.join(cache_files) or '-'} macro_template={macro} failed_event={failure} callback_warnings={api_warn}")
