"""Hostile or broken Kubefiles, Clusterfiles and build contexts fail clearly, naming file and line, and
in linear time: every input here is built as an attacker would build it.

The quadratic and exponential cases are checked without clocks: the limit error is raised (instead of
a MemoryError, a RecursionError or minutes of work), and a large input just under the limit is processed
correctly.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sealer_runner.build.copy import copy_entries
from sealer_runner.cli.main import main
from sealer_runner.clusterfile import load_clusterfile, load_yaml_documents, read_clusterfile
from sealer_runner.clusterfile.models import Host
from sealer_runner.clusterfile.yamlpos import MAX_BYTES as MAX_CLUSTERFILE_BYTES
from sealer_runner.errors import ClusterfileError, KubefileError
from sealer_runner.kubefile import parse_kubefile, read_kubefile
from sealer_runner.kubefile.limits import (
    MAX_INSTRUCTION_CHARS,
    MAX_INSTRUCTIONS,
    MAX_KUBEFILE_BYTES,
    MAX_VALUE_CHARS,
    MAX_VARIABLES,
    PATH_MAX,
)
from sealer_runner.run.inventory import host_order

# ------------------------------------------------------------------ helpers


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "context"
    root.mkdir()
    (root / "f").write_text("x")
    return root


def kubefile_error(text: str | bytes, context: Path, **kwargs: object) -> KubefileError:
    with pytest.raises(KubefileError) as info:
        parse_kubefile(text, context_dir=context, **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(f"Kubefile:{info.value.line}: "), str(info.value)
    return info.value


@pytest.fixture
def sr(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    def run(*args: str) -> tuple[int, str]:
        rc = main(["--root", str(tmp_path / "store"), *args])
        err = capsys.readouterr().err
        assert "Traceback" not in err and "internal error" not in err.lower(), err
        return rc, err

    return run


CLUSTER = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: c
spec:
  image: kubernetes:v1.22.15
  ssh:
    passwd: {passwd}
    port: {port}
  hosts:
{hosts}
"""
ONE_MASTER = "    - {ips: [10.0.0.1], roles: [master]}"


def clusterfile(*, passwd: str = "x", port: str = "22", hosts: str = ONE_MASTER) -> str:
    return CLUSTER.format(passwd=passwd, port=port, hosts=hosts)


def clusterfile_error(text: str | bytes) -> ClusterfileError:
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(text)
    assert info.value.line is not None
    assert str(info.value).startswith(f"Clusterfile:{info.value.line}: "), str(info.value)
    return info.value


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each anchor is a list of ten aliases of the previous one (10**10 nodes)."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ Kubefile: characters and encoding


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("FROM scratch\nENV A=a\0b\n", 2, "control character U+0000 (NUL) at column 8"),
        ("FROM scratch\nRUN echo a\0b\n", 2, "control character U+0000 (NUL) at column 11"),
        ('FROM scratch\nRUN ["echo", "a\\u0000b"]\n', 2, "control character U+0000 (NUL) in a JSON string"),
        ('FROM scratch\nCMD ["echo", "\\ud800"]\n', 2, "lone surrogate U+D800 in a JSON string"),
        ("FROM scratch\nLABEL a=\x1b[31mred\n", 2, "control character U+001B (ESC) at column 9"),
        ("FROM scratch\rRUN echo hidden\n", 1, "carriage return without line feed"),
    ],
)
def test_control_characters_are_refused_with_line_and_column(text, line, message, context):
    error = kubefile_error(text, context)
    assert error.line == line
    assert message in error.message


def test_a_nul_in_a_build_arg_is_refused_at_its_arg(context):
    error = kubefile_error("FROM scratch\nARG A\nRUN echo $A\n", context, build_args={"A": "a\0b"})
    assert error.line == 2
    assert "build arg A holds control character U+0000" in error.message


def test_non_utf8_kubefile_names_line_column_and_offset(context):
    error = kubefile_error(b"FROM scratch\nENV A=caf\xe9\n", context)
    assert error.line == 2
    assert error.message == "not UTF-8 text: invalid byte 0xe9 at column 10 (byte offset 22)"
    error = kubefile_error("FROM scratch\nENV A=caf\udce9\n", context)  # a surrogateescape'd str
    assert (error.line, error.message) == (2, "not UTF-8 text: undecodable character U+DCE9 at column 10")


def test_read_kubefile_names_the_file(tmp_path):
    path = tmp_path / "Kubefile"
    path.write_bytes(b"FROM scratch\n\nRUN \xff\n")
    with pytest.raises(KubefileError) as info:
        read_kubefile(path)
    assert str(info.value) == f"{path}:3: not UTF-8 text: invalid byte 0xff at column 5 (byte offset 18)"


def test_cli_build_of_a_non_utf8_kubefile_is_exit_2_with_line(sr, context):
    (context / "Kubefile").write_bytes(b"FROM scratch\nLABEL a=\xff\n")
    rc, err = sr("build", "-t", "a:v1", str(context))
    assert rc == 2
    assert f"{context / 'Kubefile'}:2: not UTF-8 text: invalid byte 0xff at column 9" in err


def test_bom_crlf_tabs_and_continuation_at_eof_are_accepted(context):
    plan = parse_kubefile("\ufeffFROM\tscratch\r\nLABEL\ta=1 \\\r\n\tb=2\r\nRUN echo \\", context_dir=context)
    assert plan.labels == (("a", "1"), ("b", "2"))
    assert plan.steps[0].command == ("/bin/sh", "-c", "echo")


def test_a_very_long_instruction_name_is_shortened_in_the_message(context):
    error = kubefile_error("FROM scratch\n" + "X" * 100_000 + " a\n", context)
    assert error.line == 2
    assert error.message == f"unknown instruction: {'X' * 40}... (100000 characters)"


# ------------------------------------------------------------------ Kubefile: sizes and expansion


def test_exponential_arg_expansion_stops_at_the_value_cap(context):
    text = "FROM scratch\nARG A=0123456789\n" + "ARG A=${A}${A}\n" * 40
    error = kubefile_error(text, context)
    # 10 * 2**17 = 1.25 MiB: the 17th doubling (line 19) passes 1 MiB
    assert error.line == 19
    assert error.message == "a value is longer than 1 MiB after variable expansion"


def test_expansion_has_a_total_budget_per_kubefile(context):
    refs = "$A" * (MAX_VALUE_CHARS // 1024 - 1)
    lines = ["FROM scratch", "ARG A=" + "x" * 1024, f"ARG B={refs}"]  # B is just under 1 MiB
    lines += [f"ENV C{i}=$B" for i in range(20)]
    error = kubefile_error("\n".join(lines), context)
    # A and B charge 1 MiB, every ENV just under 1 MiB more: the 16th (C15, line 19) passes 16 MiB
    assert error.line == 19
    assert error.message == "variable expansion produces more than 16 MiB in this Kubefile"


def test_a_value_just_under_the_cap_is_kept_whole(context):
    value = "v" * (MAX_VALUE_CHARS - 10)
    plan = parse_kubefile(f"FROM scratch\nARG A={value[:1000]}\nLABEL big={value}\nENV E=$A\n", context_dir=context)
    assert dict(plan.labels)["big"] == value
    assert dict(plan.env)["E"] == value[:1000]


def test_a_20_mb_label_is_refused_by_the_size_cap(context):
    error = kubefile_error("FROM scratch\nLABEL a=" + "x" * 20_000_000 + "\n", context)
    assert error.line == 2
    assert error.message == "Kubefile is larger than 4 MiB (the limit is passed on this line)"


def test_a_large_but_allowed_kubefile_parses(context):
    line = "LABEL k{i}=" + "x" * (MAX_INSTRUCTION_CHARS - 100)
    text = "FROM scratch\n" + "\n".join(line.format(i=i) for i in range(3)) + "\nRUN " + "y " * 200_000
    assert len(text.encode()) < MAX_KUBEFILE_BYTES
    plan = parse_kubefile(text, context_dir=context)
    assert [len(value) for _, value in plan.labels] == [MAX_INSTRUCTION_CHARS - 100] * 3
    assert plan.steps[0].command[2] == ("y " * 200_000).strip()


def test_read_kubefile_refuses_a_huge_file_without_reading_it_whole(tmp_path):
    path = tmp_path / "Kubefile"
    with path.open("wb") as stream:
        stream.write(b"FROM scratch\n")
        stream.truncate(MAX_KUBEFILE_BYTES * 64)  # sparse: 256 MiB of NULs
    with pytest.raises(KubefileError) as info:
        read_kubefile(path)
    assert "larger than 4 MiB" in info.value.message


def test_an_instruction_joined_past_the_line_cap_is_refused_at_its_first_line(context):
    text = "FROM scratch\nRUN a \\\n" + ("b" * 1000 + " \\\n") * 1100 + "c\n"
    error = kubefile_error(text, context)
    assert error.line == 2
    assert error.message == "instruction is longer than 1 MiB"


def test_too_many_instructions(context):
    error = kubefile_error("FROM scratch\n" + "LABEL a=b\n" * MAX_INSTRUCTIONS, context)
    assert error.line == MAX_INSTRUCTIONS + 1
    assert error.message == f"more than {MAX_INSTRUCTIONS} instructions in one Kubefile"


def test_too_many_variables(context):
    pairs = " ".join(f"V{i}=1" for i in range(MAX_VARIABLES + 1))
    error = kubefile_error(f"FROM scratch\nRUN true\nENV {pairs}\n", context)
    assert error.line == 3
    assert error.message == f"more than {MAX_VARIABLES} ARG and ENV variables in one Kubefile"


def test_run_steps_share_their_environment_instead_of_copying_it(context):
    pairs = " ".join(f"V{i}=1" for i in range(MAX_VARIABLES))
    plan = parse_kubefile(f"FROM scratch\nENV {pairs}\n" + "RUN true\n" * 5000, context_dir=context)
    envs = {id(step.env) for step in plan.steps}
    assert len(plan.steps) == 5000 and len(envs) == 1
    assert len(plan.steps[0].env) == MAX_VARIABLES


# ------------------------------------------------------------------ Kubefile and COPY: paths


def test_a_copy_destination_of_20000_components_is_refused(context):
    error = kubefile_error("FROM scratch\nCOPY f " + "a/" * 20_000 + "\n", context)
    assert error.line == 2
    assert error.message == f"COPY destination is 40000 bytes long; paths are limited to {PATH_MAX} bytes"


def test_a_path_component_over_255_bytes_is_refused(context):
    error = kubefile_error(f"FROM scratch\nCOPY f etc/{'n' * 256}\n", context)
    assert "path component nnnn" in error.message and "longer than 255 bytes" in error.message
    error = kubefile_error(f"FROM scratch\nCOPY {'s' * 300} /\n", context)
    assert "COPY source: path component" in error.message


def test_a_deep_but_allowed_destination_gives_every_parent_once(context):
    dest = "/".join(["d"] * 2000)  # 3999 bytes
    plan = parse_kubefile(f"FROM scratch\nCOPY f {dest}/\n", context_dir=context)
    entries = copy_entries(plan.steps[0])
    dirs = [e.path for e in entries if e.kind == "dir"]
    assert len(dirs) == 2000 and dirs[-1] == dest
    assert [e.path for e in entries if e.kind == "file"] == [f"{dest}/f"]


def test_a_fifo_in_the_build_context_is_refused_naming_it(context):
    (context / "dir").mkdir()
    (context / "dir" / "ok").write_text("x")
    os.mkfifo(context / "dir" / "pipe")
    plan = parse_kubefile("FROM scratch\n\nCOPY dir /x/\n", context_dir=context)
    with pytest.raises(KubefileError) as info:
        copy_entries(plan.steps[0], kubefile="ctx/Kubefile")
    assert str(info.value) == (
        f"ctx/Kubefile:3: COPY source {context / 'dir' / 'pipe'} is a FIFO: only regular files, directories "
        "and symlinks can go into an image"
    )


def test_a_socket_given_as_source_is_refused(context, tmp_path):
    path = context / "s.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        plan = parse_kubefile("FROM scratch\nCOPY s.sock /run/\n", context_dir=context)
        with pytest.raises(KubefileError) as info:
            copy_entries(plan.steps[0])
    assert info.value.line == 2 and "is a socket" in info.value.message


def test_cli_build_with_a_fifo_in_the_context_is_exit_2(sr, context):
    os.mkfifo(context / "pipe")
    (context / "Kubefile").write_text("FROM scratch\nCOPY . /\n")
    rc, err = sr("build", "-t", "a:v1", str(context))
    assert rc == 2
    assert f"{context / 'Kubefile'}:2: COPY source {context / 'pipe'} is a FIFO" in err


def test_an_alias_bomb_in_an_app_yaml_is_not_expanded(context):
    (context / "app.yaml").write_text(alias_bomb() + "apiVersion: v1\nkind: ConfigMap\n")
    plan = parse_kubefile("FROM scratch\nAPP web local://app.yaml\n", context_dir=context)
    assert plan.apps[0].type == "kube"


# ------------------------------------------------------------------ Clusterfile: encoding, nesting, bombs


def test_non_utf8_clusterfile_names_line_column_and_offset(tmp_path):
    error = clusterfile_error(b"apiVersion: sealer.io/v2\nkind: Cluster\n# caf\xe9\n")
    assert error.line == 3
    assert error.message == "not UTF-8 text: invalid byte 0xe9 at column 6 (byte offset 44)"
    path = tmp_path / "Clusterfile"
    path.write_bytes(b"a: b\n\xc3\n")
    with pytest.raises(ClusterfileError) as info:
        read_clusterfile(path)
    assert str(info.value).startswith(f"{path}:2: not UTF-8 text: invalid byte 0xc3 at column 1")


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 1200 + "]" * 1200 + "\n",
        '{"a": ' + '{"b": ' * 1200 + "1" + "}" * 1201 + "\n",
        "a:\n" + "".join("  " * i + "- \n" for i in range(1, 200)),
    ],
    ids=["flow-yaml", "json", "block"],
)
def test_deep_nesting_is_refused(text):
    error = clusterfile_error(text)
    assert "nesting is deeper than 64 levels" in error.message


def test_a_billion_laughs_is_refused():
    text = clusterfile() + "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n" + alias_bomb()
    error = clusterfile_error(text)
    assert "expands to more than 200000 nodes (alias bomb?)" in error.message


@pytest.mark.parametrize(
    ("extra", "line", "message"),
    [
        ("# a\0b\n", 12, "unacceptable character U+0000"),
        ('---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nclusterName: "a\\0b"\n', 15,
         "character U+0000 is not allowed"),
        ('---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n"a\\eb": 1\n', 15,
         "mapping key: character U+001B is not allowed"),
    ],
)
def test_nul_and_control_characters_are_refused(extra, line, message):
    error = clusterfile_error(clusterfile() + extra)
    assert error.line == line
    assert message in error.message


def test_an_escaped_nul_in_a_password_is_refused_naming_the_field():
    error = clusterfile_error(clusterfile(passwd='"se\\0cret"'))
    assert str(error) == "Clusterfile:8: ssh.passwd: character U+0000 is not allowed (NUL and control characters)"


def test_a_clusterfile_over_8_mib_is_refused(tmp_path):
    text = clusterfile() + "# " + "x" * MAX_CLUSTERFILE_BYTES + "\n"
    error = clusterfile_error(text)
    assert error.line == 12 and "larger than 8 MiB" in error.message
    path = tmp_path / "Clusterfile"
    path.write_text(text)
    with pytest.raises(ClusterfileError, match="larger than 8 MiB"):
        read_clusterfile(path)


@pytest.mark.parametrize("name", ["bad", "deep", "bomb"])
@pytest.mark.parametrize("flags", [(), ("--name", "x")], ids=["file-only", "with-flags"])
def test_cli_run_refuses_hostile_clusterfiles_with_exit_2(sr, tmp_path, name, flags):
    content = {
        "bad": b"apiVersion: sealer.io/v2\nkind: Cluster\n# caf\xe9\n",
        "deep": ("a: " + "[" * 1200 + "]" * 1200 + "\n").encode(),
        "bomb": ("apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: c}\n" + alias_bomb()).encode(),
    }[name]
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content)
    rc, err = sr("run", "-f", str(path), *flags)
    assert rc == 2
    line = {"bad": 3, "deep": 1, "bomb": 8}[name]
    assert f"{path}:{line}: " in err


def test_load_yaml_documents_applies_the_same_caps():
    with pytest.raises(ClusterfileError, match="alias bomb"):
        load_yaml_documents(alias_bomb())
    assert load_yaml_documents("a: 2023-01-01\n---\n---\nb: [1]\n") == [{"a": "2023-01-01"}, {"b": [1]}]


# ------------------------------------------------------------------ Clusterfile: hosts and ports


def test_an_ipv4_mapped_address_is_the_same_host():
    hosts = "    - {ips: [10.0.0.1], roles: [master]}\n    - {ips: ['::ffff:10.0.0.1'], roles: [node]}"
    error = clusterfile_error(clusterfile(hosts=hosts))
    assert error.line == 12
    assert "10.0.0.1 is already listed at hosts[0].ips[0] (line 11)" in error.message


def test_ipv4_mapped_addresses_and_ranges_are_normalised_to_ipv4():
    hosts = "    - {ips: ['::ffff:10.0.0.1', '::ffff:10.0.0.2-::ffff:10.0.0.3'], roles: [master]}"
    cluster = load_clusterfile(clusterfile(hosts=hosts)).cluster
    assert [host.ip for host in cluster.hosts] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert cluster.host("::ffff:10.0.0.2") is cluster.hosts[1]


@pytest.mark.parametrize("port", ["0x16", "0o26", "026_0", "1:30", "2_2", "22.0", "true", "+22", "'0x16'"])
def test_a_port_not_in_decimal_is_refused_naming_the_line(port):
    error = clusterfile_error(clusterfile(port=port))
    assert error.line == 9
    assert error.message.startswith("ssh.port: expected a whole number, got ")


@pytest.mark.parametrize(("port", "value"), [("22", 22), ("'2222'", 2222), ("0022", 22), ("65535", 65535)])
def test_decimal_ports_are_accepted(port, value):
    assert load_clusterfile(clusterfile(port=port)).cluster.ssh.port == value


@pytest.mark.parametrize("port", ["0", "65536", "-1"])
def test_a_port_out_of_range_is_refused(port):
    error = clusterfile_error(clusterfile(port=port))
    assert error.line == 9 and "out of range (must be between 1 and 65535)" in error.message


def test_more_than_10000_hosts_are_refused():
    groups = [f"    - {{ips: [10.{i}.0.0-10.{i}.3.231], roles: [master]}}" for i in range(10)]  # 10 x 1000
    groups.append("    - {ips: [10.99.0.1], roles: [node]}")
    error = clusterfile_error(clusterfile(hosts="\n".join(groups)))
    assert error.line == 21 and error.message.endswith("more than 10000 hosts in one Clusterfile")


def test_host_order_of_10000_hosts_is_linear(monkeypatch):
    groups = [f"    - {{ips: [10.{i}.0.0-10.{i}.3.231], roles: [{'master' if i % 2 else 'node'}]}}" for i in range(10)]
    cluster = load_clusterfile(clusterfile(hosts="\n".join(groups))).cluster
    assert len(cluster.hosts) == 10_000
    comparisons = 0
    original = Host.__eq__

    def counting_eq(self, other):
        nonlocal comparisons
        comparisons += 1
        return original(self, other)

    monkeypatch.setattr(Host, "__eq__", counting_eq)
    ordered = host_order(cluster)
    assert comparisons == 0  # was one whole-Host comparison per (host, master) pair: 25 million
    assert [h.ip for h in ordered[:5000]] == [h.ip for h in cluster.hosts if "master" in h.roles]
    assert [h.ip for h in ordered[5000:]] == [h.ip for h in cluster.hosts if "master" not in h.roles]
