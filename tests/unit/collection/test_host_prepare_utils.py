"""module_utils of the prepare role's modules: kernel parameters, kernel modules, swap, and whether a
refusal is fatal. Each works on a fake /proc in a temporary directory."""

from __future__ import annotations

import os

import pytest

from .conftest import load

sysctl = load("module_utils", "_sysctl")
kmod = load("module_utils", "_kmod")
swap = load("module_utils", "_swap")
hostfiles = load("module_utils", "_hostfiles")


def proc(root, files):
    for key, value in files.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    return str(root)


# ---------------------------------------------------------------- sysctl


def test_sysctl_keys_map_to_proc_files(tmp_path):
    assert sysctl.key_path("/proc/sys", "net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
    assert sysctl.key_path("/p", "net/ipv4/conf/eth0.100/forwarding") == "/p/net/ipv4/conf/eth0.100/forwarding"
    for bad in ("../etc/passwd", "net..ipv4", "/abs", "a b", "net/../../x", ""):
        with pytest.raises(sysctl.SysctlError):
            sysctl.key_path("/proc/sys", bad)


def test_sysctl_plan_sets_only_what_differs_and_reports_missing_keys(tmp_path):
    root = proc(tmp_path, {"net/ipv4/ip_forward": "0\n", "net/ipv4/tcp_rmem": "4096\t87380\t6291456\n",
                           "vm/swappiness": "60\n"})
    wanted = {"net.ipv4.ip_forward": 1, "net.ipv4.tcp_rmem": "4096 87380  6291456", "vm.swappiness": "60",
              "net.bridge.bridge-nf-call-iptables": True}
    to_set, missing = sysctl.plan(root, wanted)
    assert to_set == [("net.ipv4.ip_forward", "0", "1")]
    assert missing == ["net.bridge.bridge-nf-call-iptables"]
    assert sysctl.write(root, "net.ipv4.ip_forward", "1") is None
    assert sysctl.plan(root, wanted)[0] == []
    with pytest.raises(sysctl.SysctlError, match="empty value"):
        sysctl.plan(root, {"vm.swappiness": " "})


def test_sysctl_write_reports_refusals(tmp_path):
    root = proc(tmp_path, {"net/ipv4/placeholder": ""})
    (tmp_path / "net/ipv4/ip_forward").mkdir()
    assert "EISDIR" in sysctl.write(root, "net.ipv4.ip_forward", "1")
    assert "ENOENT" in sysctl.write(root, "net.nothing.here", "1")


def test_sysctl_file_is_sorted_and_commented():
    text = sysctl.render({"b.x": 1, "a.y": "2  3"}, "Written by sealer_runner\nfor demo.")
    assert text == "# Written by sealer_runner\n# for demo.\na.y = 2 3\nb.x = 1\n"


# ---------------------------------------------------------------- kernel modules


def test_kernel_modules_loaded_built_in_or_in_sysfs_are_present(tmp_path):
    proc_modules = tmp_path / "modules"
    proc_modules.write_text("nf_conntrack 172032 2 - Live 0x0\nbr_netfilter 32768 0 - Live 0x0\n")
    sys_module = tmp_path / "sys"
    (sys_module / "overlay").mkdir(parents=True)
    builtin = tmp_path / "modules.builtin"
    builtin.write_text("kernel/net/ipv4/ip_vs.ko\nkernel/drivers/md/dm-mod.ko.zst\n")
    where = (str(proc_modules), str(sys_module), str(builtin))
    assert kmod.absent(["overlay", "br-netfilter", "ip_vs", "dm_mod", "nf_conntrack", "wireguard", "wireguard"],
                       *where) == ["wireguard"]
    assert kmod.absent(["overlay"], str(tmp_path / "no-proc-modules"), str(tmp_path / "no-sys"),
                       str(tmp_path / "none")) == ["overlay"], "a kernel without module support has none of them"
    with pytest.raises(kmod.KmodError):
        kmod.absent(["../../evil"], *where)
    assert kmod.render(["overlay", "br_netfilter"], "sealer") == "# sealer\noverlay\nbr_netfilter\n"


# ---------------------------------------------------------------- swap


def test_active_swaps_and_fstab_lines_commented_once():
    assert swap.active("Filename\tType\tSize\tUsed\tPriority\n") == []
    assert swap.active("Filename Type Size Used Priority\n/swap.img file 1 0 -2\n/dev/sdb2 partition 1 0 -3\n") == [
        "/swap.img", "/dev/sdb2"]
    fstab = ("UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n  UUID=2  none  swap  defaults\n"
             "# /old none swap sw 0 0\n/data /srv/swap ext4 defaults 0 2\nLABEL=s none swap")
    text, commented = swap.comment_out(fstab)
    assert commented == ["/swap.img none swap sw 0 0", "  UUID=2  none  swap  defaults", "LABEL=s none swap"]
    assert text.splitlines()[1] == "# /swap.img none swap sw 0 0" + swap.MARK
    assert not text.endswith("\n") and text.count("\n") == fstab.count("\n")
    assert swap.comment_out(text) == (text, []), "a second pass changes nothing"


# ---------------------------------------------------------------- strictness and files


def test_strict_auto_is_fatal_except_in_containers(tmp_path):
    marker = tmp_path / "container"
    assert hostfiles.fatal("auto", str(marker)) is True
    marker.write_text("systemd-nspawn\n")
    assert hostfiles.fatal("auto", str(marker)) is False
    assert hostfiles.fatal("True", str(marker)) is True and hostfiles.fatal("no", str(tmp_path / "x")) is False
    with pytest.raises(hostfiles.StrictError):
        hostfiles.fatal("sometimes", str(marker))


def test_files_are_written_only_when_their_content_changes(tmp_path):
    path = tmp_path / "etc" / "sysctl.d" / "99-sealer.conf"
    assert hostfiles.write_if_changed(str(path), "a\n", check_mode=True) is True and not path.exists()
    assert hostfiles.write_if_changed(str(path), "a\n") is True
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert hostfiles.write_if_changed(str(path), "a\n") is False
    os.chmod(path, 0o600)
    assert hostfiles.write_if_changed(str(path), "b\n") is True
    assert path.read_text() == "b\n" and oct(path.stat().st_mode & 0o777) == "0o600", "an existing file keeps its mode"
    assert [p.name for p in path.parent.iterdir()] == ["99-sealer.conf"], "no temporary file left behind"
